"""How a wait paces itself while the API fails transiently: one rule for every poll loop.

A wait (trigger, sensor, stop operator, event trigger) polls every ``interval`` seconds. While polls
fail with a transient error (``RealtimeKitError.transient``: no response, 429, 5xx) the delay doubles from
the interval up to ``cap``, a server's ``Retry-After`` is honoured when longer, and the first success
resets it. Only the wait's own deadline ends the wait; a 429 never counts as a failure for the opt-in
``max_consecutive_errors`` limit. Warnings are logged at the first failure and then at widening intervals
(after 1, 2, 4, 8... failures), so an hour-long outage costs a handful of log lines, not one per poll.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_provider_rtk._core.errors import retry_after
from airflow_provider_rtk.exceptions import RealtimeKitApiError, RealtimeKitInputError

DEFAULT_MAX_BACKOFF: float = 300.0


def exponential(first: float, attempt: int, cap: float) -> float:
    """``first`` doubled for each failure after the first (``attempt`` is 1-based), at most ``cap``: the
    growth of every wait in the provider (poll back-off here, request retries in ``_retry``)."""
    return min(cap, first * 2.0 ** (attempt - 1))


def check_backoff_args(poll_interval: float, max_backoff: float, max_consecutive_errors: int | None) -> None:
    """Raise ``RealtimeKitInputError`` naming the argument when a pacing setting is unusable."""
    if not poll_interval > 0 or not math.isfinite(poll_interval):
        raise RealtimeKitInputError(f"poll_interval: must be a positive number, got {poll_interval!r}")
    if not max_backoff >= poll_interval or not math.isfinite(max_backoff):
        raise RealtimeKitInputError(
            f"max_backoff: must be seconds >= poll_interval ({poll_interval}), got {max_backoff!r}"
        )
    if max_consecutive_errors is not None and max_consecutive_errors < 1:
        raise RealtimeKitInputError(
            f"max_consecutive_errors: must be at least 1 or None (no limit), got {max_consecutive_errors!r}"
        )


@dataclass
class PollBackoff:
    """The state of one wait's pacing across failed and successful polls.

    :param interval: the normal delay between polls.
    :param cap: the longest delay computed from failures (``Retry-After`` may ask for more).
    :param clock: monotonic seconds; tests pass their own.
    """

    interval: float
    cap: float = DEFAULT_MAX_BACKOFF
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    throttled: int = 0
    failing_since: float | None = None
    _warned_at: int = field(default=0, repr=False)

    @property
    def counted_failures(self) -> int:
        """Failures in a row that count against ``max_consecutive_errors`` (429s excluded)."""
        return self.failures - self.throttled

    @property
    def failing_for(self) -> float:
        """Seconds since the first failure of the current run of failures (0 when healthy)."""
        return 0.0 if self.failing_since is None else self.clock() - self.failing_since

    def failure(self, exc: BaseException) -> float:
        """Record a transient failure; return the delay before the next poll."""
        if self.failing_since is None:
            self.failing_since = self.clock()
        self.failures += 1
        if isinstance(exc, RealtimeKitApiError) and exc.status_code == 429:
            self.throttled += 1
        return max(exponential(self.interval, self.failures, self.cap), retry_after(exc) or 0.0)

    def should_warn(self) -> bool:
        """True at the 1st, 2nd, 4th, 8th... failure in a row: when a warning is worth a log line."""
        if self.failures and self.failures >= 2 * self._warned_at:
            self._warned_at = max(1, self.failures)
            return True
        return False

    def success(self) -> float | None:
        """Record a successful poll; return how long the API had been failing (None if it had not)."""
        was = self.failing_for if self.failures else None
        self.failures = self.throttled = self._warned_at = 0
        self.failing_since = None
        return was
