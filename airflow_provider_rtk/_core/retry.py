"""The retry policy: one for the sync hook, the async trigger path (tenacity), the hook's reconciled start
and the download resumes.

What is retried, and why (only transient errors, ``RealtimeKitError.transient``, ever are):

- 429 for every method: the edge refused the request, so nothing happened and resending is safe.
- No response (connection errors, timeouts) and 5xx other than 500 for GET and PUT; 500 for GET only.
  These are idempotent (PUT sets a state). A POST that fails this way is *ambiguous* and is never resent
  here: the hook reconciles it instead (see ``RealtimeKitHook.start_recording``).
- Anything else surfaces at once: resending cannot fix it.

How long to wait is ``pacing`` (``_core.pacing``, the rule of every loop): exponential with jitter, capped
at ``max_wait``; a ``Retry-After`` from the server replaces it. A server asking for longer than
``max_retry_after`` is not waited on in-process: the error surfaces so that Airflow (task retry, trigger
poll interval) handles the long wait.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import tenacity

from airflow_provider_rtk._core.errors import is_transient
from airflow_provider_rtk._core.pacing import Pacing, should_warn
from airflow_provider_rtk.exceptions import (
    RealtimeKitInputError,
    RealtimeKitRateLimitError,
    RealtimeKitServerError,
)

if TYPE_CHECKING:
    from airflow_provider_rtk._core.wire import Request

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to retry a failed request.

    :param max_attempts: attempts in all, the first one included (1 disables retries).
    :param initial_wait: wait before the second attempt, in seconds; doubles each time.
    :param max_wait: cap on one computed wait, in seconds.
    :param jitter: up to this many random seconds added to each computed wait (spreads out herds).
    :param max_retry_after: longest ``Retry-After`` honoured in-process, in seconds.
    """

    max_attempts: int = 5
    initial_wait: float = 1.0
    max_wait: float = 30.0
    jitter: float = 1.0
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise RealtimeKitInputError(f"retry max_attempts: must be at least 1, got {self.max_attempts}")
        if min(self.initial_wait, self.max_wait, self.jitter, self.max_retry_after) < 0:
            raise RealtimeKitInputError("retry waits: must not be negative")

    def is_retryable(self, exc: BaseException, request: Request) -> bool:
        """Whether resending ``request`` after ``exc`` is both useful and safe (not how often or when)."""
        if not is_transient(exc):
            return False
        if isinstance(exc, RealtimeKitRateLimitError):
            return True
        if not request.idempotent:
            return False
        return (
            not (isinstance(exc, RealtimeKitServerError) and exc.status_code == 500)
            or request.method == "GET"
        )

    @property
    def pacing(self) -> Pacing:
        """The pacing of the retries: the provider's one rule, with the server's ``Retry-After`` taken as
        the wait (up to ``max_retry_after``)."""
        return Pacing(
            interval=min(self.initial_wait, self.max_wait),
            cap=self.max_wait,
            jitter=self.jitter,
            retry_after="exactly",
            max_retry_after=self.max_retry_after,
        )

    def backoff(self, attempt: int) -> float:
        """The computed wait after ``attempt`` failed attempts (1-based), jitter included."""
        return self.pacing.delay(attempt) or 0.0

    def next_wait(self, exc: BaseException | None, attempt: int) -> float | None:
        """Seconds to wait after ``attempt`` failed attempts (1-based) before the next one, or None when
        none should follow: ``max_attempts`` reached, or the server's ``Retry-After`` beyond
        ``max_retry_after``."""
        if attempt >= self.max_attempts:
            return None
        return self.pacing.delay(attempt, exc)

    def _tenacity_kwargs(self, request: Request) -> dict[str, Any]:
        waits: dict[int, float | None] = {}

        def planned(state: tenacity.RetryCallState) -> float | None:
            # tenacity asks both ``wait`` and ``stop``: one computation (one jitter draw) serves both.
            if state.attempt_number not in waits:
                exc = state.outcome.exception() if state.outcome else None
                waits[state.attempt_number] = self.next_wait(exc, state.attempt_number)
            return waits[state.attempt_number]

        def stop(state: tenacity.RetryCallState) -> bool:
            return planned(state) is None

        def wait(state: tenacity.RetryCallState) -> float:
            return planned(state) or 0.0

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.log(
                logging.WARNING if should_warn(state.attempt_number) else logging.INFO,
                "RealtimeKit %s %s failed (%s); attempt %d of %d, retrying in %.2f s",
                request.method,
                request.target,
                exc,
                state.attempt_number,
                self.max_attempts,
                state.upcoming_sleep,
            )

        return {
            "stop": stop,
            "retry": tenacity.retry_if_exception(lambda exc: self.is_retryable(exc, request)),
            "wait": wait,
            "before_sleep": before_sleep,
            "reraise": True,
        }

    def retrying(self, request: Request) -> tenacity.Retrying:
        return tenacity.Retrying(**self._tenacity_kwargs(request))

    def async_retrying(self, request: Request) -> tenacity.AsyncRetrying:
        return tenacity.AsyncRetrying(**self._tenacity_kwargs(request))


#: One attempt per call: for waits, which pace their own retries, and first looks that must not linger.
SINGLE_ATTEMPT: Final[RetryPolicy] = RetryPolicy(max_attempts=1)
