"""e2e: archive one given recording (``make e2e`` worker-loss scenario: a large file, a killed worker)."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator

with DAG(
    dag_id="e2e_download",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=5)},
    params={"recording_id": Param("", type="string")},
    tags=["e2e"],
) as dag:
    RealtimeKitDownloadRecordingOperator(
        task_id="download",
        recording_id="{{ params.recording_id }}",
        destination="{{ var.value.rtk_archive_root }}/e2e_download/{{ params.recording_id }}/",
        include_audio=False,
    )
