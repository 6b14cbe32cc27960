"""Helpers of the recording trigger and poller tests: build triggers and run them in one event loop, as one
triggerer would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator
from airflow_provider_rtk.triggers._poller import active_pollers
from airflow_provider_rtk.triggers.recording import RealtimeKitRecordingTrigger

LIST = r"/recordings$"
GET_ONE = r"/recordings/[^/]+$"


def trigger(recording_id: str, **kwargs: Any) -> RealtimeKitRecordingTrigger:
    kwargs.setdefault("poll_interval", 0.2)
    kwargs.setdefault("end_time", time.time() + 20)
    return RealtimeKitRecordingTrigger(recording_id, **kwargs)


async def first_event(trig: RealtimeKitRecordingTrigger) -> dict[str, Any]:
    event = await anext(trig.run())
    return event.payload  # type: ignore[no-any-return]


def run_one(trig: RealtimeKitRecordingTrigger) -> dict[str, Any]:
    return asyncio.run(first_event(trig))


def run_many(
    triggers: list[RealtimeKitRecordingTrigger],
    during: Callable[[], Awaitable[None]] | None = None,
) -> list[dict[str, Any]]:
    """Run triggers in one event loop (as one triggerer would), with ``during`` alongside them."""

    async def go() -> list[dict[str, Any]]:
        tasks = [asyncio.create_task(first_event(t)) for t in triggers]
        if during is not None:
            await during()
        events = await asyncio.gather(*tasks)
        assert active_pollers() == []
        return events

    return asyncio.run(go())


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def recording_in(emulator: RealtimeKitEmulator, status: str = "RECORDING", **kwargs: Any) -> str:
    return emulator.seed_recording(status=status, **kwargs)["id"]


def statuses_served(emulator: RealtimeKitEmulator, recording_id: str) -> list[str]:
    """The status of ``recording_id`` in each answered GET of it, in order: the trigger's view of time."""
    return [
        r.response_json["data"]["status"]
        for r in emulator.requests
        if r.method == "GET" and r.path.endswith(f"/recordings/{recording_id}") and r.status == 200
    ]
