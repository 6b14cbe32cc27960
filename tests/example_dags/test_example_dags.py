"""The example DAGs: they parse without import errors, and each runs end to end against the emulator,
both as a run triggered by hand in Airflow 3 (no logical date: no ``ds``) and with a logical date."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_rtk.testing.dags import dagbag
from tests.conftest import CANARY_TOKEN

if TYPE_CHECKING:
    from airflow_provider_rtk.testing.dags import DagRunResult
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
DAG_FILES = {
    "rtk_scheduled_recording": EXAMPLES / "rtk_scheduled_recording.py",
    "rtk_track_recording": EXAMPLES / "rtk_track_recording.py",
    "rtk_nightly_archive": EXAMPLES / "rtk_nightly_archive.py",
}
#: 03:00 UTC today: the nightly schedule's time (files expire after 7 days, so dates stay near now).
LOGICAL = datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0)
RUNS = pytest.mark.parametrize(
    "logical_date", [None, LOGICAL], ids=["manual-no-logical-date", "logical-date"]
)

RunDag = Callable[..., "DagRunResult"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def emulator(realtimekit_emulator_factory: Callable[..., RealtimeKitEmulator]) -> RealtimeKitEmulator:
    """Uploads finish almost at once: the sensors' own modes are tested elsewhere, here the pipelines."""
    return realtimekit_emulator_factory(
        token=CANARY_TOKEN,
        invoked_seconds=0.0,
        upload_seconds=0.05,
        file_size=300_000,
        audio_file_size=70_000,
    )


@pytest.fixture
def archive_root(tmp_path: Path) -> Path:
    return tmp_path / "archive"


@pytest.fixture
def run_example(realtimekit_run_dag: RunDag, archive_root: Path) -> Callable[..., DagRunResult]:
    def run(dag_id: str, **kwargs: Any) -> DagRunResult:
        variables = {"rtk_archive_root": str(archive_root)}
        return realtimekit_run_dag(DAG_FILES[dag_id], dag_id, variables=variables, **kwargs)

    return run


def test_example_dags_parse_without_import_errors():
    bag = dagbag(EXAMPLES)
    assert bag.import_errors == {}
    assert set(DAG_FILES) <= set(bag.dag_ids)


@pytest.mark.parametrize("dag_file", sorted(DAG_FILES.values()), ids=lambda p: p.stem)
def test_example_dags_template_nothing_a_manual_run_lacks(dag_file: Path):
    """``ds``, ``ts``, ``data_interval_*``... are undefined in a run without a logical date, and
    ``logical_date`` is only used with a fallback. (``| ds`` as a filter on a date is fine.)"""
    templates = re.findall(r"\{\{.*?\}\}", dag_file.read_text(), flags=re.S)
    assert templates
    variable = r"(?<![|.\w])(?<!\| )"
    lacking = re.compile(variable + r"(ds|ds_nodash|ts|ts_nodash|data_interval_\w+|prev_\w+)\b")
    bare_logical_date = re.compile(variable + r"logical_date\b(?!\s*\|\s*default\()")
    assert [t for t in templates if lacking.search(t) or bare_logical_date.search(t)] == []


@RUNS
def test_scheduled_recording_archives_video_and_audio_and_summarises(
    emulator, archive_root, run_example, logical_date
):
    meeting = str(uuid.uuid4())
    result = run_example(
        "rtk_scheduled_recording",
        logical_date=logical_date,
        conf={"meeting_id": meeting, "slot_seconds": 1},
    )
    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}
    assert result.logical_date == logical_date

    (post,) = [e for e in emulator.requests if e.method == "POST"]
    assert post.json["meeting_id"] == meeting
    assert post.json["max_seconds"] == 3600
    assert re.fullmatch(r"rtk_scheduled_recording-20\d{6}", post.json["file_name_prefix"])
    recording_id = post.response_json["data"]["id"]

    files = sorted(p for p in archive_root.rglob("*") if p.is_file())
    day = post.json["file_name_prefix"][-8:]  # run_after's date, as the archive folder's name
    assert {p.parent.name for p in files} == {f"{day[:4]}-{day[4:6]}-{day[6:]}"}
    by_suffix = {p.suffix: p for p in files}
    assert _sha256(by_suffix[".mp4"]) == emulator.expected_sha256(recording_id, "video")
    audio = next(p for p in files if p.suffix not in (".mp4", ".json"))
    assert _sha256(audio) == emulator.expected_sha256(recording_id, "audio")

    summary = json.loads(by_suffix[".json"].read_text())
    assert summary[by_suffix[".mp4"].name]["size"] == 300_000
    assert summary[by_suffix[".mp4"].name]["sha256"] == emulator.expected_sha256(recording_id, "video")
    assert result.xcoms["summarize"] == summary


@RUNS
def test_track_recording_archives_every_participant(emulator, run_example, logical_date):
    result = run_example(
        "rtk_track_recording",
        logical_date=logical_date,
        conf={"meeting_id": str(uuid.uuid4()), "user_ids": ["alice", "bob", "carol"], "slot_seconds": 1},
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


@RUNS
def test_nightly_archive_maps_over_yesterdays_uploads_and_is_idempotent(
    emulator, archive_root, run_example, logical_date
):
    # The day before the run's date: its logical date, or today for a run triggered by hand.
    run_day = (logical_date or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday_noon = run_day - timedelta(hours=12)
    wanted = [
        emulator.seed_recording(status="UPLOADED", invoked_time=yesterday_noon + timedelta(minutes=i))
        for i in range(3)
    ]
    emulator.seed_recording(status="UPLOADED", invoked_time=yesterday_noon - timedelta(days=2))  # outside
    emulator.seed_recording(status="ERRORED", invoked_time=yesterday_noon)  # not uploaded

    first = run_example("rtk_nightly_archive", logical_date=logical_date)
    assert first.state == "success", first.task_states
    mapped = {k: v for k, v in first.task_states.items() if k.startswith("archive[")}
    assert len(mapped) == 3, first.task_states
    assert set(mapped.values()) == {"success"}
    files = [p for p in archive_root.rglob("*") if p.is_file()]
    assert {p.parent.name for p in files} == {f"{yesterday_noon:%Y-%m-%d}"}
    archived = {_sha256(p) for p in files}
    assert archived == {
        emulator.expected_sha256(r["id"], kind) for r in wanted for kind in ("video", "audio")
    }

    downloads_before = emulator.count(path=r"^/_files/")
    second = run_example("rtk_nightly_archive", logical_date=logical_date)
    assert second.state == "success", second.task_states
    assert emulator.count(path=r"^/_files/") == downloads_before  # nothing downloaded again
