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

A fourth scenario is the one a busy app meets: one recording open for 24 API hours while 1,200
recordings finished over those hours (seeded with their invoked times) and 200 more finish during the run.
Reported: requests per poll in steady state (list and get), recordings listed per poll, the saved state's
size (the value written to an in-memory asset state store, as Airflow 3.3 stores it), events and
duplicates.

Every workload runs twice in the same run: BEFORE, the trigger as it was at ``BEFORE_REF`` (loaded from git,
``--before REF`` or ``RTK_BENCH_BEFORE_REF``; the design that listed everything invoked since the oldest open
recording), and AFTER, the trigger of this checkout.

Run: ``python -m benchmarks event`` or ``python -m benchmarks.event_trigger`` (four workloads, twice:
about nine minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

#: The last commit whose event trigger listed every recording invoked since the oldest open one.
BEFORE_REF = os.environ.get("RTK_BENCH_BEFORE_REF", "53542e9")
ROOT = Path(__file__).resolve().parents[1]

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


def _recordings_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The recordings an event carries: a poll's batch (``{"recordings": [...]}``) or one recording."""
    return list(payload["recordings"]) if "recordings" in payload else [payload]


def load_trigger_class(version: str, ref: str = BEFORE_REF) -> Any:
    """The trigger class of this checkout (``after``), or as it was at git ``ref`` (``before``).

    The old ``events.py`` and ``_watch.py`` are read with ``git show`` and imported as private modules of
    this package, with the old module's import of ``_watch`` pointed at its own copy; the rest of the
    provider (hook, helpers) is this checkout's.
    """
    if version == "after":
        from airflow_provider_rtk.triggers.events import RealtimeKitRecordingEventTrigger

        return RealtimeKitRecordingEventTrigger

    def show(path: str) -> str:
        done = subprocess.run(
            ["git", "show", f"{ref}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
        )
        return done.stdout

    watch_name, events_name = "benchmarks._before_watch", "benchmarks._before_events"
    sources = {
        watch_name: show("airflow_provider_rtk/triggers/_watch.py"),
        events_name: show("airflow_provider_rtk/triggers/events.py").replace(
            "airflow_provider_rtk.triggers._watch", watch_name
        ),
    }
    modules: dict[str, ModuleType] = {}
    for name, source in sources.items():
        spec = importlib.util.spec_from_loader(name, loader=None)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        exec(compile(source, f"<{ref}:{name}>", "exec"), module.__dict__)
        modules[name] = module
    return modules[events_name].RealtimeKitRecordingEventTrigger


class _StateStore:
    """An in-memory asset state store (``aget`` / ``aset``), values through JSON as in the database; keeps
    the size of the largest value written."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.largest = 0

    async def aget(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    async def aset(self, key: str, value: Any) -> None:
        encoded = json.dumps(value)
        self.values[key] = encoded
        if key != "realtimekit_watch_index":
            self.largest = max(self.largest, len(encoded.encode()))


async def _run_workload(trigger_class: Any, durations: tuple[float, float], seed: int) -> dict[str, Any]:
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

    RealtimeKitRecordingEventTrigger = trigger_class
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
                for recording in _recordings_of(event.payload):
                    duplicates += recording["id"] in received
                    received.setdefault(recording["id"], time.monotonic())

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


LONG_HISTORY = 1200  # recordings finished during the 24 hours the long one has been open
LONG_LIVE = 200  # recordings that finish during the run
LONG_INTERVAL = 1.0  # real seconds between polls (the emulator runs in real time here)
LONG_SPREAD = 20.0  # real seconds over which the live recordings finish


async def _run_long_open(trigger_class: Any) -> dict[str, Any]:
    """One recording open for 24 API hours; 1,200 finished over those hours, 200 finish during the run."""
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

    with RealtimeKitEmulator(invoked_seconds=0.5, upload_seconds=1.0) as emu:
        os.environ.update(emu.env())
        now = datetime.now(UTC)
        emu.seed_recording(status="RECORDING", invoked_time=now - timedelta(hours=24))
        for i in range(LONG_HISTORY):
            invoked = now - timedelta(hours=24) + timedelta(hours=23.5 * (i + 1) / LONG_HISTORY)
            emu.seed_recording(status="UPLOADED", invoked_time=invoked)
        live = [emu.seed_recording(status="RECORDING")["id"] for _ in range(LONG_LIVE)]
        store = _StateStore()
        trigger = trigger_class(poll_interval=LONG_INTERVAL, lookback=0)
        trigger.asset_state_store = store
        received: dict[str, int] = {}

        async def consume() -> None:
            async for event in trigger.run():
                for recording in _recordings_of(event.payload):
                    received[recording["id"]] = received.get(recording["id"], 0) + 1

        def api_requests() -> int:
            return emu.count("GET", r"/recordings(/[0-9a-f-]+)?$")

        watcher = asyncio.create_task(consume())
        await asyncio.sleep(2 * LONG_INTERVAL)  # the start (anchor, first window) is not steady state
        samples = [api_requests()]
        for i, recording_id in enumerate(live):
            emu.set_status(recording_id, "UPLOADED")
            await asyncio.sleep(LONG_SPREAD / LONG_LIVE)
            if (i + 1) % int(LONG_LIVE * LONG_INTERVAL / LONG_SPREAD) == 0:
                samples.append(api_requests())
        deadline = time.monotonic() + 10 * LONG_INTERVAL
        while len(received) < LONG_LIVE and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        listed = [
            r.response_json["paging"]["total_count"]
            for r in emu.requests
            if r.path.endswith("/recordings")
            and r.query.get("page_no") == ["1"]
            and r.response_json
            and "start_time" in r.query
            and "end_time" not in r.query
            and r.query.get("status") != ["INVOKED,RECORDING,PAUSED,UPLOADING"]
        ]  # the window listings (the long-open recordings and the anchor are listed apart)
    per_interval = [b - a for a, b in itertools.pairwise(samples)]
    return {
        "events": sum(1 for r in live if r in received),
        "duplicates": sum(n - 1 for n in received.values()),
        "per interval": per_interval,
        "listed": listed[2:] or listed,
        "state bytes": store.largest,
    }


def _workload_rows(version: str, trigger_class: Any) -> list[dict[str, Any]]:
    rows = []
    for index, (name, durations) in enumerate(WORKLOADS.items()):
        result = asyncio.run(_run_workload(trigger_class, durations, seed=index))
        steady, baseline = result["steady counts"], result["open counts"]
        ratios = [s / b for s, b in zip(steady, baseline, strict=True) if b]
        worst = max(steady) if steady else 0
        rows.append(
            {
                "workload": name,
                "code": version,
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
                "saved state (bytes)": "-",
                "verdict": "meets <= 2" if worst <= TARGET else f"misses <= {TARGET}",
            }
        )
    return rows


def _long_open_row(version: str, trigger_class: Any) -> dict[str, Any]:
    result = asyncio.run(_run_long_open(trigger_class))
    steady = result["per interval"]
    return {
        "workload": f"1 open 24 h, {LONG_HISTORY} + {LONG_LIVE} finished",
        "code": version,
        "events / recordings": f"{result['events']} / {LONG_LIVE}",
        "duplicates": result["duplicates"],
        "requests per interval (median, max)": f"{statistics.median(steady):.0f}, {max(steady)}",
        "baseline GETs per interval (median)": "-",
        "ratio vs baseline (median)": "-",
        "recordings in window (median, max)": (
            f"{statistics.median(result['listed']):.0f}, {max(result['listed'])}"
        ),
        "delay p50 / max (API s)": "-",
        "delay max / interval": "-",
        "saved state (bytes)": f"{result['state bytes']:,}",
        "verdict": "-",
    }


def benchmark(before_ref: str = BEFORE_REF) -> dict[str, Any]:
    versions: list[tuple[str, Any]] = []
    notes: list[str] = []
    try:
        versions.append((f"before ({before_ref})", load_trigger_class("before", before_ref)))
    except Exception as exc:  # the old code no longer imports against this checkout
        notes.append(f"BEFORE not run: the trigger at {before_ref} could not be loaded ({exc!r}).")
    versions.append(("after", load_trigger_class("after")))
    rows: list[dict[str, Any]] = []
    for version, trigger_class in versions:
        rows.append(_long_open_row(version, trigger_class))
    for version, trigger_class in versions:
        rows.extend(_workload_rows(version, trigger_class))
    return {
        "title": "Event trigger: requests per poll, saved state and delay to the event",
        "rows": rows,
        "notes": [
            f"Long-open scenario: one recording RECORDING since 24 API hours ago, {LONG_HISTORY} "
            f"recordings invoked over those hours and long UPLOADED, {LONG_LIVE} recordings that finish "
            f"evenly over {LONG_SPREAD:.0f} s during the run; poll interval {LONG_INTERVAL:.0f} s (real "
            "time, lookback 0); requests per interval count list and get requests, sampled once per "
            "interval after the first two polls; saved state: the largest value the watcher wrote to the "
            "asset state store.",
            f"Workloads: {RECORDINGS} recordings finishing evenly over {SPREAD / 60:.0f} min of emulator "
            f"time (time_scale {TIME_SCALE}); poll interval {INTERVAL:.0f} s; steady state excludes the "
            "first two intervals.",
            *notes,
        ],
    }


if __name__ == "__main__":
    import argparse

    from benchmarks._common import print_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=BEFORE_REF, help="git ref of the BEFORE trigger")
    out = benchmark(parser.parse_args().before)
    print_table(out["title"], out["rows"], notes=out["notes"])
