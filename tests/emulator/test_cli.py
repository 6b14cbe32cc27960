"""The ``rtk-emulator`` console script, run as a real subprocess."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_the_connection_and_serves_until_signalled(stop_signal: signal.Signals) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    command = [
        sys.executable,
        "-m",
        "airflow_provider_rtk.testing.emulator",
        "--port",
        "0",
        "--token",
        "cli-t",
    ]
    process = subprocess.Popen(
        [*command, "--api-version", "legacy", "--time-scale", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("RealtimeKit emulator listening on http://127.0.0.1:")
        connection = json.loads(process.stdout.readline())
        export = process.stdout.readline().strip()
        assert export.startswith("export AIRFLOW_CONN_REALTIMEKIT_DEFAULT=")
        assert json.loads(shlex.split(export.split("=", 1)[1])[0]) == connection
        assert connection["conn_type"] == "realtimekit"
        assert connection["password"] == "cli-t"

        extra = connection["extra"]
        url = f"{connection['host']}/accounts/{extra['account_id']}/realtime/kit/{extra['app_id']}/recordings"
        created = requests.post(url, json={}, headers={"Authorization": "Bearer cli-t"}, timeout=5)
        assert created.status_code == 200
        assert requests.get(url, timeout=5).status_code == 401
    finally:
        process.send_signal(stop_signal)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert stderr == ""
