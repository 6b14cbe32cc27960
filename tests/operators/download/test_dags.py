"""The download operator in real DAG runs (``dag.test()`` on SQLite) against the emulator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator
from tests.operators.download.conftest import asset_events, file_requests, run_dag, sha256_file


def test_archive_in_a_dag_run(
    emulator: RealtimeKitEmulator,
    archive: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    video = emulator.seed_recording(file_size=3_000_000)
    track = emulator.seed_recording(track_layers=["host", "guest"])
    errored = emulator.seed_recording(status="ERRORED")
    emulator.add_fault(path=rf"/_files/{video['id']}/video", drop_after_bytes=1_000_000, times=1)
    emulator.add_fault(path=rf"/_files/{video['id']}/audio", status=403, times=1)
    alias = f"rtk-archive-{archive.parent.name}"[:200]

    result = run_dag(
        "archive",
        f"""
        @task
        def where() -> str:
            return {str(archive / "from-xcom")!r} + "/"

        RealtimeKitDownloadRecordingOperator(
            task_id="static", recording_id={video["id"]!r}, destination={f"{archive}/static/"!r},
            resume_delay=0.01,
        )
        RealtimeKitDownloadRecordingOperator(
            task_id="from_xcom", recording_id="{{{{ params.track }}}}",
            destination="{{{{ ti.xcom_pull('where') }}}}", outlets=[AssetAlias({alias!r})],
        ) << where()
        RealtimeKitDownloadRecordingOperator(
            task_id="errored", recording_id={errored["id"]!r}, destination={f"{archive}/errored/"!r},
        )
        dag.params = {{"track": {track["id"]!r}}}
        """,
    )

    assert result.task_states == {
        "where": "success",
        "static": "success",
        "from_xcom": "success",
        "errored": "failed",
    }
    assert result.tries["errored"] == 1
    assert not (archive / "errored").exists()

    static = [
        (archive / "static" / video["output_file_name"]).as_uri(),
        (archive / "static" / f"rec_{video['id']}.audio.m4a").as_uri(),
    ]
    assert result.xcoms["static"] == static
    assert sha256_file(archive / "static" / video["output_file_name"]) == emulator.expected_sha256(
        video["id"]
    )
    assert sha256_file(archive / "static" / f"rec_{video['id']}.audio.m4a") == emulator.expected_sha256(
        video["id"], "audio"
    )
    assert asset_events(f"file://{archive}/static", result.run_id) == [
        {"recording_id": video["id"], "uris": static}
    ]

    layers = [(archive / "from-xcom" / f"track_{track['id']}.{layer}.webm") for layer in ("host", "guest")]
    assert result.xcoms["from_xcom"] == [path.as_uri() for path in layers]
    for layer, path in zip(("host", "guest"), layers, strict=True):
        assert sha256_file(path) == emulator.expected_sha256(track["id"], layer)
        assert asset_events(path.as_uri(), result.run_id) == [{"recording_id": track["id"]}]

    # Presigned URLs are credentials: none in XComs, none in the task logs (a resume and a refresh logged).
    signatures = {
        match.group(1)
        for request in file_requests(emulator)
        if (match := re.search(r"X-Amz-Signature=([0-9a-f]+)", request.url))
    }
    assert len(signatures) >= 3
    output = "".join(capfd.readouterr()) + caplog.text  # where logs go depends on earlier tests
    assert "resuming from byte 1000000" in output
    assert all(signature not in output and signature not in repr(result.xcoms) for signature in signatures)
