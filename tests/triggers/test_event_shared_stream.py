"""RealtimeKitRecordingEventTrigger under Airflow 3.3's contracts: the shared-stream manager (its key, a small
subscriber queue through a long outage) and the asset state store of a trigger watching two assets, driven
through Airflow's own classes (``SharedStreamManager``, ``AssetStateStoreAccessors``)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import pytest

from airflow_provider_rtk.triggers.events import RealtimeKitRecordingEventTrigger
from tests.triggers.test_event_trigger import (
    FakeAssetStateStore,
    Running,
    ago,
    polls,
    start,
    stop_recording,
    watch,
)

try:
    from airflow.triggers.shared_stream import SharedStreamManager
except ImportError:  # Airflow < 3.3
    SharedStreamManager = None  # type: ignore[assignment,misc]

needs_shared_streams = pytest.mark.skipif(SharedStreamManager is None, reason="shared streams: Airflow 3.3+")


def subscribe(manager: Any, trigger_id: int, trigger: RealtimeKitRecordingEventTrigger) -> Running:
    stream = manager.subscribe(trigger_id=trigger_id, trigger=trigger, key=trigger.shared_stream_key())
    return Running(trigger.filter_shared_stream(stream))


class TestKey:
    def test_the_key_holds_what_the_shared_poll_uses_and_nothing_else(self):
        base = watch(poll_interval=30, max_backoff=300, lookback=3600)
        same_poll = [
            watch(poll_interval=30, max_backoff=300, lookback=0),
            watch(poll_interval=30, max_backoff=300, statuses=["ERRORED"]),
            watch(poll_interval=30, max_backoff=300, meeting_id=str(uuid.uuid4())),
        ]
        other_poll = [
            watch(poll_interval=60, max_backoff=300),
            watch(poll_interval=30, max_backoff=600),
            watch(poll_interval=30, max_backoff=300, app_id="other-app"),
            watch(poll_interval=30, max_backoff=300, realtimekit_conn_id="other"),
        ]
        assert all(t.shared_stream_key() == base.shared_stream_key() for t in same_poll)
        assert all(t.shared_stream_key() != base.shared_stream_key() for t in other_poll)


@needs_shared_streams
class TestSharedStream:
    def test_a_group_started_by_a_narrow_watcher_serves_a_wide_one(self, emulator):
        """The poll uses only the key's fields: a group opened with one watcher's meeting filter and zero
        lookback still serves a watcher of every meeting with an hour of lookback."""
        mine = str(uuid.uuid4())
        earlier = emulator.seed_recording(status="UPLOADED", invoked_time=ago(minutes=10))
        a = emulator.seed_recording(status="RECORDING", meeting_id=mine)
        b = emulator.seed_recording(status="RECORDING")
        narrow = watch(meeting_id=mine, lookback=0)
        wide = watch(lookback=3600)

        async def go() -> tuple[list[str], list[str]]:
            manager = SharedStreamManager()
            first = subscribe(manager, 1, narrow)  # opens the group with its kwargs
            await polls(emulator, 2)
            second = subscribe(manager, 2, wide)
            await polls(emulator, 2)
            await stop_recording(a["id"])
            await stop_recording(b["id"])
            await first.wait_for(1)
            await second.wait_for(3)
            await polls(emulator, 3)
            for trigger_id, (trigger, running) in enumerate(((narrow, first), (wide, second)), start=1):
                await running.stop()
                await manager.unsubscribe(trigger_id, trigger.shared_stream_key())
            return first.ids, second.ids

        narrow_ids, wide_ids = asyncio.run(go())
        assert narrow_ids == [a["id"]]
        assert sorted(wide_ids) == sorted([earlier["id"], a["id"], b["id"]])

    def test_a_long_outage_of_a_watchers_own_requests_never_overflows_its_queue(self, emulator, caplog):
        """A watcher back from a restart must fetch a recording that finished while it was away; its fetch
        fails for 60 poll intervals while the shared poll goes on. With a queue of 2 snapshots, a watcher
        that waited on its fetch would be failed by Airflow (``_SubscriberOverflow``) within 3 polls."""
        caplog.set_level(logging.WARNING)
        store = FakeAssetStateStore()
        # open for two hours: outside the shared window, which a new poll anchors at the newest recording
        recording = emulator.seed_recording(status="RECORDING", invoked_time=ago(hours=2))
        emulator.seed_recording(status="UPLOADED")

        async def go() -> tuple[Running, int]:
            first = start(watch(), store)
            await first.wait_for(1)  # the newest recording, from its lookback
            await polls(emulator, 8)  # its saved state: the old recording, open
            await first.stop()
            assert json.loads(store.values[watch()._store()._key])["open"] == {"RECORDING": [recording["id"]]}
            emulator.set_status(recording["id"], "UPLOADED")  # finishes while the watcher is away
            emulator.add_fault(
                method="GET", path=rf"/recordings/{recording['id']}$", status=503, times=None, duration=3.0
            )
            manager = SharedStreamManager(max_subscriber_queue=2)
            trigger = watch()
            trigger.asset_state_store = store
            before = emulator.count("GET", r"/recordings$")
            running = subscribe(manager, 7, trigger)
            await running.wait_for(1, timeout=30)
            polled = emulator.count("GET", r"/recordings$") - before
            await polls(emulator, 2)
            alive = not running.task.done()
            await running.stop()
            await manager.unsubscribe(7, trigger.shared_stream_key())
            assert alive
            return running, polled

        running, polled = asyncio.run(go())
        assert running.ids == [recording["id"]]
        assert polled >= 30  # the shared poll went on through the outage: many snapshots, no overflow
        assert "Overflow" not in caplog.text
        assert "fetching finished recordings failing" in caplog.text


class FakeSupervisorComms:
    """The triggerer's supervisor end of the asset state store, in memory: it answers the messages Airflow's
    own ``AssetStateStoreAccessor`` sends (by asset name), as the supervisor does against the database."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Any] = {}

    async def asend(self, msg: Any) -> Any:
        return self.send(msg)

    def send(self, msg: Any) -> Any:
        from airflow.sdk.exceptions import ErrorType
        from airflow.sdk.execution_time.comms import AssetStateStoreResult, ErrorResponse

        kind = type(msg).__name__
        if kind == "GetAssetStateStoreByName":
            if (msg.name, msg.key) not in self.rows:
                return ErrorResponse(error=ErrorType.ASSET_STORE_NOT_FOUND)
            return AssetStateStoreResult(value=json.loads(self.rows[(msg.name, msg.key)]))
        if kind == "SetAssetStateStoreByName":
            self.rows[(msg.name, msg.key)] = json.dumps(msg.value)
            return None
        if kind == "DeleteAssetStateStoreByName":
            self.rows.pop((msg.name, msg.key), None)
            return None
        return None  # anything else the SDK sends its supervisor (e.g. log forwarding) is not asserted on


