"""RealtimeKitRecordingEventTrigger over real HTTP against the emulator, run as the triggerer runs it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.triggers.base import TriggerEvent

from airflow_provider_rtk.exceptions import RealtimeKitError, RealtimeKitInputError
from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook
from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator
from airflow_provider_rtk.triggers.events import RealtimeKitRecordingEventTrigger
from tests.conftest import CANARY_TOKEN, FAST

LIST = r"/recordings$"
OPEN_FILTER = "INVOKED,RECORDING,PAUSED,UPLOADING"
CANARY_SECRET = "canary-storage-secret-5d1e-do-not-log"

try:
    from airflow.triggers.shared_stream import SharedStreamManager
except ImportError:  # Airflow < 3.3
    SharedStreamManager = None  # type: ignore[assignment,misc]


def watch(**kwargs: Any) -> RealtimeKitRecordingEventTrigger:
    """A fast watch. Its lookback covers the test's recordings, so one that finishes before the watch's
    first poll is still reported (with ``lookback=0`` it would be the baseline)."""
    kwargs.setdefault("poll_interval", 0.05)
    kwargs.setdefault("max_backoff", 0.4)
    kwargs.setdefault("lookback", 3600)
    return RealtimeKitRecordingEventTrigger(**kwargs)


class FakeAssetStateStore:
    """The single-asset form of Airflow 3.3's ``AssetStateStoreAccessors`` (``aget`` / ``aset``), in memory.

    The real one talks to the triggerer's supervisor, which a unit test does not have. Values go through
    JSON, as they do into the metadata database.
    """

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.writes = 0

    async def aget(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    async def aset(self, key: str, value: Any) -> None:
        assert value is not None
        self.values[key] = json.dumps(value)
        self.writes += 1


def recordings_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The recordings one event carries: a batch (``{"recordings": [...]}``) or one recording."""
    return list(payload["recordings"]) if "recordings" in payload else [payload]


class Running:
    """A trigger's event stream consumed in a task, as the triggerer consumes it; ``stop()`` cancels it.

    ``events`` are the recordings reported, whichever event shape carried them; ``payloads`` the events.
    """

    def __init__(self, stream: AsyncIterator[TriggerEvent]) -> None:
        self.events: list[dict[str, Any]] = []
        self.payloads: list[dict[str, Any]] = []
        self.task = asyncio.create_task(self._consume(stream))

    async def _consume(self, stream: AsyncIterator[TriggerEvent]) -> None:
        async for event in stream:
            self.payloads.append(event.payload)
            self.events.extend(recordings_of(event.payload))

    async def wait_for(self, count: int, timeout: float = 15.0) -> None:
        await until(lambda: len(self.events) >= count or self.task.done(), timeout)
        if self.task.done():
            self.task.result()
        assert len(self.events) >= count

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    @property
    def ids(self) -> list[str]:
        return [e["id"] for e in self.events]


def start(trigger: RealtimeKitRecordingEventTrigger, store: FakeAssetStateStore | None = None) -> Running:
    if store is not None:
        trigger.asset_state_store = store  # what the 3.3 triggerer injects
    return Running(trigger.run())


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def polls(emulator: RealtimeKitEmulator, n: int) -> None:
    """Wait until the emulator has answered ``n`` more list requests (every watcher polls at least that)."""
    target = emulator.count("GET", LIST) + n
    await until(lambda: emulator.count("GET", LIST) >= target)


async def stop_recording(recording_id: str) -> None:
    hook = RealtimeKitHook()
    try:
        await asyncio.to_thread(hook.stop_recording, recording_id)
    finally:
        hook.close()


async def stop_recording_when_possible(recording_id: str) -> None:
    """Stop it, retrying while the emulator refuses connections."""
    while True:
        try:
            return await stop_recording(recording_id)
        except RealtimeKitError:  # refused connections during the simulated outage
            await asyncio.sleep(0.1)


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


@pytest.fixture
def legacy_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[RealtimeKitEmulator]:
    with RealtimeKitEmulator(token=CANARY_TOKEN, api_version="legacy", **FAST) as emu:
        for key, value in emu.env().items():
            monkeypatch.setenv(key, value)
        yield emu


