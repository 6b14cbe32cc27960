"""e2e: start -> stop -> deferrable wait -> download, one recording per run (``make e2e`` load scenarios)."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator
from airflow_provider_rtk.operators.recording import (
    RealtimeKitStartRecordingOperator,
    RealtimeKitStopRecordingOperator,
)
from airflow_provider_rtk.sensors.recording import RealtimeKitRecordingSensor

with DAG(
    dag_id="e2e_load",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1000,
    max_active_tasks=1000,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=5)},
    params={"meeting_id": Param("bbbc7b9e-2f63-4bb2-a5f6-3d4cfa52b2e1", type="string")},
    tags=["e2e"],
) as dag:
    start = RealtimeKitStartRecordingOperator(
        task_id="start", meeting_id="{{ params.meeting_id }}", max_seconds=3600
    )
    stop = RealtimeKitStopRecordingOperator(task_id="stop", recording_id=start.output["id"])
    wait = RealtimeKitRecordingSensor(
        task_id="wait", recording_id=start.output["id"], deferrable=True, poke_interval=10, timeout=3600
    )
    download = RealtimeKitDownloadRecordingOperator(
        task_id="download",
        recording_id=start.output["id"],
        destination="{{ var.value.rtk_archive_root }}/e2e_load/{{ params.meeting_id }}/",
        include_audio=True,
    )
    start >> stop >> wait >> download
