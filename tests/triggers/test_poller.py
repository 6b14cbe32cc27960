"""The shared poller behind the recording triggers: how it coalesces waits into few requests, how it paces
each wait it answers, and its lifecycle across restarts and event loops; over real HTTP."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest

from airflow_provider_rtk._core.pacing import Backoff, Pacing
from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator
from airflow_provider_rtk.triggers import _poller
from airflow_provider_rtk.triggers._poller import Waiter, active_pollers, subscribe
from airflow_provider_rtk.triggers.recording import RealtimeKitRecordingTrigger
from tests.conftest import CANARY_TOKEN, FAST
from tests.triggers.waits import (
    GET_ONE,
    LIST,
    first_event,
    recording_in,
    run_many,
    run_one,
    trigger,
    until,
)


class TestPacing:
    """The poller alone paces a wait: it advances the wait's backoff and sets when it is next due."""

    def test_failures_back_off_and_a_success_resets_the_wait(self, emulator: RealtimeKitEmulator):
        recording_id = recording_in(emulator, "UPLOADED")
        emulator.add_fault(method="GET", status=503, times=2)

        async def go() -> list[Any]:
            waiter = Waiter(
                recording_id, frozenset({"UPLOADED"}), frozenset({"ERRORED"}), Backoff(Pacing(0.1, 0.15))
            )
            poller = await subscribe(waiter, "realtimekit_default", None, None)
            outcomes = [await waiter.next_outcome() for _ in range(3)]
            assert waiter.backoff.failures == 0  # the success reset it
            await poller.remove(waiter)
            return outcomes

        first, second, third = asyncio.run(go())
        assert first.error is not None
        assert first.error.transient
        assert first.delay == 0.1
        assert first.failing_for is None
        assert second.error is not None
        assert second.delay == 0.15  # doubled, capped
        assert third.recording is not None
        assert third.recording["status"] == "UPLOADED"
        assert third.failing_for is not None
        assert third.failing_for >= 0.1
        assert third.delay is None


class TestCoalescing:
    def test_fifty_triggers_share_one_poller(self, emulator):
        n, interval = 50, 0.2
        ids = [recording_in(emulator) for _ in range(n)]
        pollers: set[int] = set()

        async def during() -> None:
            await until(lambda: emulator.count("GET") >= 1)
            pollers.update(id(p) for p in active_pollers())
            await asyncio.sleep(0.5)
            for recording_id in ids:  # they finish over about one second
                emulator.set_status(recording_id, "UPLOADED")
                await asyncio.sleep(0.02)

        started = time.monotonic()
        events = run_many([trigger(i, poll_interval=interval) for i in ids], during)
        elapsed = time.monotonic() - started
        assert [e["status"] for e in events] == ["success"] * n
        assert len(pollers) == 1
        intervals = elapsed / interval
        requests = emulator.count()
        # A per-trigger poller would make n requests per interval; the shared one makes about one.
        assert requests <= 2 * intervals + 3, (requests, intervals)
        assert requests < n * intervals / 10
        lists = [r for r in emulator.requests if r.path.endswith("/recordings")]
        filtered = [r for r in lists if "status" in r.query]
        assert filtered, "steady-state polls use the status-filtered list"
        for record in filtered:
            assert set(record.query["status"][0].split(",")) == {"UPLOADED", "ERRORED"}
            assert record.query["per_page"] == ["100"]
            assert "start_time" in record.query
        # Per-recording GETs are cheaper only once fewer than MIN_LIST_RECORDINGS waiters are left: on a
        # slow machine the last of the staggered finishes may be fetched that way, never an earlier one.
        one = re.compile(GET_ONE)
        gets = [r.path for r in emulator.requests if r.method == "GET" and one.search(r.path)]
        fetched = {path.rsplit("/", 1)[-1] for path in gets}
        assert fetched <= set(ids[-(_poller.MIN_LIST_RECORDINGS - 1) :]), fetched

    @pytest.mark.parametrize("n", [1, 2])
    def test_few_waiters_use_per_recording_gets(self, emulator, n):
        ids = [recording_in(emulator) for _ in range(n)]

        async def during() -> None:
            await asyncio.sleep(0.5)
            for recording_id in ids:
                emulator.set_status(recording_id, "UPLOADED")

        events = run_many([trigger(i) for i in ids], during)
        assert {e["status"] for e in events} == {"success"}
        assert emulator.count("GET", LIST) == 0
        assert emulator.count("GET", GET_ONE) >= 2 * n

    def test_many_matching_pages_fall_back_to_gets(self, emulator):
        for _ in range(350):  # older recordings the status filter also matches: 4 pages
            recording_in(emulator, "UPLOADED")
        ids = [recording_in(emulator) for _ in range(3)]

        async def during() -> None:
            await asyncio.sleep(0.9)
            for recording_id in ids:
                emulator.set_status(recording_id, "UPLOADED")

        events = run_many([trigger(i) for i in ids], during)
        assert {e["status"] for e in events} == {"success"}
        # Discovery finds the three on the first page; the first filtered list shows 4 pages for 3
        # recordings, so the poller stops walking it and polls them one by one from then on.
        assert emulator.count("GET", LIST) == 2
        assert emulator.count("GET", GET_ONE) >= 3 * 3

    def test_legacy_api_rejecting_the_filter_falls_back_to_gets(self, monkeypatch):
        with RealtimeKitEmulator(token=CANARY_TOKEN, api_version="legacy", **FAST) as emulator:
            monkeypatch.setenv("AIRFLOW_CONN_REALTIMEKIT_DEFAULT", emulator.connection_json())
            ids = [recording_in(emulator) for _ in range(4)]

            async def during() -> None:
                await asyncio.sleep(0.7)
                for recording_id in ids:
                    emulator.set_status(recording_id, "UPLOADED")

            events = run_many([trigger(i) for i in ids], during)
            assert {e["status"] for e in events} == {"success"}
            rejected = [r for r in emulator.requests if r.status == 400]
            assert len(rejected) == 1
            assert "ERRORED" in rejected[0].query["status"][0]

    def test_a_new_waiter_is_answered_at_the_next_tick(self, emulator):
        slow = recording_in(emulator)
        done = recording_in(emulator, "UPLOADED")

        async def go() -> None:
            first = asyncio.create_task(first_event(trigger(slow, poll_interval=60.0)))
            await until(lambda: emulator.count("GET") >= 1)
            event = await first_event(trigger(done, poll_interval=0.3))
            assert event["status"] == "success"
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)

        asyncio.run(go())
        # Answered at the next tick of its own 0.3 s interval, long before the first waiter's 60 s
        # interval came round again: that waiter's recording was asked for once in all.
        assert emulator.count("GET", slow) == 1
        assert emulator.count("GET", done) == 1

    def test_triggers_on_one_recording_with_different_targets(self, emulator):
        recording_id = recording_in(emulator)

        async def during() -> None:
            await asyncio.sleep(0.3)
            emulator.set_status(recording_id, "UPLOADING")

        events = run_many(
            [
                trigger(recording_id, target_statuses=["UPLOADING", "UPLOADED"]),
                trigger(recording_id, target_statuses=["UPLOADED"]),
            ],
            during,
        )
        assert [e["recording_status"] for e in events] == ["UPLOADING", "UPLOADED"]