class TestArguments:
    def test_serialize_round_trip(self):
        import importlib

        trigger = RealtimeKitRecordingEventTrigger(
            realtimekit_conn_id="rtk",
            account_id="acc",
            app_id="app",
            statuses=["UPLOADED", "ERRORED", "UPLOADED"],
            meeting_id=str(uuid.uuid4()),
            poll_interval=30,
            lookback=600,
            max_backoff=120,
        )
        path, kwargs = trigger.serialize()
        assert json.loads(json.dumps(kwargs)) == kwargs  # primitives only
        assert kwargs["statuses"] == ["UPLOADED", "ERRORED"]
        module, _, name = path.rpartition(".")
        rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
        assert rebuilt.serialize() == (path, kwargs)
        assert rebuilt.shared_stream_key() == trigger.shared_stream_key()

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"statuses": ["DONE"]}, "statuses"),
            ({"statuses": []}, "statuses"),
            ({"statuses": ["UPLOADED", "uploaded"]}, "statuses"),
            ({"poll_interval": 0}, "poll_interval"),
            ({"poll_interval": 60, "max_backoff": 10}, "max_backoff"),
            ({"lookback": -1}, "lookback"),
            ({"meeting_id": "a/b"}, "meeting_id"),
        ],
    )
    def test_bad_arguments_fail_before_any_request(self, emulator, kwargs, field):
        with pytest.raises(RealtimeKitInputError, match=field) as info:
            RealtimeKitRecordingEventTrigger(**kwargs)
        if field == "statuses":
            assert "UPLOADED" in str(info.value)
            assert "ERRORED" in str(info.value)
        assert emulator.count() == 0

    def test_a_single_status_string_is_accepted(self):
        assert RealtimeKitRecordingEventTrigger(statuses="ERRORED").statuses == ("ERRORED",)


class TestEvents:
    def test_staggered_finishes_are_each_reported_once(self, emulator):
        recordings = [emulator.seed_recording(status="RECORDING") for _ in range(8)]

        async def go() -> list[dict[str, Any]]:
            running = start(watch())
            await polls(emulator, 2)
            for recording in recordings:
                await stop_recording(recording["id"])
                await asyncio.sleep(0.1)
            await running.wait_for(len(recordings))
            await polls(emulator, 5)
            await running.stop()
            return running.events

        events = asyncio.run(go())
        assert sorted(e["id"] for e in events) == sorted(r["id"] for r in recordings)
        assert {e["status"] for e in events} == {"UPLOADED"}
        # the payload is the public view, as the sensor's XCom: no presigned URL
        assert all(e["download_url"] is None and e["audio_download_url"] is None for e in events)
        assert all(e["output_file_name"] and e["invoked_time"] for e in events)

    def test_history_is_not_replayed_and_steady_state_is_one_request_per_poll(self, emulator):
        for _ in range(150):
            emulator.seed_recording(status="UPLOADED", invoked_time=ago(days=2))
        active = emulator.seed_recording(status="RECORDING")

        async def go() -> tuple[list[dict[str, Any]], list[Any]]:
            emulator.clear_requests()
            running = start(watch(lookback=3600))
            await polls(emulator, 6)
            await stop_recording(active["id"])
            await running.wait_for(1)
            await running.stop()
            return running.events, [r for r in emulator.requests if r.path.endswith("/recordings")]

        events, requests = asyncio.run(go())
        assert [e["id"] for e in events] == [active["id"]]
        anchors = [
            r for r in requests if r.query.get("status") == [OPEN_FILTER] or r.query.get("per_page") == ["1"]
        ]
        assert len(anchors) == 2  # the start: the open recordings, the newest recording
        listings = [r for r in requests if r not in anchors]
        cutoff = ago(days=1)
        for request in listings:
            since = datetime.fromisoformat(request.query["start_time"][0].replace("Z", "+00:00"))
            assert since > cutoff  # the window never reaches back to the two-day-old history
            assert request.query["page_no"] == ["1"]  # one page: one request per poll

    def test_lookback_reports_recent_finished_recordings_on_a_fresh_start(self, emulator):
        recent = [emulator.seed_recording(status="UPLOADED", invoked_time=ago(minutes=10)) for _ in range(3)]
        for _ in range(2):
            emulator.seed_recording(status="UPLOADED", invoked_time=ago(hours=3))

        async def go() -> list[str]:
            running = start(watch(lookback=3600))
            await running.wait_for(3)
            await polls(emulator, 4)
            await running.stop()
            return running.ids

        assert sorted(asyncio.run(go())) == sorted(r["id"] for r in recent)

    def test_a_recording_invoked_long_before_others_is_reported_when_it_uploads(self, emulator):
        old = emulator.seed_recording(status="RECORDING", invoked_time=ago(hours=5))

        async def go() -> list[str]:
            running = start(watch(lookback=0))
            await polls(emulator, 2)
            for _ in range(3):  # newer recordings come and go while the old one records
                newer = emulator.seed_recording(status="RECORDING")
                await stop_recording(newer["id"])
            await running.wait_for(3)
            await stop_recording(old["id"])
            await running.wait_for(4)
            await polls(emulator, 3)
            await running.stop()
            return running.ids

        ids = asyncio.run(go())
        assert len(ids) == len(set(ids)) == 4
        assert ids[-1] == old["id"]

    @pytest.mark.parametrize("fixture", ["emulator", "legacy_emulator"])
    def test_uploaded_and_errored_on_both_api_versions(self, request, fixture):
        emu: RealtimeKitEmulator = request.getfixturevalue(fixture)
        failing, ok, other = (emu.seed_recording(status="RECORDING") for _ in range(3))

        async def go() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            both = start(watch(statuses=["UPLOADED", "ERRORED"]))
            errored = start(watch(statuses=["ERRORED"]))
            await polls(emu, 4)
            emu.set_status(failing["id"], "ERRORED", stop_reason="INTERNAL_ERROR")
            await stop_recording(ok["id"])
            await both.wait_for(2)
            await errored.wait_for(1)
            await polls(emu, 4)
            await both.stop()
            await errored.stop()
            return both.events, errored.events

        both, errored = asyncio.run(go())
        assert {(e["id"], e["status"]) for e in both} == {(failing["id"], "ERRORED"), (ok["id"], "UPLOADED")}
        assert len(both) == 2
        assert [(e["id"], e["status"]) for e in errored] == [(failing["id"], "ERRORED")]
        assert other["id"] not in {e["id"] for e in both}

    def test_one_event_per_status_when_several_are_watched(self, emulator):
        recording = emulator.seed_recording(status="RECORDING")

        async def go() -> list[tuple[str, str]]:
            running = start(watch(statuses=["UPLOADING", "UPLOADED"]))
            await polls(emulator, 2)
            emulator.set_status(recording["id"], "UPLOADING")
            await running.wait_for(1)
            emulator.set_status(recording["id"], "UPLOADED")
            await running.wait_for(2)
            await polls(emulator, 4)
            await running.stop()
            return [(e["id"], e["status"]) for e in running.events]

        rid = recording["id"]
        assert asyncio.run(go()) == [(rid, "UPLOADING"), (rid, "UPLOADED")]

    def test_meeting_filter(self, emulator):
        mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
        a = emulator.seed_recording(status="RECORDING", meeting_id=mine)
        b = emulator.seed_recording(status="RECORDING", meeting_id=theirs)

        async def go() -> list[str]:
            running = start(watch(meeting_id=mine))
            await polls(emulator, 2)
            await stop_recording(b["id"])
            await stop_recording(a["id"])
            await running.wait_for(1)
            await polls(emulator, 4)
            await running.stop()
            return running.ids

        assert asyncio.run(go()) == [a["id"]]
        assert all(
            r.query.get("meeting_id") == [mine] for r in emulator.requests if r.path.endswith("/recordings")
        )


