"""``_retry.RetryPolicy``: what is resent (only transient errors, never a POST blindly) and when."""

from __future__ import annotations

import pytest

from airflow_provider_rtk._core.errors import api_error_class
from airflow_provider_rtk._core.retry import RetryPolicy
from airflow_provider_rtk._core.wire import ApiRequest, DownloadRequest
from airflow_provider_rtk.exceptions import (
    RealtimeKitApiError,
    RealtimeKitError,
    RealtimeKitInputError,
    RealtimeKitTimeoutError,
    RealtimeKitTransportError,
)

NO_WAIT = RetryPolicy(max_attempts=4, initial_wait=0, max_wait=0, jitter=0)


def api_error(status: int, retry_after: float | None = None) -> RealtimeKitApiError:
    return api_error_class(status)(status, "x", retry_after=retry_after)


@pytest.mark.parametrize(
    ("exc", "method", "retryable"),
    [
        (api_error(429), "POST", True),  # refused at the edge: nothing happened
        (api_error(429), "GET", True),
        (RealtimeKitTransportError("x"), "GET", True),
        (RealtimeKitTimeoutError("x"), "PUT", True),
        (RealtimeKitTransportError("x"), "POST", False),  # ambiguous: reconciled, never resent here
        (api_error(503), "POST", False),
        (api_error(502), "PUT", True),
        (api_error(504), "GET", True),
        (api_error(520), "GET", True),
        (api_error(500), "GET", True),
        (api_error(500), "PUT", False),
        (api_error(400), "GET", False),
        (api_error(404), "GET", False),
        (api_error(409), "POST", False),
        (RealtimeKitError("not transient"), "GET", False),
        (ValueError("not ours"), "GET", False),
    ],
)
def test_is_retryable(exc, method, retryable):
    assert RetryPolicy().is_retryable(exc, ApiRequest(method, "recordings")) is retryable


def test_downloads_are_gets():
    assert RetryPolicy().is_retryable(api_error(500), DownloadRequest("https://s/f?sig=1"))


class TestNextWait:
    def test_exponential_then_capped(self):
        policy = RetryPolicy(max_attempts=10, initial_wait=1, max_wait=5, jitter=0)
        assert [policy.next_wait(None, n) for n in range(1, 6)] == [1, 2, 4, 5, 5]

    def test_jitter_stays_within_its_bound(self):
        policy = RetryPolicy(initial_wait=1, max_wait=5, jitter=0.5)
        assert all(1 <= policy.backoff(1) <= 1.5 for _ in range(50))

    def test_retry_after_replaces_the_backoff(self):
        policy = RetryPolicy(initial_wait=1, jitter=0, max_retry_after=60)
        assert policy.next_wait(api_error(429, retry_after=7), 1) == 7
        assert policy.next_wait(api_error(503, retry_after=0), 3) == 0

    def test_a_retry_after_beyond_the_cap_ends_the_retries(self):
        policy = RetryPolicy(max_retry_after=60)
        assert policy.next_wait(api_error(429, retry_after=61), 1) is None

    def test_the_last_attempt_has_no_wait(self):
        policy = RetryPolicy(max_attempts=3, jitter=0)
        assert policy.next_wait(None, 2) is not None
        assert policy.next_wait(None, 3) is None

    @pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"initial_wait": -1}, {"jitter": -0.1}])
    def test_bad_settings(self, kwargs):
        with pytest.raises(RealtimeKitInputError):
            RetryPolicy(**kwargs)


class TestTenacity:
    """The policy drives tenacity without any server: a callable failing as told."""

    @staticmethod
    def run(policy: RetryPolicy, request: ApiRequest, failures: list[BaseException]) -> int:
        calls = 0
        for attempt in policy.retrying(request):
            with attempt:
                calls += 1
                if failures:
                    raise failures.pop(0)
        return calls

    def test_transient_failures_are_retried_until_success(self):
        request = ApiRequest("GET", "recordings/r")
        assert self.run(NO_WAIT, request, [api_error(503), RealtimeKitTransportError("x")]) == 3

    def test_attempts_are_bounded(self):
        with pytest.raises(RealtimeKitApiError):
            self.run(NO_WAIT, ApiRequest("GET", "r"), [api_error(503)] * 10)

    def test_a_post_is_not_resent(self):
        failures: list[BaseException] = [api_error(503)]
        with pytest.raises(RealtimeKitApiError):
            self.run(NO_WAIT, ApiRequest("POST", "recordings"), failures)
        assert failures == []

    def test_a_long_retry_after_surfaces_at_once(self):
        failures: list[BaseException] = [api_error(429, retry_after=3600), api_error(429)]
        with pytest.raises(RealtimeKitApiError) as info:
            self.run(NO_WAIT, ApiRequest("GET", "r"), failures)
        assert info.value.retry_after == 3600
        assert len(failures) == 1
