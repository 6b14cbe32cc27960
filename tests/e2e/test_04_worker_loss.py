"""Worker loss: ``kill -9`` the Celery worker (its whole process group) in the middle of a large download;
the task's retry on the other worker produces a complete, verified file, and no partial file remains.

The victim is the worker whose task has the partial file open, and the test checks the kill hit it: the
file was incomplete when the worker died and the run needed another try."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.e2e.conftest import record
from tests.e2e.deployment import Deployment, log, tree, wait_for
from tests.e2e.helpers import partial_files, sha256

FILE_SIZE = 400 * 2**20


def _holder(d: Deployment, partial: Path) -> str | None:
    """The worker whose process tree has ``partial`` open (the task writing it)."""
    for name in [n for n in d.procs if n.startswith("worker")]:
        for pid in tree(d.pid(name)):
            try:
                if any(os.readlink(fd).startswith(str(partial)) for fd in Path(f"/proc/{pid}/fd").iterdir()):
                    return name
            except OSError:
                continue
    return None


def test_worker_killed_mid_download(deployment: Deployment) -> None:
    d = deployment
    d.wait_dag_parsed(["e2e_download"])
    d.api("PATCH", "/dags/e2e_download", json={"is_paused": False})
    recording = d.admin(
        "POST", "/recordings", json={"status": "UPLOADED", "file_size": FILE_SIZE, "audio": False}
    )
    recording_id = recording["id"]
    target_dir = d.archive / "e2e_download" / recording_id
    run_id = d.trigger("e2e_download", {"recording_id": recording_id})

    def writing() -> tuple[Path, int] | None:
        for path in target_dir.glob(".*partial*") if target_dir.exists() else []:
            size = path.stat().st_size
            if size >= 16 * 2**20:
                return path, size
        return None

    partial, size_at_kill = wait_for("a partial file of 16 MiB or more", writing, 300, 0.05)
    victim = _holder(d, partial)
    assert victim, f"no worker has {partial} open"
    killed_at = time.monotonic()
    d.kill9(victim)
    log(
        f"killed {victim} (kill -9 of its process group) with {size_at_kill / 2**20:.0f} MiB "
        f"of {FILE_SIZE / 2**20:.0f} MiB written"
    )
    state = d.wait_runs("e2e_download", [run_id], 600)[run_id]
    recovered = time.monotonic() - killed_at
    d.restart(victim)
    ti = d.task_instances("e2e_download", run_id)[0]
    files = [p for p in target_dir.iterdir() if p.is_file()] if target_dir.exists() else []
    complete = [p for p in files if ".partial" not in p.name]
    expected = d.admin("GET", f"/recordings/{recording_id}/sha256", params={"kind": "video"})["sha256"]
    digest = sha256(complete[0]) if len(complete) == 1 else None
    left = partial_files(d)
    record(
        "4 worker loss",
        killed=f"{victim} at {size_at_kill / 2**20:.0f} MiB of {FILE_SIZE / 2**20:.0f} MiB",
        run=f"{state} after {recovered:.0f} s; download task try {ti['try_number']}",
        file=f"{complete[0].name if complete else None} "
        f"{complete[0].stat().st_size if complete else 0} bytes; "
        f"sha256 matches the emulator's: {digest == expected}",
        partial_files_left=[str(p) for p in left],
    )
    # Preconditions: the kill interrupted the download (an incomplete file, a second try).
    assert size_at_kill < FILE_SIZE
    assert int(ti["try_number"]) >= 2
    assert state == "success"
    assert digest == expected
    assert not left
    wait_for("restarted worker", d._workers_up, 120, 2)
