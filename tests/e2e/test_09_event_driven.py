"""Event-driven post-processing in the deployment: ``rtk_process_uploaded`` archives every one of 50
recordings uploaded at staggered times, with both triggerers killed (``kill -9``) and restarted in the
middle, while some recordings finish; none is downloaded twice.

The recordings are the ones this DAG exists for: started by their meetings (``RECORD_ON_START``), not by
Airflow, and ended because everyone left (``ALL_PEERS_LEFT``), through the emulator's admin routes.

Airflow folds the asset events stored between two scheduler loops into one run, and an event may carry
several recordings, so the test counts recordings (through ``airflow_provider_rtk.assets``, as consumers
read them) and archives, not events or runs; the runs are recorded as a figure. The trigger's own contract
is checked first: every recording in at least one asset event (a repeat is allowed for the last poll
before the kill). The faults are checked to have hit: the watch's trigger was running on a triggerer when
both were killed, recordings finished while none ran, and a restarted triggerer took the watch over.

No event may wait for a later one: the events consumed (linked to a run) more than 10 s after they were
stored are counted, with the recordings they carry, and must be none.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from airflow_provider_rtk.assets import recordings_from_asset_events
from tests.e2e.conftest import record
from tests.e2e.deployment import CANARY_TOKEN, Deployment, log, wait_for
from tests.e2e.helpers import RECORDING_PATH, emulator_api, expected_digests, new_meeting, sha256

DAG_ID = "rtk_process_uploaded"
RECORDINGS = 50
POLL_SECONDS = 5
SIGNATURE = re.compile(r"X-Amz-Signature=[0-9a-f]{16,}")
#: An event consumed later than this after it was stored waited for another event (issue 15, point 6).
LATE_SECONDS = 10


def _archived(d: Deployment, recording: dict[str, str]) -> Path | None:
    path = d.archive / "uploaded" / recording["output_file_name"]
    return path if path.is_file() else None


def _file_gets(d: Deployment) -> dict[str, int]:
    """recording id -> GETs of its files (video and audio) the emulator served."""
    counts: dict[str, int] = {}
    for request in d.emulator_requests():
        if request["method"] == "GET" and request["path"].startswith("/_files/"):
            recording_id = request["path"].split("/")[2]
            counts[recording_id] = counts.get(recording_id, 0) + 1
    return counts


def _recordings_in(event: dict[str, Any]) -> list[str]:
    """Ids of the recordings one stored asset event carries, read as a consumer DAG reads them."""
    context = {"triggering_asset_events": {"asset": [SimpleNamespace(extra=event.get("extra") or {})]}}
    return [str(r["id"]) for r in recordings_from_asset_events(context)]


def _events_per_recording(d: Deployment) -> dict[str, int]:
    """recording id -> asset events the watcher fired that carry it (from the REST API)."""
    assets = d.api("GET", "/assets", params={"uri_pattern": "realtimekit://", "limit": 100})["assets"]
    counts: dict[str, int] = {}
    for asset in assets:
        found = d.api("GET", "/assets/events", params={"asset_id": asset["id"], "limit": 1000})
        for event in found["asset_events"]:
            for recording_id in _recordings_in(event):
                counts[recording_id] = counts.get(recording_id, 0) + 1
    return counts


def _watch_trigger(d: Deployment) -> int:
    """The trigger row of the DAG's asset watcher."""
    rows = d.sql(
        "SELECT w.trigger_id FROM asset_watcher w JOIN asset a ON a.id = w.asset_id "
        "WHERE w.name = 'rtk_uploaded_recordings' AND a.uri LIKE 'realtimekit://%%'"
    )
    assert len(rows) == 1, f"expected one watcher trigger, found {rows}"
    return int(rows[0][0])


def _watch_job(d: Deployment, trigger_id: int) -> int | None:
    """The triggerer job running the watch now (None: unassigned)."""
    rows = d.sql("SELECT triggerer_id FROM trigger WHERE id = %s", (trigger_id,))
    return None if not rows or rows[0][0] is None else int(rows[0][0])


def _late_events(d: Deployment, since: datetime, now: datetime) -> list[dict[str, Any]]:
    """The watch's events stored since ``since`` that waited more than ``LATE_SECONDS`` for a run to
    consume them (``dagrun_asset_event`` -> the run's ``queued_at``, set when the scheduler creates it),
    or are still unconsumed that long after being stored."""
    rows = d.sql(
        "SELECT e.id, e.timestamp, e.extra, ("
        "  SELECT min(r.queued_at) FROM dagrun_asset_event l JOIN dag_run r ON r.id = l.dag_run_id"
        "  WHERE l.event_id = e.id"
        ") FROM asset_event e JOIN asset a ON a.id = e.asset_id "
        "WHERE a.uri LIKE 'realtimekit://%%' AND e.timestamp >= %s ORDER BY e.id",
        (since,),
    )
    late = []
    for event_id, stored, extra, consumed in rows:
        waited = ((consumed or now) - stored).total_seconds()
        if waited > LATE_SECONDS:
            late.append(
                {
                    "id": event_id,
                    "stored": stored.isoformat(),
                    "waited_seconds": round(waited),
                    "recordings": _recordings_in({"extra": extra}),
                    "consumed": consumed is not None,
                }
            )
    return late


