"""RealtimeKitRecordingSensor inside real DAG runs (dag.test on SQLite), against the emulator."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from airflow import __version__ as airflow_version

from airflow_provider_rtk.exceptions import RealtimeKitInputError
from airflow_provider_rtk.sensors.recording import RealtimeKitRecordingSensor
from airflow_provider_rtk.triggers.recording import RealtimeKitRecordingTrigger
from tests.airflow_harness import DagRunResult, run_dag_source

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1
    from airflow.exceptions import TaskDeferred

#: A well-formed recording id, for tests about other arguments.
SOME_ID = "97440c6a-140b-40a9-9499-b23fd7a3868a"

MODES = {
    "poke": {"mode": "poke", "deferrable": False},
    "reschedule": {"mode": "reschedule", "deferrable": False},
    "deferrable": {"mode": "poke", "deferrable": True},
}


def run_sensor(dag_id: str, **sensor_kwargs: Any) -> DagRunResult:
    """Run a DAG holding one sensor task, ``wait``."""
    args = ", ".join(f"{name}={value!r}" for name, value in sensor_kwargs.items())
    source = f"""
from datetime import datetime
from airflow.sdk import DAG
from airflow_provider_rtk.sensors.recording import RealtimeKitRecordingSensor

with DAG(
    {dag_id!r}, schedule=None, start_date=datetime(2024, 1, 1), catchup=False, params={{"rid": ""}}
) as dag:
    RealtimeKitRecordingSensor(task_id="wait", {args})
"""
    return run_dag_source(source, dag_id)


@pytest.fixture
def later(emulator) -> Iterator[Any]:
    """``later(seconds, recording_id, status, **kw)``: change a recording's status ``seconds`` after the
    DAG first asked for it, so that the sensor sees it waiting first."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def change(seconds: float, recording_id: str, status: str, kwargs: dict[str, Any]) -> None:
        while not stop.is_set() and emulator.count("GET", recording_id) == 0:
            stop.wait(0.02)
        if not stop.wait(seconds):
            emulator.set_status(recording_id, status, **kwargs)

    def schedule(seconds: float, recording_id: str, status: str, **kwargs: Any) -> None:
        thread = threading.Thread(target=change, args=(seconds, recording_id, status, kwargs), daemon=True)
        threads.append(thread)
        thread.start()

    yield schedule
    stop.set()
    for thread in threads:
        thread.join()


@pytest.fixture
def trigger_events(monkeypatch) -> list[dict[str, Any]]:
    """Every event a RealtimeKitRecordingTrigger emits in this process (dag.test runs them inline)."""
    events: list[dict[str, Any]] = []
    wait = RealtimeKitRecordingTrigger._wait

    async def spy(self: RealtimeKitRecordingTrigger) -> Any:
        event = await wait(self)
        events.append(dict(event))
        return event

    monkeypatch.setattr(RealtimeKitRecordingTrigger, "_wait", spy)
    return events


def reschedules(dag_id: str) -> int:
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session

    with create_session() as session:
        query = session.query(TaskReschedule).join(TaskInstance, TaskReschedule.ti_id == TaskInstance.id)
        return int(query.filter(TaskInstance.dag_id == dag_id).count())


@pytest.mark.parametrize("mode", MODES)
def test_reaches_uploaded(emulator, later, trigger_events, mode):
    recording_id = emulator.seed_recording(status="RECORDING")["id"]
    later(0.3, recording_id, "UPLOADING")  # UPLOADED 0.3 s after that
    dag_id = f"rtk_sensor_ok_{mode}"
    result = run_sensor(dag_id, recording_id=recording_id, poke_interval=0.2, timeout=30, **MODES[mode])
    assert result.task_states == {"wait": "success"}
    xcom = result.xcoms["wait"]
    assert xcom["id"] == recording_id
    assert xcom["status"] == "UPLOADED"
    assert xcom["download_url"] is None
    if mode == "deferrable":
        [event] = trigger_events
        assert event["status"] == "success"
        assert event["recording"] == xcom
    else:
        assert trigger_events == []
    assert (reschedules(dag_id) > 0) == (mode == "reschedule")


