"""``make demo``: run ``rtk_scheduled_recording`` end to end against the embedded emulator.

Starts the emulator on a free loopback port, points ``realtimekit_default`` at it through an environment
variable, runs the DAG with ``airflow dags test`` on a fresh SQLite metadata DB under ``.demo/``, stops the
emulator, and prints each task's state and what was archived (path, size, sha256, and whether the bytes
match what the emulator served). Exits non-zero if anything did not succeed. Leaves nothing running.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".demo"
DAG_ID = "rtk_scheduled_recording"
VIDEO_BYTES = 48 * 1024 * 1024
AUDIO_BYTES = 6 * 1024 * 1024


def _airflow(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


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
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW_VAR_RTK_ARCHIVE_ROOT": str(archive),
        }
        print(f"emulator: {emulator.base_url}")
        migrated = _airflow(env, "db", "migrate")
        if migrated.returncode:
            print(migrated.stdout[-3000:], migrated.stderr[-3000:], sep="\n")
            return 1
        conf = {"meeting_id": str(uuid.uuid4()), "slot_seconds": 3}
        print(f"running {DAG_ID} with conf {conf} ...")
        run = _airflow(env, "dags", "test", DAG_ID, "--conf", json.dumps(conf))
        (DEMO / "dags-test.log").write_text(run.stdout + run.stderr)
        runs = _json_tail(_airflow(env, "dags", "list-runs", DAG_ID, "-o", "json").stdout)
        run_id = runs[0]["run_id"]
        states = _json_tail(_airflow(env, "tasks", "states-for-dag-run", DAG_ID, run_id, "-o", "json").stdout)
        started = [
            e.response_json["data"]["id"]
            for e in emulator.requests
            if e.method == "POST" and e.status == 200 and e.response_json
        ]
        served = {emulator.expected_sha256(rid, kind) for rid in started for kind in ("video", "audio")}

    print(f"\nDAG run {run_id}: {runs[0]['state']}  (airflow dags test exit code {run.returncode})")
    for ti in states:
        print(f"  {ti['task_id']:<18} {ti['state']}")

    print("\narchived:")
    files = {p: _sha256(p) for p in sorted(archive.rglob("*")) if p.is_file()}
    for path, digest in files.items():
        verdict = "= bytes the emulator served" if digest in served else ""
        print(f"  {path.relative_to(ROOT)}  {path.stat().st_size:>10} bytes  sha256 {digest}  {verdict}")
    verified = sum(digest in served for digest in files.values())
    ok = run.returncode == 0 and runs[0]["state"] == "success" and verified >= 2
    verdict = "demo OK" if ok else "demo FAILED (see .demo/dags-test.log)"
    print(f"\n{verdict} in {time.monotonic() - began:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
