"""run_dag(asset_events=...): an asset-scheduled DAG runs as if the event trigger had fired those events."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_rtk.assets import recordings_from_asset_events
from tests.testing.user_dags import ASSET_TRIGGERED, write_dag

if TYPE_CHECKING:
    from airflow_provider_rtk.testing.dags import DagRunResult
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

RunDag = Callable[..., "DagRunResult"]
EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "rtk_process_uploaded.py"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "archive"
    monkeypatch.setenv("USER_ARCHIVE", f"{folder}/")
    return folder


@pytest.fixture
def user_dag(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Path, str]:
    dag_id = f"kit_asset_{request.node.name.split('[')[0][5:40]}"
    return write_dag(tmp_path / "dags", ASSET_TRIGGERED.format(dag_id=dag_id)), dag_id


def _archived(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in folder.rglob("*") if p.is_file()}


def test_two_recordings_as_two_events_are_both_archived(
    realtimekit_emulator: RealtimeKitEmulator,
    realtimekit_run_dag: RunDag,
    user_dag: tuple[Path, str],
    archive: Path,
) -> None:
    first = realtimekit_emulator.seed_recording(status="UPLOADED")
    second = realtimekit_emulator.seed_recording(status="UPLOADED")
    other = realtimekit_emulator.seed_recording(status="UPLOADED")

    result = realtimekit_run_dag(user_dag[0], asset_events=[first, second])

    result.assert_success()
    assert result.run_type == "asset_triggered"
    assert result.logical_date is None
    # What the DAG read back through airflow_provider_rtk.assets (in no set order, as Airflow gives a
    # run's events): both recordings, without their URLs.
    assert sorted(result.xcoms["seen"]) == sorted([[r["id"], "UPLOADED", None] for r in (first, second)])
    files = _archived(archive)
    for recording in (first, second):
        video = files[recording["output_file_name"]]
        assert _sha256(video) == realtimekit_emulator.expected_sha256(recording["id"], "video")
    assert not any(other["id"] in name for name in files)


def test_recording_ids_as_events_are_fetched_through_the_connection(
    realtimekit_emulator: RealtimeKitEmulator,
    realtimekit_run_dag: RunDag,
    user_dag: tuple[Path, str],
    archive: Path,
) -> None:
    ids = [realtimekit_emulator.seed_recording(status="UPLOADED")["id"] for _ in range(2)]
    result = realtimekit_run_dag(user_dag[0], asset_events=ids)
    result.assert_success()
    assert sorted(seen[0] for seen in result.xcoms["seen"]) == sorted(ids)
    assert sorted(p.name for p in archive.glob("*.mp4")) == sorted(
        realtimekit_emulator.recording(i)["output_file_name"] for i in ids
    )


def test_the_events_are_stored_as_the_triggerer_stores_them_without_urls(
    realtimekit_emulator: RealtimeKitEmulator,
    realtimekit_run_dag: RunDag,
    user_dag: tuple[Path, str],
    archive: Path,
) -> None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    recording = realtimekit_emulator.seed_recording(status="UPLOADED")
    assert recording["download_url"]  # the emulator's view has a presigned URL; the event must not
    result = realtimekit_run_dag(user_dag[0], asset_events=[recording])
    result.assert_success()
    with create_session() as session:
        run = session.query(DagRun).filter_by(dag_id=result.dag_id, run_id=result.run_id).one()
        events = [(event.uri, event.extra) for event in run.consumed_asset_events]
        triggered_by = str(getattr(run.triggered_by, "value", run.triggered_by))
    assert triggered_by == "asset"
    ((uri, extra),) = events
    assert uri == "realtimekit://acc/app/recordings"
    assert extra["from_trigger"] is True
    payloads = extra["payload"].get("recordings", [extra["payload"]])
    assert [p["id"] for p in payloads] == [recording["id"]]
    assert recording["download_url"] not in str(extra)
    assert all(p["download_url"] is None and p["audio_download_url"] is None for p in payloads)


def _reads_lists() -> bool:
    """Whether airflow_provider_rtk.assets reads an event carrying a list of recordings."""
    payload = {"recordings": [{"id": "a", "status": "UPLOADED"}, {"id": "b", "status": "UPLOADED"}]}
    event = SimpleNamespace(extra={"from_trigger": True, "payload": payload})
    return len(recordings_from_asset_events({"triggering_asset_events": {"x": [event]}})) == 2


def test_one_event_carrying_two_recordings(
    realtimekit_emulator: RealtimeKitEmulator,
    realtimekit_run_dag: RunDag,
    user_dag: tuple[Path, str],
    archive: Path,
) -> None:
    """An item that is a list is one event carrying those recordings: run as such when the consumer
    helpers read list events, refused with a clear error (before any run) when they read one per event."""
    pair = [realtimekit_emulator.seed_recording(status="UPLOADED") for _ in range(2)]
    if _reads_lists():
        result = realtimekit_run_dag(user_dag[0], asset_events=[pair])
        result.assert_success()
        assert sorted(seen[0] for seen in result.xcoms["seen"]) == sorted(r["id"] for r in pair)
        assert len(list(archive.glob("*.mp4"))) == 2
    else:
        with pytest.raises(ValueError, match="reads one recording per event") as caught:
            realtimekit_run_dag(user_dag[0], asset_events=[pair])
        assert "give each recording as an item of its own" in str(caught.value)
        assert not archive.exists()


def test_an_empty_list_of_events_runs_with_none(
    realtimekit_emulator: RealtimeKitEmulator,
    realtimekit_run_dag: RunDag,
    user_dag: tuple[Path, str],
    archive: Path,
) -> None:
    result = realtimekit_run_dag(user_dag[0], asset_events=[])
    result.assert_success()
    assert result.run_type == "asset_triggered"
    assert result.xcoms["seen"] == []
    assert not archive.exists() or _archived(archive) == {}


def test_the_example_dag_archives_and_summarises_two_recordings(
    realtimekit_emulator_factory: Callable[..., RealtimeKitEmulator],
    realtimekit_run_dag: RunDag,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    emulator = realtimekit_emulator_factory("instant", file_size=200_000, audio_file_size=50_000)
    monkeypatch.setenv("RTK_ACCOUNT_ID", emulator.account_id)
    monkeypatch.setenv("RTK_APP_ID", emulator.app_id)
    recordings = [emulator.seed_recording(status="UPLOADED") for _ in range(2)]

    result = realtimekit_run_dag(
        EXAMPLE,
        "rtk_process_uploaded",
        asset_events=recordings,
        variables={"rtk_archive_root": str(tmp_path)},
    )

    result.assert_success()
    assert sorted(result.xcoms["uploaded_recordings"]) == sorted(r["id"] for r in recordings)
    assert sorted(k for k in result.task_states if k.startswith("archive[")) == ["archive[0]", "archive[1]"]
    files = _archived(tmp_path / "uploaded")
    for recording in recordings:
        video = files[recording["output_file_name"]]
        assert _sha256(video) == emulator.expected_sha256(recording["id"], "video")
        summary = json.loads(files[f"{video.stem}.summary.json"].read_text())
        assert summary[video.name]["sha256"] == emulator.expected_sha256(recording["id"], "video")


# -- bad input: clear errors before any request ------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ("0b4c0d6e-4f7e-4a53-9a43-0f6bd0d0d9a2", "asset_events: a list of events"),
        ([42], r"asset_events\[0\]: a recording"),
        ([[]], r"asset_events\[0\]: a recording"),
        ([{"status": "UPLOADED"}], r"asset_events\[0\]: each recording is a dict with a string 'id'"),
    ],
)
def test_bad_asset_events_are_refused_before_any_request(
    realtimekit_emulator: RealtimeKitEmulator,
    realtimekit_run_dag: RunDag,
    user_dag: tuple[Path, str],
    events: Any,
    message: str,
) -> None:
    with pytest.raises(TypeError, match=message):
        realtimekit_run_dag(user_dag[0], asset_events=events)
    assert realtimekit_emulator.requests == []


def test_a_logical_date_with_asset_events_is_refused(
    realtimekit_run_dag: RunDag, user_dag: tuple[Path, str]
) -> None:
    from datetime import UTC, datetime

    with pytest.raises(ValueError, match="logical_date: must be None with asset_events"):
        realtimekit_run_dag(user_dag[0], asset_events=[], logical_date=datetime.now(UTC))


def test_a_dag_not_scheduled_on_an_asset_is_refused(realtimekit_run_dag: RunDag, tmp_path: Path) -> None:
    path = write_dag(
        tmp_path,
        "from airflow.sdk import DAG, task\n\nwith DAG('kit_not_on_assets', schedule=None):\n"
        "    task(lambda: 1, task_id='one')()\n",
    )
    with pytest.raises(ValueError, match="'kit_not_on_assets' is not scheduled on an asset"):
        realtimekit_run_dag(path, asset_events=[])


TWO_ASSETS = """
from airflow.sdk import DAG, Asset, task
from airflow_provider_rtk.assets import recording_ids_from_asset_events

