"""The ``rtk-emulator`` console script, run as a real subprocess."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import requests

REPO = Path(__file__).resolve().parents[3]
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
}
COMMAND = [sys.executable, "-m", "airflow_provider_rtk.testing.emulator"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, env=ENV, timeout=60)


@contextmanager
def serving(
    *args: str, stop_signal: int = signal.SIGTERM
) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """A running ``rtk-emulator --port 0 ...`` and the connection it printed; stopped by ``stop_signal``."""
    process = subprocess.Popen(
        [*COMMAND, "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("RealtimeKit emulator listening on http://127.0.0.1:"), banner
        connection = json.loads(process.stdout.readline())
        export = process.stdout.readline().strip()
        assert export.startswith("export AIRFLOW_CONN_REALTIMEKIT_DEFAULT=")
        assert json.loads(shlex.split(export.split("=", 1)[1])[0]) == connection
        yield process, connection
    finally:
        if process.poll() is None:
            process.send_signal(stop_signal)
        process.wait(timeout=10)


def app_url(connection: dict[str, Any]) -> str:
    extra = connection["extra"]
    return f"{connection['host']}/accounts/{extra['account_id']}/realtime/kit/{extra['app_id']}"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_the_connection_and_serves_until_signalled(stop_signal: signal.Signals) -> None:
    args = ("--token", "cli-t", "--api-version", "legacy", "--time-scale", "0.5")
    with serving(*args, stop_signal=stop_signal) as (process, connection):
        assert connection["conn_type"] == "realtimekit"
        assert connection["password"] == "cli-t"
        url = app_url(connection) + "/recordings"
        created = requests.post(url, json={}, headers={"Authorization": "Bearer cli-t"}, timeout=5)
        assert created.status_code == 200
        assert requests.get(url, timeout=5).status_code == 401
        # Off by default: the admin path is just an unknown route.
        assert (
            requests.get(connection["host"].removesuffix("/client/v4") + "/_emulator/faults").status_code
            == 404
        )
    assert process.stderr is not None
    assert process.returncode == 0
    assert process.stderr.read() == ""


def test_busy_port_is_one_line_naming_the_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("--port", str(port))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "--port 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_shows_every_option_with_its_default() -> None:
    result = run("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # argparse wraps lines
    for option, default in [
        ("--port", "8787"),
        ("--time-scale", "1.0"),
        ("--invoked-seconds", "2.0"),
        ("--upload-seconds", "3.0"),
        ("--file-size", "1048576"),
        ("--audio-file-size", "262144"),
        ("--api-version", "current"),
    ]:
        assert option in text
        assert f"(default: {default})" in text
    for description in ["0 picks a free one", "bot joins", "stays UPLOADING", "bytes of each video file"]:
        assert description in text
    assert "--log-requests" in text
    assert "--admin" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--file-size", "-1"], "argument --file-size: must be 0 or more bytes"),
        (["--time-scale", "0"], "argument --time-scale: must be a positive number"),
        (["--invoked-seconds", "soon"], "argument --invoked-seconds: must be 0 or more seconds"),
    ],
)
def test_bad_values_are_usage_errors(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_lifecycle_and_file_size_flags() -> None:
    """Seeded on a frozen clock (the Date header is API time), the timeline shows the durations."""
    args = ("--time-scale", "1e9", "--invoked-seconds", "7", "--upload-seconds", "11", "--admin")
    with serving(*args, "--file-size", "5000", "--audio-file-size", "700") as (_, connection):
        origin = connection["host"].removesuffix("/client/v4")
        seeded = requests.post(origin + "/_emulator/recordings", json={}, timeout=5)
        view = seeded.json()
        now = parsedate_to_datetime(seeded.headers["Date"])
        started, invoked, stopped = (
            parse_iso(view[key]) for key in ("started_time", "invoked_time", "stopped_time")
        )
        assert started - invoked == timedelta(seconds=7)
        assert now - stopped == timedelta(seconds=11)
        assert view["file_size"] == 5000
        assert len(requests.get(view["download_url"], timeout=5).content) == 5000
        assert len(requests.get(view["audio_download_url"], timeout=5).content) == 700


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_log_requests_prints_method_path_status_and_no_secrets() -> None:
    token = "canary-token-1234"
    with serving("--token", token, "--log-requests", "--admin") as (process, connection):
        origin = connection["host"].removesuffix("/client/v4")
        assert process.stdout is not None
        assert process.stdout.readline().strip() == f"Admin endpoint: {origin}/_emulator/"
        seed = urllib.request.Request(origin + "/_emulator/recordings", data=b"{}", method="POST")
        with urllib.request.urlopen(seed, timeout=5) as answer:
            recording = json.loads(answer.read())
        signature = recording["download_url"].split("X-Amz-Signature=")[1]
        headers = {"Authorization": f"Bearer {token}"}
        assert (
            requests.get(app_url(connection) + "/recordings", headers=headers, timeout=5).status_code == 200
        )
        assert requests.get(recording["download_url"], timeout=5).status_code == 200
    assert process.stderr is not None
    log = process.stderr.read()
    lines = log.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "POST /_emulator/recordings 201",
        f"GET {urlpath(app_url(connection))}/recordings 200",
        f"GET /_files/{recording['id']}/video 200",
    ]
    assert token not in log
    assert signature not in log
    assert "X-Amz" not in log


def urlpath(url: str) -> str:
    return "/" + url.split("/", 3)[3]