@pytest.fixture
def supervisor(monkeypatch: pytest.MonkeyPatch) -> FakeSupervisorComms:
    pytest.importorskip("airflow.sdk.execution_time.context", reason="asset state store: Airflow 3.3+")
    from airflow.sdk.execution_time import context, task_runner

    if not hasattr(context, "AssetStateStoreAccessors"):
        pytest.skip("asset state store: Airflow 3.3+")
    comms = FakeSupervisorComms()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", comms, raising=False)
    return comms


def two_assets() -> Any:
    """What the triggerer gives a trigger that two assets watch (identical watcher arguments, one file)."""
    from airflow.sdk import Asset
    from airflow.sdk.execution_time.context import AssetStateStoreAccessors

    accessors = AssetStateStoreAccessors(
        inlets=[
            Asset(name="uploaded_a", uri="realtimekit://acc/app-a/recordings"),
            Asset(name="uploaded_b", uri="realtimekit://acc/app-b/recordings"),
        ]
    )
    with pytest.raises(ValueError, match="use context"):  # why the single-asset calls cannot serve it
        accessors.get("anything")
    return accessors


class TestTwoWatchedAssets:
    def test_the_state_is_saved_under_each_asset_and_a_restart_resumes(self, emulator, supervisor, capfd):
        first_batch = [emulator.seed_recording(status="RECORDING") for _ in range(3)]

        async def go() -> tuple[list[str], list[str]]:
            trigger = watch()
            trigger.asset_state_store = two_assets()
            running = Running(trigger.run())
            await polls(emulator, 2)
            await stop_recording(first_batch[0]["id"])
            await running.wait_for(1)
            await polls(emulator, 4)  # saved one poll behind
            await running.stop()
            for recording in first_batch[1:]:  # finish while the triggerer is down
                await stop_recording(recording["id"])
            again = watch()
            again.asset_state_store = two_assets()
            resumed = Running(again.run())
            await resumed.wait_for(2)
            await polls(emulator, 4)
            await resumed.stop()
            return running.ids, resumed.ids

        before, after = asyncio.run(go())
        assert before == [first_batch[0]["id"]]
        assert sorted(after) == sorted(r["id"] for r in first_batch[1:])  # none missed, none repeated
        key = watch()._store()._key
        assert {name for name, k in supervisor.rows if k == key} == {"uploaded_a", "uploaded_b"}
        captured = capfd.readouterr()
        text = captured.out + captured.err
        assert "in memory" not in text
        assert "resuming from the saved state" in text
        # every line of the watcher names its assets
        lines = [line for line in text.splitlines() if "RealtimeKit watch" in line]
        assert len(lines) > 5
        assert all("(asset 'uploaded_a', 'uploaded_b')" in line for line in lines)

    def test_keys_a_watcher_no_longer_uses_are_deleted(self, emulator, supervisor):
        from airflow_provider_rtk.triggers._ledger import INDEX_KEY

        stale_key, live_key = "realtimekit_watch_0000000000000000", "realtimekit_watch_1111111111111111"
        for name in ("uploaded_a", "uploaded_b"):
            supervisor.rows[(name, stale_key)] = json.dumps({"v": 2})
            supervisor.rows[(name, live_key)] = json.dumps({"v": 2})
            supervisor.rows[(name, INDEX_KEY)] = json.dumps(
                {stale_key: "2026-01-01T00:00:00Z", live_key: ago(hours=2).isoformat()}
            )
        emulator.seed_recording(status="RECORDING")

        async def go() -> None:
            trigger = watch()
            trigger.asset_state_store = two_assets()
            running = Running(trigger.run())
            await polls(emulator, 4)
            await running.stop()

        asyncio.run(go())
        own = watch()._store()._key
        for name in ("uploaded_a", "uploaded_b"):
            assert (name, stale_key) not in supervisor.rows  # its watcher has not run for months
            assert (name, live_key) in supervisor.rows  # another watcher of the asset, running
            index = json.loads(supervisor.rows[(name, INDEX_KEY)])
            assert set(index) == {live_key, own}


def test_a_store_that_cannot_choose_an_asset_is_refused_loudly(emulator, caplog):
    """An accessor with several assets and no reachable per-asset accessors (what Airflow's direct methods do
    with two assets): an error saying what to change, never a silent downgrade; the watch goes on."""
    caplog.set_level(logging.INFO)

    class SeveralAssets:
        async def aget(self, key: str, default: Any = None) -> Any:
            raise ValueError(
                "Task has 2 concrete inlets and outlets — use context['asset_state_store'][MY_ASSET]"
            )

        async def aset(self, key: str, value: Any) -> None:
            raise AssertionError("a refused store is not written to")

    recording = emulator.seed_recording(status="RECORDING")

    async def go() -> list[str]:
        trigger = watch()
        trigger.asset_state_store = SeveralAssets()
        running = Running(trigger.run())
        await polls(emulator, 3)
        await stop_recording(recording["id"])
        await running.wait_for(1)
        await running.stop()
        return running.ids

    assert asyncio.run(go()) == [recording["id"]]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "NOT saved" in errors[0]
    assert "distinct trigger arguments" in errors[0]
    assert "separate DAG files" in errors[0]
