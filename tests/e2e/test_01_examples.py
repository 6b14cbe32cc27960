"""Every example DAG succeeds on a plain manual trigger (no logical date) and on its schedule's logical
date, and archives files byte-identical to what the emulator served (sha256)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.e2e.conftest import record
from tests.e2e.deployment import Deployment, log, wait_for
from tests.e2e.helpers import archived, expected_digests, new_meeting, partial_files

EXAMPLES = ("rtk_scheduled_recording", "rtk_track_recording", "rtk_nightly_archive")


def _latest(now: datetime, hour: int, weekdays: bool) -> datetime:
    """The newest schedule point (``0 hour * * *``, or Mon-Fri only) at or before ``now``."""
    moment = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    while moment > now or (weekdays and moment.weekday() > 4):
        moment -= timedelta(days=1)
    return moment


def test_every_example_dag(deployment: Deployment) -> None:
    d = deployment
    d.wait_dag_parsed(EXAMPLES)
    now = datetime.now(UTC)
    nightly_logical = _latest(now, 3, weekdays=False)
    scheduled_logical = _latest(now, 9, weekdays=True)
    # Recordings the nightly runs must archive: uploaded on the day before the run's date (manual run:
    # today's; scheduled run: its logical date's). Seeded through the emulator's admin endpoint.
    nightly_seeded: dict[str, list[str]] = {}
    for label, day in (("manual", now), ("scheduled", nightly_logical)):
        invoked = (day - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
        nightly_seeded[label] = [
            d.admin("POST", "/recordings", json={"status": "UPLOADED", "invoked_time": invoked.isoformat()})[
                "id"
            ]
            for _ in range(2)
        ]
    runs: list[tuple[str, str, str]] = []  # (dag_id, run_id, label)
    for dag_id, conf in (
        ("rtk_scheduled_recording", {"meeting_id": new_meeting(), "slot_seconds": 3}),
        (
            "rtk_track_recording",
            {"meeting_id": new_meeting(), "user_ids": ["host", "guest"], "slot_seconds": 3},
        ),
        ("rtk_nightly_archive", {}),
    ):
        runs.append((dag_id, d.trigger(dag_id, conf), "manual"))
    # On its schedule's logical date: rtk_scheduled_recording's newest slot is triggered with a short slot
    # (so unpausing does not create it again with a 30-minute slot); rtk_nightly_archive's newest run is
    # created by the scheduler itself once the DAG is unpaused.
    runs.append(
        (
            "rtk_scheduled_recording",
            d.trigger(
                "rtk_scheduled_recording",
                {"meeting_id": new_meeting(), "slot_seconds": 3},
                logical_date=scheduled_logical.isoformat(),
            ),
            "scheduled",
        )
    )
    for dag_id in EXAMPLES:
        d.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def scheduled_nightly() -> str | None:
        found = d.api("GET", "/dags/rtk_nightly_archive/dagRuns", params={"run_type": "scheduled"})[
            "dag_runs"
        ]
        return str(found[0]["dag_run_id"]) if found else None

    runs.append(
        ("rtk_nightly_archive", wait_for("scheduled nightly run", scheduled_nightly, 120, 2), "scheduled")
    )
    states: dict[tuple[str, str], str] = {}
    for dag_id in EXAMPLES:
        ids = [r for dag, r, _ in runs if dag == dag_id]
        for run_id, state in d.wait_runs(dag_id, ids, 600).items():
            states[(dag_id, run_id)] = state

    files = archived(d)
    failures = []
    for dag_id, run_id, label in runs:
        state = states.get((dag_id, run_id))
        if dag_id == "rtk_nightly_archive":
            recording_ids = nightly_seeded[label]
        else:
            start_task = "start_recording" if dag_id == "rtk_scheduled_recording" else "start_track_recording"
            recording_ids = [d.xcom(dag_id, run_id, start_task)["id"]] if state == "success" else []
        verified, total = 0, 0
        for recording_id in recording_ids:
            for kind, digest in expected_digests(d, recording_id).items():
                total += 1
                if digest in files:
                    verified += 1
                else:
                    failures.append(f"{dag_id} {label}: {recording_id} {kind} not archived byte-identical")
        task_states = {ti["task_id"]: ti["state"] for ti in d.task_instances(dag_id, run_id)}
        record(
            "1 examples",
            **{
                f"{dag_id} ({label})": f"{state}; files verified {verified}/{total} by sha256; "
                f"tasks {task_states}"
            },
        )
        if state != "success":
            failures.append(f"{dag_id} {label} run {run_id}: {state} (tasks {task_states})")
    leftovers = partial_files(d)
    if leftovers:
        failures.append(f"partial files left: {leftovers}")
    record(
        "1 examples", archived_files=sum(len(v) for v in files.values()), partial_files_left=len(leftovers)
    )
    for failure in failures:
        log(f"FAIL {failure}")
    assert not failures, failures
