"""The pytest plugin: its fixture, and enabling it the documented way in a fresh pytest run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

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
                # Only the fixture imports the emulator; loading the plugin does not.
                assert "airflow_provider_rtk.testing.emulator.emulator" not in sys.modules

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
