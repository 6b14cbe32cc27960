"""pytest fixtures for testing DAGs and hooks against the local RealtimeKit emulator.

Installing the provider registers this plugin through its ``pytest11`` entry point, so the fixtures are
available with nothing to configure. From a source tree that is not installed, or with
``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` set, enable it in the top-level ``conftest.py``::

    pytest_plugins = ["airflow_provider_rtk.testing.pytest_plugin"]

or on the command line with ``-p airflow_provider_rtk.testing.pytest_plugin``.

Fixtures:

``realtimekit_emulator``
    A started emulator (function scope) set as the ``realtimekit_default`` connection, with the
    ``instant`` lifecycle by default: a new recording is already RECORDING and a stopped one already
    UPLOADED at the next request, so a DAG's waits (``wait_for_recording``, the sensor, deferrable or
    not) end at their first poll and a test never sleeps a ``poke_interval``, while every task still
    talks HTTP to the emulator. Other lifecycles (:data:`LIFECYCLES`) are opt-in, per test with the
    marker or a fixture parameter::

        @pytest.mark.realtimekit_emulator("realistic")                  # the bot joins in 2 s, upload 3 s
        @pytest.mark.realtimekit_emulator(upload_seconds=30, file_size=10_000_000)   # any settings
        @pytest.mark.parametrize("realtimekit_emulator", ["instant", "realistic"], indirect=True)

    The marker takes a lifecycle name and/or :class:`~airflow_provider_rtk.testing.emulator.
    RealtimeKitEmulator` keyword arguments (which win); a parameter is a lifecycle name or a dict of
    settings.
``realtimekit_emulator_factory``
    Starts emulators: ``realtimekit_emulator_factory(lifecycle=None, *, conn_id="realtimekit_default",
    **settings)`` takes a lifecycle name (default: the emulator's own settings, i.e. ``realistic``) and
    :class:`~airflow_provider_rtk.testing.emulator.RealtimeKitEmulator`'s keyword arguments (lifecycle
    durations, file sizes, API version, token...); ``conn_id`` is the Airflow connection set to the new
    emulator through the environment for the test (``None`` sets none). Every emulator it started is
    stopped after the test.
``realtimekit_airflow_home``
    A throwaway ``AIRFLOW_HOME`` (session scope) with a migrated SQLite metadata DB:
    :func:`airflow_provider_rtk.testing.dags.prepare_airflow_home` and ``migrate_db``.
``realtimekit_run_dag``
    :func:`airflow_provider_rtk.testing.dags.run_dag` in that home: ``realtimekit_run_dag(dag_file,
    dag_id=None, *, logical_date=None, conf=None, variables=None, asset_events=None, asset=None)`` runs
    a DAG of the file (any DAG Airflow's ``DagBag`` finds in it) with ``dag.test()`` and returns its
    :class:`~airflow_provider_rtk.testing.dags.DagRunResult` (state, task states, XComs, each failed
    task's exception; ``result.assert_success()`` shows them). ``asset_events=[recording, ...]`` runs an
    asset-scheduled DAG as if the event trigger had fired those events.

Loading the plugin imports neither Airflow nor the emulator: pytest loads it in every session of anyone
who installs the provider, so the fixtures import what they need when they run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pytest

if TYPE_CHECKING:
    from airflow_provider_rtk.testing.dags import DagRunResult
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

__all__ = [
    "DEFAULT_CONN_ID",
    "DEFAULT_LIFECYCLE",
    "LIFECYCLES",
    "realtimekit_airflow_home",
    "realtimekit_emulator",
    "realtimekit_emulator_factory",
    "realtimekit_run_dag",
]

DEFAULT_CONN_ID: Final[str] = "realtimekit_default"

#: Emulator settings by lifecycle name (durations in API seconds; ``time_scale`` real seconds per API
#: second). ``instant``: every transition is due at once, so the next request sees it. ``fast``: INVOKED
#: 0.2 s and UPLOADING 0.3 s in real time, on a clock 10x faster than the wall clock (recording
#: timestamps run ahead of it). ``realistic``: the emulator's own settings, real time: the bot joins in
#: 2 s and the upload takes 3 s, so a DAG's waits poll at their real intervals.
LIFECYCLES: Final[Mapping[str, Mapping[str, float]]] = {
    "instant": {"time_scale": 1.0, "invoked_seconds": 0.0, "upload_seconds": 0.0},
    "fast": {"time_scale": 0.1, "invoked_seconds": 2.0, "upload_seconds": 3.0},
    "realistic": {"time_scale": 1.0, "invoked_seconds": 2.0, "upload_seconds": 3.0},
}
#: The ``realtimekit_emulator`` fixture's lifecycle unless a test asks for another.
DEFAULT_LIFECYCLE: Final[str] = "instant"
_MARKER = "realtimekit_emulator"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(lifecycle=None, **settings): settings of the realtimekit_emulator fixture's emulator: "
        f"a lifecycle ({', '.join(LIFECYCLES)}; default {DEFAULT_LIFECYCLE}) and/or RealtimeKitEmulator "
        "keyword arguments",
    )


def _lifecycle(name: object, where: str) -> dict[str, Any]:
    if not isinstance(name, str) or name not in LIFECYCLES:
        raise ValueError(f"{where}: lifecycle must be one of {', '.join(LIFECYCLES)}, got {name!r}")
    return dict(LIFECYCLES[name])


@pytest.fixture
def realtimekit_emulator_factory(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., RealtimeKitEmulator]]:
    """Start emulators with any settings; each is stopped (its connection variable unset) after the test.

    ``realtimekit_emulator_factory(lifecycle=None, *, conn_id="realtimekit_default", **settings)``: a
    lifecycle name of :data:`LIFECYCLES` (``None``: the emulator's own defaults) and ``RealtimeKitEmulator``
    keyword arguments, which win over the lifecycle's.
    """
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

    started: list[RealtimeKitEmulator] = []

    def start(
        lifecycle: str | None = None, *, conn_id: str | None = DEFAULT_CONN_ID, **settings: Any
    ) -> RealtimeKitEmulator:
        base = {} if lifecycle is None else _lifecycle(lifecycle, "realtimekit_emulator_factory")
        emulator = RealtimeKitEmulator(**{**base, **settings}).start()
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
    request: pytest.FixtureRequest,
    realtimekit_emulator_factory: Callable[..., RealtimeKitEmulator],
) -> RealtimeKitEmulator:
    """A running emulator set as the ``realtimekit_default`` Airflow connection, ``instant`` lifecycle.

    Opt in to another lifecycle or any emulator setting with ``@pytest.mark.realtimekit_emulator(
    "realistic", **settings)`` or ``@pytest.mark.parametrize("realtimekit_emulator", ["realistic"],
    indirect=True)`` (a lifecycle name or a dict of settings); see :data:`LIFECYCLES`.
    """
    settings = _lifecycle(DEFAULT_LIFECYCLE, "realtimekit_emulator")
    marker = request.node.get_closest_marker(_MARKER)
    if marker is not None:
        if len(marker.args) > 1:
            raise TypeError(f"@pytest.mark.{_MARKER}: at most one lifecycle name, got {marker.args!r}")
        if marker.args:
            settings = _lifecycle(marker.args[0], f"@pytest.mark.{_MARKER}")
        settings.update(marker.kwargs)
    param = getattr(request, "param", None)
    if isinstance(param, Mapping):
        settings.update(param)
    elif param is not None:
        settings = _lifecycle(param, "the realtimekit_emulator parameter")
    return realtimekit_emulator_factory(**settings)


@pytest.fixture(scope="session")
def realtimekit_airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's ``AIRFLOW_HOME`` (a temporary folder unless set up earlier), its DB migrated."""
    from airflow_provider_rtk.testing.dags import migrate_db, prepare_airflow_home

    home = prepare_airflow_home(tmp_path_factory.mktemp("airflow-home"))
    migrate_db()
    return home


@pytest.fixture
def realtimekit_run_dag(realtimekit_airflow_home: Path) -> Callable[..., DagRunResult]:
    """``run_dag(dag_file, dag_id=None, *, logical_date=None, conf=None, variables=None,
    asset_events=None, asset=None)``: see :func:`airflow_provider_rtk.testing.dags.run_dag`."""
    from airflow_provider_rtk.testing.dags import run_dag

    return run_dag