class TestRestarts:
    def test_restart_with_a_saved_watermark_misses_nothing_and_repeats_nothing(self, emulator):
        store = FakeAssetStateStore()
        first = [emulator.seed_recording(status="RECORDING") for _ in range(4)]

        async def go() -> tuple[list[str], list[str], list[str]]:
            running = start(watch(), store)
            await polls(emulator, 2)
            for recording in first[:2]:
                await stop_recording(recording["id"])
            await running.wait_for(2)
            await polls(emulator, 4)  # the state is saved one poll behind the events
            await running.stop()
            # while the triggerer is down: two more finish, one is recorded from start to end
            for recording in first[2:]:
                await stop_recording(recording["id"])
            during = emulator.seed_recording(status="UPLOADED", invoked_time=datetime.now(UTC))
            await asyncio.sleep(0.5)
            again = start(watch(), store)
            await again.wait_for(3)
            await polls(emulator, 4)
            await again.stop()
            return running.ids, again.ids, [r["id"] for r in first[2:]] + [during["id"]]

        before, after, expected = asyncio.run(go())
        assert sorted(before) == sorted(r["id"] for r in first[:2])
        assert sorted(after) == sorted(expected)
        state = json.loads(store.values[watch()._store()._key])
        assert state["v"] == 2
        assert state["open"] == {}  # nothing open: the saved value holds no finished history
        assert set(json.loads(store.values["realtimekit_watch_index"])) == {watch()._store()._key}

    def test_a_hard_stop_right_after_an_event_repeats_it_but_never_loses_it(self, emulator):
        store = FakeAssetStateStore()
        recording = emulator.seed_recording(status="RECORDING")

        async def go() -> tuple[list[str], list[str]]:
            running = start(watch(), store)
            await polls(emulator, 2)
            await stop_recording(recording["id"])
            await running.wait_for(1)
            await running.stop()  # before the next poll saved the state that reports it
            again = start(watch(), store)
            await again.wait_for(1)
            await polls(emulator, 4)
            await again.stop()
            return running.ids, again.ids

        before, after = asyncio.run(go())
        assert before == after == [recording["id"]]  # at least once: the consumer must be idempotent

    def test_without_a_state_store_a_restart_reports_again_within_lookback(self, emulator):
        """Airflow 3.1 / 3.2: at least once for what was invoked in the last ``lookback`` seconds."""
        done = emulator.seed_recording(status="RECORDING")
        later = emulator.seed_recording(status="RECORDING")

        async def go() -> tuple[list[str], list[str]]:
            running = start(watch(lookback=3600))
            await polls(emulator, 2)
            await stop_recording(done["id"])
            await running.wait_for(1)
            await running.stop()
            await stop_recording(later["id"])  # finishes while the triggerer is down
            again = start(watch(lookback=3600))
            await again.wait_for(2)
            await polls(emulator, 4)
            await again.stop()
            return running.ids, again.ids

        before, after = asyncio.run(go())
        assert before == [done["id"]]
        assert sorted(after) == sorted([done["id"], later["id"]])

    def test_an_unreadable_saved_state_starts_fresh(self, emulator):
        store = FakeAssetStateStore()
        trigger = watch(lookback=3600)
        recording = emulator.seed_recording(status="UPLOADED", invoked_time=ago(minutes=5))
        store.values[trigger._store()._key] = json.dumps({"since": "yesterday"})

        async def go() -> list[str]:
            running = start(trigger, store)
            await running.wait_for(1)
            await running.stop()
            return running.ids

        assert asyncio.run(go()) == [recording["id"]]


