"""DAG files as users write them (Airflow 3 styles), for the test-kit tests and ``benchmarks/dag_tests.py``.

Each is source text: a test writes it into a file of its own (``write_dag``), as a user's ``dags/``
folder would hold it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

__all__ = ["ASSET_TRIGGERED", "TYPICAL", "TYPICAL_DAG_ID", "typical_dag", "write_dag"]

TYPICAL_DAG_ID = "user_record_meeting"

#: The typical user DAG: start recording (waiting for the bot), stop, wait for the upload with the
#: sensor at its default ``poke_interval`` (deferrable or not), download. A ``@dag`` function called
#: without assigning its result.
TYPICAL = '''
"""Record a meeting, stop, wait for the upload and archive it."""

from airflow.sdk import Param, dag

from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator
from airflow_provider_rtk.operators.recording import (
    RealtimeKitStartRecordingOperator,
    RealtimeKitStopRecordingOperator,
)
from airflow_provider_rtk.sensors.recording import RealtimeKitRecordingSensor


@dag(
    dag_id="{dag_id}",
    schedule=None,
    params={{"meeting_id": Param(type="string"), "archive": Param(type="string")}},
)
def record_meeting():
    start = RealtimeKitStartRecordingOperator(
        task_id="start_recording", meeting_id="{{{{ params.meeting_id }}}}", wait_for_recording=True
    )
    stop = RealtimeKitStopRecordingOperator(task_id="stop_recording", recording_id=start.output["id"])
    uploaded = RealtimeKitRecordingSensor(
        task_id="wait_for_upload", recording_id=start.output["id"], deferrable={deferrable}
    )
    archive = RealtimeKitDownloadRecordingOperator(
        task_id="archive", recording_id=start.output["id"], destination="{{{{ params.archive }}}}"
    )
    start >> stop >> uploaded >> archive


record_meeting()
'''

#: The README's event-driven example as a user writes it: ``with DAG(...):`` without ``as``, scheduled
#: on the recordings asset, archiving every recording of the triggering events, then listing them with
#: ``airflow_provider_rtk.assets``.
ASSET_TRIGGERED = '''
"""Archive every recording the event trigger reports as uploaded."""

import os

from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_rtk.assets import recordings_from_asset_events
from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator
from airflow_provider_rtk.triggers.events import RealtimeKitRecordingEventTrigger

rtk = RealtimeKitRecordingEventTrigger(statuses=["UPLOADED"], poll_interval=60)
uploaded = Asset("realtimekit://acc/app/recordings", watchers=[AssetWatcher(name="uploaded", trigger=rtk)])
with DAG(dag_id="{dag_id}", schedule=[uploaded]):

    @task
    def seen(**context):
        return [[r["id"], r["status"], r["download_url"]] for r in recordings_from_asset_events(context)]

    RealtimeKitDownloadRecordingOperator(
        task_id="archive", from_asset_event=True, destination=os.environ["USER_ARCHIVE"]
    ) >> seen()
'''


def typical_dag(*, deferrable: bool = True, dag_id: str = TYPICAL_DAG_ID) -> str:
    """The typical user DAG's source, its sensor deferrable or poking."""
    return TYPICAL.format(dag_id=dag_id, deferrable=deferrable)


def write_dag(folder: Path, source: str, name: str = "user_dag.py") -> Path:
    """Write ``source`` as ``folder/name`` (the folder becomes the run's DAGs folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(source).lstrip())
    return path
