"""The download destination rule: a folder unless the last segment names a file with an extension; the
full path of every file written is logged; a recording without audio says so."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_rtk.exceptions import RealtimeKitInputError
from airflow_provider_rtk.operators._destination import Location, names_file
from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator
from tests.operators.download.conftest import sha256_file

Run = Callable[..., list[str]]


@pytest.mark.parametrize(
    ("destination", "is_file"),
    [
        ("/archive/standup.mp4", True),
        ("/archive/talk.M4A", True),
        ("s3://bucket/runs/standup.webm", True),
        ("file:///archive/standup.mp4", True),
        ("/archive/standup.mp4/", False),  # a trailing slash always means a folder
        ("/archive/2026-05-04", False),  # no extension
        ("/archive/2026.05.04", False),  # ".04" has no letter: not a file extension
        ("s3://bucket/runs/v1.2", False),
        ("s3://bucket", False),
        ("/archive/.hidden", False),
        ("relative/folder", False),
    ],
)
def test_destination_rule(destination: str, is_file: bool) -> None:
    assert names_file(destination) is is_file
    assert Location.parse(destination, None).is_dir_hint is not is_file


def test_destination_without_trailing_slash_is_a_folder_and_every_written_path_is_logged(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``/archive/day`` (no ``/``, no extension) is a folder, never an extensionless video file."""
    caplog.set_level(logging.INFO, logger="airflow_provider_rtk")
    rec = emulator.seed_recording()
    folder = archive / "2026.05.04"
    uris = run_operator(recording_id=rec["id"], destination=str(folder))

    video, audio = folder / rec["output_file_name"], folder / f"rec_{rec['id']}.audio.m4a"
    assert folder.is_dir()
    assert uris == [video.as_uri(), audio.as_uri()]
    assert sha256_file(video) == emulator.expected_sha256(rec["id"], "video")
    messages = [r.getMessage() for r in caplog.records]
    assert f"destination: the folder {folder.as_uri()}/ (files keep the recording's names)" in messages
    assert f"wrote {video.as_uri()}" in messages
    assert f"wrote {audio.as_uri()}" in messages


def test_destination_with_an_extension_names_the_video_file(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="airflow_provider_rtk")
    rec = emulator.seed_recording()
    target = archive / "standup.mp4"
    uris = run_operator(recording_id=rec["id"], destination=str(target))
    assert uris == [target.as_uri(), (archive / "standup.audio.m4a").as_uri()]
    assert target.is_file()
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"destination: the file {target.as_uri()} ") for m in messages)
    assert f"wrote {target.as_uri()}" in messages


def test_an_existing_folder_stays_a_folder_whatever_its_name(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path
) -> None:
    folder = archive / "meetings.d"
    folder.mkdir(parents=True)
    rec = emulator.seed_recording()
    uris = run_operator(recording_id=rec["id"], destination=str(folder), include_audio=False)
    assert uris == [(folder / rec["output_file_name"]).as_uri()]


def test_an_existing_file_without_extension_is_a_clear_error_before_any_download(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path
) -> None:
    archive.mkdir(parents=True, exist_ok=True)
    existing = archive / "latest"
    existing.write_bytes(b"not a folder")
    rec = emulator.seed_recording()
    emulator.clear_requests()
    with pytest.raises(RealtimeKitInputError, match=r"destination: .*latest is an existing file") as info:
        run_operator(recording_id=rec["id"], destination=str(existing))
    assert "NotADirectoryError" not in repr(info.value)
    assert existing.read_bytes() == b"not a folder"
    assert emulator.count("GET", r"_files/") == 0  # no file was requested


def test_a_recording_without_audio_is_logged_when_audio_was_asked_for(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="airflow_provider_rtk")
    rec = emulator.seed_recording(audio=False)
    uris = run_operator(recording_id=rec["id"], destination=f"{archive}/", include_audio=True)
    assert uris == [(archive / rec["output_file_name"]).as_uri()]
    (line,) = [r.getMessage() for r in caplog.records if "no separate audio file" in r.getMessage()]
    assert rec["id"] in line
    assert "only the video is archived" in line
