"""Triggerer loss: ``kill -9`` one triggerer while ~50 waits are deferred; the other (or the restarted
one) picks its triggers up, every run succeeds, and each wait fires exactly once."""

from __future__ import annotations

import time

from tests.e2e.conftest import record
from tests.e2e.deployment import POLL_SECONDS, Deployment, log
from tests.e2e.helpers import fired_events, start_waits, stop_recording, wait_deferred

WAITS = 50


def _holders(d: Deployment, run_ids: list[str]) -> dict[int, int]:
    """triggerer job id -> deferred waits it runs."""
    body = {"dag_ids": ["e2e_wait"], "task_ids": ["wait"], "state": ["deferred"], "page_limit": 1000}
    counts: dict[int, int] = {}
    for ti in d.api("POST", "/dags/~/dagRuns/~/taskInstances/list", json=body)["task_instances"]:
        if ti["dag_run_id"] in run_ids and ti.get("triggerer_job"):
            job = int(ti["triggerer_job"]["id"])
            counts[job] = counts.get(job, 0) + 1
    return counts


def test_triggerer_killed(deployment: Deployment) -> None:
    d = deployment
    d.wait_dag_parsed(["e2e_wait"])
    d.api("PATCH", "/dags/e2e_wait", json={"is_paused": False})
    runs = start_waits(d, WAITS)
    wait_deferred(d, "e2e_wait", WAITS)
    # Steady state, both triggerers polling for all the waits (no task runs meanwhile): API requests per
    # poll interval, all triggerers together. Polled one by one, it would be WAITS per interval.
    window_start = time.time()
    time.sleep(3 * POLL_SECONDS)
    polls = [
        r
        for r in d.emulator_requests()
        if r["method"] == "GET" and r["time"] and window_start <= r["time"] < window_start + 3 * POLL_SECONDS
    ]
    record(
        "2 load",
        polling_with_50_deferred_waits=f"{len(polls) / 3:.1f} GET requests per {POLL_SECONDS} s interval "
        f"across both triggerers ({sum(1 for r in polls if r['path'].endswith('/recordings'))} of the "
        f"{len(polls)} were list requests) for {WAITS} deferred waits",
    )
    holders = _holders(d, list(runs))
    victim = "triggerer-1"
    d.kill9(victim)
    killed_at = time.monotonic()
    log(f"kill -9 {victim}; deferred waits per triggerer job before: {holders}")
    time.sleep(40)  # past the triggerer health threshold: its triggers move to the survivor
    after = _holders(d, list(runs))
    for recording_id in runs.values():
        stop_recording(d, recording_id)
        time.sleep(0.2)
    states = d.wait_runs("e2e_wait", list(runs), 600)
    recovered = time.monotonic() - killed_at
    d.restart(victim)
    ok = sum(1 for s in states.values() if s == "success")
    fired = fired_events(d, "e2e_wait")
    counts = [fired.get(run_id, 0) for run_id in runs]
    record(
        "3 triggerer loss",
        waits=WAITS,
        deferred_per_triggerer_job_before_kill=holders,
        deferred_per_triggerer_job_40s_after=after,
        waits_on_the_killed_triggerer=sum(n for job, n in holders.items() if job not in after),
        runs=f"{ok}/{WAITS} succeeded, all finished {recovered:.0f} s after the kill",
        fired_events_per_wait=f"min {min(counts)}, max {max(counts)} (from the triggerer-side task logs)",
    )
    assert ok == WAITS
    assert min(counts) == max(counts) == 1
