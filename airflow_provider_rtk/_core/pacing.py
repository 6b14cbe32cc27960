"""Pacing: the one rule by which every loop of the provider spaces its tries.

A ``Pacing`` is a value: the normal ``interval``, the ``cap`` that delays grown from failures stop at,
``jitter``, what a server's ``Retry-After`` means, and (shared by all) the warning cadence. Every loop
uses one: the hook's request retries (through ``RetryPolicy``), the exactly-once start, the sync wait, the
sensor, the recording trigger's shared poller, the event trigger's watch and the download's resumes.
``Backoff`` is one loop's state under its pacing: failures in a row, since when, and the delay they give.

The rule, everywhere:

- While tries fail with a transient error (``RealtimeKitError.transient``: no response, 429, 5xx), the
  delay doubles from ``interval`` up to ``cap``, plus up to ``jitter`` random seconds; the first success
  resets it.
- ``Retry-After``: a wait honours it when it asks for longer (``"at_least"``); a request retry takes it as
  the delay (``"exactly"``). Beyond ``max_retry_after`` the loop does not wait in-process: the delay is
  ``None`` and the caller gives the long wait back to Airflow.
- Warnings at the 1st, 2nd, 4th, 8th... failure in a row: an hour-long outage costs a handful of lines.
- A 429 never counts against an opt-in error limit (``Backoff.counted_failures``).

Settings are validated once, where a ``Pacing`` is made: ``Pacing.for_wait`` names the arguments a DAG
author passed (``poll_interval``, ``max_backoff``).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal

from airflow_provider_rtk.exceptions import RealtimeKitApiError, RealtimeKitInputError

__all__ = ["DEFAULT_MAX_BACKOFF", "Backoff", "Pacing", "exponential", "should_warn"]

#: The longest delay a wait grows to while the API fails, unless its poll interval is longer.
DEFAULT_MAX_BACKOFF: Final[float] = 300.0

RetryAfterRule = Literal["at_least", "exactly"]


def exponential(first: float, attempt: int, cap: float) -> float:
    """``first`` doubled for each failure after the first (``attempt`` is 1-based), at most ``cap``."""
    return min(cap, first * 2.0 ** (attempt - 1))


def should_warn(failures: int) -> bool:
    """The warning cadence of every loop: True at the 1st, 2nd, 4th, 8th... failure in a row."""
    return failures >= 1 and failures & (failures - 1) == 0


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


@dataclass(frozen=True)
class Pacing:
    """How one loop spaces its tries; see the module docstring.

    :param interval: seconds between tries while they succeed, and the first delay after a failure.
    :param cap: the longest delay grown from failures (a ``Retry-After`` may ask for more).
    :param jitter: up to this many random seconds added to a delay grown from failures.
    :param retry_after: ``"at_least"`` (a wait honours a longer ``Retry-After``) or ``"exactly"`` (a
        request retry waits what the server asked).
    :param max_retry_after: the longest ``Retry-After`` waited in-process.
    """

    interval: float
    cap: float
    jitter: float = 0.0
    retry_after: RetryAfterRule = "at_least"
    max_retry_after: float = math.inf

    def __post_init__(self) -> None:
        if not _finite(self.interval) or self.interval < 0:
            raise RealtimeKitInputError(f"interval: must be seconds >= 0, got {self.interval!r}")
        if not _finite(self.cap) or self.cap < self.interval:
            raise RealtimeKitInputError(
                f"cap: must be seconds >= interval ({self.interval}), got {self.cap!r}"
            )
        if not _finite(self.jitter) or self.jitter < 0:
            raise RealtimeKitInputError(f"jitter: must be seconds >= 0, got {self.jitter!r}")
        if self.retry_after not in ("at_least", "exactly"):
            raise RealtimeKitInputError(
                f"retry_after: must be 'at_least' or 'exactly', got {self.retry_after!r}"
            )
        if math.isnan(self.max_retry_after) or self.max_retry_after < 0:
            raise RealtimeKitInputError(
                f"max_retry_after: must be seconds >= 0, got {self.max_retry_after!r}"
            )

    @classmethod
    def for_wait(cls, poll_interval: float, max_backoff: float | None = None) -> Pacing:
        """The pacing of a wait polled every ``poll_interval`` seconds, validated with the names a DAG
        author uses. ``max_backoff`` defaults to ``DEFAULT_MAX_BACKOFF`` (300 s), or the poll interval when
        that is longer (a wait polled every 10 minutes backs off no faster than that)."""
        if not _finite(poll_interval) or not poll_interval > 0:
            raise RealtimeKitInputError(f"poll_interval: must be a positive number, got {poll_interval!r}")
        cap = max(DEFAULT_MAX_BACKOFF, float(poll_interval)) if max_backoff is None else max_backoff
        if not _finite(cap) or not cap >= poll_interval:
            raise RealtimeKitInputError(
                f"max_backoff: must be seconds >= poll_interval ({poll_interval}), got {max_backoff!r}"
            )
        return cls(float(poll_interval), float(cap))

    def delay(self, failures: int, exc: BaseException | None = None) -> float | None:
        """Seconds before the next try after ``failures`` failures in a row (1-based), ``exc`` the last;
        None when the server asked for longer than ``max_retry_after``."""
        grown = exponential(self.interval, failures, self.cap)
        if self.jitter:
            grown += random.uniform(0, self.jitter)
        asked = exc.retry_after if isinstance(exc, RealtimeKitApiError) else None
        if asked is None:
            return grown
        if asked > self.max_retry_after:
            return None
        return asked if self.retry_after == "exactly" else max(grown, asked)


@dataclass
class Backoff:
    """One loop's state under its ``Pacing``: failures in a row, since when, and the next delay.

    :param pacing: the rule.
    :param clock: monotonic seconds; tests pass their own.
    """

    pacing: Pacing
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    throttled: int = 0
    failing_since: float | None = field(default=None)

    @property
    def interval(self) -> float:
        return self.pacing.interval

    @property
    def counted_failures(self) -> int:
        """Failures in a row that count against an error limit (429s excluded)."""
        return self.failures - self.throttled

    @property
    def failing_for(self) -> float:
        """Seconds since the first failure of the current run of failures (0 when healthy)."""
        return 0.0 if self.failing_since is None else self.clock() - self.failing_since

    def failure(self, exc: BaseException) -> float:
        """Record a transient failure; return the delay before the next try (a wait's pacing always
        gives one)."""
        if self.failing_since is None:
            self.failing_since = self.clock()
        self.failures += 1
        if isinstance(exc, RealtimeKitApiError) and exc.status_code == 429:
            self.throttled += 1
        delay = self.pacing.delay(self.failures, exc)
        return self.pacing.cap if delay is None else delay

    def should_warn(self) -> bool:
        """Whether the current failure is worth a warning (``should_warn``'s cadence)."""
        return should_warn(self.failures)

    def success(self) -> float | None:
        """Record a success; return how long the tries had been failing (None if they had not)."""
        was = self.failing_for if self.failures else None
        self.failures = self.throttled = 0
        self.failing_since = None
        return was
