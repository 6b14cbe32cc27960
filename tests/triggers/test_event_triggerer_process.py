"""RealtimeKitRecordingEventTrigger in a real ``airflow triggerer`` process (Airflow 3.3): two assets watched
with identical arguments in one DAG file (one trigger row), the asset state store through the triggerer's
supervisor, a restart, and a long outage of a watcher's own requests while the shared poll goes on with a
subscriber queue of 2 (``[triggerer] shared_stream_subscriber_queue_size``). The metadata DB is the test
session's SQLite file; the API is the emulator on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.triggers.test_event_trigger import ago

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.skipif(
        not Path(__import__("airflow").__file__).parent.joinpath("triggers", "shared_stream.py").is_file(),
        reason="shared streams and the asset state store: Airflow 3.3+",
    ),
    # A triggerer process sharing 2 cores with a whole suite (CI runs two side by side) can be slow to act.
    pytest.mark.timeout(900),
]

DAG_SOURCE = """
from airflow.sdk import DAG, Asset, AssetWatcher
from airflow_provider_rtk.triggers.events import RealtimeKitRecordingEventTrigger


def watched(name, app):
    trigger = RealtimeKitRecordingEventTrigger(poll_interval=0.5, max_backoff=2.0, lookback=0)
    watcher = AssetWatcher(name=name, trigger=trigger)
    return Asset(name=name, uri=f"realtimekit://acc/{app}/recordings", watchers=[watcher])


with DAG(
    dag_id="rtk_two_watched_assets",
    schedule=[watched("uploaded_a", "app-a"), watched("uploaded_b", "app-b")],
    is_paused_upon_creation=False,  # watchers run for active, unpaused DAGs only
):
    pass
"""


def until(condition: Callable[[], Any], timeout: float, what: str, log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = log.read_text()[-4000:] if log is not None and log.exists() else ""
            raise AssertionError(
                f"timed out waiting for {what}; events by asset: {events_by_asset()}\n{tail}"
            )
        time.sleep(0.2)


#: The assets this test's DAG watches; the session's database also holds other tests' assets and events.
WATCHED = ("uploaded_a", "uploaded_b")


def events_by_asset() -> dict[str, list[str]]:
    """Watched asset name -> the recording ids of its trigger events, in storage order (read from the DB)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    out: dict[str, list[str]] = {}
    with create_session() as session:
        rows = session.execute(
            select(AssetModel.name, AssetEvent.extra)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name.in_(WATCHED))
            .order_by(AssetEvent.id)
        ).all()
    for name, extra in rows:
        payload = (extra or {}).get("payload") or {}
        recordings = payload.get("recordings") if isinstance(payload, dict) else None
        for recording in recordings if isinstance(recordings, list) else [payload]:
            if isinstance(recording, dict) and recording.get("id"):
                out.setdefault(name, []).append(recording["id"])
    return out


def state_rows() -> dict[tuple[str, str], Any]:
    """(watched asset name, key) -> value of the asset state store rows."""
    from airflow.models.asset import AssetModel
    from airflow.models.asset_state_store import AssetStateStoreModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetModel.name, AssetStateStoreModel.key, AssetStateStoreModel.value)
            .join(AssetModel, AssetStateStoreModel.asset_id == AssetModel.id)
            .where(AssetModel.name.in_(WATCHED))
        ).all()
    return {(name, key): json.loads(value) for name, key, value in rows}


