"""rtk_process_uploaded: parses with its asset watcher; archives and summarises; any logical date."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_rtk.testing.dags import dagbag
from tests.conftest import CANARY_TOKEN

if TYPE_CHECKING:
    from airflow_provider_rtk.testing.dags import DagRunResult
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

DAG_FILE = Path(__file__).resolve().parents[2] / "example_dags" / "rtk_process_uploaded.py"
DAG_ID = "rtk_process_uploaded"


@pytest.fixture
def emulator(
    realtimekit_emulator_factory: Callable[..., RealtimeKitEmulator], monkeypatch: pytest.MonkeyPatch
) -> RealtimeKitEmulator:
    emu = realtimekit_emulator_factory(token=CANARY_TOKEN, file_size=300_000, audio_file_size=70_000)
    monkeypatch.setenv("RTK_ACCOUNT_ID", emu.account_id)
    monkeypatch.setenv("RTK_APP_ID", emu.app_id)
    return emu


@pytest.fixture
def archive_root(tmp_path: Path) -> Path:
    return tmp_path / "archive"


@pytest.fixture
def run(realtimekit_run_dag: Callable[..., DagRunResult], archive_root: Path) -> Callable[..., DagRunResult]:
    def go(**kwargs: Any) -> DagRunResult:
        return realtimekit_run_dag(
            DAG_FILE, DAG_ID, variables={"rtk_archive_root": str(archive_root)}, **kwargs
        )

    return go


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_parses_with_an_asset_watcher_on_the_event_trigger(emulator):
    import runpy

    from airflow_provider_rtk.triggers.events import RealtimeKitRecordingEventTrigger

    bag = dagbag(DAG_FILE)
    assert bag.import_errors == {}
    assert "rtk_process_uploaded" in bag.dag_ids
    asset = runpy.run_path(str(DAG_FILE))["UPLOADED_RECORDINGS"]
    assert asset.uri == f"realtimekit://{emulator.account_id}/{emulator.app_id}/recordings"
    (watcher,) = asset.watchers
    assert isinstance(watcher.trigger, RealtimeKitRecordingEventTrigger)
    _, kwargs = watcher.trigger.serialize()
    assert kwargs["statuses"] == ["UPLOADED"]
    assert kwargs["account_id"] == emulator.account_id
    assert kwargs["poll_interval"] == 60


@pytest.mark.parametrize("logical_date", [None, datetime.now(UTC)], ids=["no-logical-date", "logical-date"])
def test_a_run_archives_and_summarises_its_recording(emulator, archive_root, run, logical_date):
    recording = emulator.seed_recording(status="UPLOADED")
    other = emulator.seed_recording(status="UPLOADED")
    result = run(logical_date=logical_date, conf={"recording_id": recording["id"]})
    assert result.state == "success", result.task_states
    assert result.task_states["archive[0]"] == "success"
    files = {p.name: p for p in archive_root.rglob("*") if p.is_file()}
    video = files[recording["output_file_name"]]
    assert _sha256(video) == emulator.expected_sha256(recording["id"], "video")
    summary = json.loads(files[f"{video.stem}.summary.json"].read_text())
    assert summary[video.name]["sha256"] == emulator.expected_sha256(recording["id"], "video")
    assert len(summary) == 2  # video and audio
    assert not any(other["id"] in name for name in files)

    downloads = emulator.count(path=r"^/_files/")
    again = run(conf={"recording_id": recording["id"]})
    assert again.state == "success", again.task_states
    assert emulator.count(path=r"^/_files/") == downloads  # a repeated event downloads nothing


def test_a_run_without_events_or_param_does_nothing(emulator, archive_root, run):
    result = run(logical_date=None)
    assert result.state == "success", result.task_states
    assert result.xcoms["uploaded_recordings"] == []
    assert not archive_root.exists() or not any(archive_root.rglob("*"))


@pytest.mark.parametrize("shape", ["batch", "per_recording"])
def test_the_run_maps_every_recording_of_its_events_whatever_their_shape(emulator, shape):
    """The DAG's first task, called with the triggering events Airflow builds (its own accessor class)."""
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    from airflow_provider_rtk.testing.dags import load_dag

    recordings = [{"id": f"rec-{i}", "status": "UPLOADED", "download_url": None} for i in range(3)]
    payloads: list[Any] = (
        [{"recordings": recordings[:2], "count": 2}, {"recordings": recordings[2:], "count": 1}]
        if shape == "batch"
        else recordings
    )
    uri = f"realtimekit://{emulator.account_id}/{emulator.app_id}/recordings"
    events = [
        AssetEventDagRunReferenceResult(
            asset={"name": uri, "uri": uri, "extra": {}},
            extra={"from_trigger": True, "payload": payload},
            source_task_id=None,
            source_dag_id=None,
            source_run_id=None,
            source_map_index=None,
            source_aliases=[],
            timestamp=datetime.now(UTC),
        )
        for payload in payloads
    ]
    dag = load_dag(DAG_FILE, DAG_ID)
    task = dag.get_task("uploaded_recordings")
    context = {
        "triggering_asset_events": TriggeringAssetEventsAccessor.build(events),
        "params": {"recording_id": None},
    }
    assert task.python_callable(**context) == ["rec-0", "rec-1", "rec-2"]
    context["params"] = {"recording_id": "manual"}
    assert task.python_callable(**context) == ["rec-0", "rec-1", "rec-2", "manual"]
