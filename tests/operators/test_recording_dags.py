"""Every recording operator inside a real DAG run (``dag.test()``) against the emulator over HTTP."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest

from tests.operators.conftest import meeting

if TYPE_CHECKING:
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

START = r"/recordings$"


def _recordings_of(emulator: RealtimeKitEmulator, meeting_id: str) -> list[str]:
    """Ids of every recording the emulator holds for a meeting (read directly, no HTTP)."""
    from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook

    return [r["id"] for r in RealtimeKitHook().list_recordings(meeting_id=meeting_id)]


def test_recording_lifecycle_with_ids_through_xcom(emulator: RealtimeKitEmulator, run_dag):
    m = meeting()
    seeded = {emulator.seed_recording(meeting_id=m, status="UPLOADED")["id"] for _ in range(2)}
    result = run_dag(
        "lifecycle",
        """
        start = RealtimeKitStartRecordingOperator(
            task_id="start",
            meeting_id="{{ params.meeting }}",
            max_seconds="{{ params.max_seconds }}",
            file_name_prefix="{{ dag.dag_id }}",
            audio_config={"codec": "AAC", "export_file": True},
        )
        pause = RealtimeKitPauseRecordingOperator(task_id="pause", recording_id=start.output["id"])
        resume = RealtimeKitResumeRecordingOperator(task_id="resume", recording_id=start.output["id"])
        get = RealtimeKitGetRecordingOperator(task_id="get", recording_id=start.output["id"])
        stop = RealtimeKitStopRecordingOperator(
            task_id="stop", recording_id=start.output["id"], wait_for_upload=True, deferrable=False,
            poll_interval=0.1, timeout=30,
        )
        stop_again = RealtimeKitStopRecordingOperator(task_id="stop_again", recording_id=start.output["id"])
        listed = RealtimeKitListRecordingsOperator(task_id="list", meeting_id="{{ params.meeting }}")
        first_two = RealtimeKitListRecordingsOperator(
            task_id="first_two", meeting_id="{{ params.meeting }}", per_page=1, max_results=2
        )
        get_each = RealtimeKitGetRecordingOperator.partial(task_id="get_each").expand(
            recording_id=listed.output.map(lambda recording: recording["id"])
        )
        track = RealtimeKitStartTrackRecordingOperator(
            task_id="track", meeting_id="{{ params.meeting }}", user_ids=["host", "guest"]
        )
        start >> pause >> resume >> get >> stop >> stop_again >> [listed, first_two] >> track
        """,
        dag_args=f"params={{'meeting': {m!r}, 'max_seconds': 600}}",
    )

    assert result.state == "success", result.task_states
    started = result.xcoms["start"]
    rid = started["id"]
    assert started["output_file_name"].startswith("lifecycle_")
    assert result.xcoms["pause"]["status"] == "PAUSED"
    assert result.xcoms["resume"]["status"] == "RECORDING"
    assert result.xcoms["get"]["id"] == rid
    assert result.xcoms["stop"]["status"] == "UPLOADED"
    assert result.xcoms["stop"]["file_size"] > 0
    assert result.xcoms["stop_again"]["status"] == "UPLOADED"
    assert {r["id"] for r in result.xcoms["list"]} == seeded | {rid}
    mapped = [v["id"] for k, v in result.xcoms.items() if k.startswith("get_each[")]
    assert sorted(mapped) == sorted(seeded | {rid})
    assert len(result.xcoms["first_two"]) == 2
    assert result.xcoms["track"]["id"] not in seeded | {rid}

    start_body = next(
        r.json for r in emulator.requests if r.method == "POST" and r.path.endswith("/recordings")
    )
    assert start_body["max_seconds"] == 600  # a rendered "600" goes out as an integer
    assert start_body["meeting_id"] == m
    assert emulator.count("POST", START) == 1
    assert emulator.count("PUT", r"/recordings/") == 4  # pause, resume, stop, stop again (refused)
    first_two_pages = [r for r in emulator.requests if r.query.get("per_page") == ["1"]]
    assert len(first_two_pages) == 2  # max_results stopped the paging


def test_start_reconciles_a_lost_response(emulator: RealtimeKitEmulator, run_dag):
    m = meeting()
    emulator.add_fault(method="POST", path=START, drop=True, apply=True)
    result = run_dag("lost_response", f'RealtimeKitStartRecordingOperator(task_id="start", meeting_id="{m}")')

    assert result.state == "success"
    assert _recordings_of(emulator, m) == [result.xcoms["start"]["id"]]
    assert emulator.count("POST", START) == 1  # adopted, not sent again


def test_start_retried_by_airflow_adopts_its_recording(emulator: RealtimeKitEmulator, run_dag, caplog):
    caplog.set_level(logging.INFO)
    m = meeting()
    # The start lands but its answer is lost, and the reconciling read fails: attempt 1 fails.
    emulator.add_fault(method="POST", path=START, drop=True, apply=True)
    emulator.add_fault(method="GET", path=r"/active-recording/", status=403)
    body = f"""
        RealtimeKitStartRecordingOperator(
            task_id="start", meeting_id="{m}", retries=1, retry_delay=timedelta(seconds=0)
        )
        """
    result = run_dag("airflow_retry", body)

    assert result.state == "success"
    assert result.tries["start"] == 2
    assert _recordings_of(emulator, m) == [result.xcoms["start"]["id"]]

    # A later run of the same start on the same meeting adopts it too; without reuse it fails on the 409.
    again = run_dag(
        "second_run",
        body
        + f"""
        RealtimeKitStartRecordingOperator(task_id="strict", meeting_id="{m}", reuse_active_recording=False)
        """,
    )
    assert again.task_states == {"start": "success", "strict": "failed"}
    assert again.xcoms["start"]["id"] == result.xcoms["start"]["id"]
    assert _recordings_of(emulator, m) == [result.xcoms["start"]["id"]]


def test_bad_input_fails_before_any_request(emulator: RealtimeKitEmulator, run_dag, capfd):
    result = run_dag(
        "bad_input",
        """
        RealtimeKitStartRecordingOperator(
            task_id="start",
            meeting_id="3f1c2b6e-6d0a-4b8e-9a57-0c1d2e3f4a5b",
            max_seconds="{{ params.max_seconds }}",
        )
        RealtimeKitStopRecordingOperator(task_id="stop", recording_id="{{ params.bad_id }}")
        RealtimeKitListRecordingsOperator(task_id="list", status="{{ params.status }}")
        RealtimeKitStartTrackRecordingOperator(
            task_id="track",
            meeting_id="3f1c2b6e-6d0a-4b8e-9a57-0c1d2e3f4a5b",
            user_ids="{{ params.user_ids }}",
        )
        """,
        dag_args="params={'max_seconds': 5, 'bad_id': 'a/b', 'status': 'DONE', 'user_ids': 'host'}",
    )

    assert result.task_states == {"start": "failed", "stop": "failed", "list": "failed", "track": "failed"}
    assert emulator.count() == 0
    out, err = capfd.readouterr()
    logs = out + err
    assert "max_seconds: must be between 60 and 86400, got 5" in logs
    assert "recording_id: must be a UUID" in logs
    assert "status: must be one of" in logs
    assert "user_ids: must be a list" in logs


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])
def test_stop_waits_for_upload(emulator: RealtimeKitEmulator, run_dag, deferrable: bool):
    m = meeting()
    result = run_dag(
        f"wait_{'deferrable' if deferrable else 'polling'}",
        f"""
        start = RealtimeKitStartRecordingOperator(task_id="start", meeting_id="{m}")
        RealtimeKitStopRecordingOperator(
            task_id="stop", recording_id=start.output["id"], wait_for_upload=True,
            deferrable={deferrable}, poll_interval=0.1, timeout=60,
        )
        """,
    )

    assert result.state == "success", result.task_states
    stopped = result.xcoms["stop"]
    assert stopped["id"] == result.xcoms["start"]["id"]
    assert stopped["status"] == "UPLOADED"
    assert stopped["download_url"] is None  # presigned URLs stay out of XCom by default
