"""Idempotency: re-running the archive task does not rewrite the archived files; a retry after a lost
start response and re-running a finished run's start task never create a second recording."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.conftest import record
from tests.e2e.deployment import Deployment
from tests.e2e.helpers import new_meeting, recordings_of_meeting

START_PATH = r"/realtime/kit/[^/]+/recordings$"


def _posts(d: Deployment) -> int:
    return sum(1 for r in d.emulator_requests() if r["method"] == "POST")


def _file_gets(d: Deployment) -> int:
    return sum(1 for r in d.emulator_requests() if "/_files/" in r["path"])


def _clear(d: Deployment, run_id: str, task_id: str) -> None:
    d.api(
        "POST",
        "/dags/e2e_load/clearTaskInstances",
        json={
            "dag_run_id": run_id,
            "task_ids": [task_id],
            "only_failed": False,
            "dry_run": False,
            "include_downstream": False,
            "include_upstream": False,
            "reset_dag_runs": True,
        },
    )


def _ti(d: Deployment, run_id: str, task_id: str) -> dict[str, Any]:
    return next(ti for ti in d.task_instances("e2e_load", run_id) if ti["task_id"] == task_id)


def _rerun(d: Deployment, run_id: str, task_id: str) -> dict[str, Any]:
    """Clear one task of a finished run and wait for its new try to finish."""
    try_number = _ti(d, run_id, task_id)["try_number"]
    _clear(d, run_id, task_id)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ti = _ti(d, run_id, task_id)
        if ti["try_number"] > try_number and ti["state"] in ("success", "failed"):
            return ti
        time.sleep(3)
    raise TimeoutError(f"{task_id} of {run_id} did not run again")


@pytest.fixture(scope="module")
def finished_run(deployment: Deployment) -> tuple[str, str]:
    """(run_id, meeting_id) of a successful e2e_load run."""
    d = deployment
    d.wait_dag_parsed(["e2e_load"])
    d.api("PATCH", "/dags/e2e_load", json={"is_paused": False})
    meeting = new_meeting()
    run_id = d.trigger("e2e_load", {"meeting_id": meeting})
    assert d.wait_runs("e2e_load", [run_id], 300)[run_id] == "success"
    return run_id, meeting


def test_archive_rerun_does_not_rewrite(deployment: Deployment, finished_run: tuple[str, str]) -> None:
    d, (run_id, meeting) = deployment, finished_run
    files = sorted((d.archive / "e2e_load" / meeting).iterdir())
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_size) for p in files}
    file_gets_before = _file_gets(d)
    redo = _rerun(d, run_id, "download")
    after = {p: (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_size) for p in files}
    file_gets = _file_gets(d) - file_gets_before
    record(
        "6 idempotency",
        archive_rerun=f"download try {redo['try_number']} {redo['state']}; files unchanged (inode, mtime, "
        f"size): {after == before} ({len(files)} files); file requests sent: {file_gets}",
    )
    assert redo["state"] == "success"
    assert after == before
    assert file_gets == 0


def test_lost_start_response_creates_one_recording(deployment: Deployment) -> None:
    d = deployment
    d.wait_dag_parsed(["e2e_load"])
    d.api("PATCH", "/dags/e2e_load", json={"is_paused": False})
    meeting = new_meeting()
    # The start request is processed, then the connection drops before the answer.
    fault = d.admin(
        "POST",
        "/faults",
        json={"method": "POST", "path": START_PATH, "drop": True, "apply": True, "times": 1},
    )["id"]
    run_id = d.trigger("e2e_load", {"meeting_id": meeting})
    state = d.wait_runs("e2e_load", [run_id], 300)[run_id]
    hits = next(f["hits"] for f in d.admin("GET", "/faults")["faults"] if f["id"] == fault)
    d.admin("DELETE", "/faults")
    recordings = recordings_of_meeting(d, meeting)
    start = _ti(d, run_id, "start")
    record(
        "6 idempotency",
        lost_start_response=f"run {state}; start task tries {start['try_number']}; "
        f"recordings for the meeting: {len(recordings)}; start responses dropped: {hits}",
    )
    assert hits == 1  # the precondition: this run's start request met the fault
    assert state == "success"
    assert len(recordings) == 1


def test_start_rerun_of_finished_run_creates_no_recording(
    deployment: Deployment, finished_run: tuple[str, str]
) -> None:
    d, (run_id, meeting) = deployment, finished_run
    posts_before = _posts(d)
    rerun = _rerun(d, run_id, "start")
    recordings = recordings_of_meeting(d, meeting)
    record(
        "6 idempotency",
        start_rerun=f"start task try {rerun['try_number']} {rerun['state']}; recordings for the meeting: "
        f"{len(recordings)}; POSTs sent by the re-run: {_posts(d) - posts_before}",
    )
    assert rerun["state"] == "success"
    assert len(recordings) == 1
