"""Idempotency: re-running a finished run's start task, and a retry after a lost start response, never
create a second recording; re-running the archive task does not rewrite the archived files."""

from __future__ import annotations

import time

from tests.e2e.conftest import record
from tests.e2e.deployment import Deployment
from tests.e2e.helpers import new_meeting, recordings_of_meeting

START_PATH = r"/realtime/kit/[^/]+/recordings$"


def _clear(d: Deployment, run_id: str, task_id: str) -> None:
    d.api(
        "POST",
        "/dags/e2e_load/clearTaskInstances",
        json={"dag_run_id": run_id, "task_ids": [task_id], "only_failed": False, "dry_run": False,
              "include_downstream": False, "include_upstream": False, "reset_dag_runs": True},
    )


def _ti(d: Deployment, run_id: str, task_id: str) -> dict:
    return next(ti for ti in d.task_instances("e2e_load", run_id) if ti["task_id"] == task_id)


def _wait_rerun(d: Deployment, run_id: str, task_id: str, try_number: int) -> dict:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ti = _ti(d, run_id, task_id)
        if ti["try_number"] > try_number and ti["state"] in ("success", "failed"):
            return ti
        time.sleep(3)
    raise TimeoutError(f"{task_id} of {run_id} did not run again")


def test_no_second_recording_and_no_rewrite(deployment: Deployment) -> None:
    d = deployment
    d.wait_dag_parsed(["e2e_load"])
    d.api("PATCH", "/dags/e2e_load", json={"is_paused": False})
    failures = []

    # A finished run whose start task is cleared and run again.
    meeting = new_meeting()
    run_id = d.trigger("e2e_load", {"meeting_id": meeting})
    assert d.wait_runs("e2e_load", [run_id], 300)[run_id] == "success"
    files = sorted((d.archive / "e2e_load" / meeting).iterdir())
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files}
    posts_before = sum(1 for r in d.emulator_requests() if r["method"] == "POST")
    start_try = _ti(d, run_id, "start")["try_number"]
    _clear(d, run_id, "start")
    rerun = _wait_rerun(d, run_id, "start", start_try)
    recs = recordings_of_meeting(d, meeting)
    record(
        "6 idempotency",
        start_rerun=f"start task try {rerun['try_number']} {rerun['state']}; recordings for the meeting: {len(recs)}; "
        f"POSTs sent by the re-run: {sum(1 for r in d.emulator_requests() if r['method'] == 'POST') - posts_before}",
    )
    if rerun["state"] != "success" or len(recs) != 1:
        failures.append(f"start re-run: {rerun['state']}, {len(recs)} recordings")

    # The archive task re-run: the files are already there and are not rewritten (no file request).
    file_gets_before = sum(1 for r in d.emulator_requests() if "/_files/" in r["path"])
    download_try = _ti(d, run_id, "download")["try_number"]
    _clear(d, run_id, "download")
    redo = _wait_rerun(d, run_id, "download", download_try)
    after = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files}
    file_gets = sum(1 for r in d.emulator_requests() if "/_files/" in r["path"]) - file_gets_before
    record(
        "6 idempotency",
        archive_rerun=f"download try {redo['try_number']} {redo['state']}; files unchanged (inode, mtime): "
        f"{after == before} ({len(files)} files); file requests sent: {file_gets}",
    )
    if redo["state"] != "success" or after != before or file_gets:
        failures.append(f"archive re-run: {redo['state']}, unchanged={after == before}, file GETs {file_gets}")

    # The start request is processed but its response is lost (connection dropped).
    meeting = new_meeting()
    d.admin("POST", "/faults", json={"method": "POST", "path": START_PATH, "drop": True, "apply": True, "times": 1})
    run_id = d.trigger("e2e_load", {"meeting_id": meeting})
    state = d.wait_runs("e2e_load", [run_id], 300)[run_id]
    d.admin("DELETE", "/faults")
    recs = recordings_of_meeting(d, meeting)
    start = _ti(d, run_id, "start")
    record(
        "6 idempotency",
        lost_start_response=f"run {state}; start task tries {start['try_number']}; recordings for the meeting: "
        f"{len(recs)}",
    )
    if state != "success" or len(recs) != 1:
        failures.append(f"lost start response: run {state}, {len(recs)} recordings")
    assert not failures, failures
