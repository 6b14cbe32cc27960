"""Starting a recording exactly once: the one non-idempotent call of the API.

``POST recordings`` is never resent blindly. When an attempt fails ambiguously (no response, a timeout, a
5xx) the server may have started the recording, so the meeting's active recording is looked up first:
one invoked since the call began (give or take ``reconcile_window`` seconds of clock skew) is the one the
lost attempt created and is adopted; an older one is someone else's and the start is a conflict. Only
when the API shows no active recording is the start sent again, paced by the retry policy. A start
refused at the connection never reached the API and is resent without a lookup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_provider_rtk._core.connection import ConnectionSettings
from airflow_provider_rtk._core.timestamps import parse_api_time
from airflow_provider_rtk._core.transport import Transport
from airflow_provider_rtk._core.validation import require_uuid
from airflow_provider_rtk._core.wire import ApiRequest, read_recording
from airflow_provider_rtk.exceptions import (
    RealtimeKitConflictError,
    RealtimeKitError,
    RealtimeKitNotFoundError,
    RealtimeKitServerError,
    RealtimeKitTransportError,
)
from airflow_provider_rtk.types import Recording

log = logging.getLogger(__name__)

__all__ = ["IdempotentStart", "connection_refused"]


def connection_refused(exc: BaseException) -> bool:
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


@dataclass
class IdempotentStart:
    """One ``start_recording`` call: adopt, send, reconcile and resend as the module docstring says.

    :param transport: sends the requests (its retry policy paces the resends).
    :param settings: the connection's base URL, account and app.
    :param reconcile_window: seconds of clock skew tolerated when matching a found recording to a call.
    :param recent: the meeting's recordings invoked since an instant, newest first (the hook's list).
    """

    transport: Transport
    settings: ConnectionSettings
    reconcile_window: float
    recent: Callable[[str, datetime], Iterator[Recording]]

    def run(
        self,
        meeting_id: str | None,
        body: Mapping[str, Any],
        *,
        reuse_active_recording: bool,
        adopt_since: datetime | None,
    ) -> Recording:
        """The recording this call started, or adopted; see ``RealtimeKitHook.start_recording``."""
        multiple = bool(body.get("allow_multiple_recordings"))
        if adopt_since is not None and meeting_id and not multiple:
            earlier = self._started_since(meeting_id, adopt_since)
            if earlier is not None:
                return earlier
        request = ApiRequest("POST", "recordings", json=body)
        called_at = datetime.now(UTC)
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.transport.call(self.settings, request, read_recording)
            except (RealtimeKitTransportError, RealtimeKitServerError) as exc:
                found = self._after_ambiguous(meeting_id, exc, called_at, attempt, multiple)
                if found is not None:
                    return found
            except RealtimeKitConflictError as exc:
                return self._after_conflict(
                    meeting_id, exc, called_at, attempt, reuse_active_recording, multiple
                )

    def _started_since(self, meeting_id: str, since: datetime) -> Recording | None:
        """The meeting's newest recording invoked since ``since`` (less ``reconcile_window``) that did not
        end ERRORED: the one an earlier execution of the same work started."""
        window = since - timedelta(seconds=self.reconcile_window)
        earlier = next((r for r in self.recent(meeting_id, window) if r["status"] != "ERRORED"), None)
        if earlier is not None:
            log.info(
                "Meeting %s has recording %s (%s), invoked %s, since %s: adopting it as the one an earlier "
                "execution of this work started, instead of starting another",
                meeting_id,
                earlier["id"],
                earlier["status"],
                earlier.get("invoked_time"),
                since.isoformat(),
            )
        return earlier

    def _after_ambiguous(
        self, meeting_id: str | None, exc: RealtimeKitError, called_at: datetime, attempt: int, multiple: bool
    ) -> Recording | None:
        """After a failure that may or may not have started the recording: the recording it started, or
        None once the next attempt is due (after the retry policy's wait); raises when none may follow."""
        refused = connection_refused(exc)
        if multiple and not refused:
            raise RealtimeKitError(
                f"starting a recording for meeting {meeting_id} failed ambiguously ({exc}); with "
                "allow_multiple_recordings the start is neither reconciled nor resent, since another active "
                "recording cannot be told apart from ours: check the meeting's recordings"
            ) from exc
        found = None if refused else self._reconcile(meeting_id, called_at, exc)
        if found is not None:
            return found
        wait = self.transport.retry_policy.next_wait(exc, attempt)
        if wait is None:
            if refused:
                raise RealtimeKitTransportError(
                    f"starting a recording for meeting {meeting_id} failed: the API at "
                    f"{self.settings.base_url} refused the connection ({attempt} attempt(s); {exc}). Check "
                    "the connection's host and the network"
                ) from exc
            raise exc
        log.warning(
            "RealtimeKit start for meeting %s failed (%s) and created no recording; sending it again in "
            "%.2f s (attempt %d of %d)",
            meeting_id,
            exc,
            wait,
            attempt + 1,
            self.transport.retry_policy.max_attempts,
        )
        time.sleep(wait)
        return None

    def _after_conflict(
        self,
        meeting_id: str | None,
        exc: RealtimeKitConflictError,
        called_at: datetime,
        attempt: int,
        reuse_active_recording: bool,
        multiple: bool,
    ) -> Recording:
        """A 409: after a resend, the recording our lost attempt started; else, with
        ``reuse_active_recording``, the meeting's active recording; else the conflict."""
        if attempt > 1 and (found := self._reconcile(meeting_id, called_at, exc)):
            return found
        if reuse_active_recording and not multiple and meeting_id:
            active = self._active_recording(meeting_id, single_attempt=False)
            if active is not None:
                log.info(
                    "Meeting %s already has active recording %s (%s; API said: %s): adopting it, since "
                    "reuse_active_recording is set",
                    meeting_id,
                    active["id"],
                    active["status"],
                    exc.message,
                )
                return active
        raise exc

    def _reconcile(
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
                "RealtimeKit start for meeting %s got no clean answer (%s); adopting recording %s, which "
                "that attempt created",
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
        try:
            return self._active_recording(meeting_id, single_attempt=True)
        except RealtimeKitError as exc:
            if not exc.transient or connection_refused(exc):
                raise
        return self._active_recording(meeting_id, single_attempt=False)

    def _active_recording(self, meeting_id: str, *, single_attempt: bool) -> Recording | None:
        request = active_recording_request(meeting_id)
        send = self.transport.send if single_attempt else self.transport.call
        try:
            return send(self.settings, request, read_recording)
        except RealtimeKitNotFoundError:
            return None


def active_recording_request(meeting_id: str) -> ApiRequest:
    """``GET recordings/active-recording/<meeting_id>`` (a 404 means the meeting records nothing)."""
    return ApiRequest("GET", f"recordings/active-recording/{require_uuid('meeting_id', meeting_id)}")