@pytest.fixture
def deployment(emulator: Any, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """The DAG synced to the DB; a function starting ``airflow triggerer`` (killed at teardown)."""
    from airflow_provider_rtk.testing import dags

    dags.migrate_db()
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "rtk_two_watched_assets.py").write_text(textwrap.dedent(DAG_SOURCE))
    saved = os.environ.get("AIRFLOW__CORE__DAGS_FOLDER")
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(folder)
    try:
        for _ in range(2):  # the second pass sees the DAG active and adds its watchers' trigger
            dags._sync(folder / "rtk_two_watched_assets.py")
    finally:
        if saved is not None:
            os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = saved
    env = {
        **os.environ,
        **emulator.env(),
        "AIRFLOW__CORE__DAGS_FOLDER": str(folder),
        "AIRFLOW__TRIGGERER__SHARED_STREAM_SUBSCRIBER_QUEUE_SIZE": "2",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        log = (tmp_path / f"triggerer-{len(started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "triggerer", "--capacity", "10"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.log_path = Path(log.name)  # type: ignore[attr-defined]
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def test_two_watched_assets_in_a_real_triggerer(emulator, deployment):
    from airflow.models.asset import AssetModel, AssetWatcherModel
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook

    with create_session() as session:
        watching = session.execute(
            select(AssetWatcherModel.trigger_id, Trigger.classpath)
            .join(AssetModel, AssetWatcherModel.asset_id == AssetModel.id)
            .join(Trigger, AssetWatcherModel.trigger_id == Trigger.id)
            .where(AssetModel.name.in_(WATCHED))
        ).all()
    # identical arguments in one file: one trigger row, two watchers
    assert len(watching) == 2
    assert len({trigger_id for trigger_id, _ in watching}) == 1
    assert all(classpath.endswith("RecordingEventTrigger") for _, classpath in watching)

    # open for two hours: outside the shared window, tracked by id
    old = emulator.seed_recording(status="RECORDING", invoked_time=ago(hours=2))
    first = emulator.seed_recording(status="RECORDING")
    second = emulator.seed_recording(status="RECORDING")
    hook = RealtimeKitHook()

    triggerer = deployment()
    log = triggerer.log_path  # type: ignore[attr-defined]
    until(lambda: emulator.count("GET", r"/recordings$") >= 6, 120, "the triggerer's first polls", log)
    hook.stop_recording(first["id"])
    until(
        lambda: len(events_by_asset()) == 2 and all(first["id"] in ids for ids in events_by_asset().values()),
        240,
        "the first event on both assets",
        log,
    )
    key = "realtimekit_watch_"  # the watcher's key, whatever its hash (the index key aside)

    def saved_after_first() -> set[str]:
        return {
            name
            for (name, row_key), value in state_rows().items()
            if row_key.startswith(key)
            and row_key != "realtimekit_watch_index"
            and first["id"] not in json.dumps(value.get("open"))
            and old["id"] in json.dumps(value.get("open"))
        }

    assert until(
        lambda: saved_after_first() == {"uploaded_a", "uploaded_b"}, 240, "the state under each asset", log
    )
    time.sleep(2)  # a few polls: the state after the event is saved
    stop(triggerer)

    hook.stop_recording(second["id"])  # finishes while no triggerer runs
    emulator.set_status(old["id"], "UPLOADED")  # so does the long-open one, outside the new shared window
    # The watcher must fetch it by id; that fetch fails (503) until the fault is cleared below, while the
    # shared poll goes on broadcasting a snapshot every 0.5 s to a subscriber queue of 2.
    fetch_path = rf"/recordings/{old['id']}$"
    emulator.add_fault(method="GET", path=fetch_path, status=503, times=None, duration=600)
    again = deployment()
    log2 = again.log_path  # type: ignore[attr-defined]

    def failed_fetches() -> int:
        return sum(1 for r in emulator.requests if r.path.endswith(old["id"]) and r.status == 503)

    until(lambda: failed_fetches() >= 8, 180, "the watcher's fetch failing 8 times", log2)
    polls_during_outage = emulator.count("GET", r"/recordings$")
    until(lambda: emulator.count("GET", r"/recordings$") >= polls_during_outage + 10, 240, "more polls", log2)
    assert all(old["id"] not in ids for ids in events_by_asset().values())  # not reported while failing
    assert again.poll() is None
    emulator.clear_faults()
    until(
        lambda: all({second["id"], old["id"]} <= set(ids) for ids in events_by_asset().values()),
        120,
        "the events of the recordings finished meanwhile",
        log2,
    )
    time.sleep(3)
    events = events_by_asset()
    stop(again)
    text = log.read_text() + log2.read_text()
    for name in ("uploaded_a", "uploaded_b"):
        assert sorted(events[name]) == sorted([first["id"], second["id"], old["id"]])  # none missed or twice
    assert "Overflow" not in text
    assert "exceeded maxsize" not in text
    assert "in memory" not in text
    assert "needs exactly one" not in text
    assert "resuming from the saved state" in text
    assert "fetching finished recordings failing" in text  # logged by the watcher, naming its assets
    assert failed_fetches() >= 8
    watcher_lines = [line for line in text.splitlines() if "RealtimeKit watch (" in line]
    assert watcher_lines
    assert all("'uploaded_a'" in line and "'uploaded_b'" in line for line in watcher_lines)
