"""Authentication, routing and not-found answers, in the envelope each failure uses."""

from __future__ import annotations

import re

import pytest
import requests

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator
from tests.emulator.client import Api, new_id

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
