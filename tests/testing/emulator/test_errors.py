"""Authentication, routing and not-found answers, in the envelope each failure uses."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import requests

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator
from tests.testing.emulator.client import Api, new_id

CF_RAY = re.compile(r"[0-9a-f]{16}-SJC")


def cf_envelope(code: int, message: str) -> dict[str, object]:
    return {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "rtk-emulator-token", "Basic abc"])
def test_bad_or_missing_token_is_401_cf_envelope(api: Api, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = requests.get(api.app_url + "/recordings", headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json() == cf_envelope(10000, "Authentication error")
    assert CF_RAY.fullmatch(response.headers["cf-ray"])


def test_unknown_account_is_403_cf_envelope(emu: RealtimeKitEmulator, api: Api) -> None:
    url = f"{emu.base_url}/accounts/{'0' * 32}/realtime/kit/{emu.app_id}/recordings"
    response = api.session.get(url, timeout=5)
    assert response.status_code == 403
    assert response.json() == cf_envelope(10000, "Unauthorized to access requested resource")


def test_unknown_app_is_404_rtk_envelope(emu: RealtimeKitEmulator, api: Api) -> None:
    url = f"{emu.base_url}/accounts/{emu.account_id}/realtime/kit/{'f' * 32}/recordings"
    response = api.session.get(url, timeout=5)
    assert response.status_code == 404
    assert response.json() == {"success": False, "error": {"code": 404, "message": "App not found"}}


def test_unknown_recording_is_404_rtk_envelope(api: Api) -> None:
    missing = new_id()
    for response in (api.get(f"/recordings/{missing}"), api.act(missing, "stop")):
        assert response.status_code == 404
        assert response.json() == {
            "success": False,
            "error": {"code": 404, "message": f"Recording not found: {missing}"},
        }


def test_no_active_recording_is_404_rtk_envelope(api: Api) -> None:
    meeting = new_id()
    response = api.get(f"/recordings/active-recording/{meeting}")
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": {"code": 404, "message": f"No active recording found for meeting {meeting}"},
    }


@pytest.mark.parametrize("path", ["/client/v4/zones", "/client/v4/accounts/x", "/elsewhere", "/client/v4/"])
def test_unknown_paths_are_404_cf_envelope(emu: RealtimeKitEmulator, api: Api, path: str) -> None:
    response = api.session.get(f"http://127.0.0.1:{emu.port}{path}", timeout=5)
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == 7003


def test_unknown_path_under_the_app_is_404(api: Api) -> None:
    response = api.get("/recordings/a/b/c")
    assert response.status_code == 404
    assert response.json()["success"] is False


def test_wrong_method_is_405(api: Api) -> None:
    response = api.session.delete(api.app_url + "/recordings", timeout=5)
    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == 10405
    assert api.session.put(api.app_url + "/recordings", json={}, timeout=5).status_code == 405


@pytest.mark.parametrize("payload", [b"{not json", b"", b'"a string"'])
def test_bodies_that_are_not_json_objects_are_400(api: Api, payload: bytes) -> None:
    response = api.session.post(
        api.app_url + "/recordings", data=payload, headers={"Content-Type": "application/json"}, timeout=5
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400


def test_every_answer_has_a_cf_ray(emu: RealtimeKitEmulator, api: Api) -> None:
    recording = emu.seed_recording()
    responses = [
        api.get("/recordings"),
        api.get(f"/recordings/{recording['id']}"),
        api.get("/nope"),
        requests.get(recording["download_url"], timeout=5),
        requests.get(recording["download_url"] + "x", timeout=5),
    ]
    rays = [response.headers["cf-ray"] for response in responses]
    assert all(CF_RAY.fullmatch(ray) for ray in rays)
    assert len(set(rays)) == len(rays)


def rtk_400(response: requests.Response, field: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == 400
    assert body["error"]["message"].startswith(f"{field} must be a UUID")


@pytest.mark.parametrize(
    "bad", ["my-meeting", "0", "6f1b3c1e2a7d4a579d0e1f2a3b4c5d6e", "6f1b3c1e-2a7d-4a57-9d0e-1f2a3b4c5d6"]
)
def test_meeting_and_recording_ids_must_be_uuids(emu: RealtimeKitEmulator, api: Api, bad: str) -> None:
    """``format: uuid`` in the schema: bodies, the list filter and paths answer 400 naming the field."""
    rtk_400(api.post("/recordings", {"meeting_id": bad}), "meeting_id")
    rtk_400(api.post("/recordings/track", {"meeting_id": bad, "user_ids": ["alice"]}), "meeting_id")
    rtk_400(api.get("/recordings", params={"meeting_id": bad}), "meeting_id")
    rtk_400(api.get(f"/recordings/active-recording/{bad}"), "meeting_id")
    rtk_400(api.get(f"/recordings/{bad}"), "recording_id")
    rtk_400(api.act(bad, "stop"), "recording_id")
    assert emu.count() == 6
    assert api.get("/recordings").json()["paging"]["total_count"] == 0  # nothing was created
    with pytest.raises(ValueError, match="meeting_id must be a UUID"):
        emu.seed_recording(meeting_id=bad)


def test_uuids_in_any_case_are_accepted(api: Api) -> None:
    meeting = new_id().upper()
    api.start(meeting)
    assert api.get(f"/recordings/active-recording/{meeting}").status_code == 200


def test_every_id_the_emulator_generates_is_a_uuid(
    realtimekit_emulator_factory: Callable[..., RealtimeKitEmulator],
) -> None:
    uuid_shape = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
    emu = realtimekit_emulator_factory(api_version="legacy", conn_id=None)
    api = Api(emu)
    started = api.post("/recordings", {}).json()["data"]  # legacy: the meeting id is optional
    listed = api.get("/recordings").json()["data"][0]
    seeded = emu.seed_recording(status="UPLOADED")
    track = emu.seed_recording(track_layers=["alice"])
    api.close()
    for view in (started, listed, seeded, track):
        assert uuid_shape.fullmatch(view["id"])
        assert uuid_shape.fullmatch(view["session_id"])
    assert uuid_shape.fullmatch(listed["meeting"]["id"])
    assert started["start_reason"]["caller"]["user_Id"] == "d61f6956-e68f-4375-bf10-c38a704d1bec"
