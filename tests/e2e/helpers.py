"""Helpers shared by the e2e tests: the emulator's API as a client sees it, archive checks, sampling."""

from __future__ import annotations

import hashlib
import json
import re
import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from tests.e2e.deployment import CANARY_TOKEN, Deployment, log

RECORDING_PATH = "/recordings"
APP_PATH = "/accounts/023e105f4ecef8ad9ca31a8372d0c353/realtime/kit/2a95132c15732412d22c1476fa83f27a"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def emulator_api(d: Deployment, path: str, **params: Any) -> Any:
    """GET the emulator's RealtimeKit API with the connection's token (as the provider would)."""
    base = f"{d.emulator_url}{APP_PATH}"
    answer = requests.get(
        f"{base}{path}", params=params, headers={"Authorization": f"Bearer {CANARY_TOKEN}"}, timeout=30
    )
    answer.raise_for_status()
    return answer.json()


def recordings_of_meeting(d: Deployment, meeting_id: str) -> list[dict[str, Any]]:
    return list(emulator_api(d, RECORDING_PATH, meeting_id=meeting_id, per_page=100)["data"])


def file_kinds(d: Deployment, recording_id: str) -> list[str]:
    """The files the emulator serves for a recording: video (+ audio), or one per track layer."""
    view = emulator_api(d, f"{RECORDING_PATH}/{recording_id}")["data"]
    url = view.get("download_url")
    if isinstance(url, list):  # a track recording: one file per layer
        return [str(layer["layer_name"]) for layer in url]
    kinds = ["video"] if url else []
    if view.get("audio_download_url"):
        kinds.append("audio")
    return kinds


def expected_digests(d: Deployment, recording_id: str) -> dict[str, str]:
    """kind -> sha256 the emulator says it served for that file."""
    digests = {}
    for kind in file_kinds(d, recording_id):
        digests[kind] = d.admin("GET", f"/recordings/{recording_id}/sha256", params={"kind": kind})["sha256"]
    return digests


def archived(d: Deployment) -> dict[str, list[Path]]:
    """sha256 -> files under the archive root (partial files excluded)."""
    found: dict[str, list[Path]] = {}
    for path in d.archive.rglob("*"):
        if path.is_file() and ".partial" not in path.name and path.name != "summary.json":
            found.setdefault(sha256(path), []).append(path)
    return found


def partial_files(d: Deployment) -> list[Path]:
    return [p for p in d.archive.rglob("*") if ".partial" in p.name]


def new_meeting() -> str:
    return str(uuid.uuid4())


def trigger_load_runs(d: Deployment, count: int, spread_seconds: float) -> dict[str, str]:
    """Trigger ``count`` e2e_load runs spread over ``spread_seconds``; run_id -> meeting_id."""
    runs: dict[str, str] = {}
    gap = spread_seconds / max(count, 1)
    for _ in range(count):
        meeting = new_meeting()
        runs[d.trigger("e2e_load", {"meeting_id": meeting})] = meeting
        time.sleep(gap)
    return runs


class Sampler:
    """Every ``interval`` s: deferred/running counts of the wait task and each triggerer's RSS."""

    def __init__(self, d: Deployment, interval: float = 5.0) -> None:
        self.d = d
        self.interval = interval
        self.samples: list[dict[str, Any]] = []
        self.peak_rss: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                states = self.d.task_states("e2e_load", "wait")
                sample: dict[str, Any] = {"time": time.time(), **states}
                for name in [n for n in self.d.procs if n.startswith("triggerer")]:
                    rss = self.d.rss_mib(name)
                    sample[f"rss_{name}"] = rss
                    self.peak_rss[name] = max(self.peak_rss.get(name, 0.0), rss)
                self.samples.append(sample)
            except Exception as exc:  # a sample lost to a busy API is not a failure of the scenario
                log(f"sampler: {exc!r}")
            self._stop.wait(self.interval)

    def max(self, state: str) -> int:
        return max((int(s.get(state, 0)) for s in self.samples), default=0)

    def total(self, state: str) -> int:
        """Sum over the samples: proportional to the task-seconds spent in ``state``."""
        return sum(int(s.get(state, 0)) for s in self.samples)


