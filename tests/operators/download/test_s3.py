"""Archiving to S3 through an Airflow ``aws`` connection, against moto's S3 server on loopback."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from airflow_provider_rtk.exceptions import RealtimeKitDownloadError
from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator
from tests.operators.download.conftest import S3Bucket, asset_events, file_requests, run_dag

Run = Callable[..., list[str]]
MiB = 1 << 20


def test_archive_to_s3_resumes_and_leaves_only_the_final_objects(
    emulator: RealtimeKitEmulator, run_operator: Run, s3_bucket: S3Bucket
) -> None:
    rec = emulator.seed_recording(file_size=6 * MiB + 7, audio_file_size=300_000)
    emulator.add_fault(path=r"/_files/.*/video", drop_after_bytes=2 * MiB, times=1)
    uris = run_operator(
        recording_id=rec["id"],
        destination=f"s3://{s3_bucket.name}/recordings/",
        destination_conn_id=s3_bucket.conn_id,
        chunk_size=MiB,
    )

    video, audio = f"recordings/{rec['output_file_name']}", f"recordings/rec_{rec['id']}.audio.m4a"
    assert uris == [f"s3://{s3_bucket.name}/{video}", f"s3://{s3_bucket.name}/{audio}"]
    assert s3_bucket.keys() == sorted([video, audio])  # the temporary objects are gone
    assert s3_bucket.sha256(video) == emulator.expected_sha256(rec["id"], "video")
    assert s3_bucket.sha256(audio) == emulator.expected_sha256(rec["id"], "audio")
    assert [r.headers.get("Range") for r in file_requests(emulator)] == [None, f"bytes={2 * MiB}-", None]

    emulator.clear_requests()
    assert (
        run_operator(
            recording_id=rec["id"],
            destination=f"s3://{s3_bucket.conn_id}@{s3_bucket.name}/recordings/",  # ObjectStoragePath's form
        )
        == uris
    )
    assert file_requests(emulator) == []  # skipped: already archived with the right size


def test_failed_s3_archive_leaves_no_object(
    emulator: RealtimeKitEmulator, run_operator: Run, s3_bucket: S3Bucket
) -> None:
    rec = emulator.seed_recording(file_size=2 * MiB, audio=False)
    emulator.add_fault(path=r"/_files/", drop_after_bytes=MiB // 2, times=None)
    with pytest.raises(RealtimeKitDownloadError, match="gave up after 1 resumes"):
        run_operator(
            recording_id=rec["id"],
            destination=f"s3://{s3_bucket.name}/recordings/",
            destination_conn_id=s3_bucket.conn_id,
            max_resumes=1,
        )
    assert s3_bucket.keys() == []


def test_archive_to_s3_in_a_dag_run(emulator: RealtimeKitEmulator, s3_bucket: S3Bucket) -> None:
    rec = emulator.seed_recording(file_size=3 * MiB, audio=False)
    destination = f"s3://{s3_bucket.name}/nightly/"
    result = run_dag(
        "archive_s3",
        f"""
        RealtimeKitDownloadRecordingOperator(
            task_id="archive", recording_id={rec["id"]!r}, destination={destination!r},
            destination_conn_id={s3_bucket.conn_id!r},
        )
        """,
    )
    assert result.task_states == {"archive": "success"}
    key = f"nightly/{rec['output_file_name']}"
    assert result.xcoms["archive"] == [f"s3://{s3_bucket.name}/{key}"]
    assert s3_bucket.keys() == [key]
    assert s3_bucket.sha256(key) == emulator.expected_sha256(rec["id"])
    assert asset_events(f"s3://{s3_bucket.name}/nightly", result.run_id) == [
        {"recording_id": rec["id"], "uris": result.xcoms["archive"]}
    ]