class TestLifecycle:
    def test_restart_mid_wait(self, emulator):
        recording_id = recording_in(emulator)
        original = trigger(recording_id, end_time=time.time() + 10)

        async def go() -> dict[str, Any]:
            task = asyncio.create_task(first_event(original))
            await until(lambda: emulator.count("GET") >= 2)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert active_pollers() == []
            classpath, kwargs = original.serialize()
            assert classpath.endswith("RealtimeKitRecordingTrigger")
            rebuilt = RealtimeKitRecordingTrigger(**kwargs)
            assert rebuilt.end_time == original.end_time
            resumed = asyncio.create_task(first_event(rebuilt))
            await asyncio.sleep(0.3)
            emulator.set_status(recording_id, "UPLOADED")
            return await resumed

        event = asyncio.run(go())
        assert event["status"] == "success"

    def test_restart_in_a_new_event_loop(self, emulator):
        recording_id = recording_in(emulator)
        original = trigger(recording_id)

        async def interrupted() -> None:
            task = asyncio.create_task(first_event(original))
            await until(lambda: emulator.count("GET") >= 1)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        asyncio.run(interrupted())
        emulator.set_status(recording_id, "UPLOADED")
        assert run_one(RealtimeKitRecordingTrigger(**original.serialize()[1]))["status"] == "success"

    def test_cancellation_leaves_nothing_behind(self, emulator):
        ids = [recording_in(emulator) for _ in range(5)]

        async def go() -> None:
            tasks = [asyncio.create_task(first_event(trigger(i))) for i in ids]
            await until(lambda: emulator.count("GET") >= 2)
            [poller] = active_pollers()
            assert len(poller.waiters) == 5
            for task in tasks[:3]:
                task.cancel()
            await asyncio.gather(*tasks[:3], return_exceptions=True)
            assert len(poller.waiters) == 2
            assert not poller.task.done()
            for task in tasks[3:]:
                task.cancel()
            await asyncio.gather(*tasks[3:], return_exceptions=True)
            assert active_pollers() == []
            assert poller.task.done()
            assert poller.hook.transport._session is None  # its HTTP session is closed
            assert asyncio.all_tasks() == {asyncio.current_task()}

        asyncio.run(go())

    def test_pollers_are_per_event_loop_and_connection(self, emulator, monkeypatch):
        monkeypatch.setenv("AIRFLOW_CONN_RTK_OTHER", emulator.connection_json())
        ids = [recording_in(emulator) for _ in range(2)]

        async def go() -> list[_poller.PollerKey]:
            tasks = [
                asyncio.create_task(first_event(trigger(ids[0]))),
                asyncio.create_task(first_event(trigger(ids[1], realtimekit_conn_id="rtk_other"))),
                asyncio.create_task(first_event(trigger(ids[1], account_id=emulator.account_id))),
            ]
            await until(lambda: emulator.count("GET") >= 2)
            keys = sorted((p.key for p in active_pollers()), key=lambda k: k.conn_id)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            assert active_pollers() == []  # every poller of this loop stopped with its last waiter
            return keys

        keys = asyncio.run(go())
        assert [k.conn_id for k in keys] == ["realtimekit_default", "rtk_other"]
        assert {(k.account_id, k.app_id) for k in keys} == {(emulator.account_id, emulator.app_id)}
