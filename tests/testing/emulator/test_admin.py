"""The admin endpoint, driven over real HTTP with urllib as another process would."""

from __future__ import annotations

import hashlib
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator
from tests.testing.emulator.client import FROZEN, Api, new_id
from tests.testing.emulator.test_outages import wait_until


@pytest.fixture
def admin_emu(realtimekit_emulator_factory: Callable[..., RealtimeKitEmulator]) -> RealtimeKitEmulator:
    return realtimekit_emulator_factory(time_scale=FROZEN, conn_id=None, admin=True)


def call(emu: RealtimeKitEmulator, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One admin request; returns the status and the decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{emu.origin}/_emulator/{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_off_by_default(emu: RealtimeKitEmulator) -> None:
    status, body = call(emu, "POST", "faults", {"status": 503})
    assert status == 404
    assert body["errors"][0]["code"] == 7003  # an unknown route, like any path outside the API
    assert emu.faults == []


def test_faults_added_listed_and_cleared(admin_emu: RealtimeKitEmulator) -> None:
    emu, api = admin_emu, Api(admin_emu)
    assert call(
        emu, "POST", "faults", {"method": "GET", "path": "/recordings$", "status": 429, "retry_after": 3}
    )
    status, body = call(emu, "POST", "faults", {"path": "/active-recording/", "status": 502, "times": 2})
    assert (status, body) == (201, {"id": 2})
    limited = api.get("/recordings")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    assert api.get("/recordings").status_code == 200
    assert api.get(f"/recordings/active-recording/{new_id()}").status_code == 502
    status, body = call(emu, "GET", "faults")
    assert status == 200
    assert [(f["id"], f["status"], f["hits"], f["active"]) for f in body["faults"]] == [
        (1, 429, 1, False),
        (2, 502, 1, True),
    ]
    assert call(emu, "DELETE", "faults") == (200, {})
    assert api.get(f"/recordings/active-recording/{new_id()}").status_code == 404
    api.close()


def test_fault_with_duration_and_drop(admin_emu: RealtimeKitEmulator) -> None:
    emu, api = admin_emu, Api(admin_emu)
    assert call(emu, "POST", "faults", {"status": 503, "duration": 60, "envelope": "cf"})[0] == 201
    for _ in range(5):
        assert api.get("/recordings").status_code == 503
    # Admin requests bypass faults: the outage can always be ended from outside.
    assert call(emu, "GET", "faults")[1]["faults"][0]["hits"] == 5
    assert call(emu, "DELETE", "faults")[0] == 200
    assert call(emu, "POST", "faults", {"method": "POST", "drop": True, "apply": True})[0] == 201
    with pytest.raises(requests.ConnectionError):
        api.post("/recordings", {"meeting_id": new_id()})
    assert api.get("/recordings").json()["paging"]["total_count"] == 1
    api.close()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"status": 503, "colour": "red"}, "unknown fault field 'colour'"),
        ({"status": "503"}, "status must be int"),
        ({"status": True}, "status must be int"),
        ({"drop": None}, "drop must be bool"),
        ({"status": 42}, "status must be an HTTP status code"),
        ({"path": "("}, "missing"),
        ({"status": 503, "duration": -1}, "duration must be a positive"),
        ([503], "body must be a JSON object"),
    ],
)
def test_bad_faults_are_refused_with_the_field(
    admin_emu: RealtimeKitEmulator, body: Any, message: str
) -> None:
    status, answer = call(admin_emu, "POST", "faults", body)
    assert status == 400
    assert message in answer["error"]
    assert admin_emu.faults == []


def test_request_log_without_secrets_and_without_admin_calls(admin_emu: RealtimeKitEmulator) -> None:
    emu, api = admin_emu, Api(admin_emu)
    recording = emu.seed_recording()
    api.get("/recordings")
    assert requests.get(recording["download_url"], timeout=5).status_code == 200
    status, body = call(emu, "GET", "requests")
    assert status == 200
    listed, downloaded = body["requests"]
    assert listed["method"] == "GET"
    assert listed["path"].endswith("/recordings")
    assert listed["status"] == 200
    assert isinstance(listed["time"], float)
    assert listed["time"] <= downloaded["time"]
    assert downloaded["path"] == f"/_files/{recording['id']}/video"  # no query: no signature
    assert "X-Amz-Signature" not in json.dumps(body)
    assert emu.token not in json.dumps(body)
    assert call(emu, "DELETE", "requests") == (200, {})
    assert call(emu, "GET", "requests") == (200, {"requests": []})
    api.close()


def test_seed_and_sha256(admin_emu: RealtimeKitEmulator) -> None:
    emu = admin_emu
    meeting = new_id()
    invoked = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    status, view = call(
        emu,
        "POST",
        "recordings",
        {
            "meeting_id": meeting,
            "status": "UPLOADED",
            "file_size": 5000,
            "invoked_time": invoked.isoformat().replace("+00:00", "Z"),
        },
    )
    assert status == 201
    assert view["status"] == "UPLOADED"
    assert view["invoked_time"] == invoked.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert view["file_size"] == 5000
    assert Api(emu).recording(view["id"])["id"] == view["id"]
    video = requests.get(view["download_url"], timeout=5).content
    audio = requests.get(view["audio_download_url"], timeout=5).content
    assert call(emu, "GET", f"recordings/{view['id']}/sha256") == (
        200,
        {"sha256": hashlib.sha256(video).hexdigest()},
    )
    assert call(emu, "GET", f"recordings/{view['id']}/sha256?kind=audio") == (
        200,
        {"sha256": hashlib.sha256(audio).hexdigest()},
    )
    assert call(emu, "GET", f"recordings/{view['id']}/sha256?kind=bob")[0] == 404
    assert call(emu, "GET", f"recordings/{new_id()}/sha256")[0] == 404
    assert call(emu, "POST", "recordings", {"status": "DONE"})[0] == 400
    assert call(emu, "POST", "recordings", {"invoked_time": "yesterday"})[0] == 400


def test_unknown_routes_and_methods(admin_emu: RealtimeKitEmulator) -> None:
    assert call(admin_emu, "GET", "nothing")[0] == 404
    assert call(admin_emu, "PUT", "faults", {})[0] == 405
    assert call(admin_emu, "GET", "refuse")[0] == 405


def test_refuse_over_http(admin_emu: RealtimeKitEmulator) -> None:
    emu = admin_emu
    port = emu.port
    assert call(emu, "POST", "refuse", {"seconds": "soon"})[0] == 400
    assert call(emu, "POST", "refuse", {"seconds": 60}) == (200, {"seconds": 60})
    assert emu.refusing
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    emu.accept_connections()
    assert call(emu, "POST", "refuse", {"seconds": 0.3}) == (200, {"seconds": 0.3})
    wait_until(lambda: not emu.refusing, "the emulator listens again")
    assert emu.port == port
    assert call(emu, "GET", "faults") == (200, {"faults": []})
