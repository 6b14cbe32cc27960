"""The example DAGs: they parse without import errors, and each runs end to end against the emulator."""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.airflow_harness import dags_folder, make_dagbag, run_dag_file
from tests.conftest import CANARY_TOKEN

if TYPE_CHECKING:
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
DAG_FILES = {
    "rtk_scheduled_recording": "rtk_scheduled_recording.py",
    "rtk_track_recording": "rtk_track_recording.py",
    "rtk_nightly_archive": "rtk_nightly_archive.py",
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[RealtimeKitEmulator]:
    """Uploads finish almost at once: the sensors' own modes are tested elsewhere, here the pipelines."""
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

    with RealtimeKitEmulator(
        token=CANARY_TOKEN,
        invoked_seconds=0.0,
        upload_seconds=0.05,
        file_size=300_000,
        audio_file_size=70_000,
    ) as emu:
        for key, value in emu.env().items():
            monkeypatch.setenv(key, value)
        yield emu


@pytest.fixture
def archive_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "archive"
    monkeypatch.setenv("AIRFLOW_VAR_RTK_ARCHIVE_ROOT", str(root))
    return root


def _install(dag_id: str) -> Path:
    target = dags_folder() / DAG_FILES[dag_id]
    shutil.copy(EXAMPLES / DAG_FILES[dag_id], target)
    return target


def test_example_dags_parse_without_import_errors():
    bag = make_dagbag(EXAMPLES)
    assert bag.import_errors == {}
    assert set(DAG_FILES) <= set(bag.dag_ids)


def test_scheduled_recording_archives_video_and_audio_and_summarises(emulator, archive_root):
    meeting = str(uuid.uuid4())
    result = run_dag_file(
        _install("rtk_scheduled_recording"),
        "rtk_scheduled_recording",
        run_conf={"meeting_id": meeting, "slot_seconds": 1},
    )
    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}

    (post,) = [e for e in emulator.requests if e.method == "POST"]
    assert post.json["meeting_id"] == meeting
    assert post.json["max_seconds"] == 3600
    recording_id = post.response_json["data"]["id"]

    files = sorted(p for p in archive_root.rglob("*") if p.is_file())
    by_suffix = {p.suffix: p for p in files}
    assert _sha256(by_suffix[".mp4"]) == emulator.expected_sha256(recording_id, "video")
    audio = next(p for p in files if p.suffix not in (".mp4", ".json"))
    assert _sha256(audio) == emulator.expected_sha256(recording_id, "audio")

    summary = json.loads(by_suffix[".json"].read_text())
    assert summary[by_suffix[".mp4"].name]["size"] == 300_000
    assert summary[by_suffix[".mp4"].name]["sha256"] == emulator.expected_sha256(recording_id, "video")
    assert result.xcoms["summarize"] == summary


def test_track_recording_archives_every_participant(emulator, archive_root):
    result = run_dag_file(
        _install("rtk_track_recording"),
        "rtk_track_recording",
        run_conf={"meeting_id": str(uuid.uuid4()), "user_ids": ["alice", "bob", "carol"], "slot_seconds": 1},
    )
    assert result.state == "success", result.task_states
    (post,) = [e for e in emulator.requests if e.method == "POST"]
    assert post.path.endswith("/recordings/track")
    assert post.json["user_ids"] == ["alice", "bob", "carol"]
    recording_id = post.response_json["data"]["recording"]["id"]

    written = result.xcoms["archive_tracks"]
    assert len(written) == 3
    digests = {_sha256(Path(uri.removeprefix("file://"))) for uri in written}
    assert digests == {emulator.expected_sha256(recording_id, user) for user in ("alice", "bob", "carol")}


def test_nightly_archive_maps_over_yesterdays_uploads_and_is_idempotent(emulator, archive_root):
    # Relative to now: the emulator, like RealtimeKit, expires files after 7 days.
    logical = datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0)
    yesterday = logical - timedelta(hours=15)
    wanted = [
        emulator.seed_recording(status="UPLOADED", invoked_time=yesterday + timedelta(minutes=i))
        for i in range(3)
    ]
    emulator.seed_recording(status="UPLOADED", invoked_time=yesterday - timedelta(days=2))  # outside
    emulator.seed_recording(status="ERRORED", invoked_time=yesterday)  # not uploaded
    dag_file = _install("rtk_nightly_archive")

    first = run_dag_file(dag_file, "rtk_nightly_archive", logical_date=logical)
    assert first.state == "success", first.task_states
    mapped = {k: v for k, v in first.task_states.items() if k.startswith("archive[")}
    assert len(mapped) == 3, first.task_states
    assert set(mapped.values()) == {"success"}
    archived = {_sha256(p) for p in archive_root.rglob("*") if p.is_file()}
    assert archived == {
        emulator.expected_sha256(r["id"], kind) for r in wanted for kind in ("video", "audio")
    }

    downloads_before = emulator.count(path=r"^/_files/")
    second = run_dag_file(dag_file, "rtk_nightly_archive", logical_date=logical)
    assert second.state == "success", second.task_states
    assert emulator.count(path=r"^/_files/") == downloads_before  # nothing downloaded again
