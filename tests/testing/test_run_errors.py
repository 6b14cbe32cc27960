"""DagRunResult carries each failed task's exception and shows it where a failed assertion is read."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import CANARY_TOKEN
from tests.testing.user_dags import write_dag

if TYPE_CHECKING:
    from airflow_provider_rtk.testing.dags import DagRunResult
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

RunDag = Callable[..., "DagRunResult"]

FAILING = """
from airflow.sdk import DAG, Param, task

from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator

PARAMS = {"recording_id": Param(type="string"), "to": Param(type="string")}

with DAG("kit_fails", schedule=None, params=PARAMS):

    @task
    def ready():
        return "ready"

    @task
    def report(uris):
        return uris

    archive = RealtimeKitDownloadRecordingOperator(
        task_id="archive", recording_id="{{ params.recording_id }}", destination="{{ params.to }}"
    )
    ready() >> archive
    report(archive.output)
"""

PLAIN = """
from airflow.sdk import DAG, task

with DAG("kit_plain_failure", schedule=None):

    @task
    def check():
        raise ValueError("the meeting list is empty")

    check()
"""


@pytest.fixture
def emulator(realtimekit_emulator_factory: Callable[..., RealtimeKitEmulator]) -> RealtimeKitEmulator:
    return realtimekit_emulator_factory("instant", token=CANARY_TOKEN)


def test_a_404_recording_id_fails_the_run_with_its_error_in_the_result(
    emulator: RealtimeKitEmulator, realtimekit_run_dag: RunDag, tmp_path: Path
) -> None:
    missing = str(uuid.uuid4())
    result = realtimekit_run_dag(
        write_dag(tmp_path, FAILING), conf={"recording_id": missing, "to": str(tmp_path / "out")}
    )

    assert result.state == "failed"
    assert result.task_states == {"ready": "success", "archive": "failed", "report": "upstream_failed"}
    assert result.failed_tasks == ["archive"]
    assert list(result.errors) == ["archive"]  # only tasks that failed themselves carry an error
    error = result.errors["archive"]
    # The API's 404 answer for the recording, as the operator raised it.
    assert emulator.count(method="GET", path=missing) >= 1
    assert "404" in error.message
    assert missing in error.message
    assert error.type.startswith(("Realtimekit", "RealtimeKit", "Airflow"))
    assert error.module.startswith(("airflow_provider_rtk", "airflow"))
    assert f"{error.type}: {error.message}" == str(error)
    assert error.message in error.traceback

    with pytest.raises(AssertionError) as caught:
        result.assert_success()
    shown = str(caught.value)
    assert f"archive: failed: {error}" in shown
    assert "report: upstream_failed" in shown
    assert "ready: success" in shown
    assert shown == str(result)
    assert str(error) in repr(result)
    # The connection's token never reaches the error a test shows.
    assert CANARY_TOKEN not in shown + error.traceback + repr(result)


def test_a_plain_python_exception_is_named_with_its_message(
    realtimekit_run_dag: RunDag, tmp_path: Path
) -> None:
    result = realtimekit_run_dag(write_dag(tmp_path, PLAIN))
    assert result.state == "failed"
    error = result.errors["check"]
    assert (error.type, error.module, error.message) == (
        "ValueError",
        "builtins",
        "the meeting list is empty",
    )
    with pytest.raises(AssertionError, match="check: failed: ValueError: the meeting list is empty"):
        result.assert_success()


def test_a_successful_run_has_no_errors_and_passes_assert_success(
    realtimekit_run_dag: RunDag, tmp_path: Path
) -> None:
    path = write_dag(tmp_path, PLAIN.replace('raise ValueError("the meeting list is empty")', "return 3"))
    result = realtimekit_run_dag(path)
    assert result.assert_success() is result
    assert result.errors == {}
    assert result.xcoms == {"check": 3}
    assert "check: success" in str(result)
