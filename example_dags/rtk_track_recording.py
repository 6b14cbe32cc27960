"""Record selected participants' audio tracks, then archive one file per participant.

Track recording writes one WebM file per participant (layer). The DAG starts it for the ``user_ids``
given in the run's params, keeps it running for ``slot_seconds``, stops it, waits for UPLOADED without
holding a worker slot, and archives every per-participant file.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import DAG, Param

from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator
from airflow_provider_rtk.operators.recording import (
    RealtimeKitStartTrackRecordingOperator,
    RealtimeKitStopRecordingOperator,
)
from airflow_provider_rtk.sensors.recording import RealtimeKitRecordingSensor

with DAG(
    dag_id="rtk_track_recording",
    description="Record participant audio tracks and archive one file per participant",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=30)},
    params={
        "meeting_id": Param("bbbc7b9e-2f63-4bb2-a5f6-3d4cfa52b2e1", type="string"),
        "user_ids": Param(["host", "guest"], type="array", description="Participants to record (<= 100)"),
        "slot_seconds": Param(1800, type="integer", minimum=1),
    },
    render_template_as_native_obj=True,
    tags=["realtimekit", "example"],
) as dag:
    start = RealtimeKitStartTrackRecordingOperator(
        task_id="start_track_recording",
        meeting_id="{{ params.meeting_id }}",
        user_ids="{{ params.user_ids }}",
        layers={
            "default": {
                "file_name_prefix": "{{ dag.dag_id }}-{{ dag_run.run_after | ds_nodash }}",
                "media_kind": "audio",
            }
        },
    )

    # Deferred: no worker slot is held while the meeting is being recorded.
    end_of_slot = DateTimeSensorAsync(
        task_id="end_of_slot",
        target_time=(
            "{{ (macros.datetime.fromisoformat("
            "ti.xcom_pull(task_ids='start_track_recording')['invoked_time'].replace('Z', '+00:00'))"
            " + macros.timedelta(seconds=params.slot_seconds)).isoformat() }}"
        ),
    )

    stop = RealtimeKitStopRecordingOperator(task_id="stop_recording", recording_id=start.output["id"])

    uploaded = RealtimeKitRecordingSensor(
        task_id="wait_for_upload", recording_id=start.output["id"], deferrable=True, timeout=6 * 3600
    )

    archive = RealtimeKitDownloadRecordingOperator(
        task_id="archive_tracks",
        recording_id=start.output["id"],
        # Dated by run_after, which every run has (a manual run has no logical date, so no ``ds``).
        destination="{{ var.value.get('rtk_archive_root', '/tmp/rtk-archive') }}/{{ dag.dag_id }}/"
        "{{ dag_run.run_after | ds }}/",
    )

    start >> end_of_slot >> stop >> uploaded >> archive
