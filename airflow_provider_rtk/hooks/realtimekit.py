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
from typing import TYPE_CHECKING, Any, Final, TypeVar, Unpack

import requests
from airflow.sdk import BaseHook

from airflow_provider_rtk._core.compat import AirflowSensorTimeout
from airflow_provider_rtk._core.connection import (
    CONN_TYPE,
    DEFAULT_CONN_ID,
    USER_AGENT,
    ConnectionSettings,
    settings_from,
    ui_field_behaviour,
)
from airflow_provider_rtk._core.errors import what_to_check
from airflow_provider_rtk._core.pacing import check_backoff_args
from airflow_provider_rtk._core.redact import mask_config_secrets
from airflow_provider_rtk._core.retry import RetryPolicy
from airflow_provider_rtk._core.timestamps import parse_api_time
from airflow_provider_rtk._core.validation import (
    ACTIONS,
    STORAGE_FIELDS,
    STORAGE_TYPES,
    ListFilters,
    StartOptions,
    build_list_params,
    build_start_body,
    build_track_body,
    check_enum,
    check_int,
    require_uuid,
)
from airflow_provider_rtk._core.waiting import (
    DEFAULT_FAILURE_STATUSES,
    DEFAULT_STARTUP_TIMEOUT,
    STARTED_STATUSES,
    WaitProgress,
    backoff_cap,
    check_wait_statuses,
    classify,
    describe_failure,
)
from airflow_provider_rtk._core.wire import (
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
    RealtimeKitRecordingStateError,
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

#: Statuses after which a stop has nothing left to do.
STOPPED_STATUSES: Final[tuple[str, ...]] = ("UPLOADING", "UPLOADED", "ERRORED")
#: HTTP statuses with which the API refuses an action the recording's state does not allow.
_STATE_REFUSALS: Final = frozenset({400, 409, 422})
#: One attempt per call: for waits, which pace their own retries, and the reconcile lookup's first try.
_ONE_ATTEMPT: Final = RetryPolicy(max_attempts=1)


def _connection_refused(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a refused TCP connection: the request never reached the API,
    so even a non-idempotent one is safe to resend, and waiting on retries will not bring the host up."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        item = pending.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ConnectionRefusedError):
            return True
        pending.extend((item.__cause__, item.__context__, getattr(item, "reason", None), *item.args))
    return False


def storage_config_from_connection(
    conn_id: str, storage_config: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A start's ``storage_config`` from an Airflow connection, so that storage secrets stay in Airflow's
    secrets backend; keys of ``storage_config`` win over the connection's. Every secret is registered
    with the secret maskers.

    ``login``/``password`` become ``access_key``/``secret``, or for ``sftp`` ``username``/``password``
    with ``host``/``port`` from the connection's. Extras ``type``, ``bucket``, ``region`` (or
    ``region_name``), ``path``, ``host``, ``port``, ``private_key`` and ``auth_method`` fill the fields of
    the same name; ``type`` defaults to the connection type when that is a storage type (e.g. ``aws``).
    """
    conn = BaseHook.get_connection(conn_id)
    extras = conn.extra_dejson
    explicit = dict(storage_config or {})
    kind = explicit.get("type") or extras.get("type")
    if kind is None and conn.conn_type in STORAGE_TYPES:
        kind = conn.conn_type
    config: dict[str, Any] = {"type": kind} if kind else {}
    sftp = kind == "sftp"
    if conn.login:
        config["username" if sftp else "access_key"] = conn.login
    if conn.password:
        config["password" if sftp else "secret"] = conn.password
    if sftp and conn.host:
        config["host"] = conn.host
    if sftp and conn.port:
        config["port"] = conn.port
    if extras.get("region_name") is not None:
        config["region"] = extras["region_name"]
    config.update({k: extras[k] for k in STORAGE_FIELDS if extras.get(k) is not None})
    config.update(explicit)
    port = config.get("port")
    if isinstance(port, str) and port.strip().isdigit():
        config["port"] = int(port)
    mask_config_secrets(config)
    return config


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
            "app_id": StringField(
                lazy_gettext("App ID"), validators=[InputRequired()], description=APP_ID_HELP
            ),
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

    def start_recording(
        self,
        meeting_id: str | None,
        *,
        reuse_active_recording: bool = False,
        adopt_since: datetime | None = None,
        **fields: Unpack[StartOptions],
    ) -> Recording:
        """Start recording a meeting; ``fields`` are the API's body fields (``max_seconds``,
        ``storage_config``, ``video_config``...). The recording is usually INVOKED at first (the bot is
        joining, up to ~30 s): ``wait_for_status(id, STARTED_STATUSES, ...)`` waits for it to record.

        Never creates two recordings for one call: when an attempt fails ambiguously (no response, a
        timeout, a 5xx), the meeting's active recording is fetched first; one invoked since this call
        started (give or take ``reconcile_window`` seconds of clock skew) is the one the lost attempt
        created and is returned, an older one is a conflict. Only when the API shows no active recording
        is the start sent again; a 409 after such a resend is reconciled the same way. A start refused at
        the connection never reached the API and is resent without a lookup. With
        ``allow_multiple_recordings`` an ambiguous start is neither reconciled nor resent.

        :param reuse_active_recording: when the meeting already records (the API's 409) and
            ``allow_multiple_recordings`` is not set, return that active recording, whoever started it,
            instead of raising ``RealtimeKitConflictError``.
        :param adopt_since: for a repeated execution of the same work (a retried or cleared task): a
            recording of the meeting invoked since this instant (less ``reconcile_window``) that did not end
            ERRORED is the one an earlier execution started, even if it has finished since; the newest is
            returned and nothing is sent. Ignored with ``allow_multiple_recordings``.
        """
        body = build_start_body(meeting_id, fields)
        if adopt_since is not None and meeting_id and not body.get("allow_multiple_recordings"):
            earlier = self._started_since(meeting_id, adopt_since)
            if earlier is not None:
                log.info(
                    "Meeting %s has recording %s (%s), invoked %s, since %s: adopting it as the one an "
                    "earlier execution of this work started, instead of starting another",
                    meeting_id,
                    earlier["id"],
                    earlier["status"],
                    earlier.get("invoked_time"),
                    adopt_since.isoformat(),
                )
                return earlier
        request = ApiRequest("POST", "recordings", json=body)
        called_at = datetime.now(UTC)
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._call(request, read_recording)
            except (RealtimeKitTransportError, RealtimeKitServerError) as exc:
                refused = _connection_refused(exc)
                if body.get("allow_multiple_recordings") and not refused:
                    raise RealtimeKitError(
                        f"starting a recording for meeting {meeting_id} failed ambiguously ({exc}); with "
                        "allow_multiple_recordings the start is neither reconciled nor resent, since "
                        "another active recording cannot be told apart from ours: check the meeting's "
                        "recordings"
                    ) from exc
                found = None if refused else self._reconcile_start(meeting_id, called_at, exc)
                if found is not None:
                    return found
                wait = self.retry_policy.next_wait(exc, attempt)
                if wait is None:
                    if refused:
                        raise RealtimeKitTransportError(
                            f"starting a recording for meeting {meeting_id} failed: the API at "
                            f"{self.settings.base_url} refused the connection ({attempt} attempt(s); "
                            f"{exc}). Check the connection's host and the network"
                        ) from exc
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
                if reuse_active_recording and not body.get("allow_multiple_recordings") and meeting_id:
                    active = self.get_active_recording(meeting_id)
                    if active is not None:
                        log.info(
                            "Meeting %s already has active recording %s (%s; API said: %s): adopting it, "
                            "since reuse_active_recording is set",
                            meeting_id,
                            active["id"],
                            active["status"],
                            exc.message,
                        )
                        return active
                raise

    def _started_since(self, meeting_id: str, since: datetime) -> Recording | None:
        """The meeting's newest recording invoked since ``since`` (less ``reconcile_window``) that is not
        ERRORED, or None."""
        window = since - timedelta(seconds=self.reconcile_window)
        recent = self.list_recordings(
            meeting_id=meeting_id, start_time=window, sort_by="invokedTime", sort_order="DESC"
        )
        return next((r for r in recent if r["status"] != "ERRORED"), None)

    def _reconcile_start(
        self, meeting_id: str | None, called_at: datetime, exc: RealtimeKitError
    ) -> Recording | None:
        """The recording a lost start attempt created, or None when the meeting has no active recording.

        An active recording invoked before this call (beyond ``reconcile_window`` of clock skew) is not
        ours: the start would only conflict with it, so that conflict is raised instead of a resend. A
        lookup refused at the connection fails at once, naming the start it was for.
        """
        if meeting_id is None:
            raise RealtimeKitError(
                f"starting a recording failed ambiguously ({exc}) and, without a meeting_id, cannot be "
                "reconciled: not resending it"
            ) from exc
        try:
            active = self._reconcile_lookup(meeting_id)
        except RealtimeKitError as lookup_exc:
            raise RealtimeKitError(
                f"starting a recording for meeting {meeting_id} failed ambiguously ({exc}), and looking up "
                f"the meeting's active recording at {self.settings.base_url} to reconcile it failed too "
                f"({lookup_exc}): check the meeting's recordings before starting again"
            ) from exc
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

    def _reconcile_lookup(self, meeting_id: str) -> Recording | None:
        """The meeting's active recording: one attempt first, then the retry policy unless the connection
        was refused (retries will not bring the host up)."""
        request = ApiRequest("GET", f"recordings/active-recording/{require_uuid('meeting_id', meeting_id)}")
        for policy in (_ONE_ATTEMPT, None):
            try:
                return self._call(request, read_recording, policy)
            except RealtimeKitNotFoundError:
                return None
            except RealtimeKitError as exc:
                if policy is None or not exc.transient or _connection_refused(exc):
                    raise
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    def _action(self, recording_id: str, action: str) -> Recording:
        check_enum("action", action, ACTIONS)
        request = ApiRequest(
            "PUT", f"recordings/{require_uuid('recording_id', recording_id)}", json={"action": action}
        )
        return self._call(request, read_recording)

    def _act(
        self,
        recording_id: str,
        action: str,
        done: Iterable[str],
        *,
        startup_timeout: float = 0.0,
        poll_interval: float = 2.0,
    ) -> Recording:
        """Send ``action``. A refusal (400/409/422) from a recording already in a ``done`` status is
        success, so a retried stop, pause or resume succeeds (an earlier attempt may have landed). A
        refusal from an INVOKED recording waits up to ``startup_timeout`` for the bot to join, then acts:
        ERRORED meanwhile raises ``RealtimeKitRecordingStateError`` with its stop reason."""
        try:
            return self._sent(action, self._action(recording_id, action))
        except RealtimeKitApiError as exc:
            if exc.status_code not in _STATE_REFUSALS:
                raise
            recording = self.get_recording(recording_id)
            if recording["status"] == "INVOKED" and startup_timeout > 0:
                log.info(
                    "Recording %s is INVOKED (its bot is joining the meeting): waiting up to %g s for it "
                    "to record before sending %s",
                    recording_id,
                    startup_timeout,
                    action,
                )
                recording = self.wait_for_status(
                    recording_id,
                    STARTED_STATUSES,
                    failure_statuses=DEFAULT_FAILURE_STATUSES,
                    timeout=startup_timeout,
                    poll_interval=poll_interval,
                )
                if recording["status"] not in done:
                    return self._sent(action, self._action(recording_id, action))
            if recording["status"] not in done:
                raise
            log.info(
                "Recording %s is already %s (the API refused to %s it: %s)",
                recording_id,
                recording["status"],
                action,
                exc.message,
            )
            return recording

    def _sent(self, action: str, recording: Recording) -> Recording:
        log.info("Sent %s to recording %s: now %s", action, recording["id"], recording["status"])
        return recording

    def stop_recording(self, recording_id: str) -> Recording:
        """Stop a recording (INVOKED ones too). One already stopped (UPLOADING, UPLOADED, ERRORED) is
        returned as is, so a retried stop succeeds."""
        return self._act(recording_id, "stop", STOPPED_STATUSES)

    def pause_recording(
        self,
        recording_id: str,
        *,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        poll_interval: float = 2.0,
    ) -> Recording:
        """Pause a recording. One still INVOKED is waited for (up to ``startup_timeout`` seconds, polled
        every ``poll_interval``) until its bot joins; one already PAUSED is returned as is."""
        return self._act(
            recording_id, "pause", ("PAUSED",), startup_timeout=startup_timeout, poll_interval=poll_interval
        )

    def resume_recording(
        self,
        recording_id: str,
        *,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        poll_interval: float = 2.0,
    ) -> Recording:
        """Resume a paused recording. One still INVOKED is waited for as by ``pause_recording``; one
        already RECORDING is returned as is."""
        return self._act(
            recording_id,
            "resume",
            ("RECORDING",),
            startup_timeout=startup_timeout,
            poll_interval=poll_interval,
        )

    # -- waiting ----------------------------------------------------------------------------------------

    def poll_recording(self, recording_id: str) -> Recording:
        """One look at a recording for a wait: a single attempt, since a wait paces its own retries
        (``_wait.WaitProgress``) and only its deadline ends it."""
        request = ApiRequest("GET", f"recordings/{require_uuid('recording_id', recording_id)}")
        return self._call(request, read_recording, _ONE_ATTEMPT)

    def wait_for_status(
        self,
        recording_id: str,
        statuses: Iterable[str],
        *,
        timeout: float,
        poll_interval: float = 30.0,
        failure_statuses: Iterable[str] = DEFAULT_FAILURE_STATUSES,
        max_backoff: float | None = None,
        max_consecutive_errors: int | None = None,
    ) -> Recording:
        """Poll until the recording reaches one of ``statuses``; return it.

        Logs each poll (status and time waited). Transient errors (no response, 429, 5xx) never end the
        wait before ``timeout``: polls back off from ``poll_interval`` to ``max_backoff`` (300 s; honouring
        ``Retry-After``), with a warning at the 1st, 2nd, 4th... failure in a row and a line when the API
        answers again; ``max_consecutive_errors`` (opt-in) gives up earlier.

        :raises RealtimeKitRecordingStateError: the recording reached one of ``failure_statuses`` (the
            message carries its stop reason).
        :raises AirflowSensorTimeout: ``timeout`` seconds passed first (the message names the last status).
        :raises RealtimeKitApiError: a non-transient API error (401, 403, 404, 400), at once.
        """
        targets, failures = check_wait_statuses(statuses, failure_statuses)
        max_backoff = backoff_cap(poll_interval, max_backoff)
        check_backoff_args(poll_interval, max_backoff, max_consecutive_errors)
        progress = WaitProgress.start(
            recording_id,
            targets,
            log,
            poll_interval=poll_interval,
            max_backoff=max_backoff,
            max_consecutive_errors=max_consecutive_errors,
        )
        deadline = time.monotonic() + timeout
        last: str | None = None
        while True:
            try:
                recording = self.poll_recording(recording_id)
            except RealtimeKitError as exc:
                if not exc.transient:
                    raise
                delay = progress.failed(exc)
            else:
                last = recording.get("status")
                progress.seen(last)
                state = classify(recording, targets, failures)
                if state == "done":
                    return recording
                if state == "failed":
                    raise RealtimeKitRecordingStateError(describe_failure(recording))
                delay = poll_interval
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = f"; last status seen: {last}" if last else "; the API did not answer"
                raise AirflowSensorTimeout(
                    f"recording {recording_id} was not {' or '.join(targets)} within {timeout:g} s{seen}"
                )
            time.sleep(min(delay, remaining))

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
        except (RealtimeKitAuthError, RealtimeKitNotFoundError) as exc:
            hint = what_to_check(exc, account_id=settings.account_id, app_id=settings.app_id)
            return False, f"{hint[0].upper()}{hint[1:]}. API said: {exc.message}"
        except RealtimeKitTransportError as exc:
            return False, f"Could not reach {settings.base_url}: {exc}. Check the host and the network."
        except RealtimeKitApiError as exc:
            return False, f"Unexpected answer from RealtimeKit: {exc}"
        return True, (
            f"Connected to RealtimeKit app '{settings.app_id}' of account '{settings.account_id}' "
            f"at {settings.base_url}"
        )
