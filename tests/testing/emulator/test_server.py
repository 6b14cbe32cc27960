"""Server lifecycle, the Airflow connection it advertises, the request log, and concurrent keep-alive use."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator
from tests.testing.emulator.client import Api, new_id


def test_start_stop_idempotent_and_context_manager() -> None:
    emu = RealtimeKitEmulator()
    with pytest.raises(RuntimeError, match="not running"):
        _ = emu.base_url
    assert emu.start() is emu
    assert emu.start() is emu
    url = emu.base_url
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/client/v4")
    emu.stop()
    emu.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)
    with RealtimeKitEmulator() as again:
        assert requests.get(again.base_url + "/x", timeout=2).status_code == 401


def test_stop_closes_keep_alive_connections_and_joins_threads() -> None:
    before = threading.active_count()
    emu = RealtimeKitEmulator().start()
    sessions = [Api(emu) for _ in range(5)]
    for api in sessions:
        assert api.get("/recordings").status_code == 200  # each keeps its connection open
    assert threading.active_count() >= before + 6
    emu.stop()
    assert threading.active_count() == before
    for api in sessions:
        api.close()


def test_connection_json_and_env(emu: RealtimeKitEmulator) -> None:
    connection = json.loads(emu.connection_json(conn_id="ignored"))
    assert connection == {
        "conn_type": "realtimekit",
        "host": emu.base_url,
        "password": "rtk-emulator-token",
        "extra": {
            "account_id": "023e105f4ecef8ad9ca31a8372d0c353",
            "app_id": "2a95132c15732412d22c1476fa83f27a",
        },
    }
    assert emu.env() == {"AIRFLOW_CONN_REALTIMEKIT_DEFAULT": emu.connection_json()}
    assert list(emu.env("rtk_staging")) == ["AIRFLOW_CONN_RTK_STAGING"]


def test_custom_identity() -> None:
    with RealtimeKitEmulator(token="t0k3n", account_id="a" * 32, app_id="b" * 32) as emu:
        api = Api(emu)
        assert api.app_url.endswith(f"/accounts/{'a' * 32}/realtime/kit/{'b' * 32}")
        assert api.get("/recordings").status_code == 200
        assert json.loads(emu.connection_json())["password"] == "t0k3n"
        api.close()


def test_invalid_api_version() -> None:
    with pytest.raises(ValueError, match="api_version"):
        RealtimeKitEmulator(api_version="v2")  # type: ignore[arg-type]


def test_request_log(emu: RealtimeKitEmulator, api: Api) -> None:
    meeting = new_id()
    api.post("/recordings", {"meeting_id": meeting})
    api.get("/recordings", params=[("status", "UPLOADED"), ("status", "ERRORED"), ("per_page", "5")])
    posted, listed = emu.requests
    assert posted.method == "POST"
    assert posted.path.endswith("/recordings")
    assert posted.url == f"http://127.0.0.1:{emu.port}{posted.path}"
    assert posted.headers["Authorization"] == f"Bearer {emu.token}"
    assert json.loads(posted.body) == {"meeting_id": meeting} == posted.json
    assert posted.status == 200
    assert posted.response_json is not None
    assert posted.response_json["data"]["status"] == "INVOKED"
    assert posted.response_headers["Content-Type"].startswith("application/json")
    assert posted.response_headers["cf-ray"].endswith("-SJC")
    assert listed.query == {"status": ["UPLOADED", "ERRORED"], "per_page": ["5"]}
    assert listed.url.endswith("?status=UPLOADED&status=ERRORED&per_page=5")
    assert listed.json is None

    assert emu.count() == 2
    assert emu.count(method="post") == 1
    assert emu.count(method="GET", path=r"/recordings$") == 1
    assert emu.count(path=r"/active-recording/") == 0
    snapshot = emu.requests
    emu.clear_requests()
    assert emu.requests == []
    assert len(snapshot) == 2  # a snapshot is not affected by later changes


def test_log_is_complete_as_soon_as_the_client_has_its_answer(emu: RealtimeKitEmulator, api: Api) -> None:
    for expected in range(1, 101):
        assert api.get("/recordings").status_code == 200
        assert emu.count() == expected
        assert emu.requests[-1].status == 200


def test_chunked_request_body(emu: RealtimeKitEmulator, api: Api) -> None:
    meeting = new_id()
    parts = [b'{"meeting_id": ', f'"{meeting}"'.encode(), b"}"]
    response = api.session.post(
        api.app_url + "/recordings", data=iter(parts), headers={"Content-Type": "application/json"}, timeout=5
    )
    assert response.status_code == 200
    assert emu.requests[-1].headers["Transfer-Encoding"] == "chunked"
    assert emu.requests[-1].json == {"meeting_id": meeting}
    assert api.get("/recordings").status_code == 200  # the connection is still in sync


def test_many_concurrent_keep_alive_clients(emu: RealtimeKitEmulator) -> None:
    meeting_ids = [new_id() for _ in range(32)]

    def client(meeting: str) -> list[int]:
        api = Api(emu)
        statuses = [api.post("/recordings", {"meeting_id": meeting}).status_code]
        statuses += [api.get("/recordings", params={"meeting_id": meeting}).status_code for _ in range(10)]
        statuses.append(api.post("/recordings", {"meeting_id": meeting}).status_code)
        api.close()
        return statuses

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(client, meeting_ids))
    assert all(statuses == [200] + [200] * 10 + [409] for statuses in results)
    assert emu.count() == 32 * 12
    assert emu.count(method="POST") == 64
