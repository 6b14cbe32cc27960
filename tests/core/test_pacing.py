"""``_core.pacing``: the one rule every loop paces itself by, on a controlled clock."""

from __future__ import annotations

import pytest

from airflow_provider_rtk._core.errors import api_error_class
from airflow_provider_rtk._core.pacing import Backoff, Pacing, exponential, should_warn
from airflow_provider_rtk._core.validation import check_error_limit
from airflow_provider_rtk.exceptions import RealtimeKitInputError, RealtimeKitTransportError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def error(status: int, retry_after: float | None = None) -> BaseException:
    return api_error_class(status)(status, "x", retry_after=retry_after)


def test_exponential():
    assert [exponential(2, n, 10) for n in range(1, 5)] == [2, 4, 8, 10]


def test_delay_grows_from_the_interval_to_the_cap_and_resets():
    clock = Clock()
    backoff = Backoff(Pacing(interval=5, cap=30), clock=clock)
    delays = []
    for _ in range(5):
        delays.append(backoff.failure(RealtimeKitTransportError("down")))
        clock.now += delays[-1]
    assert delays == [5, 10, 20, 30, 30]
    assert backoff.failing_for == 95
    assert backoff.success() == 95
    assert backoff.failures == 0
    assert backoff.failure(error(503)) == 5
    assert backoff.success() == 0.0
    assert backoff.success() is None  # healthy: nothing to report


def test_retry_after_is_honoured_when_longer():
    backoff = Backoff(Pacing(interval=5, cap=30), clock=Clock())
    assert backoff.failure(error(429, retry_after=60)) == 60
    assert backoff.failure(error(429, retry_after=1)) == 10


def test_429s_do_not_count_as_failures():
    backoff = Backoff(Pacing.for_wait(1), clock=Clock())
    backoff.failure(error(429))
    backoff.failure(error(503))
    backoff.failure(error(429))
    assert (backoff.failures, backoff.counted_failures) == (3, 1)


def test_warnings_at_widening_intervals():
    backoff = Backoff(Pacing.for_wait(1), clock=Clock())
    warned = []
    for n in range(1, 20):
        backoff.failure(RealtimeKitTransportError("down"))
        if backoff.should_warn():
            warned.append(n)
    assert warned == [1, 2, 4, 8, 16]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((0, 300, None), "poll_interval"),
        ((float("nan"), 300, None), "poll_interval"),
        ((10, 5, None), "max_backoff"),
        ((10, float("inf"), None), "max_backoff"),
        ((10, 300, 0), "max_consecutive_errors"),
    ],
)
def test_wait_pacing_names_the_argument(args, field):
    poll_interval, max_backoff, max_consecutive_errors = args

    def build() -> None:
        Pacing.for_wait(poll_interval, max_backoff)
        check_error_limit(max_consecutive_errors)

    with pytest.raises(RealtimeKitInputError, match=rf"^{field}: "):
        build()
    Pacing.for_wait(10, 300)
    check_error_limit(None)


def test_the_warning_cadence_is_one_rule():
    assert [n for n in range(1, 40) if should_warn(n)] == [1, 2, 4, 8, 16, 32]
    assert not should_warn(0)


def test_request_retries_take_retry_after_as_the_wait_and_waits_honour_a_longer_one():
    retries = Pacing(interval=1, cap=30, retry_after="exactly", max_retry_after=60)
    assert retries.delay(3, error(503, retry_after=0)) == 0
    assert retries.delay(1, error(429, retry_after=61)) is None
    wait = Pacing.for_wait(5, 30)
    assert wait.delay(1, error(503, retry_after=0)) == 5
    assert wait.delay(1, error(429, retry_after=90)) == 90


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"interval": -1, "cap": 1}, "interval"),
        ({"interval": 5, "cap": 1}, "cap"),
        ({"interval": 1, "cap": 2, "jitter": -1}, "jitter"),
        ({"interval": 1, "cap": 2, "retry_after": "sometimes"}, "retry_after"),
        ({"interval": 1, "cap": 2, "max_retry_after": -1}, "max_retry_after"),
    ],
)
def test_a_pacing_is_validated_where_it_is_made(kwargs, field):
    with pytest.raises(RealtimeKitInputError, match=rf"^{field}: "):
        Pacing(**kwargs)
