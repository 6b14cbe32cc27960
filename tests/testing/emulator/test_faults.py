"""Every kind of injected fault, and how faults are matched and counted."""

from __future__ import annotations

import http.client
import time

import pytest
import requests

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator
from tests.testing.emulator.client import Api, new_id


def test_status_with_retry_after_seconds(emu: RealtimeKitEmulator, api: Api) -> None:
    fault = emu.add_fault(method="GET", path=r"/recordings$", status=429, retry_after=7, message="Slow down")
    limited = api.get("/recordings")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert limited.json() == {"success": False, "error": {"code": 429, "message": "Slow down"}}
    assert api.get("/recordings").status_code == 200  # times=1 by default
    assert fault.hits == 1


def test_status_with_http_date_and_cf_envelope(emu: RealtimeKitEmulator, api: Api) -> None:
    date = "Wed, 21 Oct 2026 07:28:00 GMT"
    emu.add_fault(status=503, retry_after=date, envelope="cf")
    response = api.get("/recordings")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == date
    body = response.json()
    assert body["success"] is False
    assert body["errors"][0]["code"] == 10000
    assert body["messages"] == []
    assert body["result"] is None


def test_status_fault_does_not_apply_the_request(emu: RealtimeKitEmulator, api: Api) -> None:
    emu.add_fault(method="POST", path=r"/recordings$", status=500, times=2)
    meeting = new_id()
    assert api.post("/recordings", {"meeting_id": meeting}).status_code == 500
    assert api.post("/recordings", {"meeting_id": meeting}).status_code == 500
    assert api.get("/recordings", params={"meeting_id": meeting}).json()["paging"]["total_count"] == 0
    assert api.post("/recordings", {"meeting_id": meeting}).status_code == 200


def test_forever_and_clear(emu: RealtimeKitEmulator, api: Api) -> None:
    fault = emu.add_fault(path=r"/active-recording/", status=502, times=None)
    for _ in range(5):
        assert api.get(f"/recordings/active-recording/{new_id()}").status_code == 502
    assert fault.hits == 5
    emu.clear_faults()
    assert api.get(f"/recordings/active-recording/{new_id()}").status_code == 404


def test_faults_match_in_insertion_order_and_by_method(emu: RealtimeKitEmulator, api: Api) -> None:
    put_only = emu.add_fault(method="PUT", status=418)
    first = emu.add_fault(path=r"/recordings", status=500)
    second = emu.add_fault(path=r"/recordings", status=503)
    assert api.get("/recordings").status_code == 500
    assert api.get("/recordings").status_code == 503
    assert api.get("/recordings").status_code == 200
    assert (put_only.hits, first.hits, second.hits) == (0, 1, 1)


def test_delay(emu: RealtimeKitEmulator, api: Api) -> None:
    emu.add_fault(method="GET", delay=0.3)
    started = time.monotonic()
    assert api.get("/recordings").status_code == 200
    assert time.monotonic() - started >= 0.3
    emu.add_fault(delay=1.0)
    with pytest.raises(requests.Timeout):
        api.session.get(api.app_url + "/recordings", timeout=0.2)
    in_flight = emu.requests[-1]
    assert in_flight.status is None  # logged on arrival, still sleeping
    assert emu.count() == 2


def test_drop_before_the_request_takes_effect(emu: RealtimeKitEmulator, api: Api) -> None:
    emu.add_fault(method="POST", path=r"/recordings$", drop=True)
    meeting = new_id()
    with pytest.raises(requests.ConnectionError):
        api.post("/recordings", {"meeting_id": meeting})
    assert api.get("/recordings", params={"meeting_id": meeting}).json()["paging"]["total_count"] == 0
    assert emu.requests[0].status is None


def test_lost_response_after_the_request_took_effect(emu: RealtimeKitEmulator, api: Api) -> None:
    emu.add_fault(method="POST", path=r"/recordings$", drop=True, apply=True)
    meeting = new_id()
    with pytest.raises(requests.ConnectionError):
        api.post("/recordings", {"meeting_id": meeting})
    created = api.get("/recordings", params={"meeting_id": meeting}).json()
    assert created["paging"]["total_count"] == 1  # the recording exists although the client never heard
    retry = api.post("/recordings", {"meeting_id": meeting})
    assert retry.status_code == 409  # a blind retry of the start now conflicts
    active = api.get(f"/recordings/active-recording/{meeting}").json()["data"]
    assert active["id"] == created["data"][0]["id"]


def test_drop_after_bytes_on_a_download(emu: RealtimeKitEmulator) -> None:
    recording = emu.seed_recording(file_size=4 << 20)
    fault = emu.add_fault(path=r"^/_files/", drop_after_bytes=1000)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(recording["download_url"], timeout=5)
    assert fault.hits == 1
    # At the socket level: the full length is announced, 1000 bytes arrive, then the connection closes.
    emu.add_fault(path=r"^/_files/", drop_after_bytes=1000)
    url = recording["download_url"].removeprefix(f"http://127.0.0.1:{emu.port}")
    connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    connection.request("GET", url)
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Length") == str(4 << 20)
    with pytest.raises(http.client.IncompleteRead) as caught:
        response.read()
    assert len(caught.value.partial) == 1000
    connection.close()
    assert len(requests.get(recording["download_url"], timeout=5).content) == 4 << 20


def test_drop_after_bytes_on_an_api_answer(emu: RealtimeKitEmulator, api: Api) -> None:
    emu.add_fault(method="GET", path=r"/recordings$", drop_after_bytes=10)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        api.get("/recordings")
    assert emu.requests[-1].status == 200


def test_fault_arguments_are_checked(emu: RealtimeKitEmulator) -> None:
    with pytest.raises(ValueError, match="envelope"):
        emu.add_fault(status=500, envelope="xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="times"):
        emu.add_fault(status=500, times=0)
    with pytest.raises(ValueError, match="status"):
        emu.add_fault(status=42)
