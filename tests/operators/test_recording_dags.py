"""Every recording operator inside a real DAG run (``dag.test()``) against the emulator over HTTP."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import TYPE_CHECKING

import pytest

from tests.conftest import CANARY_TOKEN
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


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])
def test_start_waits_for_the_bot_and_pause_waits_for_it_too(
    slow_bot: RealtimeKitEmulator, run_dag, deferrable
):
    """Issue 9.1: ``start >> pause`` works while the recording is INVOKED; ``wait_for_recording`` succeeds
    only once it records."""
    waited, plain = meeting(), meeting()
    result = run_dag(
        f"bot_join_{'deferrable' if deferrable else 'polling'}",
        f"""
        waited = RealtimeKitStartRecordingOperator(
            task_id="waited", meeting_id="{waited}", wait_for_recording=True, poll_interval=0.1,
            deferrable={deferrable},
        )
        plain = RealtimeKitStartRecordingOperator(task_id="plain", meeting_id="{plain}")
        pause = RealtimeKitPauseRecordingOperator(task_id="pause", recording_id=plain.output["id"])
        plain >> pause
        """,
    )
    assert result.state == "success", result.task_states
    assert result.xcoms["waited"]["status"] == "RECORDING"
    assert result.xcoms["plain"]["status"] == "INVOKED"
    assert result.xcoms["pause"]["status"] == "PAUSED"
    # The pause was refused while INVOKED (400) and sent again once the bot had joined.
    puts = [r.status for r in slow_bot.requests if r.method == "PUT"]
    assert puts in ([400, 200], [200])  # [200]: the scheduler was slower than the bot


def test_start_fails_when_the_bot_cannot_join(slow_bot: RealtimeKitEmulator, run_dag, capfd):
    m = meeting()

    def fail_the_bot() -> None:
        for _ in range(3000):
            recordings = [r for r in slow_bot.requests if r.method == "GET" and "/recordings/" in r.path]
            if recordings:
                slow_bot.set_status(
                    recordings[0].path.rsplit("/", 1)[1], "ERRORED", stop_reason="INTERNAL_ERROR"
                )
                return
            time.sleep(0.01)

    thread = threading.Thread(target=fail_the_bot, daemon=True)
    thread.start()
    result = run_dag(
        "bot_fails",
        f"""
        RealtimeKitStartRecordingOperator(
            task_id="start", meeting_id="{m}", wait_for_recording=True, poll_interval=0.05
        )
        """,
    )
    thread.join()
    assert result.task_states == {"start": "failed"}
    assert "is ERRORED (stop reason: INTERNAL_ERROR)" in capfd.readouterr().out


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferrable"])
def test_stop_wait_survives_an_outage(emulator: RealtimeKitEmulator, run_dag, deferrable: bool):
    """Issue 9.2: 20 failed polls in a row (503) while waiting for the upload do not end the wait."""
    rid = emulator.seed_recording(status="RECORDING")["id"]
    fault = emulator.add_fault(method="GET", path=rf"/recordings/{rid}$", status=503, times=20)
    result = run_dag(
        f"stop_outage_{'deferrable' if deferrable else 'polling'}",
        f"""
        RealtimeKitStopRecordingOperator(
            task_id="stop", recording_id="{rid}", wait_for_upload=True, deferrable={deferrable},
            poll_interval=0.05, max_backoff=0.1, timeout=120,
        )
        """,
    )
    assert result.state == "success", result.task_states
    assert result.tries == {"stop": 1}
    assert result.xcoms["stop"]["status"] == "UPLOADED"
    assert fault.hits == 20


def test_errors_say_what_to_check(emulator: RealtimeKitEmulator, run_dag, capfd, monkeypatch):
    """Issue 7.9: a 404 or 401 at operator level carries the hint test_connection gives."""
    missing = str(uuid.uuid4())
    result = run_dag(
        "hints_404",
        f"""
        RealtimeKitGetRecordingOperator(task_id="get", recording_id="{missing}")
        RealtimeKitStopRecordingOperator(task_id="stop", recording_id="{missing}")
        """,
    )
    assert result.task_states == {"get": "failed", "stop": "failed"}
    logs = capfd.readouterr().out
    assert logs.count(f"recording {missing} not found (HTTP 404)") >= 2
    assert f"check recording_id, account_id and app_id. API said: GET recordings/{missing}" in logs

    monkeypatch.setenv(
        "AIRFLOW_CONN_REALTIMEKIT_DEFAULT", emulator.connection_json().replace(CANARY_TOKEN, "wrong-token")
    )
    result = run_dag("hints_401", 'RealtimeKitListRecordingsOperator(task_id="list")')
    assert result.task_states == {"list": "failed"}
    logs = capfd.readouterr().out
    assert "the API token was rejected (HTTP 401): check the connection's password" in logs
    assert "wrong-token" not in logs
