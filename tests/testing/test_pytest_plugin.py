"""The pytest plugin: its fixture, and enabling it the documented way in a fresh pytest run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

REPO = Path(__file__).resolve().parents[2]


def test_fixture_sets_the_default_connection(realtimekit_emulator: RealtimeKitEmulator) -> None:
    connection = os.environ["AIRFLOW_CONN_REALTIMEKIT_DEFAULT"]
    assert connection == realtimekit_emulator.connection_json()
    assert json.loads(connection)["host"] == realtimekit_emulator.base_url
    assert requests.get(realtimekit_emulator.base_url + "/accounts", timeout=5).status_code == 401


def test_plugin_enabled_through_pytest_plugins(tmp_path: Path) -> None:
    """The documented route when the entry point is not active (autoload off, as in a bare checkout)."""
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["airflow_provider_rtk.testing.pytest_plugin"]\n')
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import json, os, sys

            def test_plugin_import_is_cheap():
                # Only the fixtures import the emulator and Airflow; loading the plugin does not.
                assert "airflow_provider_rtk.testing.emulator.emulator" not in sys.modules
                assert [m for m in sys.modules if m == "airflow" or m.startswith("airflow.")] == []

            def test_uses_emulator(realtimekit_emulator):
                conn = json.loads(os.environ["AIRFLOW_CONN_REALTIMEKIT_DEFAULT"])
                assert conn["host"] == realtimekit_emulator.base_url
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    env.pop("AIRFLOW_CONN_REALTIMEKIT_DEFAULT", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_factory_starts_emulators_with_any_settings_and_stops_them(realtimekit_emulator_factory) -> None:
    legacy = realtimekit_emulator_factory(api_version="legacy", token="t0k3n")
    quiet = realtimekit_emulator_factory(conn_id=None)
    other = realtimekit_emulator_factory(conn_id="rtk_other")
    assert json.loads(os.environ["AIRFLOW_CONN_REALTIMEKIT_DEFAULT"])["host"] == legacy.base_url
    assert json.loads(os.environ["AIRFLOW_CONN_RTK_OTHER"])["host"] == other.base_url
    assert quiet.base_url not in os.environ["AIRFLOW_CONN_REALTIMEKIT_DEFAULT"]
    assert legacy.api_version == "legacy"
    for emulator in (legacy, quiet, other):
        assert requests.get(emulator.base_url + "/accounts", timeout=5).status_code == 401


def test_factory_stops_its_emulators_and_unsets_the_connection(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["airflow_provider_rtk.testing.pytest_plugin"]\n')
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import os

            import pytest
            import requests

            urls = []

            def test_start(realtimekit_emulator_factory):
                urls.append(realtimekit_emulator_factory(invoked_seconds=0).base_url)

            def test_after(realtimekit_emulator):
                assert realtimekit_emulator.base_url != urls[0]
                with pytest.raises(requests.ConnectionError):
                    requests.get(urls[0] + "/accounts", timeout=5)

            def test_unset():
                assert "AIRFLOW_CONN_REALTIMEKIT_DEFAULT" not in os.environ
            """
        )
    )
    result = _fresh_pytest(tmp_path, "test_user.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def _fresh_pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest in a new process as a user would run it: no AIRFLOW_* setting, a HOME of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({"PYTHONPATH": str(REPO), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "HOME": str(folder / "home")})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("style", ["plain", "airflow-imported-first", "xdist-workers"])
def test_users_dag_test_runs_in_a_fresh_session(tmp_path: Path, style: str) -> None:
    """The README's example test file, in a session with nothing set up: the fixtures prepare an Airflow
    home (not ~/airflow), migrate its DB and run the DAG; also when the user's conftest imported airflow,
    and on two pytest-xdist workers (each with its own emulator and Airflow home)."""
    conftest_imports_airflow = style == "airflow-imported-first"
    workers = ("-p", "xdist", "-n", "2", "-v") if style == "xdist-workers" else ()
    (tmp_path / "example_dags").mkdir()
    for name in ("rtk_scheduled_recording.py", ".airflowignore"):
        shutil.copy(REPO / "example_dags" / name, tmp_path / "example_dags" / name)
    (tmp_path / "tests").mkdir()
    shutil.copy(REPO / "tests" / "test_user_dag_example.py", tmp_path / "tests" / "test_user_dag_example.py")
    early = "import airflow.sdk  # noqa: F401\n" if conftest_imports_airflow else ""
    (tmp_path / "conftest.py").write_text(
        early + 'pytest_plugins = ["airflow_provider_rtk.testing.pytest_plugin"]\n'
    )
    result = _fresh_pytest(tmp_path, *workers, "tests/test_user_dag_example.py")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    assert "2 passed" in result.stdout
    if workers:
        assert "2 workers [2 items]" in result.stdout, result.stdout[-2000:]
    assert not (tmp_path / "home" / "airflow" / "airflow.db").exists()  # not the default home's DB


def test_a_failed_dag_test_shows_the_task_exception_in_pytest_output(tmp_path: Path) -> None:
    """What a user reads when their DAG test fails: the failed task's exception in the assertion itself,
    not only in the captured log."""
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "archive_one.py").write_text(
        textwrap.dedent(
            """
            from airflow.sdk import dag

            from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator


            @dag(schedule=None)
            def archive_one():
                RealtimeKitDownloadRecordingOperator(
                    task_id="archive",
                    recording_id="7d3c2f6e-0a8e-4a55-9d55-2b0e3c9f1a11",
                    destination="{{ var.value.archive }}",
                )


            archive_one()
            """
        )
    )
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["airflow_provider_rtk.testing.pytest_plugin"]\n')
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path

            def test_archive(realtimekit_emulator, realtimekit_run_dag, tmp_path):
                dag_file = Path(__file__).parent / "dags" / "archive_one.py"
                result = realtimekit_run_dag(dag_file, variables={"archive": str(tmp_path)})
                result.assert_success()
            """
        )
    )
    result = _fresh_pytest(tmp_path, "test_user.py", "-p", "no:logging", "--show-capture=no")
    assert result.returncode == 1, result.stdout[-5000:] + result.stderr[-5000:]
    assert "1 failed" in result.stdout
    shown = [line for line in result.stdout.splitlines() if line.startswith("E ")]
    assert any("archive: failed: RealtimeKitNotFoundError" in line for line in shown), result.stdout[-5000:]
    assert any("7d3c2f6e-0a8e-4a55-9d55-2b0e3c9f1a11 not found (HTTP 404)" in line for line in shown)


def test_the_plugin_registers_its_marker(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["airflow_provider_rtk.testing.pytest_plugin"]\n')
    result = _fresh_pytest(tmp_path, "--markers")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "@pytest.mark.realtimekit_emulator(lifecycle=None, **settings)" in result.stdout
