"""Recordings started by the meeting itself (RECORD_ON_START) and ended because everyone left
(ALL_PEERS_LEFT): the Python API, the admin routes and the CLI flag, seen through the real HTTP API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator
from tests.testing.emulator.client import FROZEN, Api, new_id
from tests.testing.emulator.test_admin import call
from tests.testing.emulator.test_cli import serving


def parse(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def listed(api: Api, meeting_id: str) -> list[dict[str, Any]]:
    response = api.get("/recordings", params={"meeting_id": meeting_id})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def test_meeting_recording_lifecycle(emu: RealtimeKitEmulator, api: Api) -> None:
    meeting = new_id()
    started = emu.start_meeting_recording(meeting, meeting_title="Weekly sync")
    rid = started["id"]
    assert started["status"] == "INVOKED"
    assert started["start_reason"] == {"reason": "RECORD_ON_START"}  # no caller: nobody called the API
    assert "stop_reason" not in started
    [item] = listed(api, meeting)
    assert item["id"] == rid
    assert item["meeting"]["record_on_start"] is True
    assert item["meeting"]["title"] == "Weekly sync"
    active = api.get(f"/recordings/active-recording/{meeting}")
    assert (active.status_code, active.json()["data"]["id"]) == (200, rid)

    emu.advance(2)
    assert api.recording(rid)["status"] == "RECORDING"
    emu.advance(40)
    [ended] = emu.end_meeting(meeting)
    assert ended["id"] == rid
    assert ended["status"] == "UPLOADING"
    assert ended["stop_reason"] == {"reason": "ALL_PEERS_LEFT"}
    assert ended["recording_duration"] == 40
    emu.advance(3)
    uploaded = api.recording(rid)
    assert uploaded["status"] == "UPLOADED"
    assert uploaded["start_reason"] == {"reason": "RECORD_ON_START"}
    assert uploaded["stop_reason"] == {"reason": "ALL_PEERS_LEFT"}
    assert parse(uploaded["stopped_time"]) - parse(uploaded["started_time"]) == timedelta(seconds=40)
    assert uploaded["download_url"].startswith(f"{emu.origin}/_files/{rid}/video?")
    assert len(requests.get(uploaded["download_url"], timeout=10).content) == uploaded["file_size"]
    assert api.get(f"/recordings/active-recording/{meeting}").status_code == 404
    assert emu.end_meeting(meeting) == []  # nothing left to stop


def test_end_meeting_stops_every_active_recording_of_that_meeting_only(
    emu: RealtimeKitEmulator, api: Api
) -> None:
    meeting, other = new_id(), new_id()
    by_api = api.start(meeting, allow_multiple_recordings=True)["id"]
    emu.advance(2)
    paused = api.start(meeting, allow_multiple_recordings=True)["id"]
    emu.advance(4)  # RECORDING after 2 s, then 2 s recorded
    assert api.act(paused, "pause").status_code == 200
    invoked = api.start(meeting, allow_multiple_recordings=True)["id"]  # the bot has not joined yet
    done = emu.seed_recording(meeting_id=meeting, status="UPLOADED")["id"]
    elsewhere = emu.start_meeting_recording(other)["id"]
    emu.advance(1)

    ended = {view["id"]: view for view in emu.end_meeting(meeting)}
    assert set(ended) == {by_api, paused, invoked}
    assert {view["stop_reason"]["reason"] for view in ended.values()} == {"ALL_PEERS_LEFT"}
    assert ended[by_api]["start_reason"]["reason"] == "API_CALL"  # however it started
    assert ended[paused]["recording_duration"] == 2  # paused time does not count
    assert ended[invoked]["started_time"] is None
    assert api.recording(done)["stop_reason"]["reason"] == "API_CALL"  # untouched
    assert api.recording(elsewhere)["status"] == "INVOKED"  # still active, like the bot it waits for
    assert "stop_reason" not in api.recording(elsewhere)


def test_empty_meeting_seconds_delays_the_stop(
    realtimekit_emulator_factory: Callable[..., RealtimeKitEmulator],
) -> None:
    emu = realtimekit_emulator_factory(time_scale=FROZEN, conn_id=None, empty_meeting_seconds=60)
    api = Api(emu)
    meeting, short = new_id(), new_id()
    rid = emu.start_meeting_recording(meeting)["id"]
    capped = emu.start_meeting_recording(short, max_seconds=60)["id"]
    emu.advance(32)  # RECORDING since 2 s: 30 s recorded
    [still] = emu.end_meeting(meeting)
    assert still["status"] == "RECORDING"
    assert "stop_reason" not in still
    assert emu.end_meeting(short)[0]["status"] == "RECORDING"
    emu.advance(59)
    assert api.recording(rid)["status"] == "RECORDING"
    emu.advance(1000)  # one late read: the stop happened at its deadline, not now
    stopped = api.recording(rid)
    assert stopped["status"] == "UPLOADED"
    assert stopped["stop_reason"] == {"reason": "ALL_PEERS_LEFT"}
    assert stopped["recording_duration"] == 90
    # max_seconds came first (60 s recorded, before the meeting had been empty 60 s): no stop reason.
    first = api.recording(capped)
    assert first["recording_duration"] == 60
    assert "stop_reason" not in first
    api.close()


def test_python_api_rejects_bad_input(emu: RealtimeKitEmulator) -> None:
    meeting = new_id()
    emu.start_meeting_recording(meeting)
    with pytest.raises(ValueError, match="already has an active recording"):
        emu.start_meeting_recording(meeting)
    with pytest.raises(ValueError, match="meeting_id must be a UUID"):
        emu.start_meeting_recording("weekly")
    with pytest.raises(ValueError, match="max_seconds must be a whole number from 60 to 86400"):
        emu.start_meeting_recording(new_id(), max_seconds=10)
    with pytest.raises(ValueError, match="file_size must be 0 or more bytes"):
        emu.start_meeting_recording(new_id(), file_size=-1)
    with pytest.raises(KeyError, match="No meeting"):
        emu.end_meeting(new_id())
    assert len(emu.end_meeting(meeting)) == 1
    emu.advance(10)
    assert emu.start_meeting_recording(meeting)["status"] == "INVOKED"  # the meeting's next session


@pytest.fixture
def admin_emu(realtimekit_emulator_factory: Callable[..., RealtimeKitEmulator]) -> RealtimeKitEmulator:
    return realtimekit_emulator_factory(time_scale=FROZEN, conn_id=None, admin=True)


def test_admin_routes(admin_emu: RealtimeKitEmulator) -> None:
    emu, api = admin_emu, Api(admin_emu)
    meeting = new_id()
    body = {"meeting_id": meeting, "audio": False, "file_size": 4096}
    status, started = call(emu, "POST", "meeting-recordings", body)
    assert status == 201
    assert started["start_reason"] == {"reason": "RECORD_ON_START"}
    emu.advance(5)
    status, answer = call(emu, "POST", f"meetings/{meeting}/end")
    assert status == 200
    assert [(r["id"], r["stop_reason"]) for r in answer["recordings"]] == [
        (started["id"], {"reason": "ALL_PEERS_LEFT"})
    ]
    emu.advance(3)
    uploaded = api.recording(started["id"])
    assert (uploaded["file_size"], uploaded["audio_download_url"]) == (4096, None)
    assert call(emu, "POST", f"meetings/{meeting}/end") == (200, {"recordings": []})
    api.close()


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("meeting-recordings", {}, 400, "meeting_id is required"),
        ("meeting-recordings", {"meeting_id": "nope"}, 400, "meeting_id must be a UUID"),
        ("meeting-recordings", {"meeting_id": new_id(), "audio": "yes"}, 400, "audio must be bool"),
        ("meeting-recordings", {"meeting_id": new_id(), "file_size": True}, 400, "file_size must be int"),
        (
            "meeting-recordings",
            {"meeting_id": new_id(), "reason": "x"},
            400,
            "unknown meeting recording field",
        ),
        ("meeting-recordings", [1], 400, "the body must be a JSON object"),
        ("meetings/0c9a7b1e-5d2f-4e3a-8b6c-9d0e1f2a3b4c/end", None, 404, "No meeting"),
    ],
)
def test_admin_errors_name_the_field(
    admin_emu: RealtimeKitEmulator, path: str, body: Any, status: int, message: str
) -> None:
    answer = call(admin_emu, "POST", path, body)
    assert answer[0] == status
    assert message in answer[1]["error"]


def test_admin_refuses_a_second_active_recording(admin_emu: RealtimeKitEmulator) -> None:
    meeting = new_id()
    assert call(admin_emu, "POST", "meeting-recordings", {"meeting_id": meeting})[0] == 201
    status, answer = call(admin_emu, "POST", "meeting-recordings", {"meeting_id": meeting})
    assert status == 400
    assert "already has an active recording" in answer["error"]


def test_cli_empty_meeting_seconds_flag() -> None:
    args = ("--time-scale", "1e9", "--invoked-seconds", "0", "--empty-meeting-seconds", "45", "--admin")
    with serving(*args) as (_, connection):
        origin = connection["host"].removesuffix("/client/v4")
        meeting = new_id()
        started = requests.post(
            f"{origin}/_emulator/meeting-recordings", json={"meeting_id": meeting}, timeout=5
        )
        assert started.status_code == 201
        ended = requests.post(f"{origin}/_emulator/meetings/{meeting}/end", timeout=5).json()["recordings"]
        # The clock is frozen: 45 s of an empty meeting cannot have passed, so it is still recording.
        assert [r["status"] for r in ended] == ["RECORDING"]
    with serving("--time-scale", "1e9", "--invoked-seconds", "0", "--admin") as (_, connection):
        origin = connection["host"].removesuffix("/client/v4")
        meeting = new_id()
        requests.post(f"{origin}/_emulator/meeting-recordings", json={"meeting_id": meeting}, timeout=5)
        ended = requests.post(f"{origin}/_emulator/meetings/{meeting}/end", timeout=5).json()["recordings"]
        assert [(r["status"], r["stop_reason"]["reason"]) for r in ended] == [("UPLOADING", "ALL_PEERS_LEFT")]