class TestOutages:
    @pytest.mark.parametrize(
        "fault",
        [
            {"status": 503, "times": 6},
            {"status": 500, "envelope": "cf", "times": 4},
            {"drop": True, "times": 4},
            {"status": 429, "retry_after": 1, "times": 3},
        ],
        ids=["503", "500-cf", "dropped", "429"],
    )
    def test_transient_errors_never_end_the_watch(self, emulator, fault, caplog):
        caplog.set_level(logging.WARNING)
        recording = emulator.seed_recording(status="RECORDING")

        async def go() -> Running:
            running = start(watch())
            await polls(emulator, 2)
            emulator.add_fault(method="GET", path=LIST, **fault)
            await stop_recording(recording["id"])
            await running.wait_for(1)
            await polls(emulator, 3)
            await running.stop()
            return running

        running = asyncio.run(go())
        assert running.ids == [recording["id"]]
        assert "polls failing" in caplog.text
        assert "recovered" in caplog.text

    @pytest.mark.parametrize(
        "outage",
        [{"status": 503}, {"status": 429, "retry_after": 1}, "refuse"],
        ids=["503", "429-storm", "connection-refused"],
    )
    def test_an_outage_of_many_poll_intervals_never_ends_the_watch(self, emulator, outage, caplog):
        caplog.set_level(logging.WARNING)
        recording = emulator.seed_recording(status="RECORDING")

        async def go() -> Running:
            running = start(watch(poll_interval=0.05, max_backoff=0.2))
            await polls(emulator, 2)
            # 1.5 s: 30 poll intervals, and several times the longest back-off
            if outage == "refuse":
                emulator.refuse_connections(1.5)
            else:
                emulator.add_fault(method="GET", path=LIST, times=None, duration=1.5, **outage)
            await stop_recording_when_possible(recording["id"])
            await running.wait_for(1)
            await polls(emulator, 3)
            assert not running.task.done()
            await running.stop()
            return running

        assert asyncio.run(go()).ids == [recording["id"]]
        assert "recovered" in caplog.text

    def test_a_non_transient_error_is_logged_with_a_hint_and_polled_again(self, emulator, caplog):
        caplog.set_level(logging.WARNING)
        recording = emulator.seed_recording(status="RECORDING")

        async def go() -> list[str]:
            running = start(watch())
            await polls(emulator, 2)
            emulator.add_fault(method="GET", path=LIST, status=401, times=3)
            await stop_recording(recording["id"])
            await running.wait_for(1)
            await running.stop()
            return running.ids

        assert asyncio.run(go()) == [recording["id"]]
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors
        assert "API token" in errors[0].getMessage()

    def test_a_missing_connection_keeps_the_watch_alive(self, emulator, caplog):
        caplog.set_level(logging.WARNING)

        async def go() -> bool:
            running = start(watch(realtimekit_conn_id="no_such_connection", max_backoff=0.1))
            await until(lambda: "no_such_connection" in caplog.text)
            await asyncio.sleep(0.3)
            alive = not running.task.done()
            await running.stop()
            return alive

        assert asyncio.run(go())
        assert emulator.count() == 0