def _meeting_recording(d: Deployment) -> dict[str, str]:
    """A recording its meeting starts by itself (RECORD_ON_START); its view plus ``meeting_id``."""
    meeting_id = new_meeting()
    view = d.admin("POST", "/meeting-recordings", json={"meeting_id": meeting_id})
    return {**view, "meeting_id": meeting_id}


def _everyone_leaves(d: Deployment, recording: dict[str, str]) -> None:
    """The meeting empties: its recording stops with ALL_PEERS_LEFT."""
    ended = d.admin("POST", f"/meetings/{recording['meeting_id']}/end")["recordings"]
    assert [r["id"] for r in ended] == [recording["id"]], ended


def _uploaded(d: Deployment, recordings: list[dict[str, str]]) -> set[str]:
    return {
        r["id"]
        for r in recordings
        if emulator_api(d, f"{RECORDING_PATH}/{r['id']}")["data"]["status"] == "UPLOADED"
    }


def _unconsumed_events(d: Deployment) -> list[int]:
    """Ids of the asset's events no DAG run has consumed (yet)."""
    consumed: set[int] = set()
    for run in d.api("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 1000})["dag_runs"]:
        found = d.api("GET", f"/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/upstreamAssetEvents")
        consumed.update(int(event["id"]) for event in found["asset_events"])
    assets = d.api("GET", "/assets", params={"uri_pattern": "realtimekit://", "limit": 100})["assets"]
    stored = [
        int(event["id"])
        for asset in assets
        for event in d.api("GET", "/assets/events", params={"asset_id": asset["id"], "limit": 1000})[
            "asset_events"
        ]
    ]
    return [event_id for event_id in stored if event_id not in consumed]


def test_every_uploaded_recording_is_archived_once_across_a_triggerer_kill(deployment: Deployment) -> None:
    d = deployment
    # A short poll and no lookback (recordings earlier tests left UPLOADED are not this test's): the DAG
    # file reads both at parse time, so the dag-processor is restarted with them.
    d.env.update({"RTK_POLL_INTERVAL": str(POLL_SECONDS), "RTK_LOOKBACK": "0"})
    restarted = datetime.now(UTC)
    d.kill9("dag-processor")
    d.restart("dag-processor")
    wait_for(
        f"{DAG_ID} parsed again",
        lambda: (
            datetime.fromisoformat(d.api("GET", f"/dags/{DAG_ID}/details")["last_parsed_time"]) > restarted
        ),
        300,
        3,
    )
    recordings = [_meeting_recording(d) for _ in range(RECORDINGS)]
    d.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})
    lists_before = sum(1 for r in d.emulator_requests() if r["path"].endswith("/recordings"))
    wait_for(
        "the watcher's first polls",
        lambda: (
            sum(1 for r in d.emulator_requests() if r["path"].endswith("/recordings")) >= lists_before + 3
        ),
        300,
        2,
    )
    watch = _watch_trigger(d)
    stored_since = restarted_at = datetime.now(UTC)
    began = time.monotonic()
    kill_job: int | None = None
    uploaded_at_kill: set[str] = set()
    finished_meanwhile: set[str] = set()
    for index, recording in enumerate(recordings):
        _everyone_leaves(d, recording)
        time.sleep(2)
        if index == RECORDINGS // 2:
            kill_job = _watch_job(d, watch)
            uploaded_at_kill = _uploaded(d, recordings[: index + 1])
            for name in ("triggerer-1", "triggerer-2"):
                d.kill9(name)
            log(f"kill -9 both triggerers (the watch ran on job {kill_job}); recordings keep finishing")
        if index == RECORDINGS // 2 + 10:
            finished_meanwhile = _uploaded(d, recordings[: index + 1]) - uploaded_at_kill
            for name in ("triggerer-1", "triggerer-2"):
                d.restart(name)
            restarted_at = datetime.now(UTC)
            log(f"triggerers restarted; {len(finished_meanwhile)} recording(s) finished while none ran")
    taken_over_by = wait_for(
        "a restarted triggerer running the watch",
        lambda: (job := _watch_job(d, watch)) is not None and job != kill_job and job,
        300,
        2,
    )
    ids = [r["id"] for r in recordings]
    wait_for(
        "an asset event for every recording",
        lambda: all(_events_per_recording(d).get(i) for i in ids),
        600,
        5,
    )
    time.sleep(3 * POLL_SECONDS)  # let the scheduler turn the last events into runs
    stranded = _unconsumed_events(d)
    # A later recording: where Airflow leaves events stored while it creates a run unconsumed until the
    # asset's next event, this upload is that event, so the archive checks below still run (the waiting
    # itself is what the late-event count measures).
    sentinel = _meeting_recording(d)
    time.sleep(2)
    _everyone_leaves(d, sentinel)
    wait_for(
        f"{RECORDINGS} recordings archived",
        lambda: all(_archived(d, r) for r in [*recordings, sentinel]),
        900,
        5,
    )
    finished = time.monotonic() - began

    def all_runs_done() -> list[dict[str, object]] | None:
        found = d.api("GET", f"/dags/{DAG_ID}/dagRuns", params={"limit": 1000})["dag_runs"]
        return None if any(run["state"] in ("queued", "running") for run in found) else list(found)

    runs = wait_for("every run finished", all_runs_done, 600, 5)
    d.api("PATCH", f"/dags/{DAG_ID}", json={"is_paused": True})
    events = _events_per_recording(d)
    late = _late_events(d, stored_since, datetime.now(UTC))
    late_after_restart = [e for e in late if datetime.fromisoformat(e["stored"]) >= restarted_at]
    reasons: dict[str, int] = {}
    for r in recordings:
        view = emulator_api(d, f"{RECORDING_PATH}/{r['id']}")["data"]
        key = f"{view['start_reason']['reason']} -> {view['stop_reason']['reason']}"
        reasons[key] = reasons.get(key, 0) + 1
    holders = d.triggerer_jobs()

    verified = sum(
        1
        for r in recordings
        if sha256(_archived(d, r)) == expected_digests(d, r["id"])["video"]  # type: ignore[arg-type]
    )
    gets = _file_gets(d)
    per_recording = [gets.get(r["id"], 0) for r in recordings]
    states = [run["state"] for run in runs]
    fired = [events.get(r["id"], 0) for r in recordings]
    summaries = sum(
        1
        for r in recordings
        if (d.archive / "uploaded" / f"{Path(r['output_file_name']).stem}.summary.json").is_file()
    )
    triggerer_logs = "".join(p.read_text(errors="replace") for p in d.logs.glob("triggerer-*.log"))
    leaks = [
        what
        for what, found in (
            ("API token", CANARY_TOKEN in triggerer_logs),
            ("presigned signature", bool(SIGNATURE.search(triggerer_logs))),
        )
        if found
    ]
    record(
        "9 event-driven",
        recordings=RECORDINGS,
        start_and_stop_reasons=reasons,
        watch_ran_on_at_kill=f"job {kill_job} ({holders.get(kill_job or -1)})",
        recordings_finished_while_no_triggerer_ran=len(finished_meanwhile),
        watch_taken_over_by=f"job {taken_over_by} ({holders.get(taken_over_by)})",
        archived_and_verified=f"{verified}/{RECORDINGS} (sha256), summaries {summaries}/{RECORDINGS}",
        file_gets_per_recording=f"min {min(per_recording)}, max {max(per_recording)} (video + audio = 2)",
        asset_events_per_recording=f"min {min(fired)}, max {max(fired)}, total {sum(fired)}",
        events_left_unconsumed_by_airflow_until_the_next_event=len(stranded),
        events_consumed_over_10s_after_stored=f"{len(late)} carrying "
        f"{sum(len(e['recordings']) for e in late)} recording(s); {len(late_after_restart)} of them "
        "stored after the restart; waits (s): "
        f"{sorted(e['waited_seconds'] for e in late)}",
        dag_runs=f"{len(runs)} ({states.count('success')} success): Airflow folds events stored together",
        all_archived_seconds_after_first_stop=round(finished),
        leaks_in_triggerer_logs=leaks,
    )
    # Preconditions: the recordings are the meetings' own, and the kill hit the running watch, with
    # recordings finishing while no triggerer ran, picked up by a restarted triggerer.
    assert reasons == {"RECORD_ON_START -> ALL_PEERS_LEFT": RECORDINGS}
    assert kill_job is not None
    assert holders.get(kill_job) in ("triggerer-1", "triggerer-2")
    assert len(finished_meanwhile) >= 2
    assert holders.get(taken_over_by) in ("triggerer-1", "triggerer-2")
    assert min(fired) >= 1
    assert verified == RECORDINGS
    assert summaries == RECORDINGS
    assert max(per_recording) == 2  # no recording downloaded twice, even if an event repeated
    assert all(state == "success" for state in states)
    assert not leaks
    assert not late, f"{len(late)} event(s) waited for a later one: {late}"
