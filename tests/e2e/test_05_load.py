"""Load: N runs of start -> stop -> deferrable wait -> download, triggered over a spread so that the
recordings finish at staggered times. All succeed; waits are deferred (no worker slot) while they wait;
API polling across both triggerers per poll interval; peak RSS of each triggerer."""

from __future__ import annotations

import os
import time

from tests.e2e.conftest import record
from tests.e2e.deployment import POLL_SECONDS, Deployment
from tests.e2e.helpers import Sampler, polls_per_interval, trigger_load_runs

#: 200 runs as the issue asks (about 8 minutes on the 2-core machine: five task executions per run);
#: E2E_LOAD_RUNS=N for a quicker local run.
RUNS = int(os.environ.get("E2E_LOAD_RUNS", "200"))
#: Runs are triggered evenly over this many seconds, so recordings finish at staggered times.
SPREAD = float(os.environ.get("E2E_LOAD_SPREAD", str(RUNS / 2)))


def test_load(deployment: Deployment) -> None:
    d = deployment
    d.wait_dag_parsed(["e2e_load"])
    d.api("PATCH", "/dags/e2e_load", json={"is_paused": False})
    before = d.task_states("e2e_load").get("success", 0)
    began = time.time()
    with Sampler(d) as sampler:
        runs = trigger_load_runs(d, RUNS, SPREAD)
        states = d.wait_runs("e2e_load", list(runs), 1800)
    elapsed = time.time() - began
    ok = sum(1 for s in states.values() if s == "success")
    polling = polls_per_interval(d, sampler.samples, began, POLL_SECONDS, min_deferred=10)
    record(
        "2 load",
        runs=f"{ok}/{RUNS} succeeded in {elapsed:.0f} s (triggered over {SPREAD:.0f} s)",
        wait_task_max_deferred=sampler.max("deferred"),
        wait_task_max_running=sampler.max("running"),
        wait_task_seconds_deferred_vs_running=f"{sampler.total('deferred') * sampler.interval:.0f} s vs "
        f"{sampler.total('running') * sampler.interval:.0f} s (sampled every {sampler.interval:.0f} s)",
        polling=polling,
        peak_rss_mib={k: round(v) for k, v in sampler.peak_rss.items()},
        task_success_before=before,
    )
    assert ok == RUNS, {s: list(states.values()).count(s) for s in set(states.values())}
    # While waiting, the waits are deferred: a wait task is "running" only for the moment it defers or
    # resumes, never for the whole wait (at most one per worker slot). Compared over the whole scenario
    # (task-seconds), not by peaks: on a busy machine the moments of deferring and resuming stretch, and
    # peaks of both can meet while the waits still spend most of their time deferred.
    assert sampler.total("deferred") > sampler.total("running")
    assert sampler.max("running") <= d.workers * d.worker_concurrency
