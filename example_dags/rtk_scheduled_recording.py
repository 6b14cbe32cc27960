"""Record a recurring meeting slot, wait for the upload, archive video and audio, summarise the files.

Every weekday at 09:00 UTC: start recording the meeting (bounded by ``max_seconds`` so a stuck run can
never record forever), hold until the end of the slot, stop, wait for UPLOADED with the deferrable
sensor (no worker slot held while RealtimeKit uploads), stream the files to the archive, then read them
back and write a JSON summary (size, sha256) beside them.

Configuration:
- connection ``realtimekit_default`` (type ``realtimekit``);
- Variable ``rtk_archive_root``: where files go, any Airflow object-storage URL (default
  ``/tmp/rtk-archive``); ``s3://...`` uses ``aws_default`` unless you pass ``destination_conn_id``;
- params ``meeting_id`` and ``slot_seconds`` (override per run with ``--conf``).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import DAG, Param, task

from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator
from airflow_provider_rtk.operators.recording import (
    RealtimeKitStartRecordingOperator,
    RealtimeKitStopRecordingOperator,
)
from airflow_provider_rtk.sensors.recording import RealtimeKitRecordingSensor

# Dated by ``dag_run.run_after`` (when the run was due or triggered), which every run has: a run triggered
# by hand in Airflow 3 has no logical date, so no ``ds``.
ARCHIVE_ROOT = "{{ var.value.get('rtk_archive_root', '/tmp/rtk-archive') }}"
ARCHIVE = ARCHIVE_ROOT + "/{{ dag.dag_id }}/{{ dag_run.run_after | ds }}/"

with DAG(
    dag_id="rtk_scheduled_recording",
    description="Record a meeting slot and archive the recording",
    schedule="0 9 * * 1-5",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    params={
        "meeting_id": Param("bbbc7b9e-2f63-4bb2-a5f6-3d4cfa52b2e1", type="string", description="Meeting"),
        "slot_seconds": Param(1800, type="integer", minimum=1, description="How long to record"),
    },
    tags=["realtimekit", "example"],
) as dag:
    start = RealtimeKitStartRecordingOperator(
        task_id="start_recording",
        meeting_id="{{ params.meeting_id }}",
        max_seconds=3600,
        file_name_prefix="{{ dag.dag_id }}-{{ dag_run.run_after | ds_nodash }}",
        audio_config={"codec": "AAC", "channel": "stereo", "export_file": True},
        video_config={"codec": "H264", "width": 1280, "height": 720},
    )

    # Deferred: no worker slot is held while the meeting is being recorded.
    end_of_slot = DateTimeSensorAsync(
        task_id="end_of_slot",
        target_time=(
            "{{ (macros.datetime.fromisoformat("
            "ti.xcom_pull(task_ids='start_recording')['invoked_time'].replace('Z', '+00:00'))"
            " + macros.timedelta(seconds=params.slot_seconds)).isoformat() }}"
        ),
    )

    stop = RealtimeKitStopRecordingOperator(task_id="stop_recording", recording_id=start.output["id"])

    uploaded = RealtimeKitRecordingSensor(
        task_id="wait_for_upload",
        recording_id=start.output["id"],
        deferrable=True,
        poke_interval=30,
        timeout=6 * 3600,
    )

    archive = RealtimeKitDownloadRecordingOperator(
        task_id="archive",
        recording_id=start.output["id"],
        destination=ARCHIVE,
        include_audio=True,
    )

    @task
    def summarize(uris: list[str]) -> dict[str, dict[str, object]]:
        """Read every archived file back, and write ``summary.json`` (size, sha256) beside them."""
        import hashlib
        import json

        from airflow.sdk import ObjectStoragePath

        summary: dict[str, dict[str, object]] = {}
        for uri in uris:
            path = ObjectStoragePath(uri)
            digest = hashlib.sha256()
            size = 0
            with path.open("rb") as handle:
                while chunk := handle.read(8 << 20):
                    digest.update(chunk)
                    size += len(chunk)
            summary[path.name] = {"uri": uri, "size": size, "sha256": digest.hexdigest()}
        if uris:
            target = ObjectStoragePath(uris[0]).parent / "summary.json"
            target.write_text(json.dumps(summary, indent=2, sort_keys=True))
        return summary

    start >> end_of_slot >> stop >> uploaded >> archive
    summarize(archive.output)
