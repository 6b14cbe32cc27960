"""``make e2e`` from a clone in a folder only its owner can enter (``mktemp -d``, root's home): the
harness's PostgreSQL starts there (it runs as ``postgres`` when the harness is root), its log reaches
``.e2e/logs/``, and a PostgreSQL that cannot start is reported with its own output.

Runs before the session's deployment starts, on PostgreSQL alone (a few seconds)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import record
from tests.e2e.deployment import LOOPBACK, Deployment, ServiceError, ensure_debian_packages


@pytest.fixture
def private_clone() -> Iterator[Path]:
    """``<mktemp -d>/clone/.e2e``: the output folder of a clone whose parent is mode 0700."""
    parent = Path(tempfile.mkdtemp(prefix="rtk-e2e-private-"))
    try:
        assert parent.stat().st_mode & 0o777 == 0o700
        yield parent / "clone" / ".e2e"
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def _postgres_can_enter(folder: Path) -> bool:
    return (
        subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(folder)], check=False).returncode
        == 0
    )


def _harness(out: Path) -> Deployment:
    d = Deployment(out=out)
    d.logs.mkdir(parents=True, exist_ok=True)
    return d


def test_postgres_starts_from_a_private_folder_and_reports_its_own_errors(private_clone: Path) -> None:
    ensure_debian_packages({"initdb": "postgresql"})
    as_root = os.geteuid() == 0
    # The fault this test is about: PostgreSQL's user cannot enter the clone's parent folder.
    if as_root:
        assert not _postgres_can_enter(private_clone.parents[1])
    d = _harness(private_clone)
    second = _harness(private_clone.parent / ".e2e-second")
    try:
        d._start_postgres()
        answer = subprocess.run(
            [
                "psql",
                "-h",
                LOOPBACK,
                "-p",
                str(d.pg_port),
                "-U",
                "airflow",
                "-d",
                "airflow",
                "-tAc",
                "SELECT 1",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        # A second cluster on the same port cannot start: the error shows pg_ctl's words and the log's.
        second.pg_port = d.pg_port
        with pytest.raises(ServiceError) as failed:
            second._start_postgres()
    finally:
        second.stop()
        d.stop()
    log_copy = d.logs / "postgres.log"
    record(
        "0 private folder",
        clone_parent_mode=oct(private_clone.parents[1].stat().st_mode & 0o777),
        postgres_runs_as="postgres" if as_root else "the harness's user",
        query_answer=answer.stdout.strip() or answer.stderr.strip(),
        failure_report_lines=len(str(failed.value).splitlines()),
    )
    assert answer.returncode == 0
    assert answer.stdout.strip() == "1"
    assert "database system is ready to accept connections" in log_copy.read_text()
    assert "database system is shut down" in log_copy.read_text()  # copied after the stop
    message = str(failed.value)
    assert "PostgreSQL start failed" in message
    assert "could not start server" in message  # pg_ctl's stderr
    assert "Address already in use" in message  # the server's log tail
    assert (second.logs / "postgres.log").is_file()
    assert not d.data.exists()
    assert not second.data.exists()