@pytest.mark.parametrize("mode", MODES)
def test_errored_fails_at_once(emulator, later, capfd, trigger_events, mode):
    recording_id = emulator.seed_recording(status="RECORDING")["id"]
    later(0.3, recording_id, "ERRORED", stop_reason="INTERNAL_ERROR")
    started = time.monotonic()
    result = run_sensor(
        f"rtk_sensor_errored_{mode}",
        recording_id=recording_id,
        poke_interval=0.2,
        timeout=60,
        retries=2,
        **MODES[mode],
    )
    assert result.task_states == {"wait": "failed"}
    assert result.tries == {"wait": 1}  # not retried: an ERRORED recording stays ERRORED
    assert time.monotonic() - started < 20
    message = f"recording {recording_id} is ERRORED (stop reason: INTERNAL_ERROR)"
    assert message in capfd.readouterr().out
    if mode == "deferrable":
        assert [(e["status"], e["message"]) for e in trigger_events] == [("failed", message)]


AIRFLOW_3_1 = airflow_version.startswith("3.1.")


@pytest.mark.parametrize(
    "mode",
    [
        "poke",
        pytest.param(
            "reschedule",
            marks=pytest.mark.skipif(
                AIRFLOW_3_1,
                reason="Airflow 3.1's dag.test() hands sensors the first reschedule date as a string "
                "(its in-process supervisor skips response validation), so a rescheduled sensor cannot "
                "time out there; a real supervisor parses it",
            ),
        ),
        "deferrable",
    ],
)
def test_timeout_with_soft_fail_skips(emulator, trigger_events, mode):
    recording_id = emulator.seed_recording(status="RECORDING")["id"]
    result = run_sensor(
        f"rtk_sensor_soft_{mode}",
        recording_id=recording_id,
        poke_interval=0.2,
        timeout=1,
        soft_fail=True,
        **MODES[mode],
    )
    assert result.task_states == {"wait": "skipped"}
    assert [e["status"] for e in trigger_events] == (["timeout"] if mode == "deferrable" else [])


def test_deferred_timeout_without_soft_fail_fails(emulator, capfd):
    recording_id = emulator.seed_recording(status="RECORDING")["id"]
    result = run_sensor(
        "rtk_sensor_timeout", recording_id=recording_id, poke_interval=0.2, timeout=1, **MODES["deferrable"]
    )
    assert result.task_states == {"wait": "failed"}
    assert "did not reach UPLOADED before the deadline" in capfd.readouterr().out


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_unknown_recording_fails_clearly(emulator, capfd, mode):
    unknown = str(uuid.uuid4())
    result = run_sensor(f"rtk_sensor_404_{mode}", recording_id=unknown, retries=2, timeout=30, **MODES[mode])
    assert result.task_states == {"wait": "failed"}
    assert result.tries == {"wait": 1}
    assert f"recording {unknown} not found (HTTP 404)" in capfd.readouterr().out


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_download_urls_in_xcom_only_when_asked_and_masked_in_logs(emulator, mode):
    from airflow.sdk._shared.secrets_masker import redact

    recording_id = emulator.seed_recording(status="UPLOADING")["id"]
    result = run_sensor(
        f"rtk_sensor_urls_{mode}",
        recording_id="{{ params.rid or '" + recording_id + "' }}",  # templated
        include_download_urls=True,
        poke_interval=0.2,
        timeout=30,
        **MODES[mode],
    )
    assert result.task_states == {"wait": "success"}
    url = result.xcoms["wait"]["download_url"]
    assert f"/_files/{recording_id}/" in url
    signature = url.split("X-Amz-Signature=")[1]
    assert signature not in redact(f"task log line with {url}")  # registered with the secrets masker


