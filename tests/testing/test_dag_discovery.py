"""run_dag runs every DAG Airflow's DagBag finds in a file, however the user defined it."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from airflow_provider_rtk.testing.dags import load_dag
from tests.testing.user_dags import typical_dag, write_dag

if TYPE_CHECKING:
    from airflow_provider_rtk.testing.dags import DagRunResult
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

RunDag = Callable[..., "DagRunResult"]

# Two DAGs, neither bound to a module-level name: a @dag function called without assignment, and a
# `with DAG(...):` block without `as`.
TWO_UNBOUND = """
from airflow.sdk import DAG, dag, task


@dag(dag_id="kit_decorated_unbound", schedule=None)
def decorated():
    @task
    def hello():
        return "from the decorated DAG"

    hello()


decorated()

with DAG("kit_with_no_as", schedule=None):

    @task
    def hello():
        return "from the with-block DAG"

    hello()
"""


def test_a_decorated_dag_called_without_assignment_runs(
    realtimekit_emulator: RealtimeKitEmulator, realtimekit_run_dag: RunDag, tmp_path: Path
) -> None:
    """The typical user DAG, written as `@dag def f(): ...` then `f()`, runs against the emulator."""
    path = write_dag(tmp_path / "dags", typical_dag(dag_id="kit_typical_unbound"))
    meeting = str(uuid.uuid4())
    result = realtimekit_run_dag(path, conf={"meeting_id": meeting, "archive": str(tmp_path / "archive")})
    result.assert_success()
    assert result.dag_id == "kit_typical_unbound"
    recording = result.xcoms["start_recording"]
    (start,) = [r for r in realtimekit_emulator.requests if r.method == "POST"]
    assert start.json["meeting_id"] == meeting
    (video,) = (tmp_path / "archive").glob("*.mp4")
    assert video.name == recording["output_file_name"]
    assert hashlib.sha256(video.read_bytes()).hexdigest() == realtimekit_emulator.expected_sha256(
        recording["id"]
    )


@pytest.mark.parametrize(
    ("dag_id", "expected"),
    [("kit_decorated_unbound", "from the decorated DAG"), ("kit_with_no_as", "from the with-block DAG")],
)
def test_dag_id_chooses_among_unbound_dags(
    realtimekit_run_dag: RunDag, tmp_path: Path, dag_id: str, expected: str
) -> None:
    path = write_dag(tmp_path, TWO_UNBOUND)
    result = realtimekit_run_dag(path, dag_id)
    result.assert_success()
    assert result.dag_id == dag_id
    assert result.xcoms == {"hello": expected}
    assert result.run_type == "manual"


def test_several_dags_without_a_dag_id_is_an_error_listing_them(
    realtimekit_run_dag: RunDag, tmp_path: Path
) -> None:
    path = write_dag(tmp_path, TWO_UNBOUND)
    with pytest.raises(LookupError, match=r"several DAGs \['kit_decorated_unbound', 'kit_with_no_as'\]"):
        realtimekit_run_dag(path)


def test_an_unknown_dag_id_is_an_error_listing_the_dags_found(
    realtimekit_run_dag: RunDag, tmp_path: Path
) -> None:
    path = write_dag(tmp_path, TWO_UNBOUND)
    with pytest.raises(LookupError) as caught:
        realtimekit_run_dag(path, "kit_nope")
    assert "'kit_nope'" in str(caught.value)
    assert "['kit_decorated_unbound', 'kit_with_no_as']" in str(caught.value)


def test_a_file_without_dags_is_an_error(realtimekit_run_dag: RunDag, tmp_path: Path) -> None:
    # Mentions airflow and dag, so the DagBag imports it, but creates no DAG (the function is never called).
    path = write_dag(
        tmp_path, "from airflow.sdk import dag\n\n\n@dag(schedule=None)\ndef never():\n    pass\n"
    )
    with pytest.raises(LookupError, match="found no DAG in"):
        realtimekit_run_dag(path)


def test_an_import_error_names_the_file_and_the_error(realtimekit_run_dag: RunDag, tmp_path: Path) -> None:
    path = write_dag(
        tmp_path, "from airflow.sdk import DAG\n\nwith DAG('kit_broken', schedule=None):\n    1 / 0\n"
    )
    with pytest.raises(ImportError, match="ZeroDivisionError") as caught:
        realtimekit_run_dag(path)
    assert str(path) in str(caught.value)


def test_load_dag_returns_the_dag_the_dagbag_found(realtimekit_airflow_home: Path, tmp_path: Path) -> None:
    path = write_dag(tmp_path, TWO_UNBOUND)
    dag = load_dag(path, "kit_with_no_as")
    assert dag.dag_id == "kit_with_no_as"
    assert sorted(dag.task_dict) == ["hello"]
