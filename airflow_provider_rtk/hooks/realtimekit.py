"""The RealtimeKit hook: connection handling and every recordings API call, sync and async.

All HTTP in the provider goes through this class. What goes over the wire (requests, error mapping,
response parsing) lives in ``_wire`` and the retry policy in ``_retry``, shared by the sync (requests) and
async (httpx) paths: they differ only in the client that sends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

import requests
from airflow.sdk import BaseHook

from airflow_provider_rtk._connection import (
    CONN_TYPE,
    DEFAULT_CONN_ID,
    USER_AGENT,
    ConnectionSettings,
    settings_from,
    ui_field_behaviour,
)
from airflow_provider_rtk._retry import RetryPolicy
from airflow_provider_rtk._timestamps import parse_api_time
from airflow_provider_rtk._validation import (
    ACTIONS,
    ListFilters,
    StartOptions,
    build_list_params,
    build_start_body,
    build_track_body,
    check_enum,
    check_int,
    require_uuid,
)
from airflow_provider_rtk._wire import (
    ApiRequest,
    DownloadRequest,
    RecordingPage,
    build_error,
    no_response_errors,
    parse_response,
    read_page,
    read_recording,
    read_recording_or_none,
)
from airflow_provider_rtk.exceptions import (
    RealtimeKitApiError,
    RealtimeKitAuthError,
    RealtimeKitConfigError,
    RealtimeKitConflictError,
    RealtimeKitError,
    RealtimeKitNotFoundError,
    RealtimeKitServerError,
    RealtimeKitTransportError,
)
from airflow_provider_rtk.types import Recording

if TYPE_CHECKING:
    import httpx
    from airflow.sdk import Connection

__all__ = ["ConnectionSettings", "RealtimeKitHook", "RecordingPage"]

log = logging.getLogger(__name__)

DEFAULT_PER_PAGE = 50

T = TypeVar("T")
#: Unwraps a parsed 2xx envelope into what a call returns (``_wire.read_*``).
Reader = Callable[[Any, ApiRequest], T]


class RealtimeKitHook(BaseHook):
    """Talk to the Cloudflare RealtimeKit recordings API.

    :param realtimekit_conn_id: Airflow connection of type ``realtimekit``: password = API token, extras
        ``account_id`` and ``app_id``, host = optional base URL (default ``https://api.cloudflare.com/client/v4``).
    :param account_id: overrides the connection's ``account_id``.
    :param app_id: overrides the connection's ``app_id``.
    :param timeout: seconds to wait for a response (connect and read).
    :param retry_limit: attempts in all for a retryable failure (1 disables retries).
    :param retry_delay: first backoff wait in seconds; doubles up to ``retry_max_delay``, plus up to this
        much random jitter.
    :param retry_max_delay: cap on one backoff wait in seconds.
    :param retry_policy: a full ``RetryPolicy``; overrides the three ``retry_*`` arguments.
    :param reconcile_window: seconds of clock skew tolerated when matching a recording found after an
        ambiguous start to the attempt that created it.
    """

    conn_name_attr = "realtimekit_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Cloudflare RealtimeKit"

    def __init__(
        self,
        realtimekit_conn_id: str = DEFAULT_CONN_ID,
        *,
        account_id: str | None = None,
        app_id: str | None = None,
        timeout: float = 30.0,
        retry_limit: int = 5,
        retry_delay: float = 1.0,
        retry_max_delay: float = 30.0,
        retry_policy: RetryPolicy | None = None,
        reconcile_window: float = 30.0,
    ) -> None:
        super().__init__()
        self.realtimekit_conn_id = realtimekit_conn_id
        self.account_id = account_id
        self.app_id = app_id
        self.timeout = timeout
        self.retry_policy = retry_policy or RetryPolicy(
            max_attempts=retry_limit, initial_wait=retry_delay, max_wait=retry_max_delay, jitter=retry_delay
        )
        self.reconcile_window = reconcile_window
        self._session: requests.Session | None = None
        self._async_client: httpx.AsyncClient | None = None
        self._async_settings: ConnectionSettings | None = None

    # -- connection -------------------------------------------------------------------------------------

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form layout for Airflow 3.1 (3.2+ reads ``ui-field-behaviour`` from provider info)."""
        return ui_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra form fields for Airflow 3.1 (3.2+ reads ``conn-fields`` from provider info): the same
        labels, help text and required rule."""
        from flask_babel import lazy_gettext
        from wtforms import StringField
        from wtforms.validators import InputRequired

        from airflow_provider_rtk.get_provider_info import ACCOUNT_ID_HELP, APP_ID_HELP

        return {
            "account_id": StringField(
                lazy_gettext("Account ID"), validators=[InputRequired()], description=ACCOUNT_ID_HELP
            ),
            "app_id": StringField(lazy_gettext("App ID"), validators=[InputRequired()], description=APP_ID_HELP),
        }

    def _settings_from(self, conn: Connection) -> ConnectionSettings:
        return settings_from(conn, self.realtimekit_conn_id, account_id=self.account_id, app_id=self.app_id)

    @cached_property
    def settings(self) -> ConnectionSettings:
        """Base URL, token, account and app, read from the connection on first use."""
        return self._settings_from(self.get_connection(self.realtimekit_conn_id))

    async def asettings(self) -> ConnectionSettings:
        """``settings`` for async code: the connection is looked up without blocking the event loop."""
        if self._async_settings is None:
            try:
                conn = await self.aget_connection(self.realtimekit_conn_id)
            except ImportError:
                # Airflow 3.1 outside a triggerer or task has no supervisor to ask: read the secrets
                # backends (env vars, metastore) in a worker thread instead.
                conn = await asyncio.to_thread(self.get_connection, self.realtimekit_conn_id)
            self._async_settings = self._settings_from(conn)
        return self._async_settings

    def get_conn(self) -> requests.Session:
        """The keep-alive session every sync request of this hook goes through."""
        if self._session is None:
            session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
            self._session = session
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    async def aclose(self) -> None:
        if self._async_client is not None:
            await self._async_client.aclose()
            self._async_client = None

    # -- transport --------------------------------------------------------------------------------------

    def _send(self, request: ApiRequest, read: Reader[T]) -> T:
        settings = self.settings
        with no_response_errors(request, timeout=self.timeout, peer=settings.base_url):
            response = self.get_conn().request(**request.send_args(settings), timeout=self.timeout)
        return read(parse_response(response, request), request)

    def _call(self, request: ApiRequest, read: Reader[T], policy: RetryPolicy | None = None) -> T:
        for attempt in (policy or self.retry_policy).retrying(request):
            with attempt:
                return self._send(request, read)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _get_async_client(self) -> httpx.AsyncClient:
        if self._async_client is None:
            import httpx

            self._async_client = httpx.AsyncClient(
                timeout=self.timeout,
                headers={"User-Agent": USER_AGENT},
                limits=httpx.Limits(max_connections=20, max_keepalive_connections=20),
            )
        return self._async_client

    async def _asend(self, request: ApiRequest, read: Reader[T]) -> T:
        settings = await self.asettings()
        with no_response_errors(request, timeout=self.timeout, peer=settings.base_url):
            response = await self._get_async_client().request(**request.send_args(settings))
        return read(parse_response(response, request), request)

    async def _acall(self, request: ApiRequest, read: Reader[T]) -> T:
        async for attempt in self.retry_policy.async_retrying(request):
            with attempt:
                return await self._asend(request, read)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    # -- reads ------------------------------------------------------------------------------------------

    @staticmethod
    def _list_request(params: Mapping[str, str], page_no: int) -> ApiRequest:
        return ApiRequest("GET", "recordings", params={**params, "page_no": str(page_no)})

    def list_recordings(
        self,
        *,
        meeting_id: str | None = None,
        status: str | Iterable[str] | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        expired: bool | None = None,
        search: str | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
        per_page: int | None = None,
        page_no: int = 1,
    ) -> Iterator[Recording]:
        """Every recording matching the filters, walking all pages lazily from ``page_no``.

        Validation happens at the call, before the first request. A recording that moves between pages
        while they are walked is yielded once.
        """
        params = build_list_params(
            meeting_id=meeting_id,
            status=status,
            start_time=start_time,
            end_time=end_time,
            expired=expired,
            search=search,
            sort_by=sort_by,
            sort_order=sort_order,
            per_page=per_page or DEFAULT_PER_PAGE,
        )
        first = check_int("page_no", page_no, (1, 1 << 31))
        return self._walk_pages(params, first)

    def _walk_pages(self, params: Mapping[str, str], page_no: int) -> Iterator[Recording]:
        seen: set[str] = set()
        per_page = int(params["per_page"])
        while True:
            page = self._call(self._list_request(params, page_no), read_page)
            for recording in page.recordings:
                if recording["id"] not in seen:
                    seen.add(recording["id"])
                    yield recording
            if page.is_last(per_page):
                return
            page_no += 1

    async def alist_recordings_page(
        self, *, page_no: int = 1, **filters: Unpack[ListFilters]
    ) -> RecordingPage:
        """One page of ``list_recordings`` for async callers (the trigger's shared poller)."""
        filters.setdefault("per_page", DEFAULT_PER_PAGE)
        params = build_list_params(**filters)
        return await self._acall(self._list_request(params, page_no), read_page)

    def get_recording(self, recording_id: str) -> Recording:
        """One recording by id (a fresh ``download_url`` each time)."""
        request = ApiRequest("GET", f"recordings/{require_uuid('recording_id', recording_id)}")
        return self._call(request, read_recording)

    async def aget_recording(self, recording_id: str) -> Recording:
        request = ApiRequest("GET", f"recordings/{require_uuid('recording_id', recording_id)}")
        return await self._acall(request, read_recording)

    def get_active_recording(self, meeting_id: str) -> Recording | None:
        """The meeting's active recording, or ``None`` when it has none (the API's 404)."""
        request = ApiRequest("GET", f"recordings/active-recording/{require_uuid('meeting_id', meeting_id)}")
        try:
            return self._call(request, read_recording)
        except RealtimeKitNotFoundError:
            return None

    # -- writes -----------------------------------------------------------------------------------------

    def start_recording(self, meeting_id: str | None, **fields: Unpack[StartOptions]) -> Recording:
        """Start recording a meeting; ``fields`` are the API's body fields (``max_seconds``,
        ``storage_config``, ``video_config``...).

        Never creates two recordings for one call: when an attempt fails ambiguously (no response, a
        timeout, a 5xx), the meeting's active recording is fetched first; one invoked since this call
        started (give or take ``reconcile_window`` seconds of clock skew) is the one the lost attempt
        created and is returned, an older one is a conflict. Only when the API shows no active recording
        is the start sent again; a 409 after such a resend is reconciled the same way. With
        ``allow_multiple_recordings`` an ambiguous start is neither reconciled nor resent.
        """
        body = build_start_body(meeting_id, fields)
        request = ApiRequest("POST", "recordings", json=body)
        called_at = datetime.now(UTC)
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._call(request, read_recording)
            except (RealtimeKitTransportError, RealtimeKitServerError) as exc:
                if body.get("allow_multiple_recordings"):
                    raise RealtimeKitError(
                        f"starting a recording for meeting {meeting_id} failed ambiguously ({exc}); with "
                        "allow_multiple_recordings the start is neither reconciled nor resent, since "
                        "another active recording cannot be told apart from ours: check the meeting's "
                        "recordings"
                    ) from exc
                found = self._reconcile_start(meeting_id, called_at, exc)
                if found is not None:
                    return found
                wait = self.retry_policy.next_wait(exc, attempt)
                if wait is None:
                    raise
                log.warning(
                    "RealtimeKit start for meeting %s failed (%s) and created no recording; "
                    "sending it again in %.2f s (attempt %d of %d)",
                    meeting_id,
                    exc,
                    wait,
                    attempt + 1,
                    self.retry_policy.max_attempts,
                )
                time.sleep(wait)
            except RealtimeKitConflictError as exc:
                if attempt > 1 and (found := self._reconcile_start(meeting_id, called_at, exc)):
                    return found
                raise

    def _reconcile_start(
        self, meeting_id: str | None, called_at: datetime, exc: RealtimeKitError
    ) -> Recording | None:
        """The recording a lost start attempt created, or None when the meeting has no active recording.

        An active recording invoked before this call (beyond ``reconcile_window`` of clock skew) is not
        ours: the start would only conflict with it, so that conflict is raised instead of a resend.
        """
        if meeting_id is None:
            raise RealtimeKitError(
                f"starting a recording failed ambiguously ({exc}) and, without a meeting_id, cannot be "
                "reconciled: not resending it"
            ) from exc
        active = self.get_active_recording(meeting_id)
        if active is None:
            return None
        invoked = parse_api_time(active.get("invoked_time"))
        if invoked is not None and invoked >= called_at - timedelta(seconds=self.reconcile_window):
            log.warning(
                "RealtimeKit start for meeting %s got no clean answer (%s); adopting recording %s, "
                "which that attempt created",
                meeting_id,
                exc,
                active["id"],
            )
            return active
        raise RealtimeKitConflictError(
            409,
            f"meeting {meeting_id} already has active recording {active['id']} (invoked "
            f"{active.get('invoked_time')}), started before this call; not starting another",
            method="POST",
            path="recordings",
        ) from exc

    def _action(self, recording_id: str, action: str) -> Recording:
        check_enum("action", action, ACTIONS)
        request = ApiRequest(
            "PUT", f"recordings/{require_uuid('recording_id', recording_id)}", json={"action": action}
        )
        return self._call(request, read_recording)

    def stop_recording(self, recording_id: str) -> Recording:
        return self._action(recording_id, "stop")

    def pause_recording(self, recording_id: str) -> Recording:
        return self._action(recording_id, "pause")

    def resume_recording(self, recording_id: str) -> Recording:
        return self._action(recording_id, "resume")

    def start_track_recording(
        self,
        meeting_id: str,
        *,
        layers: Mapping[str, Any] | None = None,
        user_ids: Iterable[str] | None = None,
        max_seconds: int | None = None,
    ) -> Recording | None:
        """Start recording participant tracks.

        Both API versions pass through: the legacy body (``layers`` with ``outputs``, ``max_seconds``)
        answered with no body (returns ``None``), and the current one (``layers`` with ``media_kind``,
        ``user_ids``) answered with ``{"data": {"recording": ...}}``. An ambiguous failure is not resent:
        the API offers no way to tell whether the track recording started.
        """
        body = build_track_body(meeting_id, layers=layers, user_ids=user_ids, max_seconds=max_seconds)
        request = ApiRequest("POST", "recordings/track", json=body)
        return self._call(request, read_recording_or_none)

    # -- files ------------------------------------------------------------------------------------------

    @contextmanager
    def open_download(self, url: str, *, offset: int = 0) -> Iterator[requests.Response]:
        """Stream a presigned recording URL from byte ``offset`` (a ``Range`` request when > 0).

        The URL is its own credential: no ``Authorization`` header is sent to the storage host. Errors
        name only the URL's host and path, never its signature.
        """
        request = DownloadRequest(url, offset)
        with no_response_errors(request, timeout=self.timeout):
            response = self.get_conn().get(
                request.url, headers=request.headers, stream=True, timeout=self.timeout
            )
        try:
            if response.status_code >= 400:
                raise build_error(response, request)
            yield response
        finally:
            response.close()

    # -- connection test --------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check token, account and app with one read-only request (a single list page of size 1)."""
        try:
            settings = self.settings
            self._call(self._list_request({"per_page": "1"}, 1), read_page, RetryPolicy(max_attempts=1))
        except RealtimeKitConfigError as exc:
            return False, str(exc)
        except RealtimeKitAuthError as exc:
            if exc.status_code == 401:
                return False, (
                    "Authentication failed: the API token was rejected (HTTP 401). Check the connection's "
                    f"password and that the token has the Realtime permission. API said: {exc.message}"
                )
            return False, (
                f"Access denied (HTTP 403) to account '{settings.account_id}': check account_id, and that "
                f"the token belongs to this account. API said: {exc.message}"
            )
        except RealtimeKitNotFoundError as exc:
            return False, (
                f"Account '{settings.account_id}' / app '{settings.app_id}' not found (HTTP 404): check "
                f"account_id and app_id. API said: {exc.message}"
            )
        except RealtimeKitTransportError as exc:
            return False, f"Could not reach {settings.base_url}: {exc}. Check the host and the network."
        except RealtimeKitApiError as exc:
            return False, f"Unexpected answer from RealtimeKit: {exc}"
        return True, (
            f"Connected to RealtimeKit app '{settings.app_id}' of account '{settings.account_id}' "
            f"at {settings.base_url}"
        )
