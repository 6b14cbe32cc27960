"""Deferrable wait for a RealtimeKit recording to reach a status.

Every recording trigger in a triggerer shares one poller per connection (see ``_poller``) instead of
polling its own recording, so the request rate stays near constant however many tasks wait; and a
transient API error costs one poll, not the whole wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_rtk._core.defaults import (
    DEFAULT_CONN_ID,
    DEFAULT_FAILURE_STATUSES,
    DEFAULT_TARGET_STATUSES,
)
from airflow_provider_rtk._core.pacing import Backoff, Pacing
from airflow_provider_rtk._core.redact import without_download_urls
from airflow_provider_rtk._core.validation import check_error_limit, check_wait_statuses, require_id
from airflow_provider_rtk.exceptions import RealtimeKitError
from airflow_provider_rtk.types import Recording

if TYPE_CHECKING:
    from airflow_provider_rtk._core.waiting import EventStatus, WaitEvent
    from airflow_provider_rtk.triggers._poller import RecordingPoller, Waiter

__all__ = ["RealtimeKitRecordingTrigger"]


class RealtimeKitRecordingTrigger(BaseTrigger):
    """Wait until a recording reaches one of ``target_statuses``; emit exactly one ``WaitEvent``.

    The event's ``status`` is ``success`` (a target status was reached), ``failed`` (a failure status
    was), ``timeout`` (``end_time`` passed) or ``error`` (a non-transient API error such as 404 or 401,
    with what to check, or the opt-in ``max_consecutive_errors``). Transient errors (no response, 429,
    5xx) never end the wait before ``end_time``: polls back off from ``poll_interval`` to ``max_backoff``
    (honouring ``Retry-After``), with a warning at the 1st, 2nd, 4th... failure in a row and a line when
    the API answers again. Each poll is logged with the status seen and the time waited.

    Its ``recording`` is the latest view the poller got, without download URLs (Airflow logs every event
    as it is; the resuming task fetches the recording when it needs them): from a GET, or from the list
    endpoint when that answered (the list's view adds ``meeting`` and lacks ``start_reason``; a failure's
    ``stop_reason`` is always fetched).

    :param recording_id: the recording to watch.
    :param target_statuses: statuses that end the wait successfully.
    :param failure_statuses: statuses that end it as failed (may be empty).
    :param poll_interval: seconds between polls. Triggers sharing a poller are polled at the shortest
        interval among them.
    :param end_time: deadline as epoch seconds (absolute, so a triggerer restart does not extend it);
        ``None`` waits for ever.
    :param max_backoff: longest delay between polls while the API fails, in seconds (default: 300, or
        ``poll_interval`` when longer).
    :param max_consecutive_errors: opt-in: transient errors in a row (429s not counted) after which the
        wait ends in ``error``; ``None`` (default) waits through any outage until ``end_time``.
    :param realtimekit_conn_id: Airflow connection of type ``realtimekit``.
    :param account_id: overrides the connection's ``account_id``.
    :param app_id: overrides the connection's ``app_id``.
    """

    def __init__(
        self,
        recording_id: str,
        *,
        target_statuses: Iterable[str] = DEFAULT_TARGET_STATUSES,
        failure_statuses: Iterable[str] = DEFAULT_FAILURE_STATUSES,
        poll_interval: float = 30.0,
        end_time: float | None = None,
        max_backoff: float | None = None,
        max_consecutive_errors: int | None = None,
        realtimekit_conn_id: str = DEFAULT_CONN_ID,
        account_id: str | None = None,
        app_id: str | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.recording_id = require_id("recording_id", recording_id)
        self.realtimekit_conn_id = realtimekit_conn_id
        self.account_id = account_id
        self.app_id = app_id
        self.target_statuses, self.failure_statuses = check_wait_statuses(target_statuses, failure_statuses)
        pacing = Pacing.for_wait(poll_interval, max_backoff)
        self.poll_interval = pacing.interval
        self.end_time = None if end_time is None else float(end_time)
        self.max_consecutive_errors = check_error_limit(max_consecutive_errors)
        self.max_backoff = pacing.cap

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "recording_id": self.recording_id,
                "realtimekit_conn_id": self.realtimekit_conn_id,
                "account_id": self.account_id,
                "app_id": self.app_id,
                "target_statuses": list(self.target_statuses),
                "failure_statuses": list(self.failure_statuses),
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "max_consecutive_errors": self.max_consecutive_errors,
                "max_backoff": self.max_backoff,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # The wait (and the unsubscription from the shared poller) is over before the event is yielded:
        # a triggerer may never resume this generator after its first event.
        event = await self._wait()
        yield TriggerEvent(dict(event))  # type: ignore[no-untyped-call]

    async def _wait(self) -> WaitEvent:
        # Imported here, as the wait rules below: the poller pulls in the hook (requests), which DAG files,
        # importing this module, must not pay for.
        from airflow_provider_rtk.triggers._poller import Waiter, subscribe

        waiter = Waiter(
            recording_id=self.recording_id,
            target_statuses=frozenset(self.target_statuses),
            failure_statuses=frozenset(self.failure_statuses),
            backoff=Backoff(Pacing(self.poll_interval, self.max_backoff)),
        )
        try:
            poller = await subscribe(waiter, self.realtimekit_conn_id, self.account_id, self.app_id)
        except Exception as exc:
            return self._event("error", None, f"cannot poll recording {self.recording_id}: {exc}")
        try:
            return await self._follow(waiter, poller)
        finally:
            await poller.remove(waiter)

    async def _follow(self, waiter: Waiter, poller: RecordingPoller) -> WaitEvent:
        """Read the poller's answers until one ends the wait, or the deadline passes.

        The first answer is always awaited (for up to one poll interval past the deadline): a trigger
        rebuilt after its deadline, e.g. by a triggerer restart, still reports a recording that finished.
        """
        from airflow_provider_rtk._core.errors import explain, is_transient
        from airflow_provider_rtk._core.waiting import WaitProgress, classify, describe_failure

        progress = WaitProgress(
            self.recording_id, self.target_statuses, self.log, waiter.backoff, self.max_consecutive_errors
        )
        last: Recording | None = None
        answered = False
        while True:
            remaining = None if self.end_time is None else self.end_time - time.time()
            if remaining is not None and remaining <= 0:
                if answered:
                    return self._timeout(last)
                remaining = self.poll_interval
            try:
                async with asyncio.timeout(remaining):
                    outcome = await waiter.next_outcome()
            except TimeoutError:
                return self._timeout(last)
            answered = True
            exc = outcome.error
            if exc is not None:
                if not is_transient(exc):
                    why = explain(exc, account_id=poller.key.account_id, app_id=poller.key.app_id)
                    return self._event("error", last, f"cannot poll recording {self.recording_id}: {why}")
                try:
                    progress.report_failure(exc, outcome.delay or waiter.interval)
                except RealtimeKitError as gave_up:
                    return self._event("error", last, str(gave_up))
                continue
            status = outcome.recording.get("status") if outcome.recording else None
            progress.report_seen(status, outcome.failing_for)
            if outcome.recording is None:
                continue
            last = outcome.recording
            state = classify(last, self.target_statuses, self.failure_statuses)
            if state == "failed":
                return self._event("failed", last, describe_failure(last))
            if state == "done":
                return self._event("success", last, f"recording {self.recording_id} is {last.get('status')}")

    def _timeout(self, last: Recording | None) -> WaitEvent:
        seen = f"; last status seen: {last.get('status')}" if last else ""
        return self._event(
            "timeout",
            last,
            f"recording {self.recording_id} did not reach {', '.join(self.target_statuses)} before the "
            f"deadline{seen}",
        )

    def _event(self, status: EventStatus, recording: Recording | None, message: str) -> WaitEvent:
        event: WaitEvent = {
            "status": status,
            "recording_id": self.recording_id,
            "recording_status": recording.get("status") if recording else None,
            "message": message,
            "recording": without_download_urls(recording) if recording else None,
        }
        return event
