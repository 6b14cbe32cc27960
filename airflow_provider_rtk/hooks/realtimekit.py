"""The RealtimeKit hook: the connection and every recordings API call, sync and async.

The hook is the API: one method per endpoint and action, each validating its input before any request.
How requests are built and answers parsed is ``_core.wire``'s, sending them with retries
``_core.transport``'s, the exactly-once start ``_core.start``'s and the wait rules ``_core.waiting``'s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final, TypeVar, Unpack

from airflow.sdk import BaseHook

from airflow_provider_rtk._core.connection import (
    CONN_TYPE,
    ConnectionSettings,
    connection_form_widgets,
    settings_from,
    ui_field_behaviour,
)
from airflow_provider_rtk._core.defaults import (
    DEFAULT_CONN_ID,
    DEFAULT_FAILURE_STATUSES,
    DEFAULT_STARTUP_TIMEOUT,
)
from airflow_provider_rtk._core.errors import what_to_check
from airflow_provider_rtk._core.retry import RetryPolicy
from airflow_provider_rtk._core.start import IdempotentStart, active_recording_request
from airflow_provider_rtk._core.transport import Transport, Unwrap
from airflow_provider_rtk._core.validation import (
    ACTIONS,
    build_list_params,
    build_start_body,
    build_track_body,
    check_enum,
    check_int,
    require_uuid,
)
from airflow_provider_rtk._core.waiting import wait_for_status
from airflow_provider_rtk._core.wire import (
    ApiRequest,
    read_page,
    read_recording,
    read_recording_or_none,
)
from airflow_provider_rtk.exceptions import (
    RealtimeKitApiError,
    RealtimeKitAuthError,
    RealtimeKitConfigError,
    RealtimeKitNotFoundError,
    RealtimeKitTransportError,
)
from airflow_provider_rtk.types import (
    STARTED_STATUSES,
    STOPPED_STATUSES,
    ListFilters,
    Recording,
    RecordingPage,
    StartOptions,
)

if TYPE_CHECKING:
    import requests
    from airflow.sdk import Connection

__all__ = ["ConnectionSettings", "RealtimeKitHook", "RetryPolicy"]

log = logging.getLogger(__name__)

DEFAULT_PER_PAGE = 50

T = TypeVar("T")

#: HTTP statuses with which the API refuses an action the recording's state does not allow.
_STATE_REFUSALS: Final = frozenset({400, 409, 422})
#: Statuses in which pause and resume apply (the bot has joined and the recording is not over).
_ACTIONABLE: Final = frozenset({"RECORDING", "PAUSED"})


def _recording_request(recording_id: str) -> ApiRequest:
    return ApiRequest("GET", f"recordings/{require_uuid('recording_id', recording_id)}")


def _list_request(params: Mapping[str, str], page_no: int) -> ApiRequest:
    return ApiRequest("GET", "recordings", params={**params, "page_no": str(page_no)})


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
    :param retry_policy: a full ``RetryPolicy`` (exported here); overrides the three ``retry_*`` arguments.
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
        self.transport = Transport(timeout=timeout, retry_policy=self.retry_policy)
        self._async_settings: ConnectionSettings | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Connection form layout for Airflow 3.1 (3.2+ reads ``ui-field-behaviour`` from provider info)."""
        return ui_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra form fields for Airflow 3.1 (3.2+ reads ``conn-fields`` from provider info)."""
        return connection_form_widgets()

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
        """The keep-alive session every request of this hook goes through."""
        return self.transport.session

    def close(self) -> None:
        """Close the session (the hook opens a new one if used again)."""
        self.transport.close()

    async def aclose(self) -> None:
        """``close`` for async callers."""
        self.transport.close()

    def _call(self, request: ApiRequest, read: Unwrap[T], *, single_attempt: bool = False) -> T:
        if single_attempt:
            return self.transport.send(self.settings, request, read)
        return self.transport.call(self.settings, request, read)

    async def _acall(self, request: ApiRequest, read: Unwrap[T]) -> T:
        return await self.transport.acall(await self.asettings(), request, read)

    def list_recordings(self, *, page_no: int = 1, **filters: Unpack[ListFilters]) -> Iterator[Recording]:
        """Every recording matching the filters (``ListFilters``: ``meeting_id``, ``status``,
        ``start_time``, ``end_time``, ``expired``, ``search``, ``sort_by``, ``sort_order``, ``per_page``),
        walking all pages lazily from ``page_no``.

        Validation happens at the call, before the first request. A recording that moves between pages
        while they are walked is yielded once.
        """
        filters["per_page"] = filters.get("per_page") or DEFAULT_PER_PAGE
        params = build_list_params(**filters)
        return self._walk_pages(params, check_int("page_no", page_no, (1, 1 << 31)))

    def _walk_pages(self, params: Mapping[str, str], page_no: int) -> Iterator[Recording]:
        seen: set[str] = set()
        per_page = int(params["per_page"])
        while True:
            page = self._call(_list_request(params, page_no), read_page)
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
        """One page of ``list_recordings`` for async callers (the triggers)."""
        filters.setdefault("per_page", DEFAULT_PER_PAGE)
        params = build_list_params(**filters)
        return await self._acall(_list_request(params, page_no), read_page)

    def get_recording(self, recording_id: str, *, single_attempt: bool = False) -> Recording:
        """One recording by id (a fresh ``download_url`` each time).

        :param single_attempt: make one attempt, without the retry policy: for a wait, which paces its
            own retries and ends only at its deadline.
        """
        return self._call(_recording_request(recording_id), read_recording, single_attempt=single_attempt)

    async def aget_recording(self, recording_id: str) -> Recording:
        """``get_recording`` for async callers."""
        return await self._acall(_recording_request(recording_id), read_recording)

    def get_active_recording(self, meeting_id: str) -> Recording | None:
        """The meeting's active recording, or ``None`` when it has none (the API's 404)."""
        try:
            return self._call(active_recording_request(meeting_id), read_recording)
        except RealtimeKitNotFoundError:
            return None

    def start_recording(
        self,
        meeting_id: str | None,
        *,
        reuse_active_recording: bool = True,
        adopt_since: datetime | None = None,
        **fields: Unpack[StartOptions],
    ) -> Recording:
        """Start recording a meeting; ``fields`` are the API's body fields (``max_seconds``,
        ``storage_config``, ``video_config``...). The recording is usually INVOKED at first (the bot is
        joining, up to ~30 s): ``wait_for_status(id, STARTED_STATUSES, ...)`` waits for it to record.

        Never creates two recordings for one call: an attempt that fails ambiguously (no response, a
        timeout, a 5xx) is reconciled with the meeting's active recording before anything is resent, and
        with ``allow_multiple_recordings`` it is neither reconciled nor resent (``_core.start``).

        :param reuse_active_recording: when the meeting already records (the API's 409) and
            ``allow_multiple_recordings`` is not set, return that active recording, whoever started it
            (the default, as the start operator does); False raises ``RealtimeKitConflictError``.
        :param adopt_since: for a repeated execution of the same work (a retried or cleared task): a
            recording of the meeting invoked since this instant (less ``reconcile_window``) that did not end
            ERRORED is the one an earlier execution started, even if it has finished since; the newest is
            returned and nothing is sent. Ignored with ``allow_multiple_recordings``.
        """
        body = build_start_body(meeting_id, fields)
        start = IdempotentStart(self.transport, self.settings, self.reconcile_window, self._recent)
        return start.run(
            meeting_id, body, reuse_active_recording=reuse_active_recording, adopt_since=adopt_since
        )

    def _recent(self, meeting_id: str, since: datetime) -> Iterator[Recording]:
        return self.list_recordings(
            meeting_id=meeting_id, start_time=since, sort_by="invokedTime", sort_order="DESC"
        )

    def _send_action(self, recording_id: str, action: str) -> Recording:
        check_enum("action", action, ACTIONS)
        request = ApiRequest(
            "PUT", f"recordings/{require_uuid('recording_id', recording_id)}", json={"action": action}
        )
        recording = self._call(request, read_recording)
        log.info("Sent %s to recording %s: now %s", action, recording["id"], recording["status"])
        return recording

    def _change_state(
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
            return self._send_action(recording_id, action)
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
                    recording_id, STARTED_STATUSES, timeout=startup_timeout, poll_interval=poll_interval
                )
            if recording["status"] in _ACTIONABLE and recording["status"] not in done:
                # The bot joined after the refusal (or while we waited for it): the action applies now.
                return self._send_action(recording_id, action)
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

    def stop_recording(self, recording_id: str) -> Recording:
        """Stop a recording (INVOKED ones too). One already stopped (UPLOADING, UPLOADED, ERRORED) is
        returned as is, so a retried stop succeeds."""
        return self._change_state(recording_id, "stop", STOPPED_STATUSES)

    def pause_recording(
        self,
        recording_id: str,
        *,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        poll_interval: float = 2.0,
    ) -> Recording:
        """Pause a recording. One still INVOKED is waited for (up to ``startup_timeout`` seconds, polled
        every ``poll_interval``) until its bot joins; one already PAUSED is returned as is."""
        return self._change_state(
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
        return self._change_state(
            recording_id,
            "resume",
            ("RECORDING",),
            startup_timeout=startup_timeout,
            poll_interval=poll_interval,
        )

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
        return wait_for_status(
            lambda: self.get_recording(recording_id, single_attempt=True),
            recording_id,
            statuses,
            timeout=timeout,
            poll_interval=poll_interval,
            failure_statuses=failure_statuses,
            max_backoff=max_backoff,
            max_consecutive_errors=max_consecutive_errors,
            log=log,
        )

    @contextmanager
    def open_download(self, url: str, *, offset: int = 0) -> Iterator[requests.Response]:
        """Stream a presigned recording URL from byte ``offset`` (a ``Range`` request when > 0).

        The URL is its own credential: no ``Authorization`` header is sent to the storage host. Errors
        name only the URL's host and path, never its signature.
        """
        with self.transport.open_download(url, offset=offset) as response:
            yield response

    def test_connection(self) -> tuple[bool, str]:
        """Check token, account and app with one read-only request (a single list page of size 1)."""
        try:
            settings = self.settings
            self._call(_list_request({"per_page": "1"}, 1), read_page, single_attempt=True)
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