def test_deferral_carries_the_remaining_timeout(emulator):
    recording_id = emulator.seed_recording(status="RECORDING")["id"]
    sensor = RealtimeKitRecordingSensor(
        task_id="wait",
        recording_id=recording_id,
        deferrable=True,
        timeout=600,
        poke_interval=5,
        target_statuses=["UPLOADING", "UPLOADED"],
        failure_statuses=[],
    )
    before = time.time()
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(context={})  # type: ignore[arg-type]
    trigger = info.value.trigger
    assert isinstance(trigger, RealtimeKitRecordingTrigger)
    assert before + 599 < trigger.end_time <= time.time() + 600
    assert trigger.poll_interval == 5
    assert trigger.target_statuses == ("UPLOADING", "UPLOADED")
    assert trigger.failure_statuses == ()
    assert emulator.count("GET") == 1  # it checked once before deferring


def test_no_deferral_when_already_done(emulator):
    recording = emulator.seed_recording(status="UPLOADED")
    sensor = RealtimeKitRecordingSensor(task_id="wait", recording_id=recording["id"], deferrable=True)
    assert sensor.execute(context={})["status"] == "UPLOADED"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{"target_statuses": ["DONE"]}, {"target_statuses": []}, {"failure_statuses": ["UPLOADED"]}],
)
def test_bad_statuses_fail_when_the_dag_is_built(kwargs):
    with pytest.raises(RealtimeKitInputError):
        RealtimeKitRecordingSensor(task_id="wait", recording_id=SOME_ID, **kwargs)


def test_a_poke_interval_longer_than_the_default_max_backoff_is_accepted():
    sensor = RealtimeKitRecordingSensor(task_id="slow", recording_id=SOME_ID, poke_interval=600)
    assert sensor.max_backoff == 600
    with pytest.raises(RealtimeKitInputError, match=r"^max_backoff: "):
        RealtimeKitRecordingSensor(task_id="bad", recording_id=SOME_ID, poke_interval=600, max_backoff=60)


def test_template_fields_and_default_deferrable(monkeypatch):
    assert RealtimeKitRecordingSensor.template_fields == ("recording_id", "account_id", "app_id")
    assert RealtimeKitRecordingSensor(task_id="a", recording_id=SOME_ID).deferrable is False
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert RealtimeKitRecordingSensor(task_id="b", recording_id=SOME_ID).deferrable is True


@pytest.mark.parametrize(
    ("event_status", "outcome"),
    [("timeout", "skipped"), ("failed", "skipped"), ("error", "failed")],
)
def test_deferred_soft_fail_matches_poke_mode(event_status: str, outcome: str):
    """soft_fail skips a timeout or a failure status, but an API error the trigger gave up on fails, as
    an exception from ``poke`` does."""
    from airflow_provider_rtk.exceptions import RealtimeKitError

    try:
        from airflow.sdk.exceptions import AirflowSkipException
    except ImportError:  # Airflow 3.1
        from airflow.exceptions import AirflowSkipException  # type: ignore[attr-defined,no-redef]

    sensor = RealtimeKitRecordingSensor(task_id="s", recording_id=SOME_ID, soft_fail=True, deferrable=True)
    event = {
        "status": event_status,
        "recording_id": "r",
        "recording_status": "ERRORED" if event_status == "failed" else None,
        "message": f"{event_status} happened",
        "recording": None,
    }
    expected = AirflowSkipException if outcome == "skipped" else RealtimeKitError
    with pytest.raises(expected) as info:
        sensor.resume_execution("execute_complete", {"event": event}, {})  # type: ignore[arg-type]
    if outcome == "failed":
        assert not isinstance(info.value, AirflowSkipException)
        assert "error happened" in str(info.value)


OUTAGES = {
    "503-outage": {"status": 503, "message": "upstream down"},
    "429-storm": {"status": 429, "retry_after": 0},
}


