"""``_wait``: the rules every wait shares, on a controlled clock (no server, no Airflow run)."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_rtk._core.compat import AirflowSensorTimeout
from airflow_provider_rtk._core.errors import api_error_class
from airflow_provider_rtk._core.pacing import Pacing
from airflow_provider_rtk._core.validation import check_wait_statuses
from airflow_provider_rtk._core.waiting import (
    WaitProgress,
    classify,
    describe_failure,
    result_from_event,
)
from airflow_provider_rtk.exceptions import (
    RealtimeKitError,
    RealtimeKitInputError,
    RealtimeKitRecordingStateError,
    RealtimeKitTransportError,
)
from airflow_provider_rtk.types import STARTED_STATUSES


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def api_error(status: int, retry_after: float | None = None) -> RealtimeKitError:
    return api_error_class(status)(status, "x", retry_after=retry_after, method="GET", path="recordings/r")


def progress(clock: Clock, **kwargs) -> WaitProgress:
    return WaitProgress.start(
        "rec-1",
        ("UPLOADED",),
        logging.getLogger("rtk-test-wait"),
        pacing=Pacing.for_wait(kwargs.pop("poll_interval", 10.0), kwargs.pop("max_backoff", 60.0)),
        clock=clock,
        **kwargs,
    )


class TestClassify:
    @pytest.mark.parametrize(
        ("status", "state"),
        [("UPLOADED", "done"), ("ERRORED", "failed"), ("RECORDING", "waiting"), (None, "waiting")],
    )
    def test_default_statuses(self, status, state):
        assert classify({"id": "r", "status": status}, ("UPLOADED",), ("ERRORED",)) == state

    def test_failure_wins_when_listed_in_both(self):
        # check_wait_statuses forbids the overlap; classify still never calls a failure a success.
        assert classify({"status": "ERRORED"}, ("ERRORED",), ("ERRORED",)) == "failed"

    def test_started_statuses_mean_the_bot_joined(self):
        assert classify({"status": "INVOKED"}, STARTED_STATUSES, ("ERRORED",)) == "waiting"
        for status in ("RECORDING", "PAUSED", "UPLOADING", "UPLOADED"):
            assert classify({"status": status}, STARTED_STATUSES, ("ERRORED",)) == "done"

    def test_describe_failure_carries_the_stop_reason(self):
        recording = {"id": "r", "status": "ERRORED", "stop_reason": {"reason": "INTERNAL_ERROR"}}
        assert describe_failure(recording) == "recording r is ERRORED (stop reason: INTERNAL_ERROR)"
        assert describe_failure({"id": "r", "status": "ERRORED"}) == "recording r is ERRORED"


class TestStatuses:
    def test_deduplicated_and_validated(self):
        assert check_wait_statuses(["UPLOADED", "UPLOADED"], "ERRORED") == (("UPLOADED",), ("ERRORED",))

    @pytest.mark.parametrize(
        ("target", "failure", "field"),
        [([], [], "target_statuses"), (["DONE"], [], "target_statuses"), (["UPLOADED"], ["X"], "failure")],
    )
    def test_rejected_naming_the_field(self, target, failure, field):
        with pytest.raises(RealtimeKitInputError, match=rf"^{field}"):
            check_wait_statuses(target, failure)

    def test_overlap_rejected(self):
        with pytest.raises(RealtimeKitInputError, match="cannot be in both"):
            check_wait_statuses(["UPLOADED"], ["UPLOADED"])


class TestResultFromEvent:
    def test_success(self):
        assert result_from_event({"status": "success", "recording": {"id": "r"}}) == {"id": "r"}

    @pytest.mark.parametrize(
        ("status", "error"),
        [
            ("timeout", AirflowSensorTimeout),
            ("failed", RealtimeKitRecordingStateError),
            ("error", RealtimeKitError),
        ],
    )
    def test_other_events_raise_with_their_message(self, status, error):
        with pytest.raises(error, match="the message"):
            result_from_event({"status": status, "message": "the message", "recording": None})


class TestWaitProgress:
    def test_each_poll_logs_the_status_and_the_time_waited(self, caplog):
        caplog.set_level(logging.INFO, "rtk-test-wait")
        clock = Clock()
        wait = progress(clock)
        clock.now += 75
        wait.seen("UPLOADING")
        wait.seen(None)
        assert [r.getMessage() for r in caplog.records] == [
            "Recording rec-1 is UPLOADING (waited 75 s for UPLOADED)",
            "Recording rec-1 is not yet UPLOADED (waited 75 s for UPLOADED)",
        ]

    def test_an_outage_warns_at_widening_intervals_then_logs_the_recovery(self, caplog):
        caplog.set_level(logging.INFO, "rtk-test-wait")
        clock = Clock()
        wait = progress(clock)
        delays = []
        for _ in range(20):
            delays.append(wait.failed(api_error(503)))
            clock.now += delays[-1]
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        # The 1st, 2nd, 4th, 8th and 16th failure in a row: 5 lines for 20 failed polls.
        assert [r.args[1] for r in warnings] == [1, 2, 4, 8, 16]  # type: ignore[index]
        assert "HTTP 503" in warnings[-1].getMessage()
        assert f"the API has been failing for {sum(delays[:15]):.0f} s" in warnings[-1].getMessage()
        assert delays[:4] == [10.0, 20.0, 40.0, 60.0]
        assert set(delays[3:]) == {60.0}  # capped at max_backoff
        caplog.clear()
        wait.seen("UPLOADED")
        assert caplog.records[0].getMessage() == (
            f"RealtimeKit API answered again for recording rec-1 after failing for {sum(delays):.0f} s"
        )
        assert wait.failed(api_error(503)) == 10.0  # the back-off starts over after a success

    def test_retry_after_is_honoured_and_429_never_counts(self):
        clock = Clock()
        wait = progress(clock, max_consecutive_errors=2)
        for _ in range(10):
            assert wait.failed(api_error(429, retry_after=120)) == 120
        wait.failed(RealtimeKitTransportError("GET recordings/rec-1: ConnectionError"))
        with pytest.raises(RealtimeKitError, match=r"after 2 consecutive failed polls.*HTTP 503"):
            wait.failed(api_error(503))

    def test_no_limit_by_default(self):
        clock = Clock()
        wait = progress(clock)
        for _ in range(1000):
            clock.now += wait.failed(api_error(503))
        assert wait.backoff.failures == 1000


def test_backoff_cap_defaults_to_300_s_or_a_longer_poll_interval():
    assert Pacing.for_wait(30, None).cap == 300
    assert Pacing.for_wait(600, None).cap == 600  # a slow poll never has to be sped up for its back-off
    assert Pacing.for_wait(30, 45).cap == 45
