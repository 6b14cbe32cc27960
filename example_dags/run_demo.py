"""``make demo``: run ``rtk_scheduled_recording`` end to end against the embedded emulator.

Starts the emulator on a free loopback port, points ``realtimekit_default`` at it through an environment
variable, runs the DAG with ``airflow dags test`` on a fresh SQLite metadata DB under ``.demo/``, stops the
emulator, and prints each task's state and what was archived (path, size, sha256, and whether the bytes
match what the emulator served). Exits non-zero if anything did not succeed. Leaves nothing running.

While the DAG runs (about a minute, mostly the deferred sensor's 30 s poll interval) it shows progress:
``airflow dags test``'s own output as it comes (``  | ...``), and every few seconds the time waited and
each task's state, read from the metadata DB (``[  25 s] start_recording success, end_of_slot ...``).
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from contextlib import closing
from pathlib import Path

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".demo"
DAG_ID = "rtk_scheduled_recording"
VIDEO_BYTES = 48 * 1024 * 1024
AUDIO_BYTES = 6 * 1024 * 1024
TASKS = ("start_recording", "end_of_slot", "stop_recording", "wait_for_upload", "archive", "summarize")
#: Seconds between two progress lines when nothing changed (a change is shown at the next tick, 1 s).
PROGRESS_EVERY = 5.0
RUN_TIMEOUT = 300.0


def _airflow(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _task_states(db: Path) -> dict[str, str]:
    """Each task's state in the DAG's latest run, from the SQLite metadata DB (empty until there is one).

    A task that deferred shows as ``deferred``: ``airflow dags test`` runs its trigger in-line and keeps the
    task ``queued`` meanwhile, with the method it will resume in already set.
    """
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as connection:
            rows = connection.execute(
                "SELECT task_id, state, next_method FROM task_instance WHERE dag_id = ? AND run_id = "
                "(SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1)",
                (DAG_ID, DAG_ID),
            ).fetchall()
    except sqlite3.Error:  # not created yet, or locked by a writer: try again at the next tick
        return {}
    return {
        task_id: "deferred" if state == "queued" and resume else (state or "none")
        for task_id, state, resume in rows
    }


def _progress_line(elapsed: float, states: dict[str, str]) -> str:
    order = [t for t in TASKS if t in states] + sorted(set(states) - set(TASKS))
    tasks = ", ".join(f"{task} {states[task]}" for task in order) or "creating the DAG run"
    return f"[{elapsed:4.0f} s] {tasks}"


def _dags_test(env: dict[str, str], conf: dict[str, object], db: Path, log: Path) -> int:
    """``airflow dags test``, showing its output as it comes and the task states every few seconds."""
    command = [sys.executable, "-m", "airflow", "dags", "test", DAG_ID, "--conf", json.dumps(conf)]
    lines: queue.Queue[str | None] = queue.Queue()
    began = time.monotonic()
    with (
        log.open("w") as out,
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as process,
    ):
        assert process.stdout is not None
        stdout = process.stdout

        def read() -> None:
            for line in stdout:
                out.write(line)
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        shown, shown_at, finished = "", began, False
        while not finished:
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                line = ""
            if line is None:
                finished = True
            elif line.strip():
                print(f"  | {line.rstrip()}", flush=True)
            now = time.monotonic()
            states = _task_states(db)
            summary = _progress_line(0, states).split("] ", 1)[1]
            if summary != shown or now - shown_at >= PROGRESS_EVERY:
                print(_progress_line(now - began, states), flush=True)
                shown, shown_at = summary, now
            if now - began > RUN_TIMEOUT:
                process.kill()
                print(f"airflow dags test did not finish in {RUN_TIMEOUT:.0f} s: stopped", flush=True)
                return 1
        return process.wait()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _json_tail(text: str) -> list[dict[str, str]]:
    """The JSON array an ``airflow ... -o json`` command printed (after any log lines)."""
    for line in reversed(text.splitlines()):
        if line.startswith("["):
            result: list[dict[str, str]] = json.loads(line)
            return result
    raise ValueError(f"no JSON array in the output: {text[-500:]!r}")


def main() -> int:
    shutil.rmtree(DEMO, ignore_errors=True)
    home, archive = DEMO / "airflow-home", DEMO / "archive"
    home.mkdir(parents=True)
    archive.mkdir()
    began = time.monotonic()

    with RealtimeKitEmulator(
        invoked_seconds=1.0, upload_seconds=2.0, file_size=VIDEO_BYTES, audio_file_size=AUDIO_BYTES
    ) as emulator:
        env = {
            **os.environ,
            **emulator.env(),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            # Airflow's own start-up warnings, which say nothing about this DAG: graphviz is not installed,
            # a deprecated ignore-file pattern, a test client's deprecation.
            "PYTHONWARNINGS": ",".join(
                ("ignore:Could not import graphviz", "ignore::DeprecationWarning", "ignore:Using `httpx`")
            ),
            "AIRFLOW_VAR_RTK_ARCHIVE_ROOT": str(archive),
        }
        print(f"emulator: {emulator.base_url}")
        migrated = _airflow(env, "db", "migrate")
        if migrated.returncode:
            print(migrated.stdout[-3000:], migrated.stderr[-3000:], sep="\n")
            return 1
        conf = {"meeting_id": str(uuid.uuid4()), "slot_seconds": 3}
        print(f"running {DAG_ID} with conf {conf} ...")
        returncode = _dags_test(env, conf, home / "airflow.db", DEMO / "dags-test.log")
        runs = _json_tail(_airflow(env, "dags", "list-runs", DAG_ID, "-o", "json").stdout)
        run_id = runs[0]["run_id"]
        states = _json_tail(_airflow(env, "tasks", "states-for-dag-run", DAG_ID, run_id, "-o", "json").stdout)
        started = [
            e.response_json["data"]["id"]
            for e in emulator.requests
            if e.method == "POST" and e.status == 200 and e.response_json
        ]
        served = {emulator.expected_sha256(rid, kind) for rid in started for kind in ("video", "audio")}

    print(f"\nDAG run {run_id}: {runs[0]['state']}  (airflow dags test exit code {returncode})")
    for ti in states:
        print(f"  {ti['task_id']:<18} {ti['state']}")

    print("\narchived:")
    files = {p: _sha256(p) for p in sorted(archive.rglob("*")) if p.is_file()}
    for path, digest in files.items():
        verdict = "= bytes the emulator served" if digest in served else ""
        print(f"  {path.relative_to(ROOT)}  {path.stat().st_size:>10} bytes  sha256 {digest}  {verdict}")
    verified = sum(digest in served for digest in files.values())
    ok = returncode == 0 and runs[0]["state"] == "success" and verified >= 2
    verdict = "demo OK" if ok else "demo FAILED (see .demo/dags-test.log)"
    print(f"\n{verdict} in {time.monotonic() - began:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