first, second = Asset("realtimekit://acc/one/recordings"), Asset("realtimekit://acc/two/recordings")
with DAG("kit_two_assets", schedule=first | second):

    @task
    def ids(**context):
        return {
            "one": recording_ids_from_asset_events(context, first),
            "two": recording_ids_from_asset_events(context, second),
        }

    ids()
"""


def test_a_dag_on_several_assets_needs_asset_and_gets_the_events_on_it(
    realtimekit_run_dag: RunDag, tmp_path: Path
) -> None:
    path = write_dag(tmp_path, TWO_ASSETS)
    recording = {"id": "5bd1a1a2-3f0c-4f37-9a36-9d1c0e0b7a11", "status": "UPLOADED", "download_url": None}
    with pytest.raises(ValueError, match="scheduled on several assets") as caught:
        realtimekit_run_dag(path, asset_events=[recording])
    assert "realtimekit://acc/one/recordings" in str(caught.value)
    with pytest.raises(ValueError, match="not among the assets"):
        realtimekit_run_dag(path, asset_events=[recording], asset="realtimekit://acc/three/recordings")

    result = realtimekit_run_dag(path, asset_events=[recording], asset="realtimekit://acc/two/recordings")
    result.assert_success()
    assert result.xcoms["ids"] == {"one": [], "two": [recording["id"]]}


def test_the_asset_is_checked_before_any_recording_is_fetched(
    realtimekit_emulator: RealtimeKitEmulator, realtimekit_run_dag: RunDag, tmp_path: Path
) -> None:
    path = write_dag(tmp_path, TWO_ASSETS.replace("kit_two_assets", "kit_two_assets_ids"))
    with pytest.raises(ValueError, match="scheduled on several assets"):
        realtimekit_run_dag(path, asset_events=["5bd1a1a2-3f0c-4f37-9a36-9d1c0e0b7a11"])
    assert realtimekit_emulator.requests == []
