"""The retry policy, one for the sync hook and the async trigger path (tenacity).

What is retried, and why:

- 429 for every method: the edge refused the request, so nothing happened and resending is safe.
- Connection errors, timeouts, 502/503/504 for GET and PUT; 500 for GET only. These are idempotent
  (PUT sets a state). A POST that fails this way is *ambiguous* and is never resent here: the hook
  reconciles it instead (see ``RealtimeKitHook.start_recording``).
- Any other 4xx surfaces at once: resending cannot fix it.

Waits grow exponentially with jitter, capped at ``max_wait``; a ``Retry-After`` from the server replaces
the computed wait. A server asking for longer than ``max_retry_after`` is not waited on in-process: the
error surfaces so that Airflow (task retry, trigger poll interval) handles the long wait.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any

import tenacity

from airflow_provider_rtk._wire import ApiRequest
from airflow_provider_rtk.exceptions import (
    RealtimeKitApiError,
    RealtimeKitInputError,
    RealtimeKitRateLimitError,
    RealtimeKitServerError,
    RealtimeKitTransportError,
)

log = logging.getLogger(__name__)

_IDEMPOTENT_RETRY_STATUSES = frozenset({502, 503, 504})


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

    def is_retryable(self, exc: BaseException, request: ApiRequest) -> bool:
        """Whether resending ``request`` after ``exc`` is both useful and safe."""
        retry_after = exc.retry_after if isinstance(exc, RealtimeKitApiError) else None
        if retry_after is not None and retry_after > self.max_retry_after:
            return False
        if isinstance(exc, RealtimeKitRateLimitError):
            return True
        if not request.idempotent:
            return False
        if isinstance(exc, RealtimeKitTransportError):
            return True
        if isinstance(exc, RealtimeKitServerError):
            return exc.status_code in _IDEMPOTENT_RETRY_STATUSES or (
                exc.status_code == 500 and request.method == "GET"
            )
        return False

    def backoff(self, attempt: int) -> float:
        """The computed wait after ``attempt`` failed attempts (1-based), jitter included."""
        base: float = min(self.max_wait, self.initial_wait * 2.0 ** (attempt - 1))
        return base + random.uniform(0, self.jitter)

    def wait_for(self, exc: BaseException | None, attempt: int) -> float:
        """``Retry-After`` when the server gave one, else the exponential backoff."""
        if isinstance(exc, RealtimeKitApiError) and exc.retry_after is not None:
            return exc.retry_after
        return self.backoff(attempt)

    def _tenacity_kwargs(self, request: ApiRequest) -> dict[str, Any]:
        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return self.wait_for(exc, state.attempt_number)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "RealtimeKit %s %s failed (%s); attempt %d of %d, retrying in %.2f s",
                request.method,
                request.path,
                exc,
                state.attempt_number,
                self.max_attempts,
                state.upcoming_sleep,
            )

        return {
            "stop": tenacity.stop_after_attempt(self.max_attempts),
            "retry": tenacity.retry_if_exception(lambda exc: self.is_retryable(exc, request)),
            "wait": wait,
            "before_sleep": before_sleep,
            "reraise": True,
        }

    def retrying(self, request: ApiRequest) -> tenacity.Retrying:
        return tenacity.Retrying(**self._tenacity_kwargs(request))

    def async_retrying(self, request: ApiRequest) -> tenacity.AsyncRetrying:
        return tenacity.AsyncRetrying(**self._tenacity_kwargs(request))