RESCHEDULE_ON_3_1 = pytest.mark.skipif(
    AIRFLOW_3_1,
    reason="Airflow 3.1's dag.test() hands sensors the first reschedule date as a string, so a rescheduled "
    "sensor whose poke returns False fails computing its run duration there; a real supervisor parses it",
)


@pytest.mark.parametrize("outage", OUTAGES)
@pytest.mark.parametrize("mode", ["poke", pytest.param("reschedule", marks=RESCHEDULE_ON_3_1), "deferrable"])
def test_survives_an_outage_in_a_dag_run(emulator, capfd, trigger_events, mode, outage):
    """Issue 9.2: 20 failed polls in a row (4x the 5 that used to fail a deferred wait) do not end the
    wait; in poke and deferrable mode a warning is logged at the 1st, 2nd, 4th... failure."""
    recording_id = emulator.seed_recording(status="UPLOADED")["id"]
    fault = emulator.add_fault(method="GET", path=recording_id, times=20, **OUTAGES[outage])
    result = run_sensor(
        f"rtk_sensor_outage_{mode}_{outage.replace('-', '_')}",
        recording_id=recording_id,
        poke_interval=0.05,
        max_backoff=0.1,
        timeout=120,
        **MODES[mode],
    )
    assert result.task_states == {"wait": "success"}
    assert result.tries == {"wait": 1}  # survived inside one try: not by task retries
    assert result.xcoms["wait"]["status"] == "UPLOADED"
    assert fault.hits == 20
    logs = capfd.readouterr().out
    assert f"Polling recording {recording_id} failed (1 in a row" in logs
    if mode != "reschedule":  # a rescheduled poke starts with no memory of the failures before it
        assert f"Polling recording {recording_id} failed (16 in a row" in logs
        assert "RealtimeKit API answered again" in logs
    if mode == "deferrable":
        assert [e["status"] for e in trigger_events] == ["success"]


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_an_outage_outlasting_the_timeout_times_out(emulator, trigger_events, mode):
    recording_id = emulator.seed_recording(status="UPLOADED")["id"]
    emulator.add_fault(method="GET", path=recording_id, status=503, times=None)
    result = run_sensor(
        f"rtk_sensor_outage_timeout_{mode}",
        recording_id=recording_id,
        poke_interval=0.05,
        max_backoff=0.1,
        timeout=1,
        soft_fail=True,
        **MODES[mode],
    )
    assert result.task_states == {"wait": "skipped"}  # the sensor timeout, which soft_fail skips
    assert emulator.count("GET", recording_id) >= 2  # the outage cost polls, not the wait
    assert [e["status"] for e in trigger_events] == (["timeout"] if mode == "deferrable" else [])


def test_poke_returns_false_on_a_transient_error_and_fails_on_a_permanent_one(emulator):
    recording_id = emulator.seed_recording(status="UPLOADED")["id"]
    sensor = RealtimeKitRecordingSensor(task_id="s", recording_id=recording_id, poke_interval=5)
    emulator.add_fault(method="GET", path=recording_id, status=429, retry_after=7, times=1)
    assert sensor.poke({}) is False  # type: ignore[arg-type]
    assert sensor._get_next_poke_interval(0.0, lambda: 0.0, 1) == 7  # the Retry-After, not poke_interval
    assert sensor.poke({}).xcom_value["status"] == "UPLOADED"  # type: ignore[arg-type,union-attr]
    from airflow_provider_rtk._core.compat import AirflowFailException

    missing = RealtimeKitRecordingSensor(task_id="m", recording_id=str(uuid.uuid4()))
    with pytest.raises(AirflowFailException, match="check recording_id, account_id and app_id"):
        missing.poke({})  # type: ignore[arg-type]


