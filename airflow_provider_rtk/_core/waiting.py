"""Waiting for a recording status: the rules every wait shares (sensor, trigger, the hook's
``wait_for_status`` behind the stop, pause, resume and start operators), so that every way of waiting
ends the same way and reports the same way.

- ``classify`` says what one look at a recording means: still waiting, done, or failed.
- ``WaitProgress`` is one wait's account of its polls: an INFO line per poll with the status seen and the
  time waited, a warning at the cadence of ``_core.pacing`` while polls fail and a recovery line, and the
  opt-in ``max_consecutive_errors`` limit. Only the wait's own deadline ends a wait on transient errors
  unless that limit is set. Its ``Backoff`` is the wait's pacing state: advanced here by the loops that
  poll for themselves (the sync wait, the sensor), by the shared poller for a deferred wait.
- ``wait_for_status`` is the sync wait loop.
- ``result_from_event`` turns a trigger's event back into the recording or the matching exception.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from airflow_provider_rtk._core.compat import AirflowSensorTimeout
from airflow_provider_rtk._core.pacing import Backoff, Pacing
from airflow_provider_rtk._core.validation import check_error_limit, check_wait_statuses
from airflow_provider_rtk.exceptions import (
    RealtimeKitError,
    RealtimeKitRecordingStateError,
)
from airflow_provider_rtk.types import Recording

EventStatus = Literal["success", "failed", "timeout", "error"]
WaitState = Literal["waiting", "done", "failed"]

__all__ = [
    "EventStatus",
    "WaitEvent",
    "WaitProgress",
    "WaitState",
    "classify",
    "describe_failure",
    "result_from_event",
    "wait_for_status",
]


class WaitEvent(TypedDict):
    """The one event a recording trigger emits (primitives only; never a download URL)."""

    status: EventStatus
    recording_id: str
    recording_status: str | None
    message: str
    recording: Recording | None


def describe_failure(recording: Mapping[str, Any]) -> str:
    """'recording <id> is ERRORED (stop reason: INTERNAL_ERROR)': what a failed task should say."""
    reason = recording.get("stop_reason")
    why = reason.get("reason") if isinstance(reason, Mapping) else None
    suffix = f" (stop reason: {why})" if why else ""
    return f"recording {recording.get('id')} is {recording.get('status')}{suffix}"


def classify(recording: Mapping[str, Any], target: Iterable[str], failure: Iterable[str]) -> WaitState:
    """What one look at ``recording`` means for a wait: ``done`` (a target status), ``failed`` (a failure
    status; ``describe_failure`` says why) or ``waiting``."""
    status = recording.get("status")
    if status in tuple(failure):
        return "failed"
    return "done" if status in tuple(target) else "waiting"


def result_from_event(event: Mapping[str, Any]) -> Recording:
    """The recording of a ``success`` event; the matching exception for any other.

    ``timeout`` raises Airflow's ``AirflowSensorTimeout`` so that ``soft_fail`` works; ``failed`` (a
    failure status) and ``error`` (a non-transient API error, or the opt-in error limit) raise provider
    errors carrying the message.
    """
    status = event.get("status")
    message = str(event.get("message") or "")
    if status == "success" and isinstance(event.get("recording"), Mapping):
        return event["recording"]  # type: ignore[no-any-return]
    if status == "timeout":
        raise AirflowSensorTimeout(message)
    if status == "failed":
        raise RealtimeKitRecordingStateError(message)
    raise RealtimeKitError(message or f"unexpected trigger event: {dict(event)!r}")


def _took(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


@dataclass
class WaitProgress:
    """One wait's account of its polls: what it logs, and when it gives up early.

    :param recording_id: the recording waited for.
    :param waiting_for: the statuses that end the wait, for the log lines.
    :param log: where the lines go (the task's or the trigger's logger).
    :param backoff: the wait's pacing state (interval, cap, clock, failures in a row).
    :param max_consecutive_errors: opt-in: give up after this many transient failures in a row (429s do
        not count); ``None`` waits through any outage until the deadline.
    """

    recording_id: str
    waiting_for: tuple[str, ...]
    log: logging.Logger | Any
    backoff: Backoff
    max_consecutive_errors: int | None = None
    started: float = field(default=math.nan)

    def __post_init__(self) -> None:
        if math.isnan(self.started):  # on the backoff's clock, unless the caller knows better
            self.started = self.backoff.clock()

    @classmethod
    def start(
        cls,
        recording_id: str,
        waiting_for: Iterable[str],
        log: logging.Logger | Any,
        *,
        pacing: Pacing,
        max_consecutive_errors: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> WaitProgress:
        return cls(recording_id, tuple(waiting_for), log, Backoff(pacing, clock), max_consecutive_errors)

    @property
    def waited(self) -> float:
        """Seconds since the wait started."""
        return self.backoff.clock() - self.started

    def seen(self, status: str | None) -> None:
        """A poll answered: record it in the backoff, then ``report_seen``."""
        self.report_seen(status, self.backoff.success())

    def report_seen(self, status: str | None, failing_for: float | None) -> None:
        """Log the status seen, and the recovery when the API had been failing for ``failing_for`` s."""
        if failing_for is not None:
            self.log.info(
                "RealtimeKit API answered again for recording %s after failing for %s",
                self.recording_id,
                _took(failing_for),
            )
        shown = status if status is not None else f"not yet {' or '.join(self.waiting_for)}"
        self.log.info(
            "Recording %s is %s (waited %s for %s)",
            self.recording_id,
            shown,
            _took(self.waited),
            " or ".join(self.waiting_for),
        )

    def failed(self, exc: BaseException) -> float:
        """A poll failed transiently: record it in the backoff, ``report_failure``, return the delay."""
        delay = self.backoff.failure(exc)
        self.report_failure(exc, delay)
        return delay

    def report_failure(self, exc: BaseException, delay: float) -> None:
        """Warn at the pacing's cadence; raise ``RealtimeKitError`` once ``max_consecutive_errors`` failed
        polls in a row (429s not counted) are reached."""
        limit = self.max_consecutive_errors
        if limit is not None and self.backoff.counted_failures >= limit:
            raise RealtimeKitError(
                f"gave up on recording {self.recording_id} after {self.backoff.counted_failures} "
                f"consecutive failed polls (max_consecutive_errors={limit}); last error: {exc}"
            ) from exc
        if self.backoff.should_warn():
            self.log.warning(
                "Polling recording %s failed (%d in a row; the API has been failing for %s); still "
                "waiting, next poll in %s: %s",
                self.recording_id,
                self.backoff.failures,
                _took(self.backoff.failing_for),
                _took(delay),
                exc,
            )


def wait_for_status(
    fetch: Callable[[], Recording],
    recording_id: str,
    statuses: Iterable[str],
    *,
    timeout: float,
    poll_interval: float,
    failure_statuses: Iterable[str],
    max_backoff: float | None,
    max_consecutive_errors: int | None,
    log: logging.Logger | Any,
) -> Recording:
    """Poll with ``fetch`` (one attempt per look) until the recording reaches one of ``statuses``; the
    sync wait behind ``RealtimeKitHook.wait_for_status`` (see there for what ends it)."""
    targets, failures = check_wait_statuses(statuses, failure_statuses)
    progress = WaitProgress.start(
        recording_id,
        targets,
        log,
        pacing=Pacing.for_wait(poll_interval, max_backoff),
        max_consecutive_errors=check_error_limit(max_consecutive_errors),
    )
    deadline = time.monotonic() + timeout
    last: str | None = None
    while True:
        try:
            recording = fetch()
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
