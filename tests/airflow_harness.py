"""Run DAG source written by a test, with the shipped harness (``airflow_provider_rtk.testing.dags``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from airflow_provider_rtk.testing.dags import DagRunResult, run_dag

__all__ = ["DagRunResult", "run_dag_source"]


def run_dag_source(source: str, dag_id: str, **run_kwargs: Any) -> DagRunResult:
    """Write ``source`` as ``<dag_id>.py`` into a folder of its own (the run's DAGs folder) and run it."""
    folder = Path(os.environ["AIRFLOW_HOME"]) / "test-dags" / dag_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dag_id}.py"
    path.write_text(source)
    return run_dag(path, dag_id, **run_kwargs)