def test_no_presigned_url_in_trigger_events_or_logs(emulator, later, capfd, caplog, trigger_events):
    """Issue 9.3: a deferred wait asked for download URLs fetches them in the resuming task; neither the
    triggerer side (event, its log lines) nor the task log shows a signature."""
    import logging

    caplog.set_level(logging.DEBUG)
    recording_id = emulator.seed_recording(status="RECORDING")["id"]
    later(0.3, recording_id, "UPLOADING")  # after the first poke: the wait is deferred
    result = run_sensor(
        "rtk_sensor_no_url_in_logs",
        recording_id=recording_id,
        include_download_urls=True,
        poke_interval=0.1,
        timeout=60,
        **MODES["deferrable"],
    )
    assert result.task_states == {"wait": "success"}
    url = result.xcoms["wait"]["download_url"]  # asked for: in the XCom, fetched by execute_complete
    signature = url.split("X-Amz-Signature=")[1]
    [event] = trigger_events
    assert event["status"] == "success"
    assert event["recording"]["download_url"] is None
    assert signature not in repr(event)
    captured = capfd.readouterr()
    logs = captured.out + captured.err + caplog.text
    assert recording_id in logs  # the run's logs were captured
    assert signature not in logs
    assert "X-Amz-Signature=" not in logs


TIMED_OUTAGES = {
    "503-for-3s": {"status": 503},
    "429-retry-after-1-for-3s": {"status": 429, "retry_after": 1},
}


@pytest.mark.parametrize("outage", TIMED_OUTAGES)
def test_deferred_wait_survives_a_3_second_outage_in_a_dag_run(emulator, trigger_events, outage):
    """Time-based: 3 s of 503s (or 429s) is 15 poll intervals of 0.2 s. The outage starts at the sensor's
    first poke (the recording is RECORDING then), so the whole of it falls on the deferred wait; the
    recording is UPLOADED behind it."""
    recording_id = emulator.seed_recording(status="RECORDING")["id"]

    def outage_at_first_poke() -> None:
        for _ in range(3000):
            if any(recording_id in r.path and r.status == 200 for r in emulator.requests):  # answered
                emulator.add_fault(method="GET", path=recording_id, duration=3.0, **TIMED_OUTAGES[outage])
                emulator.set_status(recording_id, "UPLOADED")
                return
            time.sleep(0.01)

    thread = threading.Thread(target=outage_at_first_poke, daemon=True)
    thread.start()
    result = run_sensor(
        f"rtk_sensor_timed_{outage.replace('-', '_')}",
        recording_id=recording_id,
        poke_interval=0.2,
        max_backoff=0.4,
        timeout=120,
        **MODES["deferrable"],
    )
    thread.join()
    assert result.task_states == {"wait": "success"}
    assert result.tries == {"wait": 1}
    assert [e["status"] for e in trigger_events] == ["success"]
    failed = [r for r in emulator.requests if r.status == TIMED_OUTAGES[outage]["status"]]
    assert len(failed) >= 2  # the trigger polled through the outage


def test_deferred_wait_times_out_when_the_outage_outlasts_it(emulator, trigger_events):
    recording_id = emulator.seed_recording(status="UPLOADED")["id"]
    emulator.add_fault(method="GET", path=recording_id, status=503, duration=60.0)
    result = run_sensor(
        "rtk_sensor_timed_outlasting",
        recording_id=recording_id,
        poke_interval=0.2,
        max_backoff=0.4,
        timeout=2,
        **MODES["deferrable"],
    )
    assert result.task_states == {"wait": "failed"}
    assert [e["status"] for e in trigger_events] == ["timeout"]


def test_a_literal_recording_id_that_is_no_uuid_fails_when_the_dag_is_parsed():
    """As the start operator's meeting_id does: the error comes at parse time, not at run time."""
    with pytest.raises(RealtimeKitInputError, match=r"^recording_id: must be a UUID"):
        RealtimeKitRecordingSensor(task_id="wait", recording_id="rec-1")
    templated = RealtimeKitRecordingSensor(task_id="later", recording_id="{{ params.rid }}")
    assert templated.recording_id == "{{ params.rid }}"  # judged once rendered
