"""Deferrable wait for a RealtimeKit recording to reach a status.

Unlike a trigger that polls its own job (Airflow's dbt Cloud trigger, the model here), this one shares
one poller per connection with every other recording trigger in the triggerer (see ``_poller``), so the
request rate stays near constant however many tasks wait; and a transient API error costs one poll, not
the whole wait.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_rtk._connection import DEFAULT_CONN_ID
from airflow_provider_rtk._validation import require_id
from airflow_provider_rtk._wait import (
    DEFAULT_FAILURE_STATUSES,
    DEFAULT_TARGET_STATUSES,
    EventStatus,
    WaitEvent,
    check_wait_statuses,
    describe_failure,
    xcom_recording,
)
from airflow_provider_rtk.exceptions import (
    RealtimeKitInputError,
    RealtimeKitRateLimitError,
    RealtimeKitServerError,
    RealtimeKitTransportError,
)
from airflow_provider_rtk.types import Recording

if TYPE_CHECKING:
    from airflow_provider_rtk.triggers._poller import Waiter

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    RealtimeKitTransportError,
    RealtimeKitRateLimitError,
    RealtimeKitServerError,
)


class RealtimeKitRecordingTrigger(BaseTrigger):
    """Wait until a recording reaches one of ``target_statuses``; emit exactly one ``WaitEvent``.

    The event's ``status`` is ``success`` (a target status was reached), ``failed`` (a failure status
    was), ``timeout`` (``end_time`` passed) or ``error`` (a non-transient API error such as 404 or 401,
    or ``max_consecutive_errors`` transient ones in a row: timeouts, dropped connections, 429, 5xx).
    Its ``recording`` is the latest view the poller got: from a GET, or from the list endpoint when that
    answered (the list's view adds ``meeting`` and lacks ``start_reason``; a failure's ``stop_reason``
    and requested download URLs are always fetched).

    :param recording_id: the recording to watch.
    :param realtimekit_conn_id: Airflow connection of type ``realtimekit``.
    :param account_id: overrides the connection's ``account_id``.
    :param app_id: overrides the connection's ``app_id``.
    :param target_statuses: statuses that end the wait successfully.
    :param failure_statuses: statuses that end it as failed (may be empty).
    :param poll_interval: seconds between polls, also after an error; a 429's ``Retry-After`` lengthens
        the wait. Triggers sharing a poller are polled at the shortest interval among them.
    :param end_time: deadline as epoch seconds (absolute, so a triggerer restart does not extend it);
        ``None`` waits for ever.
    :param include_download_urls: keep the presigned download URLs (credentials) in the event.
    :param max_consecutive_errors: transient errors in a row after which the wait ends in ``error``.
    """

    def __init__(
        self,
        recording_id: str,
        *,
        realtimekit_conn_id: str = DEFAULT_CONN_ID,
        account_id: str | None = None,
        app_id: str | None = None,
        target_statuses: Iterable[str] = DEFAULT_TARGET_STATUSES,
        failure_statuses: Iterable[str] = DEFAULT_FAILURE_STATUSES,
        poll_interval: float = 30.0,
        end_time: float | None = None,
        include_download_urls: bool = False,
        max_consecutive_errors: int = 5,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.recording_id = require_id("recording_id", recording_id)
        self.realtimekit_conn_id = realtimekit_conn_id
        self.account_id = account_id
        self.app_id = app_id
        self.target_statuses, self.failure_statuses = check_wait_statuses(target_statuses, failure_statuses)
        if not poll_interval > 0 or not math.isfinite(poll_interval):
            raise RealtimeKitInputError(f"poll_interval: must be a positive number, got {poll_interval!r}")
        if max_consecutive_errors < 1:
            raise RealtimeKitInputError(
                f"max_consecutive_errors: must be at least 1, got {max_consecutive_errors!r}"
            )
        self.poll_interval = float(poll_interval)
        self.end_time = None if end_time is None else float(end_time)
        self.include_download_urls = include_download_urls
        self.max_consecutive_errors = max_consecutive_errors

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
                "include_download_urls": self.include_download_urls,
                "max_consecutive_errors": self.max_consecutive_errors,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # The wait (and the unsubscription from the shared poller) is over before the event is yielded:
        # a triggerer may never resume this generator after its first event.
        event = await self._wait()
        yield TriggerEvent(dict(event))  # type: ignore[no-untyped-call]

    async def _wait(self) -> WaitEvent:
        # Imported here: the poller pulls in the hook (requests), which the sensor module, imported by DAG
        # files, must not pay for.
        from airflow_provider_rtk.triggers._poller import Waiter, subscribe

        waiter = Waiter(
            recording_id=self.recording_id,
            target_statuses=frozenset(self.target_statuses),
            failure_statuses=frozenset(self.failure_statuses),
            interval=self.poll_interval,
            include_download_urls=self.include_download_urls,
        )
        try:
            poller = await subscribe(waiter, self.realtimekit_conn_id, self.account_id, self.app_id)
        except Exception as exc:
            return self._event("error", None, f"cannot poll recording {self.recording_id}: {exc}")
        try:
            return await self._follow(waiter)
        finally:
            await poller.remove(waiter)

    async def _follow(self, waiter: Waiter) -> WaitEvent:
        """Read the poller's answers until one ends the wait, or the deadline passes.

        The first answer is always awaited (for up to one poll interval past the deadline): a trigger
        rebuilt after its deadline, e.g. by a triggerer restart, still reports a recording that finished.
        """
        errors = 0
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
            if outcome.error is not None:
                exc = outcome.error
                if not isinstance(exc, TRANSIENT_ERRORS):
                    return self._event("error", last, f"cannot poll recording {self.recording_id}: {exc}")
                errors += 1
                if errors >= self.max_consecutive_errors:
                    return self._event(
                        "error",
                        last,
                        f"gave up on recording {self.recording_id} after {errors} consecutive failed "
                        f"polls; last error: {exc}",
                    )
                self.log.warning(
                    "Polling recording %s failed (%d of %d in a row allowed): %s",
                    self.recording_id,
                    errors,
                    self.max_consecutive_errors - 1,
                    exc,
                )
                continue
            errors = 0
            if outcome.recording is None:
                continue
            last = outcome.recording
            status = last.get("status")
            if status in self.failure_statuses:
                return self._event("failed", last, describe_failure(last))
            if status in self.target_statuses:
                return self._event("success", last, f"recording {self.recording_id} is {status}")

    def _timeout(self, last: Recording | None) -> WaitEvent:
        seen = f"; last status seen: {last.get('status')}" if last else ""
        return self._event(
            "timeout",
            last,
            f"recording {self.recording_id} did not reach {', '.join(self.target_statuses)} before the "
            f"deadline{seen}",
        )

    def _event(self, status: EventStatus, recording: Recording | None, message: str) -> WaitEvent:
        return WaitEvent(
            status=status,
            recording_id=self.recording_id,
            recording_status=recording.get("status") if recording else None,
            message=message,
            recording=xcom_recording(recording, self.include_download_urls) if recording else None,
        )
