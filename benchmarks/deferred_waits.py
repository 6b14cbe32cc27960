"""Benchmark: N deferred recording waits in one event loop, shared poller vs. one poll per trigger.

For each N the emulator seeds N recordings in RECORDING and a child process (one event loop, like one
triggerer) waits for all of them to reach UPLOADED, twice:

* ``shared``: N ``RealtimeKitRecordingTrigger`` instances, which share one coalescing poller;
* ``per-trigger``: the baseline, one ``hook.aget_recording`` per waiter per interval (what Airflow's dbt
  Cloud trigger does), all on one hook so that only the request pattern differs.

While they wait, this process turns the recordings UPLOADED one after another over a few seconds and
notes when. Reported: API requests per poll interval (from the emulator's request log) for both, their
ratio, the child's RSS growth while the shared triggers wait, the delay from UPLOADED to each event, and
the event loop's lag (how late a 10 ms sleep wakes, p99 and max) while the shared triggers poll: a
blocking call in the loop would show here.
The emulator runs in this process and the waits in a child, so neither's memory counts for the other.

Run: ``python benchmarks/deferred_waits.py`` (about two minutes).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

INTERVAL = 1.0  # seconds between polls
IDLE_INTERVALS = 2  # polls before the first recording finishes
SPREAD = 4.0  # seconds over which the recordings turn UPLOADED
MARK = "@@bench "


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


async def _wait_all(mode: str, ids: list[str], interval: float) -> dict[str, Any]:
    """Child side: wait for every recording in one event loop; event times and peak RSS."""
    from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook, RetryPolicy
    from airflow_provider_rtk.triggers.recording import RealtimeKitRecordingTrigger

    done_at: dict[str, float] = {}
    statuses: dict[str, str] = {}
    hook = RealtimeKitHook(retry_policy=RetryPolicy(max_attempts=1))

    async def shared(recording_id: str) -> None:
        trigger = RealtimeKitRecordingTrigger(recording_id, poll_interval=interval)
        event = await anext(trigger.run())
        done_at[recording_id] = time.time()
        statuses[recording_id] = event.payload["status"]

    async def per_trigger(recording_id: str) -> None:
        while True:
            try:
                recording = await hook.aget_recording(recording_id)
            except Exception:
                recording = None
            if recording is not None and recording["status"] == "UPLOADED":
                done_at[recording_id] = time.time()
                statuses[recording_id] = "success"
                return
            await asyncio.sleep(interval)

    peak = _rss_kib()

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, _rss_kib())
            await asyncio.sleep(0.05)

    lags: list[float] = []

    async def lag_probe() -> None:
        # How late the event loop wakes a 10 ms sleep: what every other trigger of the triggerer would feel.
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - asked - 0.01)

    before = _rss_kib()
    started = time.time()
    wait = shared if mode == "shared" else per_trigger
    tasks = [asyncio.create_task(wait(i)) for i in ids]
    sampler = asyncio.create_task(sample())
    prober = asyncio.create_task(lag_probe())
    await asyncio.sleep(0)
    print(MARK + json.dumps({"ready": started}), flush=True)
    await asyncio.gather(*tasks)
    finished = time.time()
    sampler.cancel()
    prober.cancel()
    await hook.aclose()
    lags.sort()
    return {
        "started": started,
        "finished": finished,
        "done_at": done_at,
        "statuses": sorted(set(statuses.values())),
        "rss_growth_kib": max(peak, _rss_kib()) - before,
        "lag_p99_ms": 1000 * lags[int(0.99 * (len(lags) - 1))] if lags else 0.0,
        "lag_max_ms": 1000 * lags[-1] if lags else 0.0,
    }


def _child(mode: str, interval: float) -> None:
    ids = json.loads(sys.stdin.readline())
    import requests  # noqa: F401  # imports are not what we measure

    import airflow_provider_rtk.triggers.recording  # noqa: F401

    result = asyncio.run(_wait_all(mode, ids, interval))
    print(MARK + json.dumps(result), flush=True)


def _scenario(n: int, mode: str, interval: float, env: dict[str, str]) -> dict[str, Any]:
    """Main side: seed, run the child, finish the recordings on schedule, read the request log."""
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

    with RealtimeKitEmulator(invoked_seconds=0.2, upload_seconds=0.3) as emulator:
        ids = [emulator.seed_recording(status="RECORDING")["id"] for _ in range(n)]
        emulator.clear_requests()
        child = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--child", mode, str(interval)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**env, **emulator.env()},
        )
        assert child.stdin is not None
        assert child.stdout is not None
        child.stdin.write(json.dumps(ids) + "\n")
        child.stdin.flush()
        messages = (json.loads(line[len(MARK) :]) for line in child.stdout if line.startswith(MARK))
        ready = next(messages)["ready"]
        uploaded_at: dict[str, float] = {}
        first = ready + IDLE_INTERVALS * interval
        for index, recording_id in enumerate(ids):
            time.sleep(max(0.0, first + SPREAD * index / n - time.time()))
            emulator.set_status(recording_id, "UPLOADED")
            uploaded_at[recording_id] = time.time()
        result = next(messages)
        child.wait(timeout=60)
        requests = emulator.count()
    assert result["statuses"] == ["success"], result["statuses"]
    delays = sorted(result["done_at"][i] - uploaded_at[i] for i in ids)
    seconds = result["finished"] - result["started"]
    return {
        "requests": requests,
        "seconds": seconds,
        "requests_per_interval": requests / (seconds / interval),
        "rss_growth_mib": result["rss_growth_kib"] / 1024,
        "delay_p50_s": statistics.median(delays),
        "delay_max_s": delays[-1],
        "lag_p99_ms": result["lag_p99_ms"],
        "lag_max_ms": result["lag_max_ms"],
    }


def run(sizes: tuple[int, ...] = (10, 100, 1000), interval: float = INTERVAL) -> list[dict[str, Any]]:
    """One row per N: requests per interval (shared vs. per-trigger), ratio, RSS growth, event delays."""
    home = tempfile.mkdtemp(prefix="rtk-bench-airflow-")
    env = {
        **os.environ,
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
    rows = []
    for n in sizes:
        baseline = _scenario(n, "per-trigger", interval, env)
        shared = _scenario(n, "shared", interval, env)
        rows.append(
            {
                "n": n,
                "interval_s": interval,
                "shared_requests": shared["requests"],
                "shared_req_per_interval": shared["requests_per_interval"],
                "baseline_req_per_interval": baseline["requests_per_interval"],
                "ratio": baseline["requests_per_interval"] / shared["requests_per_interval"],
                "target_req_per_interval": n / 20,
                "shared_rss_growth_mib": shared["rss_growth_mib"],
                "baseline_rss_growth_mib": baseline["rss_growth_mib"],
                "shared_delay_p50_s": shared["delay_p50_s"],
                "shared_delay_max_s": shared["delay_max_s"],
                "baseline_delay_p50_s": baseline["delay_p50_s"],
                "baseline_delay_max_s": baseline["delay_max_s"],
                "shared_lag_p99_ms": shared["lag_p99_ms"],
                "shared_lag_max_ms": shared["lag_max_ms"],
            }
        )
    return rows


COLUMNS = (
    ("n", "N", "{:d}"),
    ("shared_requests", "shared reqs", "{:d}"),
    ("shared_req_per_interval", "shared req/int", "{:.1f}"),
    ("baseline_req_per_interval", "per-trigger req/int", "{:.1f}"),
    ("ratio", "ratio", "{:.0f}x"),
    ("target_req_per_interval", "target <= N/20", "{:.1f}"),
    ("shared_rss_growth_mib", "shared RSS +MiB", "{:.1f}"),
    ("baseline_rss_growth_mib", "per-trigger RSS +MiB", "{:.1f}"),
    ("shared_delay_p50_s", "shared delay p50 s", "{:.2f}"),
    ("shared_delay_max_s", "shared delay max s", "{:.2f}"),
    ("baseline_delay_p50_s", "per-trigger delay p50 s", "{:.2f}"),
    ("baseline_delay_max_s", "per-trigger delay max s", "{:.2f}"),
    ("shared_lag_p99_ms", "shared loop lag p99 ms", "{:.1f}"),
    ("shared_lag_max_ms", "shared loop lag max ms", "{:.1f}"),
)


def table(rows: list[dict[str, Any]]) -> str:
    cells = [[title for _, title, _ in COLUMNS]]
    cells += [[fmt.format(row[key]) for key, _, fmt in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = [" | ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], float(sys.argv[3]))
    else:
        started = time.monotonic()
        print(
            f"poll interval {INTERVAL} s; recordings finish over {SPREAD} s after {IDLE_INTERVALS} idle polls"
        )
        print(table(run()))
        print(f"total {time.monotonic() - started:.0f} s")
