"""Benchmark: one RealtimeKitRecordingEventTrigger on an app where 1,000 recordings finish in 10 minutes.

The emulator runs at ``time_scale`` (0.1: ten API seconds per real second, so 10 minutes take about one);
all times below are API seconds. Each recording is invoked, records for a random duration, and is turned
UPLOADED at its finish time, the finishes spread evenly over 10 minutes after one minute of warm-up. The
trigger polls every ``INTERVAL`` and runs in this process's event loop, as in a triggerer.

Reported per workload (clips, short calls, meeting-length recordings):

* list requests per poll interval in steady state (median, max), against the baseline a sensor-style watch
  would need, one GET per open recording per interval (counted from the same run's timeline);
* the window the trigger listed (recordings per poll): requests grow by one per 100 recordings in it;
* delay from UPLOADED to the trigger event (p50, max), and as a fraction of the poll interval (its
  expected bound: one interval plus the request time).

Run: ``python -m benchmarks event`` or ``python -m benchmarks.event_trigger`` (three workloads, about
three and a half minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

RECORDINGS = 1000
TIME_SCALE = 0.1  # real seconds per API second
INTERVAL = 30.0  # API seconds between polls
WARM_UP = 60.0  # API seconds before the first finish
SPREAD = 600.0  # API seconds over which the recordings finish
TARGET = 2  # list requests per interval in steady state
LIST = r"/recordings$"

WORKLOADS = {
    "short calls (0.5-1.5 min)": (30.0, 90.0),
    "clips (10-40 s)": (10.0, 40.0),
    "meetings (2-6 min)": (120.0, 360.0),
}


@dataclass
class Plan:
    invoke: float
    finish: float
    recording_id: str = ""
    uploaded_real: float | None = None


def _plans(durations: tuple[float, float], rng: random.Random) -> list[Plan]:
    plans = []
    for i in range(RECORDINGS):
        finish = WARM_UP + SPREAD * (i + rng.random()) / RECORDINGS
        plans.append(Plan(invoke=finish - rng.uniform(*durations), finish=finish))
    return sorted(plans, key=lambda p: p.invoke)


async def _drive(emu: Any, plans: list[Plan], t0: float, samples: list[tuple[float, int]]) -> None:
    """Invoke and finish the recordings on the emulator's API clock (direct calls, no HTTP)."""

    def api_now() -> float:
        return (time.monotonic() - t0) / TIME_SCALE

    base = datetime.now(UTC)
    for plan in plans:  # recordings already running when the watch starts
        if plan.invoke <= 0:
            invoked = base + timedelta(seconds=plan.invoke)
            plan.recording_id = emu.seed_recording(status="RECORDING", invoked_time=invoked)["id"]
    to_invoke = [p for p in plans if p.invoke > 0]
    to_finish = sorted(plans, key=lambda p: p.finish)
    while to_finish:
        now = api_now()
        samples.append((now, emu.count("GET", LIST)))
        while to_invoke and to_invoke[0].invoke <= now:
            to_invoke.pop(0).recording_id = emu.seed_recording(status="INVOKED")["id"]
        while to_finish and to_finish[0].finish <= now and to_finish[0].recording_id:
            plan = to_finish.pop(0)
            emu.set_status(plan.recording_id, "UPLOADED")
            plan.uploaded_real = time.monotonic()
        await asyncio.sleep(0.02)


async def _run_workload(durations: tuple[float, float], seed: int) -> dict[str, Any]:
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator
    from airflow_provider_rtk.triggers.events import RealtimeKitRecordingEventTrigger

    plans = _plans(durations, random.Random(seed))
    received: dict[str, float] = {}
    duplicates = 0
    samples: list[tuple[float, int]] = []  # (API time, list requests so far), sampled by the driver
    with RealtimeKitEmulator(time_scale=TIME_SCALE, invoked_seconds=2.0, upload_seconds=3.0) as emu:
        os.environ.update(emu.env())
        trigger = RealtimeKitRecordingEventTrigger(poll_interval=INTERVAL * TIME_SCALE, lookback=0)

        t0 = time.monotonic()

        async def consume() -> None:
            nonlocal duplicates
            async for event in trigger.run():
                duplicates += event.payload["id"] in received
                received.setdefault(event.payload["id"], time.monotonic())

        watcher = asyncio.create_task(consume())
        await _drive(emu, plans, t0, samples)
        deadline = time.monotonic() + 4 * INTERVAL * TIME_SCALE
        while len(received) < RECORDINGS and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        lists = emu.count("GET", LIST)
        listed = [
            r.response_json["paging"]["total_count"]
            for r in emu.requests
            if r.path.endswith("/recordings") and r.query.get("page_no") == ["1"] and r.response_json
        ]

    def requests_before(moment: float) -> int:
        return max((n for t, n in samples if t <= moment), default=0)

    steady = range(int((WARM_UP + 2 * INTERVAL) // INTERVAL), int((WARM_UP + SPREAD) // INTERVAL))
    steady_counts = [requests_before((i + 1) * INTERVAL) - requests_before(i * INTERVAL) for i in steady]
    open_counts = [
        sum(1 for p in plans if p.invoke <= i * INTERVAL < p.finish) for i in steady
    ]  # the GET-per-open-recording baseline, interval by interval
    delays = [
        (received[p.recording_id] - p.uploaded_real) / TIME_SCALE
        for p in plans
        if p.recording_id in received and p.uploaded_real is not None
    ]
    return {
        "events": len(received),
        "duplicates": duplicates,
        "list requests": lists,
        "steady counts": steady_counts,
        "open counts": open_counts,
        "listed": listed,
        "delays": delays,
    }


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def benchmark() -> dict[str, Any]:
    rows = []
    for index, (name, durations) in enumerate(WORKLOADS.items()):
        result = asyncio.run(_run_workload(durations, seed=index))
        steady, baseline = result["steady counts"], result["open counts"]
        ratios = [s / b for s, b in zip(steady, baseline, strict=True) if b]
        worst = max(steady) if steady else 0
        rows.append(
            {
                "workload": name,
                "events / recordings": f"{result['events']} / {RECORDINGS}",
                "duplicates": result["duplicates"],
                "requests per interval (median, max)": f"{statistics.median(steady):.0f}, {worst}",
                "baseline GETs per interval (median)": f"{statistics.median(baseline):.0f}",
                "ratio vs baseline (median)": f"{statistics.median(ratios):.3f}",
                "recordings in window (median, max)": (
                    f"{statistics.median(result['listed']):.0f}, {max(result['listed'])}"
                ),
                "delay p50 / max (API s)": (
                    f"{_quantile(result['delays'], 0.5):.0f} / {max(result['delays']):.0f}"
                ),
                "delay max / interval": f"{max(result['delays']) / INTERVAL:.2f}",
                "verdict": "meets <= 2" if worst <= TARGET else f"misses <= {TARGET}",
            }
        )
    return {
        "title": "Event trigger: requests per poll and delay to the event",
        "rows": rows,
        "notes": [
            f"{RECORDINGS} recordings finishing evenly over {SPREAD / 60:.0f} min of emulator time "
            f"(time_scale {TIME_SCALE}); poll interval {INTERVAL:.0f} s; steady state excludes the first two "
            "intervals. A poll lists every recording invoked since the oldest one still open: one request "
            "per 100 of them, so long recordings at a high rate cost more (the API has no 'changed since' "
            "filter).",
        ],
    }


if __name__ == "__main__":
    from benchmarks._common import print_table

    out = benchmark()
    print_table(out["title"], out["rows"], notes=out["notes"])
