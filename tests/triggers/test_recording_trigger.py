"""RealtimeKitRecordingTrigger: its events, errors and outages, over real HTTP against the emulator (the
shared poller it waits on is tested in ``test_poller``)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any, ClassVar

import pytest

from airflow_provider_rtk.exceptions import RealtimeKitInputError
from airflow_provider_rtk.triggers.recording import RealtimeKitRecordingTrigger
from tests.conftest import CANARY_TOKEN
from tests.triggers.waits import (
    GET_ONE,
    LIST,
    first_event,
    recording_in,
    run_many,
    run_one,
    statuses_served,
    trigger,
    until,
)


class TestSerialization:
    def test_round_trip_rebuilds_an_equal_trigger(self):
        original = RealtimeKitRecordingTrigger(
            "rec-1",
            realtimekit_conn_id="rtk",
            account_id="acc",
            app_id="app",
            target_statuses=("UPLOADING", "UPLOADED"),
            failure_statuses=(),
            poll_interval=7,
            end_time=1_800_000_000.5,
            max_consecutive_errors=2,
        )
        classpath, kwargs = original.serialize()
        assert classpath == "airflow_provider_rtk.triggers.recording.RealtimeKitRecordingTrigger"
        for value in kwargs.values():
            assert value is None or isinstance(value, str | int | float | bool | list)
        module, _, name = classpath.rpartition(".")
        rebuilt = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
        assert rebuilt.serialize() == (classpath, kwargs)
        assert kwargs["end_time"] == 1_800_000_000.5

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"target_statuses": ()},
            {"target_statuses": ("DONE",)},
            {"failure_statuses": ("UPLOADED",)},
            {"poll_interval": 0},
            {"max_consecutive_errors": 0},
        ],
    )
    def test_bad_arguments_are_rejected(self, kwargs):
        with pytest.raises(RealtimeKitInputError):
            RealtimeKitRecordingTrigger("rec-1", **kwargs)


class TestOutcomes:
    def test_success_without_download_urls_by_default(self, emulator):
        recording_id = recording_in(emulator, "UPLOADED")
        event = run_one(trigger(recording_id))
        assert event["status"] == "success"
        assert event["recording_status"] == "UPLOADED"
        assert event["recording"]["id"] == recording_id
        assert event["recording"]["download_url"] is None
        assert event["recording"]["audio_download_url"] is None
        assert "_files/" not in repr(event)

    def test_never_a_download_url(self, emulator):
        """Airflow logs every event as it is: the resuming task fetches URLs itself."""
        recording_id = recording_in(emulator, "UPLOADED")
        event = run_one(trigger(recording_id))
        assert event["recording"]["download_url"] is None
        assert event["recording"]["audio_download_url"] is None
        assert "X-Amz-Signature" not in repr(event)

    def test_no_download_url_through_the_list_path(self, emulator):
        ids = [recording_in(emulator, "UPLOADED") for _ in range(4)]
        events = run_many([trigger(i) for i in ids])
        assert all(e["recording"]["download_url"] is None for e in events)
        assert "X-Amz-Signature" not in repr(events)
        assert emulator.count("GET", GET_ONE) == 0  # no detail GET for URLs any more

    def test_waits_through_the_lifecycle(self, emulator):
        recording_id = recording_in(emulator, "INVOKED")

        async def go() -> dict[str, Any]:
            task = asyncio.create_task(first_event(trigger(recording_id)))
            await until(lambda: emulator.count("GET") >= 2)
            assert not task.done()
            emulator.set_status(recording_id, "UPLOADING")
            return await task

        event = asyncio.run(go())
        assert event["status"] == "success"
        served = statuses_served(emulator, recording_id)
        assert served[0] == "INVOKED"
        assert "UPLOADING" in served
        # It followed the lifecycle and fired on the first poll that saw UPLOADED, however slow the machine.
        assert served.count("UPLOADED") == 1
        assert served[-1] == "UPLOADED"

    def test_errored_fails_with_the_stop_reason(self, emulator):
        recording_id = recording_in(emulator, "ERRORED", stop_reason="INTERNAL_ERROR")
        event = run_one(trigger(recording_id))
        assert event["status"] == "failed"
        assert event["recording_status"] == "ERRORED"
        assert recording_id in event["message"]
        assert "ERRORED" in event["message"]
        assert "INTERNAL_ERROR" in event["message"]

    def test_errored_found_by_the_list_still_reports_the_stop_reason(self, emulator):
        ids = [recording_in(emulator) for _ in range(4)]

        async def during() -> None:
            await until(lambda: emulator.count("GET", LIST) >= 1)
            emulator.set_status(ids[0], "ERRORED", stop_reason="INTERNAL_ERROR")
            for recording_id in ids[1:]:
                emulator.set_status(recording_id, "UPLOADED")

        events = run_many([trigger(i) for i in ids], during)
        assert [e["status"] for e in events] == ["failed", "success", "success", "success"]
        assert "INTERNAL_ERROR" in events[0]["message"]
        # One detail GET for the failure; the successes come straight from the list.
        assert emulator.count("GET", GET_ONE) == 1

    def test_timeout(self, emulator):
        recording_id = recording_in(emulator)
        end_time = time.time() + 0.5
        event = run_one(trigger(recording_id, end_time=end_time))
        assert time.time() >= end_time  # not before its deadline
        # ...and not long after it: polls every 0.2 s make at most 0.5 / 0.2 + 1 requests by the deadline,
        # plus one in flight (a slower machine makes fewer, never more).
        assert 1 <= emulator.count("GET") <= 4
        assert event["status"] == "timeout"
        assert event["recording_status"] == "RECORDING"
        assert recording_id in event["message"]

    def test_deadline_already_passed(self, emulator):
        event = run_one(trigger(recording_in(emulator), end_time=time.time() - 1))
        assert event["status"] == "timeout"
        assert emulator.count("GET") == 1  # one last look before giving up

    def test_rebuilt_after_its_deadline_still_reports_a_finished_recording(self, emulator):
        event = run_one(trigger(recording_in(emulator, "UPLOADED"), end_time=time.time() - 60))
        assert event["status"] == "success"

    def test_missing_recording_is_an_error_at_once(self, emulator):
        missing = str(uuid.uuid4())
        event = run_one(trigger(missing, max_consecutive_errors=5))
        assert event["status"] == "error"
        assert (
            f"recording {missing} not found (HTTP 404) in account '{emulator.account_id}'" in event["message"]
        )
        assert "check recording_id, account_id and app_id" in event["message"]
        assert emulator.count("GET") == 1

    def test_rejected_token_is_an_error_at_once(self, emulator, monkeypatch):
        monkeypatch.setenv(
            "AIRFLOW_CONN_REALTIMEKIT_DEFAULT",
            emulator.connection_json().replace(CANARY_TOKEN, "wrong-token"),
        )
        event = run_one(trigger(recording_in(emulator, "UPLOADED")))
        assert event["status"] == "error"
        assert "the API token was rejected (HTTP 401): check the connection's password" in event["message"]
        assert "wrong-token" not in event["message"]
        assert emulator.count() == 1

    def test_missing_connection_is_an_error(self, emulator):
        event = run_one(trigger(recording_in(emulator), realtimekit_conn_id="no_such_conn"))
        assert event["status"] == "error"
        assert event["message"].startswith("cannot poll recording")
        assert emulator.count() == 0


class TestTransientErrors:
    @pytest.mark.parametrize(
        "fault", [{"status": 503}, {"status": 500}, {"status": 429}, {"drop": True}], ids=str
    )
    def test_absorbed(self, emulator, fault):
        recording_id = recording_in(emulator, "UPLOADED")
        emulator.add_fault(method="GET", times=2, **fault)
        event = run_one(trigger(recording_id, max_consecutive_errors=3))
        assert event["status"] == "success"
        assert emulator.count("GET") == 3

    def test_retry_after_is_respected(self, emulator):
        recording_id = recording_in(emulator, "UPLOADED")
        emulator.add_fault(method="GET", status=429, retry_after=1, times=1)
        started = time.monotonic()
        event = run_one(trigger(recording_id))
        assert event["status"] == "success"
        assert time.monotonic() - started >= 1.0
        assert emulator.count("GET") == 2

    def test_too_many_consecutive_errors(self, emulator):
        recording_id = recording_in(emulator)
        emulator.add_fault(method="GET", status=503, times=None, message="upstream down")
        started = time.monotonic()
        event = run_one(trigger(recording_id, max_consecutive_errors=3))
        assert event["status"] == "error"
        assert "3 consecutive" in event["message"]
        assert "HTTP 503: upstream down" in event["message"]
        assert emulator.count("GET") == 3
        assert time.monotonic() - started >= 2 * 0.2  # it slept between polls

    def test_a_success_resets_the_error_count(self, emulator):
        recording_id = recording_in(emulator)

        async def during() -> None:
            for _ in range(2):  # 2 + 2 errors, each pair followed by a clean poll
                fault = emulator.add_fault(method="GET", status=503, times=2)
                await until(lambda fault=fault: fault.hits == 2)
                count = emulator.count("GET")
                await until(lambda count=count: emulator.count("GET") > count)
            emulator.set_status(recording_id, "UPLOADED")

        [event] = run_many([trigger(recording_id, max_consecutive_errors=3)], during)
        assert event["status"] == "success"

    def test_one_failing_recording_does_not_starve_the_others(self, emulator):
        bad, *good = [recording_in(emulator) for _ in range(2)]
        emulator.add_fault(method="GET", path=bad, status=503, times=None)

        async def during() -> None:
            await asyncio.sleep(0.3)
            for recording_id in good:
                emulator.set_status(recording_id, "UPLOADED")

        events = run_many([trigger(bad, max_consecutive_errors=4)] + [trigger(i) for i in good], during)
        assert [e["status"] for e in events] == ["error", "success"]

    def test_a_failed_list_is_an_error_for_each_waiter_it_was_for(self, emulator):
        ids = [recording_in(emulator) for _ in range(5)]

        async def during() -> None:
            await until(lambda: emulator.count("GET", LIST) >= 1)
            emulator.add_fault(method="GET", path=LIST, status=503, times=None)

        events = run_many([trigger(i, max_consecutive_errors=2) for i in ids], during)
        assert {e["status"] for e in events} == {"error"}
        assert all("503" in e["message"] for e in events)
        assert emulator.count("GET", GET_ONE) == 0


class TestOutages:
    """Issue 9.2: transient errors never end a wait before its deadline (count-based emulator faults
    with a short poll interval: 0.05 s, backing off to 0.1 s)."""

    PACE: ClassVar[dict[str, float]] = {"poll_interval": 0.05, "max_backoff": 0.1}

    @pytest.mark.parametrize(
        "fault",
        [
            pytest.param({"status": 503, "message": "upstream down"}, id="503-outage"),
            pytest.param({"status": 429, "retry_after": 0}, id="429-storm"),
            pytest.param({"drop": True}, id="dropped-connections"),
        ],
    )
    def test_one_wait_survives_40_failed_polls(self, emulator, capfd, fault):
        recording_id = recording_in(emulator, "UPLOADED")
        emulator.add_fault(method="GET", times=40, **fault)
        event = run_one(trigger(recording_id, end_time=time.time() + 120, **self.PACE))
        assert event["status"] == "success"
        assert emulator.count("GET") == 41
        logs = capfd.readouterr().out
        # Warnings at the 1st, 2nd, 4th, 8th, 16th and 32nd failure in a row, then the recovery.
        assert logs.count(f"Polling recording {recording_id} failed") == 6
        assert "failed (32 in a row; the API has been failing for " in logs
        assert f"RealtimeKit API answered again for recording {recording_id} after failing for" in logs

    @pytest.mark.parametrize(
        "outage",
        [
            pytest.param({"status": 503}, id="503-for-3s"),
            pytest.param({"status": 429, "retry_after": 1}, id="429-retry-after-1-for-3s"),
            pytest.param(None, id="connections-refused-for-3s"),
        ],
    )
    def test_one_wait_survives_a_3_second_outage(self, emulator, outage):
        """Time-based: 3 s of failures is 15 poll intervals of 0.2 s (the back-off caps at 0.4 s)."""
        recording_id = recording_in(emulator, "UPLOADED")
        started = time.monotonic()
        if outage is None:
            emulator.refuse_connections(3.0)
        else:
            emulator.add_fault(method="GET", duration=3.0, **outage)
        event = run_one(trigger(recording_id, poll_interval=0.2, max_backoff=0.4, end_time=time.time() + 120))
        assert event["status"] == "success"
        assert time.monotonic() - started >= 3.0  # it was answered only after the outage
        if outage is not None:
            failed = [r for r in emulator.requests if r.status == outage["status"]]
            assert len(failed) >= 2  # polled through it

    def test_a_timed_outage_outlasting_the_deadline_ends_in_timeout(self, emulator):
        recording_id = recording_in(emulator, "UPLOADED")
        emulator.add_fault(method="GET", status=503, duration=30.0)
        end_time = time.time() + 2.0
        event = run_one(trigger(recording_id, poll_interval=0.2, max_backoff=0.4, end_time=end_time))
        assert event["status"] == "timeout"
        assert time.time() >= end_time
        assert emulator.count("GET") >= 2

    def test_many_waits_on_the_list_survive_an_outage(self, emulator):
        ids = [recording_in(emulator) for _ in range(5)]

        async def during() -> None:
            await until(lambda: emulator.count("GET", LIST) >= 1)
            fault = emulator.add_fault(method="GET", status=503, times=30)
            await until(lambda: fault.hits == 30, timeout=60)
            for recording_id in ids:
                emulator.set_status(recording_id, "UPLOADED")

        events = run_many([trigger(i, end_time=time.time() + 120, **self.PACE) for i in ids], during)
        assert {e["status"] for e in events} == {"success"}

    def test_an_outage_outlasting_the_deadline_ends_in_timeout(self, emulator):
        recording_id = recording_in(emulator)
        emulator.add_fault(method="GET", status=503, times=None)
        end_time = time.time() + 1.0
        event = run_one(trigger(recording_id, end_time=end_time, **self.PACE))
        assert event["status"] == "timeout"
        assert time.time() >= end_time
        assert emulator.count("GET") >= 2  # it kept polling through the outage until the deadline


def test_no_secret_in_events_or_logs(emulator, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    done = recording_in(emulator, "UPLOADED")
    failed = recording_in(emulator, "ERRORED")
    emulator.add_fault(method="GET", status=503, times=1)
    emulator.add_fault(method="GET", status=429, retry_after=0, times=1)
    events = run_many(
        [
            trigger(done),
            trigger(failed),
            trigger("missing-recording"),
            trigger(done),
        ]
    )
    assert [e["status"] for e in events] == ["success", "failed", "error", "success"]
    captured = capfd.readouterr()
    logs = caplog.text + captured.out + captured.err
    assert "Polling recording" in logs  # the transient errors were logged
    assert CANARY_TOKEN not in logs
    assert CANARY_TOKEN not in repr(events)
    assert "X-Amz-Signature" not in repr(events[:3])
