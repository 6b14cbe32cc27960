"""e2e: a recording to own storage with inline credentials, waited on with download URLs requested.

The canary credentials come from Variables (set by the harness); the secrets scenario then greps every
log, XCom and rendered field for them, for the API token and for presigned URL signatures.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator
from airflow_provider_rtk.operators.recording import (
    RealtimeKitGetRecordingOperator,
    RealtimeKitStartRecordingOperator,
    RealtimeKitStopRecordingOperator,
)
from airflow_provider_rtk.sensors.recording import RealtimeKitRecordingSensor

with DAG(
    dag_id="e2e_secrets",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"meeting_id": Param("bbbc7b9e-2f63-4bb2-a5f6-3d4cfa52b2e1", type="string")},
    tags=["e2e"],
) as dag:
    start = RealtimeKitStartRecordingOperator(
        task_id="start",
        meeting_id="{{ params.meeting_id }}",
        max_seconds=600,
        storage_config={
            "type": "aws",
            "bucket": "e2e-bucket",
            "region": "us-east-1",
            "access_key": "{{ var.value.e2e_access_key }}",
            "secret": "{{ var.value.e2e_storage_secret }}",
        },
    )
    stop = RealtimeKitStopRecordingOperator(task_id="stop", recording_id=start.output["id"])
    wait = RealtimeKitRecordingSensor(
        task_id="wait",
        recording_id=start.output["id"],
        deferrable=True,
        poke_interval=5,
        timeout=900,
        include_download_urls=True,
    )
    get = RealtimeKitGetRecordingOperator(
        task_id="get", recording_id=start.output["id"], include_download_urls=True
    )
    download = RealtimeKitDownloadRecordingOperator(
        task_id="download",
        recording_id=start.output["id"],
        destination="{{ var.value.rtk_archive_root }}/e2e_secrets/{{ params.meeting_id }}/",
    )
    start >> stop >> wait >> get >> download
