"""rtk_process_uploaded: parses with its asset watcher; archives and summarises; any logical date."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.airflow_harness import dags_folder, make_dagbag, run_dag_file
from tests.conftest import CANARY_TOKEN

if TYPE_CHECKING:
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

DAG_FILE = Path(__file__).resolve().parents[2] / "example_dags" / "rtk_process_uploaded.py"


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[RealtimeKitEmulator]:
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

    with RealtimeKitEmulator(token=CANARY_TOKEN, file_size=300_000, audio_file_size=70_000) as emu:
        for key, value in emu.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("RTK_ACCOUNT_ID", emu.account_id)
        monkeypatch.setenv("RTK_APP_ID", emu.app_id)
        yield emu


@pytest.fixture
def archive_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "archive"
    monkeypatch.setenv("AIRFLOW_VAR_RTK_ARCHIVE_ROOT", str(root))
    return root


def _install() -> Path:
    target = dags_folder() / DAG_FILE.name
    shutil.copy(DAG_FILE, target)
    return target


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_parses_with_an_asset_watcher_on_the_event_trigger(emulator):
    import runpy

    from airflow_provider_rtk.triggers.events import RealtimeKitRecordingEventTrigger

    bag = make_dagbag(DAG_FILE)
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
def test_a_run_archives_and_summarises_its_recording(emulator, archive_root, logical_date):
    recording = emulator.seed_recording(status="UPLOADED")
    other = emulator.seed_recording(status="UPLOADED")
    result = run_dag_file(
        _install(),
        "rtk_process_uploaded",
        logical_date=logical_date,
        run_conf={"recording_id": recording["id"]},
    )
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
    again = run_dag_file(_install(), "rtk_process_uploaded", run_conf={"recording_id": recording["id"]})
    assert again.state == "success", again.task_states
    assert emulator.count(path=r"^/_files/") == downloads  # a repeated event downloads nothing


def test_a_run_without_events_or_param_does_nothing(emulator, archive_root):
    result = run_dag_file(_install(), "rtk_process_uploaded", logical_date=None)
    assert result.state == "success", result.task_states
    assert result.xcoms["uploaded_recordings"] == []
    assert not archive_root.exists() or not any(archive_root.rglob("*"))
