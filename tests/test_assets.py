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
    recording_asset_uri,
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


def recordings_in(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return list(payload["recordings"]) if "recordings" in payload else [payload]


def trigger_events(emulator: Any, count: int) -> list[dict[str, Any]]:
    """Real event payloads: what the event trigger yields for ``count`` uploaded recordings (one batch per
    poll on Airflow < 3.4, one event per recording from 3.4)."""
    for _ in range(count):
        emulator.seed_recording(status="UPLOADED")

    async def go() -> list[dict[str, Any]]:
        trigger = RealtimeKitRecordingEventTrigger(poll_interval=0.05, lookback=3600)
        stream = trigger.run()
        payloads: list[dict[str, Any]] = []
        while sum(len(recordings_in(p)) for p in payloads) < count:
            payloads.append((await anext(stream)).payload)
        with contextlib.suppress(StopAsyncIteration):
            await stream.aclose()
        return payloads

    return asyncio.run(go())


def trigger_payloads(emulator: Any, count: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(event payloads, the recordings they carry)`` for ``count`` uploaded recordings."""
    events = trigger_events(emulator, count)
    return events, [r for p in events for r in recordings_in(p)]


def test_uri():
    assert URI == "realtimekit://acc/app/recordings"


def test_recordings_from_the_trigger_events_of_a_run(emulator):
    events, payloads = trigger_payloads(emulator, 2)
    ctx = context(*(asset_event(p, aliases=("rtk",)) for p in events))
    recordings = recordings_from_asset_events(ctx)
    assert recordings == payloads  # each once, though reachable through the alias too
    assert recording_ids_from_asset_events(ctx) == [p["id"] for p in payloads]
    assert recordings_from_asset_events(ctx, Asset(URI)) == payloads
    assert recordings_from_asset_events(ctx, AssetAlias("rtk")) == payloads
    with pytest.raises(RealtimeKitError, match="found 2"):
        recording_from_asset_event(ctx)
    assert recording_from_asset_event(context(asset_event(payloads[0]))) == payloads[0]


@pytest.mark.parametrize("shape", ["batch", "per_recording"])
def test_both_event_shapes_read_alike(shape):
    recordings = [
        {"id": f"r{i}", "status": "UPLOADED", "output_file_name": f"r{i}.mp4", "download_url": None}
        for i in range(3)
    ]
    if shape == "batch":  # two polls: one batch of two, one of one
        events = [
            asset_event({"recordings": recordings[:2], "count": 2}),
            asset_event({"recordings": recordings[2:], "count": 1}),
        ]
    else:
        events = [asset_event(r) for r in recordings]
    ctx = context(*events)
    assert recordings_from_asset_events(ctx) == recordings
    assert recording_ids_from_asset_events(ctx) == ["r0", "r1", "r2"]
    assert recording_from_asset_event(context(events[-1])) == recordings[2]
    # a repeated event (at least once across a restart) yields each recording once
    assert recording_ids_from_asset_events(context(*events, *events)) == ["r0", "r1", "r2"]


class TestAssetUri:
    """The ``realtimekit`` scheme in the provider info: Airflow validates and normalises these URIs."""

    def test_airflow_loads_the_sanitizer_from_the_provider_info(self):
        """Airflow 3.2+ reads it through the task SDK's providers manager, 3.1 through the core one."""
        from airflow_provider_rtk.assets import sanitize_uri

        try:
            from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime as Manager
        except ImportError:  # Airflow 3.1
            from airflow.providers_manager import ProvidersManager as Manager  # type: ignore[assignment]

        assert Manager().asset_uri_handlers["realtimekit"] is sanitize_uri

    def test_a_good_uri_is_accepted_and_normalised(self):
        assert Asset("realtimekit://acc/app/recordings").uri == URI
        assert Asset("realtimekit://acc/app/recordings/").uri == URI
        uuid_app = "2a95132c-1573-2412-d22c-1476fa83f27a"
        account = "023e105f4ecef8ad9ca31a8372d0c353"
        assert Asset(recordings_asset_uri(account, uuid_app)).uri == recordings_asset_uri(account, uuid_app)

    def test_one_recordings_uri_is_accepted(self):
        """Hook lineage names the recording a download read: ``.../recordings/<recording_id>``."""
        recording_id = "97440c6a-140b-40a9-9499-b23fd7a3868a"
        uri = recording_asset_uri("acc", "app", recording_id)
        assert uri == f"realtimekit://acc/app/recordings/{recording_id}"
        assert Asset(uri).uri == uri
        assert Asset(f"{uri}/").uri == uri

    @pytest.mark.parametrize(
        ("uri", "message"),
        [
            ("realtimekit://acc/app", "path must be /<app_id>/recordings"),
            ("realtimekit://acc/app/meetings", "path must be /<app_id>/recordings"),
            ("realtimekit://acc/app/recordings/extra", "recording_id must be a UUID"),
            ("realtimekit://acc/app/recordings/97440c6a-140b-40a9-9499-b23fd7a3868a/x", "path must be"),
            ("realtimekit://acc:443/app/recordings", "no user, password or port"),
            ("realtimekit://acc/app/recordings?x=1", "no query or fragment"),
            ("realtimekit://ac_c/app/recordings", "account_id"),
            ("realtimekit:///app/recordings", "account_id"),
            ("realtimekit://acc/a%20pp/recordings", "app_id"),
        ],
    )
    def test_a_bad_uri_fails_with_what_is_expected(self, uri, message):
        with pytest.raises(ValueError, match=message) as info:
            Asset(uri)
        assert "realtimekit://<account_id>/<app_id>/recordings" in str(info.value)


def test_events_not_from_the_trigger_and_manual_runs_carry_no_recording():
    other = asset_event(None)
    other.extra.clear()
    assert recordings_from_asset_events(context(other, asset_event("not a recording"))) == []
    assert recordings_from_asset_events({}) == []
    with pytest.raises(RealtimeKitError, match="found 0"):
        recording_from_asset_event({})


class TestDownloadFromAssetEvent:
    def test_archives_every_recording_of_the_run(self, emulator, tmp_path):
        from airflow.sdk.execution_time.context import OutletEventAccessors

        from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator

        events, payloads = trigger_payloads(emulator, 2)
        operator = RealtimeKitDownloadRecordingOperator(
            task_id="archive", from_asset_event=True, destination=f"{tmp_path}/", include_audio=False
        )
        outlet_events = OutletEventAccessors()
        ctx = {**context(*(asset_event(p) for p in events)), "outlet_events": outlet_events}
        uris = operator.execute(ctx)  # type: ignore[arg-type]
        assert sorted(uris) == sorted(f"file://{tmp_path}/{p['output_file_name']}" for p in payloads)
        extra = outlet_events[operator.outlets[0]].extra
        assert extra == {"uris": uris, "recording_ids": [p["id"] for p in payloads]}

        downloads = emulator.count(path=r"^/_files/")
        assert operator.execute(ctx) == uris  # type: ignore[arg-type]  # a repeated event: nothing downloaded
        assert emulator.count(path=r"^/_files/") == downloads

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"recording_id": "r1", "from_asset_event": True, "destination": "/tmp/x/"},
            {"destination": "/tmp/x/"},
            {"from_asset_event": True},
        ],
        ids=["both", "neither", "no-destination"],
    )
    def test_bad_arguments_fail_when_the_dag_is_parsed(self, emulator, kwargs):
        from airflow_provider_rtk.exceptions import RealtimeKitInputError
        from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator

        with pytest.raises(RealtimeKitInputError, match=r"recording_id|destination"):
            RealtimeKitDownloadRecordingOperator(task_id="archive", **kwargs)
        assert emulator.count() == 0

    def test_a_manual_run_in_a_dag_archives_nothing(self, emulator, tmp_path):
        from tests.airflow_harness import run_dag_source

        source = f'''
from airflow.sdk import DAG
from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator

with DAG(dag_id="rtk_from_asset_event", schedule=None) as dag:
    RealtimeKitDownloadRecordingOperator(task_id="archive", from_asset_event=True, destination="{tmp_path}/")
'''
        result = run_dag_source(source, "rtk_from_asset_event", logical_date=None)
        assert result.state == "success", result.task_states
        assert result.xcoms["archive"] == []
        assert emulator.count() == 0
