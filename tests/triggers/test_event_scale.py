"""RealtimeKitRecordingEventTrigger at app scale, over real HTTP against the emulator: the cost of a poll and
the saved state follow the recordings that can still change, not the longest open one; ERRORED events carry
their stop reason; one event per poll where Airflow consumes asset events by a time window."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_provider_rtk.triggers import events as events_module
from airflow_provider_rtk.triggers._window import RECENT_WINDOW
from tests.triggers.test_event_trigger import (
    LIST,
    FakeAssetStateStore,
    ago,
    polls,
    start,
    stop_recording,
    watch,
)

OPEN_FILTER = "INVOKED,RECORDING,PAUSED,UPLOADING"


def list_requests(emulator: Any) -> list[Any]:
    return [r for r in emulator.requests if r.method == "GET" and r.path.endswith("/recordings")]


def requests_per_poll(emulator: Any) -> list[int]:
    """Requests (list and get) between consecutive window listings, the first poll excluded."""
    counts: list[int] = []
    current = -1
    for request in emulator.requests:
        if request.method != "GET" or "/recordings" not in request.path:
            continue
        is_window = (
            request.path.endswith("/recordings")
            and "status" not in request.query
            and "end_time" not in request.query
            and request.query.get("per_page") != ["1"]
        )
        if is_window and request.query.get("page_no") == ["1"]:
            if current >= 0:
                counts.append(current)
            current = 0
        if current >= 0:
            current += 1
    return counts[1:]


class TestLongOpenRecording:
    """One recording open for a day while the app's history grows: the issue's scenario, at test scale."""

    @staticmethod
    def seed_day(emulator: Any, finished: int) -> dict[str, Any]:
        old = emulator.seed_recording(status="RECORDING", invoked_time=ago(hours=24))
        for i in range(finished):  # spread over the 23 hours after it, all long finished
            emulator.seed_recording(
                status="UPLOADED", invoked_time=ago(hours=23) + timedelta(hours=22 * i / finished)
            )
        return old

    def test_requests_per_poll_do_not_grow_with_the_long_open_recording(self, emulator):
        old = self.seed_day(emulator, finished=450)
        recent = [emulator.seed_recording(status="RECORDING") for _ in range(3)]

        async def go() -> tuple[list[str], int]:
            emulator.clear_requests()
            running = start(watch(lookback=0))
            await polls(emulator, 8)
            for recording in recent:
                await stop_recording(recording["id"])
            await running.wait_for(3)
            await polls(emulator, 4)
            gets_before = emulator.count("GET", r"/recordings/[0-9a-f-]+$")
            await stop_recording(old["id"])
            await running.wait_for(4)
            await polls(emulator, 4)
            await running.stop()
            return running.ids, emulator.count("GET", r"/recordings/[0-9a-f-]+$") - gets_before

        ids, gets = asyncio.run(go())
        assert sorted(ids) == sorted([r["id"] for r in recent] + [old["id"]])  # none missed, none twice
        assert gets == 1  # the long-open recording that finished: fetched once
        # Before: every poll listed the 450 finished since the open one (5 pages). Now: the window (1 page)
        # and the long-open recording (1 request), plus its one GET when it finished.
        per_poll = requests_per_poll(emulator)
        assert per_poll
        assert max(per_poll) <= 3
        assert all(r.query.get("page_no") == ["1"] for r in list_requests(emulator))
        cutoff = datetime.now(UTC) - RECENT_WINDOW - timedelta(minutes=5)
        for request in list_requests(emulator):
            if "start_time" in request.query and "end_time" not in request.query:
                since = datetime.fromisoformat(request.query["start_time"][0].replace("Z", "+00:00"))
                assert since > cutoff  # the window never reaches back to the long-open recording

    def test_saved_state_holds_the_open_recordings_not_the_finished_history(self, emulator):
        store = FakeAssetStateStore()
        old = self.seed_day(emulator, finished=300)
        # invoked a minute apart over the last 40 minutes (the ledger keeps the last 10 s of them)
        recent = [
            emulator.seed_recording(status="RECORDING", invoked_time=ago(minutes=40 - i)) for i in range(40)
        ]

        async def go() -> tuple[dict[str, Any], dict[str, Any]]:
            running = start(watch(lookback=0), store)
            await polls(emulator, 3)
            for recording in recent:
                await stop_recording(recording["id"])
            await running.wait_for(40)
            await polls(emulator, 4)
            await running.stop()
            key = watch()._store()._key
            return json.loads(store.values[key]), {"events": len(running.ids)}

        state, seen = asyncio.run(go())
        assert seen["events"] == 40
        assert state["open"] == {"RECORDING": [old["id"]]}  # what can still change
        assert list(state.get("tail", {})) == [recent[-1]["id"]]  # the newest: within the visibility margin
        assert len(json.dumps(state)) < 400  # 40 reported + 300 finished leave nothing else behind

    def test_a_long_open_recording_finishing_while_the_triggerer_is_down_is_reported_after(self, emulator):
        store = FakeAssetStateStore()
        old = self.seed_day(emulator, finished=20)

        async def go() -> tuple[list[str], list[str]]:
            running = start(watch(lookback=0), store)
            await polls(emulator, 4)
            await running.stop()
            await stop_recording(old["id"])  # finishes while no triggerer runs
            again = start(watch(lookback=0), store)
            await again.wait_for(1)
            await polls(emulator, 4)
            await again.stop()
            return running.ids, again.ids

        before, after = asyncio.run(go())
        assert before == []
        assert after == [old["id"]]


class TestErrored:
    def test_an_errored_event_carries_its_stop_reason(self, emulator):
        failing = emulator.seed_recording(status="RECORDING")

        async def go() -> list[dict[str, Any]]:
            running = start(watch(statuses=["ERRORED"]))
            await polls(emulator, 2)
            emulator.set_status(failing["id"], "ERRORED", stop_reason="INTERNAL_ERROR")
            await running.wait_for(1)
            await polls(emulator, 3)
            await running.stop()
            return running.events

        (event,) = asyncio.run(go())
        assert event["id"] == failing["id"]
        assert event["stop_reason"] == {"reason": "INTERNAL_ERROR"}  # the API's shape
        assert event["download_url"] is None

    def test_an_errored_recording_found_by_the_lookback_carries_its_stop_reason(self, emulator):
        errored = emulator.seed_recording(
            status="ERRORED", invoked_time=ago(minutes=20), stop_reason="STORAGE_UPLOAD_FAILED"
        )

        async def go() -> list[dict[str, Any]]:
            running = start(watch(statuses=["ERRORED"], lookback=3600))
            await running.wait_for(1)
            await polls(emulator, 3)
            await running.stop()
            return running.events

        (event,) = asyncio.run(go())
        assert (event["id"], event["stop_reason"]) == (errored["id"], {"reason": "STORAGE_UPLOAD_FAILED"})


class TestEventShape:
    """Airflow < 3.4 consumes asset events by a created_at window: one poll's recordings are one event."""

    def test_recordings_of_one_poll_are_one_event_before_airflow_3_4(self, emulator):
        recordings = [emulator.seed_recording(status="RECORDING") for _ in range(4)]

        async def go() -> list[dict[str, Any]]:
            running = start(watch(poll_interval=0.5, max_backoff=1))
            await polls(emulator, 2)
            for recording in recordings:  # all within one poll interval
                emulator.set_status(recording["id"], "UPLOADED")
            await running.wait_for(4)
            await polls(emulator, 2)
            await running.stop()
            return running.payloads

        assert events_module.event_payload_shape() == "batch"  # the Airflow under test is < 3.4
        payloads = asyncio.run(go())
        assert len(payloads) == 1
        assert payloads[0]["count"] == 4
        assert sorted(r["id"] for r in payloads[0]["recordings"]) == sorted(r["id"] for r in recordings)
        assert all(r["download_url"] is None for r in payloads[0]["recordings"])

    def test_one_event_per_recording_where_airflow_consumes_by_reference(self, emulator, monkeypatch):
        monkeypatch.setattr(events_module, "event_payload_shape", lambda: "per_recording")
        recordings = [emulator.seed_recording(status="RECORDING") for _ in range(3)]

        async def go() -> list[dict[str, Any]]:
            running = start(watch(poll_interval=0.5, max_backoff=1))
            await polls(emulator, 2)
            for recording in recordings:
                emulator.set_status(recording["id"], "UPLOADED")
            await running.wait_for(3)
            await running.stop()
            return running.payloads

        payloads = asyncio.run(go())
        assert sorted(p["id"] for p in payloads) == sorted(r["id"] for r in recordings)

    @pytest.mark.parametrize(
        ("version", "shape"),
        [("3.1.0", "batch"), ("3.3.2", "batch"), ("3.4.0", "per_recording"), ("3.10.1", "per_recording")],
    )
    def test_the_shape_follows_the_airflow_version(self, monkeypatch, version, shape):
        import airflow

        monkeypatch.setattr(airflow, "__version__", version)
        assert events_module.event_payload_shape() == shape


def test_list_requests_count_is_visible(emulator):
    """The helper above counts what the emulator logs (guards the counting itself)."""
    emulator.seed_recording(status="UPLOADED")

    async def go() -> None:
        running = start(watch(lookback=0))  # no lookback: no gap listing beside the polls
        await polls(emulator, 8)
        await running.stop()

    asyncio.run(go())
    assert emulator.count("GET", LIST) >= 8
    assert requests_per_poll(emulator)
    assert all(n == 1 for n in requests_per_poll(emulator))
