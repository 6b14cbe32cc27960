"""A first RealtimeKit DAG: record a meeting, stop, wait for the upload, archive the video.

Needs the ``realtimekit_default`` connection (the README's quickstart points it at ``rtk-emulator``).
Files go to the Variable ``rtk_archive_root`` (default ``/tmp/rtk-archive``), in ``first/``.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param

from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator
from airflow_provider_rtk.operators.recording import (
    RealtimeKitStartRecordingOperator,
    RealtimeKitStopRecordingOperator,
)
from airflow_provider_rtk.sensors.recording import RealtimeKitRecordingSensor

with DAG(
    dag_id="rtk_first_recording",
    schedule=None,
    params={"meeting_id": Param("bbbc7b9e-2f63-4bb2-a5f6-3d4cfa52b2e1", type="string")},
) as dag:
    start = RealtimeKitStartRecordingOperator(
        task_id="start",
        meeting_id="{{ params.meeting_id }}",
        max_seconds=3600,
        wait_for_recording=True,  # succeed once the recording bot has joined (RECORDING)
        poll_interval=1,
    )
    stop = RealtimeKitStopRecordingOperator(task_id="stop", recording_id=start.output["id"])
    uploaded = RealtimeKitRecordingSensor(
        task_id="wait_for_upload", recording_id=start.output["id"], poke_interval=2, timeout=600
    )
    archive = RealtimeKitDownloadRecordingOperator(
        task_id="archive",
        recording_id=start.output["id"],
        destination="{{ var.value.get('rtk_archive_root', '/tmp/rtk-archive') }}/first/",
    )
    start >> stop >> uploaded >> archive
