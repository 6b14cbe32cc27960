"""pytest fixtures for testing DAGs and hooks against the local RealtimeKit emulator.

Installing the provider registers this plugin through its ``pytest11`` entry point, so the fixtures are
available with nothing to configure. From a source tree that is not installed, or with
``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` set, enable it in the top-level ``conftest.py``::

    pytest_plugins = ["airflow_provider_rtk.testing.pytest_plugin"]

or on the command line with ``-p airflow_provider_rtk.testing.pytest_plugin``.

Fixtures:

``realtimekit_emulator_factory``
    Starts emulators: ``realtimekit_emulator_factory(**kwargs)`` takes
    :class:`~airflow_provider_rtk.testing.emulator.RealtimeKitEmulator`'s keyword arguments (lifecycle
    durations, file sizes, API version, token...) and ``conn_id`` (default ``realtimekit_default``): the
    Airflow connection set to the new emulator through the environment for the test (``conn_id=None``
    sets none). Every emulator it started is stopped after the test.
``realtimekit_emulator``
    A started emulator (function scope) with a fast lifecycle - one API second lasts 0.1 real seconds,
    so INVOKED takes 0.2 s and UPLOADING 0.3 s - set as ``realtimekit_default``.
``realtimekit_airflow_home``
    A throwaway ``AIRFLOW_HOME`` (session scope) with a migrated SQLite metadata DB:
    :func:`airflow_provider_rtk.testing.dags.prepare_airflow_home` and ``migrate_db``.
``realtimekit_run_dag``
    :func:`airflow_provider_rtk.testing.dags.run_dag` in that home: ``realtimekit_run_dag(dag_file,
    dag_id, logical_date=None, conf=..., variables=...)`` runs the DAG with ``dag.test()`` and returns
    its :class:`~airflow_provider_rtk.testing.dags.DagRunResult` (state, task states, XComs).

Loading the plugin imports neither Airflow nor the emulator: pytest loads it in every session of anyone
who installs the provider, so the fixtures import what they need when they run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_rtk.testing.dags import DagRunResult
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

#: Real seconds per API second in the ``realtimekit_emulator`` fixture's emulator.
FIXTURE_TIME_SCALE = 0.1
DEFAULT_CONN_ID = "realtimekit_default"


@pytest.fixture
def realtimekit_emulator_factory(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., RealtimeKitEmulator]]:
    """Start emulators with any settings; each is stopped (its connection variable unset) after the test."""
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

    started: list[RealtimeKitEmulator] = []

    def start(*, conn_id: str | None = DEFAULT_CONN_ID, **settings: Any) -> RealtimeKitEmulator:
        emulator = RealtimeKitEmulator(**settings).start()
        started.append(emulator)
        if conn_id is not None:
            for name, value in emulator.env(conn_id).items():
                monkeypatch.setenv(name, value)
        return emulator

    try:
        yield start
    finally:
        for emulator in reversed(started):
            emulator.stop()


@pytest.fixture
def realtimekit_emulator(
    realtimekit_emulator_factory: Callable[..., RealtimeKitEmulator],
) -> RealtimeKitEmulator:
    """A running emulator with a fast lifecycle, set as the ``realtimekit_default`` Airflow connection."""
    return realtimekit_emulator_factory(time_scale=FIXTURE_TIME_SCALE)


@pytest.fixture(scope="session")
def realtimekit_airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's ``AIRFLOW_HOME`` (a temporary folder unless set up earlier), its DB migrated."""
    from airflow_provider_rtk.testing.dags import migrate_db, prepare_airflow_home

    home = prepare_airflow_home(tmp_path_factory.mktemp("airflow-home"))
    migrate_db()
    return home


@pytest.fixture
def realtimekit_run_dag(realtimekit_airflow_home: Path) -> Callable[..., DagRunResult]:
    """``run_dag(dag_file, dag_id=None, *, logical_date=None, conf=None, variables=None)``."""
    from airflow_provider_rtk.testing.dags import run_dag

    return run_dag
