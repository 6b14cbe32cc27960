"""The time-driven recording lifecycle, start/stop/pause/resume rules, and what each status fills in."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta

import pytest

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator
from tests.testing.emulator.client import FROZEN, Api, new_id


def parse(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def test_full_lifecycle_with_advance(emu: RealtimeKitEmulator, api: Api) -> None:
    started = api.start(audio_config={"codec": "AAC"})
    rid = started["id"]
    assert started["status"] == "INVOKED"
    assert started["started_time"] is None
    assert started["download_url"] is None
    assert started["file_size"] is None
    assert uuid.UUID(rid).version == 4
    assert uuid.UUID(started["session_id"])
    assert started["start_reason"]["reason"] == "API_CALL"

    emu.advance(2.0)
    recording = api.recording(rid)
    assert recording["status"] == "RECORDING"
    assert parse(recording["started_time"]) - parse(recording["invoked_time"]) == timedelta(seconds=2)

    emu.advance(30)
    stopped = api.act(rid, "stop").json()["data"]
    assert stopped["status"] == "UPLOADING"
    assert stopped["stop_reason"]["reason"] == "API_CALL"
    assert stopped["recording_duration"] == 30
    assert stopped["download_url"] is None

    emu.advance(2.9)
    assert api.recording(rid)["status"] == "UPLOADING"
    emu.advance(0.2)
    uploaded = api.recording(rid)
    assert uploaded["status"] == "UPLOADED"
    assert uploaded["file_size"] == emu.recording(rid)["file_size"] == 1_048_576
    assert uploaded["download_url"].startswith(f"http://127.0.0.1:{emu.port}/_files/{rid}/video?")
    assert uploaded["audio_download_url"].startswith(f"http://127.0.0.1:{emu.port}/_files/{rid}/audio?")
    assert parse(uploaded["download_url_expiry"]) > parse(uploaded["stopped_time"])
    assert uploaded["recording_duration"] == 30
    assert parse(uploaded["stopped_time"]) - parse(uploaded["started_time"]) == timedelta(seconds=30)


def test_transitions_happen_at_their_deadline_not_at_the_next_read(
    emu: RealtimeKitEmulator, api: Api
) -> None:
    rid = api.start(max_seconds=60)["id"]
    emu.advance(1000)  # one read long after INVOKED, RECORDING, the auto-stop and the upload all ended
    recording = api.recording(rid)
    assert recording["status"] == "UPLOADED"
    assert recording["recording_duration"] == 60
    invoked = parse(recording["invoked_time"])
    assert parse(recording["started_time"]) == invoked + timedelta(seconds=2)
    assert parse(recording["stopped_time"]) == invoked + timedelta(seconds=62)


def test_max_seconds_stops_the_recording(emu: RealtimeKitEmulator, api: Api) -> None:
    rid = api.start(max_seconds=60)["id"]
    emu.advance(2 + 59)
    assert api.recording(rid)["status"] == "RECORDING"
    emu.advance(1)
    recording = api.recording(rid)
    assert recording["status"] == "UPLOADING"
    assert recording["recording_duration"] == 60
    assert "stop_reason" not in recording  # the schema has no reason for reaching max_seconds


def test_paused_time_does_not_count(emu: RealtimeKitEmulator, api: Api) -> None:
    rid = api.start(max_seconds=60)["id"]
    emu.advance(2 + 10)
    paused = api.act(rid, "pause").json()["data"]
    assert paused["status"] == "PAUSED"
    emu.advance(500)  # far beyond max_seconds, but paused
    assert api.recording(rid)["status"] == "PAUSED"
    assert api.act(rid, "resume").json()["data"]["status"] == "RECORDING"
    emu.advance(49)
    assert api.recording(rid)["status"] == "RECORDING"
    emu.advance(1)
    recording = api.recording(rid)
    assert recording["status"] == "UPLOADING"
    assert recording["recording_duration"] == 60
    assert parse(recording["stopped_time"]) - parse(recording["started_time"]) == timedelta(seconds=560)


def test_paused_recording_can_be_stopped(emu: RealtimeKitEmulator, api: Api) -> None:
    rid = api.start()["id"]
    emu.advance(2 + 7)
    api.act(rid, "pause")
    emu.advance(100)
    stopped = api.act(rid, "stop").json()["data"]
    assert stopped["status"] == "UPLOADING"
    assert stopped["recording_duration"] == 7


@pytest.mark.parametrize(
    ("setup", "action", "message"),
    [
        ("invoked", "pause", "Only a RECORDING recording can be paused (status: INVOKED)"),
        ("recording", "resume", "Only a PAUSED recording can be resumed (status: RECORDING)"),
        ("uploading", "stop", "Recording is not active (status: UPLOADING)"),
        ("uploaded", "stop", "Recording is not active (status: UPLOADED)"),
        ("uploaded", "pause", "Only a RECORDING recording can be paused (status: UPLOADED)"),
    ],
)
def test_actions_in_the_wrong_status_are_400(
    emu: RealtimeKitEmulator, api: Api, setup: str, action: str, message: str
) -> None:
    rid = api.start()["id"]
    if setup != "invoked":
        emu.advance(5)
    if setup in ("uploading", "uploaded"):
        api.act(rid, "stop")
    if setup == "uploaded":
        emu.advance(3)
    response = api.act(rid, action)
    assert response.status_code == 400
    assert response.json() == {"success": False, "error": {"code": 400, "message": message}}


def test_one_active_recording_per_meeting(emu: RealtimeKitEmulator, api: Api) -> None:
    meeting = new_id()
    first = api.start(meeting)["id"]
    conflict = api.post("/recordings", {"meeting_id": meeting})
    assert conflict.status_code == 409
    assert conflict.json() == {
        "success": False,
        "error": {"code": 409, "message": f"Recording already in progress for meeting {meeting}"},
    }
    second = api.start(meeting, allow_multiple_recordings=True)["id"]
    assert second != first
    assert api.start(new_id())["status"] == "INVOKED"  # other meetings are unaffected

    active = api.get(f"/recordings/active-recording/{meeting}")
    assert active.status_code == 200
    assert active.json()["data"]["id"] == second  # the latest active one

    emu.advance(3)
    api.act(first, "stop")
    api.act(second, "stop")
    missing = api.get(f"/recordings/active-recording/{meeting}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == 404
    assert api.start(meeting)["status"] == "INVOKED"  # nothing active any more


def test_paused_recording_is_active(emu: RealtimeKitEmulator, api: Api) -> None:
    meeting = new_id()
    rid = api.start(meeting)["id"]
    emu.advance(3)
    api.act(rid, "pause")
    assert api.get(f"/recordings/active-recording/{meeting}").json()["data"]["status"] == "PAUSED"
    assert api.post("/recordings", {"meeting_id": meeting}).status_code == 409


def test_short_recordings_can_end_errored() -> None:
    with RealtimeKitEmulator(time_scale=FROZEN, error_on_short_recordings=True) as emu:
        api = Api(emu)
        short = api.start()["id"]
        long = api.start()["id"]
        emu.advance(2 + 4)
        assert api.act(short, "stop").json()["data"]["status"] == "ERRORED"
        emu.advance(1)
        assert api.act(long, "stop").json()["data"]["status"] == "UPLOADING"
        emu.advance(100)
        errored = api.recording(short)
        assert errored["status"] == "ERRORED"
        assert errored["download_url"] is None
        assert errored["file_size"] is None
        api.close()


def test_set_status_forces_errored_and_uploaded(emu: RealtimeKitEmulator, api: Api) -> None:
    rid = api.start()["id"]
    emu.advance(10)
    emu.set_status(rid, "ERRORED", stop_reason="INTERNAL_ERROR")
    errored = api.recording(rid)
    assert errored["status"] == "ERRORED"
    assert errored["stop_reason"] == {"reason": "INTERNAL_ERROR"}
    assert errored["stopped_time"] is not None
    emu.advance(100)
    assert api.recording(rid)["status"] == "ERRORED"  # terminal

    other = api.start()["id"]
    emu.set_status(other, "UPLOADED")
    uploaded = api.recording(other)
    assert uploaded["status"] == "UPLOADED"
    assert uploaded["download_url"] is not None
    with pytest.raises(ValueError, match="status must be one of"):
        emu.set_status(other, "DONE")


def test_audio_url_only_with_audio_config(emu: RealtimeKitEmulator, api: Api) -> None:
    plain = api.start()["id"]
    with_audio = api.start(audio_config={"channel": "mono"})["id"]
    audio_not_exported = api.start(audio_config={"export_file": False})["id"]
    emu.advance(3)
    for rid in (plain, with_audio, audio_not_exported):
        api.act(rid, "stop")
    emu.advance(3)
    assert api.recording(plain)["audio_download_url"] is None
    assert api.recording(with_audio)["audio_download_url"] is not None
    assert api.recording(audio_not_exported)["audio_download_url"] is None


def test_bucket_disabled_means_no_urls(emu: RealtimeKitEmulator, api: Api) -> None:
    rid = api.start(audio_config={}, realtimekit_bucket_config={"enabled": False})["id"]
    emu.set_status(rid, "UPLOADED")
    recording = api.recording(rid)
    assert recording["file_size"] == 1_048_576
    assert recording["download_url"] is None
    assert recording["audio_download_url"] is None
    assert recording["download_url_expiry"] is None


def test_storage_config_is_echoed_without_secrets(api: Api) -> None:
    config = {
        "type": "sftp",
        "auth_method": "KEY",
        "host": "sftp.example.com",
        "port": 22,
        "username": "rtk",
        "path": "recordings/",
        "password": "pw-secret",
        "private_key": "-----BEGIN KEY-----",
        "access_key": "AKIA-secret",
        "secret": "s3cr3t",
    }
    recording = api.start(storage_config=config, file_name_prefix="weekly")
    assert recording["storage_config"] == {
        "type": "sftp",
        "auth_method": "KEY",
        "host": "sftp.example.com",
        "port": 22,
        "username": "rtk",
        "path": "recordings/",
    }
    assert recording["output_file_name"] == f"weekly_{recording['id']}.mp4"
    assert api.start()["output_file_name"].startswith("rec_")


def test_meeting_id_required_by_current_version_only(api: Api) -> None:
    response = api.post("/recordings", {})
    assert response.status_code == 400
    assert "meeting_id" in response.json()["error"]["message"]
    with RealtimeKitEmulator(time_scale=FROZEN, api_version="legacy") as legacy:
        client = Api(legacy)
        created = client.post("/recordings", {})
        assert created.status_code == 200
        assert created.json()["data"]["status"] == "INVOKED"
        client.close()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_seconds": 59}, "max_seconds"),
        ({"max_seconds": 86401}, "max_seconds"),
        ({"max_seconds": 60.5}, "max_seconds"),
        ({"max_seconds": "600"}, "max_seconds"),
        ({"video_config": {"width": 0}}, "video_config.width"),
        ({"video_config": {"height": 1921}}, "video_config.height"),
        ({"video_config": {"codec": "AV1"}}, "video_config.codec"),
        ({"audio_config": {"codec": "OPUS"}}, "audio_config.codec"),
        ({"audio_config": {"channel": "5.1"}}, "audio_config.channel"),
        ({"storage_config": {"type": "dropbox"}}, "storage_config.type"),
        ({"storage_config": {"bucket": "b"}}, "storage_config.type"),
        ({"realtimekit_bucket_config": {}}, "realtimekit_bucket_config.enabled"),
        ({"allow_multiple_recordings": "yes"}, "allow_multiple_recordings"),
        ({"interactive_config": {"type": "SCTE"}}, "interactive_config.type"),
    ],
)
def test_invalid_start_bodies_are_400_naming_the_field(api: Api, body: dict[str, object], field: str) -> None:
    response = api.post("/recordings", {"meeting_id": new_id(), **body})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400
    assert error["message"].startswith(field + " ")


@pytest.mark.parametrize(("body", "field"), [({"action": "rewind"}, "action"), ({}, "action"), ([], "body")])
def test_invalid_action_bodies_are_400(api: Api, body: object, field: str) -> None:
    rid = api.start()["id"]
    response = api.put(f"/recordings/{rid}", body)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(field + " ")


def test_track_recording_current_version(emu: RealtimeKitEmulator, api: Api) -> None:
    meeting = new_id()
    response = api.post(
        "/recordings/track",
        {"meeting_id": meeting, "layers": {"default": {"file_name_prefix": "tr", "media_kind": "audio"}}},
    )
    assert response.status_code == 200
    by_layer = response.json()["data"]["recording"]
    assert by_layer["status"] == "INVOKED"
    assert by_layer["output_file_name"] == f"tr_{by_layer['id']}.webm"
    by_user = api.post("/recordings/track", {"meeting_id": meeting, "user_ids": ["alice", "bob"]}).json()
    rid = by_user["data"]["recording"]["id"]
    # Track recordings do not take the meeting's single composite-recording slot.
    assert api.start(meeting)["status"] == "INVOKED"

    emu.advance(3)
    api.act(rid, "stop")
    emu.advance(3)
    uploaded = api.recording(rid)
    assert uploaded["audio_download_url"] is None
    assert [entry["layer_name"] for entry in uploaded["download_url"]] == ["alice", "bob"]
    for entry in uploaded["download_url"]:
        assert f"/_files/{rid}/{entry['layer_name']}?" in entry["download_urls"]["file"]["download_url"]
    assert uploaded["file_size"] == 2 * 262_144


MEETING = "6f1b3c1e-2a7d-4a57-9d0e-1f2a3b4c5d6e"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "meeting_id"),
        ({"meeting_id": "m"}, "meeting_id"),
        ({"meeting_id": MEETING, "user_ids": [f"u{i}" for i in range(101)]}, "user_ids"),
        (
            {"meeting_id": MEETING, "layers": {"default": {"media_kind": "video"}}},
            "layers.default.media_kind",
        ),
    ],
)
def test_invalid_track_bodies_current(api: Api, body: dict[str, object], field: str) -> None:
    response = api.post("/recordings/track", body)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(field + " ")


def test_track_recording_legacy_version() -> None:
    with RealtimeKitEmulator(time_scale=FROZEN, api_version="legacy") as emu:
        api = Api(emu)
        meeting = new_id()
        missing_layers = api.post("/recordings/track", {"meeting_id": meeting})
        assert missing_layers.status_code == 400
        assert missing_layers.json()["error"]["message"] == "layers is required"
        layers = {
            "default": {"file_name_prefix": "a", "outputs": [{"type": "REALTIMEKIT_BUCKET"}]},
            "archive": {"outputs": [{"type": "STORAGE_CONFIG", "storage_config": {"type": "aws"}}]},
        }
        response = api.post("/recordings/track", {"meeting_id": meeting, "layers": layers, "max_seconds": 60})
        assert response.status_code == 200
        assert response.content == b""
        assert response.headers["Content-Length"] == "0"
        too_long = api.post(
            "/recordings/track", {"meeting_id": meeting, "layers": layers, "max_seconds": 1e6}
        )
        assert too_long.status_code == 400

        emu.advance(2 + 60)  # max_seconds applies to legacy track recordings
        listed = api.get("/recordings", params={"meeting_id": meeting}).json()["data"]
        assert [item["status"] for item in listed] == ["UPLOADING"]
        emu.advance(3)
        recording = api.recording(listed[0]["id"])
        # Only the layer that goes to RealtimeKit's bucket gets a URL.
        assert [entry["layer_name"] for entry in recording["download_url"]] == ["default"]
        api.close()


@pytest.mark.realtimekit_emulator("fast")
def test_the_fast_fixture_lifecycle_runs_in_real_time(realtimekit_emulator: RealtimeKitEmulator) -> None:
    api = Api(realtimekit_emulator)
    rid = api.start()["id"]
    deadline = time.monotonic() + 5
    while api.recording(rid)["status"] == "INVOKED":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    api.act(rid, "stop")
    while api.recording(rid)["status"] == "UPLOADING":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert api.recording(rid)["status"] == "UPLOADED"
    api.close()


def test_the_default_fixture_lifecycle_is_instant(realtimekit_emulator: RealtimeKitEmulator) -> None:
    """Every wait of a DAG under test ends at its first look: started is RECORDING, stopped UPLOADED."""
    api = Api(realtimekit_emulator)
    rid = api.start()["id"]
    assert api.recording(rid)["status"] == "RECORDING"
    api.act(rid, "stop")
    assert api.recording(rid)["status"] == "UPLOADED"
    api.close()


def test_seeded_recordings(emu: RealtimeKitEmulator, api: Api) -> None:
    invoked = datetime.fromisoformat("2026-01-05T10:00:00+00:00")
    seeded = emu.seed_recording(invoked_time=invoked, file_size=1234, audio=False, output_file_name="x.mp4")
    assert seeded["status"] == "UPLOADED"
    assert seeded["invoked_time"] == "2026-01-05T10:00:00.000Z"
    assert seeded["file_size"] == 1234
    assert seeded["audio_download_url"] is None
    assert seeded["output_file_name"] == "x.mp4"
    assert seeded["stop_reason"]["reason"] == "API_CALL"
    assert api.recording(seeded["id"])["output_file_name"] == "x.mp4"

    errored = emu.seed_recording(status="ERRORED")
    assert errored["stop_reason"] == {"reason": "INTERNAL_ERROR"}
    assert errored["download_url"] is None

    recording = emu.seed_recording(status="RECORDING")
    emu.advance(10)
    assert api.act(recording["id"], "stop").json()["data"]["recording_duration"] == 10

    invoked_only = emu.seed_recording(status="INVOKED")
    emu.advance(2)
    assert api.recording(invoked_only["id"])["status"] == "RECORDING"
    with pytest.raises(ValueError, match="status must be one of"):
        emu.seed_recording(status="DONE")