def test_no_secret_or_url_in_events_or_logs(emulator, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    storage = {"type": "aws", "bucket": "b", "access_key": "AK", "secret": CANARY_SECRET}
    recording = emulator.seed_recording(status="RECORDING", storage_config=storage)

    async def go() -> list[dict[str, Any]]:
        running = start(watch(), FakeAssetStateStore())
        await polls(emulator, 2)
        await stop_recording(recording["id"])
        await running.wait_for(1)
        await polls(emulator, 3)
        await running.stop()
        return running.events

    events = asyncio.run(go())
    assert emulator.recording(recording["id"])["download_url"]  # the API did hand out URLs
    captured = capfd.readouterr()
    text = json.dumps(events) + caplog.text + captured.out + captured.err
    for secret in (CANARY_TOKEN, CANARY_SECRET, "X-Amz-Signature", "/_files/"):
        assert secret not in text
    assert events[0]["storage_config"] == {"type": "aws", "bucket": "b"}


@pytest.mark.skipif(SharedStreamManager is None, reason="shared streams arrived in Airflow 3.3")
class TestSharedStream:
    """Several watchers of one app behind Airflow 3.3's ``SharedStreamManager``, as the triggerer does."""

    @staticmethod
    def subscribe(manager: Any, triggers: list[RealtimeKitRecordingEventTrigger]) -> list[Running]:
        running = []
        for trigger_id, trigger in enumerate(triggers):
            key = trigger.shared_stream_key()
            stream = manager.subscribe(trigger_id=trigger_id, trigger=trigger, key=key)
            running.append(Running(trigger.filter_shared_stream(stream)))
        return running

    @staticmethod
    async def unsubscribe(manager: Any, triggers: list[Any], running: list[Running]) -> None:
        for trigger_id, (trigger, one) in enumerate(zip(triggers, running, strict=True)):
            await one.stop()
            await manager.unsubscribe(trigger_id, trigger.shared_stream_key())

    def test_watchers_of_one_app_share_one_poll_loop(self, emulator):
        mine = str(uuid.uuid4())
        a = emulator.seed_recording(status="RECORDING", meeting_id=mine)
        b = emulator.seed_recording(status="RECORDING")
        c = emulator.seed_recording(status="RECORDING")
        triggers = [watch(), watch(statuses=["ERRORED"]), watch(meeting_id=mine)]
        assert len({t.shared_stream_key() for t in triggers}) == 1

        async def go() -> list[list[tuple[str, str]]]:
            manager = SharedStreamManager()
            emulator.clear_requests()
            running = self.subscribe(manager, triggers)
            await polls(emulator, 3)
            await stop_recording(a["id"])
            await stop_recording(b["id"])
            emulator.set_status(c["id"], "ERRORED")
            await running[0].wait_for(2)
            await running[1].wait_for(1)
            await running[2].wait_for(1)
            await polls(emulator, 4)
            await self.unsubscribe(manager, triggers, running)
            return [[(e["id"], e["status"]) for e in r.events] for r in running]

        uploaded, errored, meeting = asyncio.run(go())
        assert sorted(uploaded) == sorted([(a["id"], "UPLOADED"), (b["id"], "UPLOADED")])
        assert errored == [(c["id"], "ERRORED")]
        assert meeting == [(a["id"], "UPLOADED")]
        anchors = [r for r in emulator.requests if r.query.get("status") == [OPEN_FILTER]]
        assert len(anchors) == 1  # one poll loop for the three watchers

    def test_a_watcher_with_an_older_watermark_lists_the_gap_once(self, emulator):
        store = FakeAssetStateStore()
        old = emulator.seed_recording(status="RECORDING", invoked_time=ago(minutes=20))

        async def go() -> list[str]:
            first = start(watch(), store)
            await polls(emulator, 4)  # its saved watermark: the old recording, still open
            await first.stop()
            await stop_recording(old["id"])  # uploads while the triggerer is down
            trigger = watch()
            trigger.asset_state_store = store
            manager = SharedStreamManager()
            running = self.subscribe(manager, [trigger])
            await running[0].wait_for(1)
            await polls(emulator, 4)
            await self.unsubscribe(manager, [trigger], running)
            return running[0].ids

        assert asyncio.run(go()) == [old["id"]]
