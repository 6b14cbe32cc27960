"""Triggerer loss: ``kill -9`` the triggerer that runs the most of ~50 deferred waits; the other one takes
its triggers over, every run succeeds, and each wait fires exactly once.

The victim is found in the metadata database (each wait's trigger row -> ``triggerer_id`` -> the
triggerer's job -> its host name, which names the process), and the test first checks it held waits:
killing an idle triggerer would test nothing.
"""

from __future__ import annotations

import time

from tests.e2e.conftest import record
from tests.e2e.deployment import POLL_SECONDS, Deployment, log, wait_for
from tests.e2e.helpers import fired_events, start_waits, stop_recording, wait_deferred

WAITS = 50


def _wait_triggers(d: Deployment, run_ids: list[str]) -> list[int]:
    """Trigger ids of the deferred ``wait`` tasks of ``run_ids``."""
    rows = d.sql(
        "SELECT trigger_id FROM task_instance WHERE dag_id = 'e2e_wait' AND task_id = 'wait' "
        "AND state = 'deferred' AND trigger_id IS NOT NULL AND run_id = ANY(%s)",
        (run_ids,),
    )
    return [int(row[0]) for row in rows]


def _per_triggerer(holders: dict[int, str | None]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in holders.values():
        counts[str(name)] = counts.get(str(name), 0) + 1
    return dict(sorted(counts.items()))


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
    triggers = _wait_triggers(d, list(runs))

    def all_assigned() -> dict[int, str | None] | None:
        found = d.trigger_holders(triggers)
        return found if len(found) == WAITS and all(found.values()) else None

    holders = wait_for(f"the {WAITS} wait triggers assigned to triggerers", all_assigned, 120, 2)
    before = _per_triggerer(holders)
    victim = max(before, key=lambda name: before[name])
    held = sorted(t for t, name in holders.items() if name == victim)
    # The precondition: the process about to be killed runs waits (a kill of an idle one tests nothing).
    assert victim in d.procs, f"trigger holders {before} name no process of this deployment"
    assert held, f"no wait on any triggerer: {before}"
    d.kill9(victim)
    killed_at = time.monotonic()
    log(f"kill -9 {victim}, which ran {len(held)} of the {WAITS} waits; waits per triggerer before: {before}")

    def taken_over() -> dict[int, str | None] | None:
        found = d.trigger_holders(held)
        return found if all(name not in (None, victim) for name in found.values()) else None

    # Past the triggerer health threshold, the survivor takes the victim's triggers over.
    moved = wait_for(f"the {len(held)} triggers of {victim} taken over", taken_over, 180, 2)
    takeover = time.monotonic() - killed_at
    after = _per_triggerer(d.trigger_holders(triggers))
    for recording_id in runs.values():
        stop_recording(d, recording_id)
        time.sleep(0.2)
    states = d.wait_runs("e2e_wait", list(runs), 600)
    recovered = time.monotonic() - killed_at
    d.restart(victim)
    ok = sum(1 for s in states.values() if s == "success")
    fired = fired_events(d, "e2e_wait")
    counts = [fired.get(run_id, 0) for run_id in runs]
    survivors = sorted({str(name) for name in moved.values()})
    record(
        "3 triggerer loss",
        waits=WAITS,
        waits_per_triggerer_before_kill=before,
        killed=f"{victim} (ran {len(held)} of {WAITS} waits)",
        waits_per_triggerer_after_takeover=after,
        killed_triggerers_waits_taken_over_by=f"{survivors} {takeover:.0f} s after the kill",
        runs=f"{ok}/{WAITS} succeeded, all finished {recovered:.0f} s after the kill",
        fired_events_per_wait=f"min {min(counts)}, max {max(counts)} "
        "(from the triggerer-side task logs and the triggerers' own logs)",
    )
    assert ok == WAITS
    assert min(counts) == max(counts) == 1
