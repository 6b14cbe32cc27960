"""Run a DAG file in-process with ``dag.test()`` on a throwaway Airflow home (SQLite), Airflow 3.1 to 3.3.

What a DAG test needs before ``dag.test()`` works, done once: an ``AIRFLOW_HOME`` of its own (config,
SQLite metadata DB, logs), the DB migrated, the DAGs folder pointing at the DAG file's folder, and the DAG
serialized into the DB (Airflow 3.1's ``dag.test()`` does not do that itself). Then :func:`run_dag` runs
the DAG and returns each task's state and return-value XCom::

    from airflow_provider_rtk.testing.dags import prepare_airflow_home, run_dag

    prepare_airflow_home("/tmp/my-airflow-home")  # before anything imports airflow, ideally
    result = run_dag("dags/my_dag.py", "my_dag", conf={"meeting_id": "..."})
    assert result.state == "success", result.task_states

In pytest, the ``realtimekit_run_dag`` fixture of :mod:`airflow_provider_rtk.testing.pytest_plugin` does
all of this for you. The RealtimeKit connection comes from the environment (``realtimekit_emulator``
sets it); ``variables=`` sets Airflow Variables for one run the same way.

Nothing here imports Airflow before it is called, so importing this module is cheap.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["DagRunResult", "dagbag", "load_dag", "migrate_db", "prepare_airflow_home", "run_dag"]

_home: Path | None = None
_migrated = False


def prepare_airflow_home(home: str | os.PathLike[str]) -> Path:
    """Make ``home`` this process's ``AIRFLOW_HOME``, with a SQLite DB in it and Airflow's examples off.

    Call it before anything imports airflow; when airflow is imported already, its settings and database
    engine are reconfigured to the new home. The first call wins: later calls return the home in use, so
    a session fixture and an earlier ``conftest.py`` call agree.
    """
    global _home
    if _home is not None:
        return _home
    path = Path(home).resolve()
    (path / "dags").mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(path),
            "AIRFLOW__CORE__DAGS_FOLDER": str(path / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{path / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
    )
    if "airflow.settings" in sys.modules:
        from airflow import settings

        settings.configure_vars()  # type: ignore[no-untyped-call]
        settings.reconfigure_orm()  # type: ignore[no-untyped-call]
    _home = path
    return path


def migrate_db() -> None:
    """Create the metadata DB's tables, once per process (``airflow db migrate``)."""
    global _migrated
    if _migrated:
        return
    if _home is None:
        raise RuntimeError("call prepare_airflow_home() first: migrating would touch the default ~/airflow")
    from airflow.utils import db

    db.initdb()
    _migrated = True


@dataclass
class DagRunResult:
    """A finished test run: its state, each task's state and return-value XCom (``task[i]`` when mapped)."""

    dag_id: str
    run_id: str
    state: str
    logical_date: datetime | None
    task_states: dict[str, str | None]
    xcoms: dict[str, Any] = field(default_factory=dict)
    tries: dict[str, int] = field(default_factory=dict)


def run_dag(
    dag_file: str | os.PathLike[str],
    dag_id: str | None = None,
    *,
    logical_date: datetime | None = None,
    conf: Mapping[str, Any] | None = None,
    variables: Mapping[str, str] | None = None,
) -> DagRunResult:
    """Run the DAG ``dag_id`` of ``dag_file`` once with ``dag.test()`` and return what it left behind.

    :param dag_file: the DAG file; its folder becomes the DAGs folder for the run.
    :param dag_id: which DAG of the file; optional when the file defines one DAG.
    :param logical_date: ``None`` (default) runs it as a manual trigger from the UI or REST API does in
        Airflow 3, without a logical date (no ``ds``); pass a datetime for a scheduled-like run.
    :param conf: the run's ``conf`` (its ``params`` overrides).
    :param variables: Airflow Variables for this run only (as ``AIRFLOW_VAR_<NAME>``).
    """
    if _home is None:
        raise RuntimeError("call prepare_airflow_home() first: the run would use the default ~/airflow")
    path = Path(dag_file).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no DAG file at {path}")
    env = {"AIRFLOW__CORE__DAGS_FOLDER": str(path.parent)}
    env.update({f"AIRFLOW_VAR_{name.upper()}": value for name, value in (variables or {}).items()})
    migrate_db()
    with _environ(env):
        _sync(path)
        dag = load_dag(path, dag_id)
        run = dag.test(logical_date=logical_date, run_conf=dict(conf) if conf else None)
        return _result(dag.dag_id, run)


def load_dag(dag_file: str | os.PathLike[str], dag_id: str | None = None) -> Any:
    """Import ``dag_file`` as a fresh module and return its DAG ``dag_id`` (or its only DAG)."""
    from airflow.sdk import DAG

    path = Path(dag_file)
    name = f"rtk_test_dag_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    dags = {value.dag_id: value for value in vars(module).values() if isinstance(value, DAG)}
    if dag_id is None and len(dags) == 1:
        return next(iter(dags.values()))
    if dag_id is None or dag_id not in dags:
        wanted = "a dag_id" if dag_id is None else f"DAG {dag_id!r}"
        raise LookupError(f"{path} defines DAGs {sorted(dags)}: pass {wanted} that is one of them")
    return dags[dag_id]


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def dagbag(path: str | os.PathLike[str]) -> Any:
    """Parse a DAG file or folder as the DAG processor would (``.airflowignore`` included), on Airflow
    3.1 to 3.3: ``dagbag(folder).import_errors == {}`` is the classic "my DAGs import" test."""
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow >= 3.2
    except ImportError:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]

    path = Path(path)
    accepted = inspect.signature(DagBag).parameters
    optional: dict[str, Any] = {
        "include_examples": False,
        "bundle_path": path if path.is_dir() else path.parent,
        "bundle_name": "dags-folder",
    }
    return DagBag(dag_folder=str(path), **{k: v for k, v in optional.items() if k in accepted})


def _sync(path: Path) -> None:
    """Serialize the file's DAGs into the DB: Airflow 3.1's ``dag.test()`` needs them there already."""
    try:
        from airflow.dag_processing.dagbag import sync_bag_to_db  # Airflow >= 3.2
    except ImportError:
        from airflow.models.dagbag import sync_bag_to_db  # type: ignore[no-redef,attr-defined,unused-ignore]
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()  # type: ignore[no-untyped-call]
    bag = dagbag(path)
    if bag.import_errors:
        raise ImportError(f"the DAG file failed to import: {bag.import_errors}")
    sync_bag_to_db(bag, "dags-folder", None)


def _state(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def _key(task_id: str, map_index: int) -> str:
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"


def _result(dag_id: str, run: Any) -> DagRunResult:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    tis = run.get_task_instances()
    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id=dag_id, run_id=run.run_id, key="return_value")
        xcoms = {_key(row.task_id, row.map_index): XComModel.deserialize_value(row) for row in rows}
    return DagRunResult(
        dag_id=dag_id,
        run_id=run.run_id,
        state=_state(run.state) or "",
        logical_date=run.logical_date,
        task_states={_key(ti.task_id, ti.map_index): _state(ti.state) for ti in tis},
        xcoms=xcoms,
        tries={_key(ti.task_id, ti.map_index): ti.try_number for ti in tis},
    )