def polls_per_interval(
    d: Deployment, samples: list[dict[str, Any]], since: float, poll_seconds: float, min_deferred: int
) -> dict[str, Any]:
    """API GETs on recordings per poll interval, in the intervals when at least ``min_deferred`` waits
    were deferred (GETs from workers' tasks count too: an upper bound on the triggerers' polling)."""
    gets = [r for r in d.emulator_requests() if r["method"] == "GET" and r["time"] and r["time"] >= since]
    gets = [r for r in gets if RECORDING_PATH in r["path"] and "/_files/" not in r["path"]]
    buckets = []
    for sample in samples:
        deferred = int(sample.get("deferred", 0))
        if deferred < min_deferred:
            continue
        start = sample["time"] - poll_seconds
        n = sum(1 for r in gets if start <= r["time"] < sample["time"])
        lists = sum(
            1 for r in gets if start <= r["time"] < sample["time"] and r["path"].endswith(RECORDING_PATH)
        )
        buckets.append((deferred, n, lists))
    if not buckets:
        return {"intervals": 0}
    return {
        "intervals": len(buckets),
        "deferred_median": statistics.median(b[0] for b in buckets),
        "deferred_max": max(b[0] for b in buckets),
        "gets_per_interval_median": statistics.median(b[1] for b in buckets),
        "gets_per_interval_max": max(b[1] for b in buckets),
        "list_gets_per_interval_median": statistics.median(b[2] for b in buckets),
    }


def stop_recording(d: Deployment, recording_id: str) -> None:
    """Stop a recording through the API, as its meeting's host would."""
    base = f"{d.emulator_url}{APP_PATH}"
    answer = requests.put(
        f"{base}{RECORDING_PATH}/{recording_id}",
        json={"action": "stop"},
        headers={"Authorization": f"Bearer {CANARY_TOKEN}"},
        timeout=30,
    )
    answer.raise_for_status()


def start_waits(d: Deployment, count: int) -> dict[str, str]:
    """Seed ``count`` RECORDING recordings and trigger one e2e_wait run for each; run_id -> recording_id."""
    runs = {}
    for _ in range(count):
        recording_id = d.admin("POST", "/recordings", json={"status": "RECORDING", "audio": False})["id"]
        runs[d.trigger("e2e_wait", {"recording_id": recording_id})] = recording_id
    return runs


def wait_deferred(d: Deployment, dag_id: str, count: int, timeout: float = 600) -> dict[str, int]:
    from tests.e2e.deployment import wait_for

    return dict(
        wait_for(
            f"{count} deferred waits of {dag_id}",
            lambda: (s := d.task_states(dag_id, "wait")).get("deferred", 0) >= count and s,
            timeout,
            3,
        )
    )


def fired_events(d: Deployment, dag_id: str, task_id: str = "wait") -> dict[str, int]:
    """run_id -> trigger events fired for it, as the triggerers logged them ("Trigger fired event").

    The triggerer writes that line to the task's trigger log, or to its own log when the task's log
    handler is already gone (seen after a takeover): both are read, and a line found in both (same
    timestamp) counts once.
    """
    fired: set[tuple[str, str]] = set()  # (run_id, timestamp)
    base = d.logs / "tasks" / f"dag_id={dag_id}"
    for path in base.glob(f"run_id=*/task_id={task_id}/*.log.trigger.*.log") if base.exists() else []:
        run_id = path.parts[-3].removeprefix("run_id=")
        for line in path.read_text(errors="replace").splitlines():
            if "Trigger fired event" in line:
                try:
                    fired.add((run_id, str(json.loads(line)["timestamp"])))
                except (ValueError, KeyError, TypeError):
                    fired.add((run_id, line))
    for path in d.logs.glob("triggerer-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if "Trigger fired event" not in line:
                continue
            fields = dict(_FIELD.findall(line))
            if fields.get("dag_id") == dag_id and fields.get("task_id") == task_id and "run_id" in fields:
                fired.add((fields["run_id"], line.split(" ", 1)[0]))
    counts: dict[str, int] = {}
    for run_id, _ in fired:
        counts[run_id] = counts.get(run_id, 0) + 1
    return counts


#: ``key=value`` fields of a triggerer's own log line (values without spaces: ids, run ids).
_FIELD = re.compile(r"\b(dag_id|run_id|task_id)=(\S+)")
