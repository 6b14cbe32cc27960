"""The consumer helpers read recordings from a run's triggering asset events, as Airflow builds them."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import pytest
from airflow.sdk import Asset, AssetAlias
from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

from airflow_provider_rtk.assets import (
    recording_from_asset_event,
    recording_ids_from_asset_events,
    recordings_asset_uri,
    recordings_from_asset_events,
)
from airflow_provider_rtk.exceptions import RealtimeKitError
from airflow_provider_rtk.triggers.events import RealtimeKitRecordingEventTrigger

URI = recordings_asset_uri("acc", "app")


def asset_event(
    payload: Any, *, uri: str = URI, aliases: tuple[str, ...] = ()
) -> AssetEventDagRunReferenceResult:
    """An event as ``Trigger.submit_event`` stores it: ``extra={"from_trigger": True, "payload": ...}``."""
    return AssetEventDagRunReferenceResult(
        asset={"name": uri, "uri": uri, "extra": {}},
        extra={"from_trigger": True, "payload": payload},
        source_task_id=None,
        source_dag_id=None,
        source_run_id=None,
        source_map_index=None,
        source_aliases=[{"name": a} for a in aliases],
        timestamp=datetime.now(UTC),
    )


def context(*events: AssetEventDagRunReferenceResult) -> dict[str, Any]:
    return {"triggering_asset_events": TriggeringAssetEventsAccessor.build(events)}


def trigger_payloads(emulator: Any, count: int) -> list[dict[str, Any]]:
    """Real payloads: what the event trigger yields for ``count`` uploaded recordings."""
    for _ in range(count):
        emulator.seed_recording(status="UPLOADED")

    async def go() -> list[dict[str, Any]]:
        trigger = RealtimeKitRecordingEventTrigger(poll_interval=0.05, lookback=3600)
        stream = trigger.run()
        payloads = [(await anext(stream)).payload for _ in range(count)]
        with contextlib.suppress(StopAsyncIteration):
            await stream.aclose()
        return payloads

    return asyncio.run(go())


def test_uri():
    assert URI == "realtimekit://acc/app/recordings"


def test_recordings_from_the_trigger_events_of_a_run(emulator):
    payloads = trigger_payloads(emulator, 2)
    ctx = context(*(asset_event(p, aliases=("rtk",)) for p in payloads))
    recordings = recordings_from_asset_events(ctx)
    assert recordings == payloads  # each once, though reachable through the alias too
    assert recording_ids_from_asset_events(ctx) == [p["id"] for p in payloads]
    assert recordings_from_asset_events(ctx, Asset(URI)) == payloads
    assert recordings_from_asset_events(ctx, AssetAlias("rtk")) == payloads
    with pytest.raises(RealtimeKitError, match="found 2"):
        recording_from_asset_event(ctx)
    assert recording_from_asset_event(context(asset_event(payloads[0]))) == payloads[0]


def test_events_not_from_the_trigger_and_manual_runs_carry_no_recording():
    other = asset_event(None)
    other.extra.clear()
    assert recordings_from_asset_events(context(other, asset_event("not a recording"))) == []
    assert recordings_from_asset_events({}) == []
    with pytest.raises(RealtimeKitError, match="found 0"):
        recording_from_asset_event({})
