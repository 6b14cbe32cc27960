"""The download operator against the emulator over real HTTP (executed outside a DAG; DAG runs are in
``test_dags.py``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_rtk.exceptions import (
    RealtimeKitDownloadError,
    RealtimeKitInputError,
    RealtimeKitRecordingStateError,
)
from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator
from tests.conftest import CANARY_TOKEN, FAST
from tests.operators.download.conftest import PlainFileServer, file_requests, sha256_file

#: A well-formed recording id, for tests about other arguments.
SOME_ID = "97440c6a-140b-40a9-9499-b23fd7a3868a"

Run = Callable[..., list[str]]
MiB = 1 << 20


def api_gets(emulator: RealtimeKitEmulator, recording_id: str) -> int:
    return emulator.count("GET", rf"/recordings/{recording_id}$")


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# -- archiving -------------------------------------------------------------------------------------------


def test_local_archive_is_byte_identical(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path
) -> None:
    rec = emulator.seed_recording(file_size=3 * MiB + 123, audio_file_size=MiB // 3)
    uris = run_operator(recording_id=rec["id"], destination=f"{archive}/", chunk_size=MiB)

    video, audio = archive / rec["output_file_name"], archive / f"rec_{rec['id']}.audio.m4a"
    assert uris == [video.as_uri(), audio.as_uri()]
    assert sha256_file(video) == emulator.expected_sha256(rec["id"], "video")
    assert sha256_file(audio) == emulator.expected_sha256(rec["id"], "audio")
    assert listing(archive) == sorted([video.name, audio.name])  # no temporary object left behind
    assert "X-Amz" not in repr(uris)


def test_file_destination_names_the_video_and_the_audio_goes_beside_it(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path
) -> None:
    rec = emulator.seed_recording()
    uris = run_operator(recording_id=rec["id"], destination=str(archive / "standup.mp4"))
    assert uris == [(archive / "standup.mp4").as_uri(), (archive / "standup.audio.m4a").as_uri()]
    assert sha256_file(archive / "standup.audio.m4a") == emulator.expected_sha256(rec["id"], "audio")


def test_include_audio_false_and_object_storage_path_destination(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path
) -> None:
    from airflow.sdk import ObjectStoragePath

    archive.mkdir()  # an existing directory needs no trailing slash
    rec = emulator.seed_recording()
    uris = run_operator(
        recording_id=rec["id"], destination=ObjectStoragePath(str(archive)), include_audio=False
    )
    assert uris == [(archive / rec["output_file_name"]).as_uri()]
    assert [r.path.rsplit("/", 1)[1] for r in file_requests(emulator)] == ["video"]


def test_track_recording_downloads_every_layer(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path
) -> None:
    rec = emulator.seed_recording(track_layers=["alice", "bob/screen"], audio_file_size=300_000)
    uris = run_operator(recording_id=rec["id"], destination=f"{archive}/")

    stem = f"track_{rec['id']}"
    names = [f"{stem}.alice.webm", f"{stem}.bob_screen.webm"]
    assert uris == [(archive / name).as_uri() for name in names]
    for layer, name in zip(["alice", "bob/screen"], names, strict=True):
        assert sha256_file(archive / name) == emulator.expected_sha256(rec["id"], layer)


# -- resilience ------------------------------------------------------------------------------------------


def test_mid_body_drop_resumes_with_range(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path
) -> None:
    rec = emulator.seed_recording(file_size=3 * MiB, audio=False)
    emulator.add_fault(path=r"/_files/", drop_after_bytes=MiB, times=2)
    run_operator(recording_id=rec["id"], destination=f"{archive}/", chunk_size=256 * 1024)

    video = file_requests(emulator)
    assert [(r.headers.get("Range"), r.status) for r in video] == [
        (None, 200),
        (f"bytes={MiB}-", 206),
        (f"bytes={2 * MiB}-", 206),
    ]
    assert sha256_file(archive / rec["output_file_name"]) == emulator.expected_sha256(rec["id"])


def test_persistent_drops_give_up_and_leave_nothing(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path
) -> None:
    rec = emulator.seed_recording(file_size=2 * MiB, audio=False)
    emulator.add_fault(path=r"/_files/", drop_after_bytes=100_000, times=None)
    with pytest.raises(RealtimeKitDownloadError, match=r"gave up after 2 resumes at byte 300000 of 2097152"):
        run_operator(recording_id=rec["id"], destination=f"{archive}/", max_resumes=2)
    assert len(file_requests(emulator)) == 3
    assert listing(archive) == []


def test_failed_overwrite_keeps_the_previous_file(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path
) -> None:
    rec = emulator.seed_recording(audio=False)
    archive.mkdir()
    (archive / rec["output_file_name"]).write_bytes(b"previous")
    emulator.add_fault(path=r"/_files/", drop_after_bytes=1000, times=None)
    with pytest.raises(RealtimeKitDownloadError):
        run_operator(recording_id=rec["id"], destination=f"{archive}/", if_exists="overwrite", max_resumes=1)
    assert (archive / rec["output_file_name"]).read_bytes() == b"previous"
    assert listing(archive) == [rec["output_file_name"]]


def test_forbidden_file_url_is_refreshed(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path
) -> None:
    rec = emulator.seed_recording(audio=False)
    emulator.add_fault(path=r"/_files/", status=403, message="Request has expired", times=1)
    run_operator(recording_id=rec["id"], destination=f"{archive}/")
    assert api_gets(emulator, rec["id"]) == 2  # the first read, then one refresh after the 403
    assert [r.status for r in file_requests(emulator)] == [403, 200]
    assert sha256_file(archive / rec["output_file_name"]) == emulator.expected_sha256(rec["id"])


@pytest.fixture
def short_ttl_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[RealtimeKitEmulator]:
    """Presigned URLs valid 4 seconds (the default 7 days outlives the recording itself)."""
    with RealtimeKitEmulator(token=CANARY_TOKEN, download_url_ttl=4, **FAST) as emu:
        for key, value in emu.env().items():
            monkeypatch.setenv(key, value)
        yield emu


def test_url_expiring_on_the_storage_clock_is_refreshed(
    short_ttl_emulator: RealtimeKitEmulator, archive: Path
) -> None:
    from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator

    emulator = short_ttl_emulator
    rec = emulator.seed_recording(audio=False)
    # The first file request is held past the URL's expiry: the storage answers 403, as S3 does.
    emulator.add_fault(method="GET", path=r"^/_files/", delay=5.0, times=1)
    operator = RealtimeKitDownloadRecordingOperator(
        task_id="t", recording_id=rec["id"], destination=f"{archive}/", resume_delay=0
    )
    operator.execute({})  # type: ignore[arg-type]

    files = file_requests(emulator)
    statuses = [r.status for r in files]
    # The held request expired; each request after a 403 carried a fresh URL until one succeeded (on a
    # busy machine a fresh URL can expire too before it is used: the download then refreshes again).
    assert statuses[0] == 403
    assert statuses[-1] == 200
    assert set(statuses[:-1]) == {403}
    signatures = [tuple(r.query["X-Amz-Signature"]) for r in files]
    assert len(set(signatures)) == len(signatures)
    assert api_gets(emulator, rec["id"]) >= len(files)  # every 403 made it fetch the recording again
    assert sha256_file(archive / rec["output_file_name"]) == emulator.expected_sha256(rec["id"])


def test_expiry_already_passed_refreshes_before_any_file_request(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path
) -> None:
    rec = emulator.seed_recording(audio=False, download_url_expiry="2020-01-01T00:00:00.000Z")
    run_operator(recording_id=rec["id"], destination=f"{archive}/")
    assert api_gets(emulator, rec["id"]) == 2
    assert [r.status for r in file_requests(emulator)] == [200]


def test_server_ignoring_range_restarts_from_zero(
    emulator: RealtimeKitEmulator,
    run_operator: Run,
    plain_server: Callable[..., PlainFileServer],
    archive: Path,
) -> None:
    content = bytes(range(256)) * 4096  # 1 MiB
    server = plain_server(content, ignore_range=True, drop_first_after=300_000)
    rec = emulator.seed_recording(file_size=len(content), audio=False, download_url=server.url)
    run_operator(recording_id=rec["id"], destination=f"{archive}/", chunk_size=64 * 1024)
    assert server.ranges == [None, "bytes=300000-"]
    assert (archive / rec["output_file_name"]).read_bytes() == content


def test_size_changing_on_resume_never_leaves_a_final_file(
    emulator: RealtimeKitEmulator,
    run_operator: Run,
    plain_server: Callable[..., PlainFileServer],
    archive: Path,
) -> None:
    content = b"x" * 500_000
    server = plain_server(content, drop_first_after=200_000, range_total=len(content) + 1)
    rec = emulator.seed_recording(file_size=len(content), audio=False, download_url=server.url)
    with pytest.raises(
        RealtimeKitDownloadError, match="holds 500001 bytes but the API reports file_size 500000"
    ):
        run_operator(recording_id=rec["id"], destination=f"{archive}/")
    assert server.ranges == [None, "bytes=200000-"]  # bytes were written, then the temporary file deleted
    assert listing(archive) == []


def test_reported_size_mismatch_fails_before_writing(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path
) -> None:
    # The emulator reports the size of the file it serves; to make them disagree, the recording reports
    # 100001 bytes while its download_url (overridden) is another recording's 100000-byte file.
    served = emulator.seed_recording(file_size=100_000, audio=False)
    rec = emulator.seed_recording(file_size=100_001, audio=False, download_url=served["download_url"])
    with pytest.raises(
        RealtimeKitDownloadError, match="serves 100000 bytes but the API reports file_size 100001"
    ):
        run_operator(recording_id=rec["id"], destination=f"{archive}/")
    assert listing(archive) == []


# -- if_exists -------------------------------------------------------------------------------------------


def test_skip_sends_no_file_request_when_everything_is_archived(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path
) -> None:
    rec = emulator.seed_recording()
    first = run_operator(recording_id=rec["id"], destination=f"{archive}/")
    emulator.clear_requests()
    assert run_operator(recording_id=rec["id"], destination=f"{archive}/") == first
    assert file_requests(emulator) == []


def test_skip_downloads_a_wrong_sized_video_again(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path
) -> None:
    rec = emulator.seed_recording(audio=False)
    archive.mkdir()
    (archive / rec["output_file_name"]).write_bytes(b"truncated")
    run_operator(recording_id=rec["id"], destination=f"{archive}/", if_exists="skip")
    assert sha256_file(archive / rec["output_file_name"]) == emulator.expected_sha256(rec["id"])


def test_overwrite_downloads_again(emulator: RealtimeKitEmulator, run_operator: Run, archive: Path) -> None:
    rec = emulator.seed_recording(audio=False)
    run_operator(recording_id=rec["id"], destination=f"{archive}/")
    (archive / rec["output_file_name"]).write_bytes(b"\0" * 1_048_576)  # right size, wrong bytes
    run_operator(recording_id=rec["id"], destination=f"{archive}/", if_exists="overwrite")
    assert len(file_requests(emulator)) == 2
    assert sha256_file(archive / rec["output_file_name"]) == emulator.expected_sha256(rec["id"])


def test_fail_refuses_before_downloading_anything(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path
) -> None:
    rec = emulator.seed_recording()
    archive.mkdir()
    audio = archive / f"rec_{rec['id']}.audio.m4a"
    audio.write_bytes(b"kept")
    with pytest.raises(
        RealtimeKitDownloadError, match=r"audio\.m4a already exists \(4 bytes\) and if_exists='fail'"
    ):
        run_operator(recording_id=rec["id"], destination=f"{archive}/", if_exists="fail")
    assert file_requests(emulator) == []
    assert listing(archive) == [audio.name]


def test_if_exists_is_validated_when_the_dag_is_parsed() -> None:
    from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator

    message = "if_exists: must be one of 'skip', 'overwrite', 'fail', got 'replace'"
    with pytest.raises(RealtimeKitInputError, match=re.escape(message)):
        RealtimeKitDownloadRecordingOperator(
            task_id="t", recording_id=SOME_ID, destination="/x/", if_exists="replace"
        )


# -- recording state -------------------------------------------------------------------------------------


#: Lifecycle steps slow enough that a seeded status holds for the whole test, however busy the machine.
HOLD = {"invoked_seconds": 3600.0, "upload_seconds": 3600.0}


@pytest.mark.parametrize("emulator", [HOLD], indirect=True)
@pytest.mark.parametrize("status", ["INVOKED", "RECORDING", "PAUSED", "UPLOADING"])
def test_unfinished_recording_fails_at_once(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path, status: str
) -> None:
    rec = emulator.seed_recording(status=status)
    with pytest.raises(RealtimeKitRecordingStateError, match=rf"recording {rec['id']} is \w+, not UPLOADED"):
        run_operator(recording_id=rec["id"], destination=f"{archive}/")
    assert file_requests(emulator) == []
    assert not archive.exists()


def test_errored_recording_fails_at_once(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path
) -> None:
    rec = emulator.seed_recording(status="ERRORED")
    with pytest.raises(
        RealtimeKitRecordingStateError,
        match=rf"recording {rec['id']} is ERRORED \(stop reason: INTERNAL_ERROR\)",
    ):
        run_operator(recording_id=rec["id"], destination=f"{archive}/")
    assert file_requests(emulator) == []
    assert not archive.exists()


# -- assets ----------------------------------------------------------------------------------------------


def test_static_destination_is_declared_as_an_outlet_asset() -> None:
    from airflow.sdk import Asset

    from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator

    def outlets(destination: str, **kwargs: Any) -> list[Any]:
        return RealtimeKitDownloadRecordingOperator(
            task_id="t", recording_id=SOME_ID, destination=destination, **kwargs
        ).outlets

    assert outlets("/data/rtk/") == [Asset("file:///data/rtk")]
    assert outlets("s3://aws_archive@bucket/rtk/") == [Asset("s3://bucket/rtk")]
    assert outlets("s3://bucket/{{ ds }}/") == []
    assert outlets("/data/rtk/", outlets=[Asset("mine")]) == [Asset("mine")]


def test_partial_files_of_earlier_tries_are_removed(
    emulator: RealtimeKitEmulator, run_operator: Run, archive: Path
) -> None:
    rec = emulator.seed_recording(status="UPLOADED", file_size=50_000, audio=False)
    name = rec["output_file_name"]
    archive.mkdir(parents=True)
    stale = archive / f".{name}.partial-0123456789ab"  # what a killed worker leaves behind
    stale.write_bytes(b"x" * 1000)
    unrelated = archive / ".other.mp4.partial-0123456789ab"
    unrelated.write_bytes(b"y")
    run_operator(recording_id=rec["id"], destination=f"{archive}/", include_audio=False)
    assert not stale.exists()
    assert unrelated.exists()  # another file's partial is not ours to delete
    assert sorted(p.name for p in archive.iterdir()) == sorted([name, unrelated.name])


@pytest.fixture
def lineage(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A real hook lineage collector, as Airflow builds one once a lineage reader (OpenLineage) is installed;
    only the discovery of reader plugins is replaced."""
    try:
        from airflow.sdk import lineage as module
    except ImportError:  # Airflow 3.1
        from airflow.lineage import hook as module  # type: ignore[no-redef]
    collector = module.HookLineageCollector()
    monkeypatch.setattr(module, "get_hook_lineage_collector", lambda: collector)
    return collector


def test_hook_lineage_reports_the_recording_in_and_each_file_written_out(
    emulator: RealtimeKitEmulator, run_operator: Any, archive: Path, lineage: Any
) -> None:
    rec = emulator.seed_recording()
    uris = run_operator(recording_id=rec["id"], destination=f"{archive}/")
    collected = lineage.collected_assets
    recording_uri = f"realtimekit://{emulator.account_id}/{emulator.app_id}/recordings/{rec['id']}"
    assert [info.asset.uri for info in collected.inputs] == [recording_uri]
    assert sorted(info.asset.uri for info in collected.outputs) == sorted(uris)
    assert len(uris) == 2  # video and audio

    again = run_operator(recording_id=rec["id"], destination=f"{archive}/")  # both skipped: nothing written
    assert again == uris
    assert lineage.collected_assets.outputs == collected.outputs
    assert [i.count for i in lineage.collected_assets.inputs] == [1]
