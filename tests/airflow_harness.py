"""Run a real DAG in-process with ``dag.test()`` on Airflow's SQLite metadata DB, on Airflow 3.1 to 3.3.

DAG files are written into the configured DAGs folder and synced to the DB first: Airflow 3.1's
``dag.test()`` needs the DAG serialized already (3.2+ syncs it itself; syncing again is harmless).
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_DB_READY = False


def ensure_db() -> None:
    """Create the metadata DB once per process (SQLite under the test AIRFLOW_HOME)."""
    global _DB_READY
    if _DB_READY:
        return
    from airflow.utils import db

    db.initdb()
    _DB_READY = True


def dags_folder() -> Path:
    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def make_dagbag(path: Path) -> Any:
    """A DagBag of ``path`` (a file or folder) without Airflow's examples, on Airflow 3.1 to 3.3."""
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow >= 3.2
    except ImportError:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]  # Airflow 3.1

    accepted = inspect.signature(DagBag).parameters
    folder = path if path.is_dir() else path.parent
    optional = {"include_examples": False, "bundle_path": folder, "bundle_name": "dags-folder"}
    return DagBag(dag_folder=str(path), **{k: v for k, v in optional.items() if k in accepted})


def _sync(dag_file: Path) -> None:
    try:
        from airflow.dag_processing.dagbag import sync_bag_to_db  # Airflow >= 3.2
    except ImportError:
        from airflow.models.dagbag import sync_bag_to_db  # type: ignore[no-redef]  # Airflow 3.1
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()
    bag = make_dagbag(dag_file)
    if bag.import_errors:
        raise AssertionError(f"DAG file failed to import: {bag.import_errors}")
    sync_bag_to_db(bag, "dags-folder", None)


def load_dag(dag_file: Path, dag_id: str) -> Any:
    name = f"rtk_test_dag_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, dag_file)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    for value in vars(module).values():
        if getattr(value, "dag_id", None) == dag_id and hasattr(value, "test"):
            return value
    raise AssertionError(f"no DAG {dag_id!r} in {dag_file}")


@dataclass
class DagRunResult:
    """What a finished test run left behind: its state, each task's state and return value XComs."""

    state: str
    run_id: str
    task_states: dict[str, str | None]
    xcoms: dict[str, Any] = field(default_factory=dict)
    tries: dict[str, int] = field(default_factory=dict)


def _xcoms(dag_id: str, run_id: str) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    values: dict[str, Any] = {}
    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id=dag_id, run_id=run_id, key="return_value").all()
        for row in rows:
            key = row.task_id if row.map_index < 0 else f"{row.task_id}[{row.map_index}]"
            values[key] = XComModel.deserialize_value(row)
    return values


def run_dag_file(dag_file: Path, dag_id: str, **test_kwargs: Any) -> DagRunResult:
    """Sync, load and ``dag.test()`` the DAG; return its outcome."""
    ensure_db()
    _sync(dag_file)
    dag = load_dag(dag_file, dag_id)
    run = dag.test(**test_kwargs)
    tis = run.get_task_instances()
    states = {
        (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): (
            str(ti.state.value) if hasattr(ti.state, "value") else ti.state
        )
        for ti in tis
    }
    return DagRunResult(
        state=str(getattr(run.state, "value", run.state)),
        run_id=run.run_id,
        task_states=states,
        xcoms=_xcoms(dag_id, run.run_id),
        tries={ti.task_id: ti.try_number for ti in tis},
    )


def run_dag_source(source: str, dag_id: str, **test_kwargs: Any) -> DagRunResult:
    """Write ``source`` as a DAG file into the DAGs folder and run it."""
    path = dags_folder() / f"{dag_id}.py"
    path.write_text(source)
    return run_dag_file(path, dag_id, **test_kwargs)
