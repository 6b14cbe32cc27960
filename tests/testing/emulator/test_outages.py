"""Time-based faults and refused connections: outages measured in seconds, not in requests."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable

import pytest
import requests

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator
from tests.testing.emulator.client import Api


def wait_until(condition: Callable[[], bool], what: str, attempts: int = 300) -> None:
    """Poll ``condition()`` every 0.05 s; the bound only stops a hung test, it asserts no duration."""
    for _ in range(attempts):
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def reuse(connection: http.client.HTTPConnection) -> None:
    connection.request("GET", "/client/v4/x")
    connection.getresponse()


def test_duration_fault_affects_every_request_until_it_expires(emu: RealtimeKitEmulator, api: Api) -> None:
    fault = emu.add_fault(method="GET", path=r"/recordings$", status=503, retry_after=1, duration=2)
    assert fault.times is None  # time-based instead of count-based
    statuses = []
    while fault.active:
        statuses.append(api.get("/recordings").status_code)
    # A request sent just before expiry may be answered just after it: only the last one can be a 200.
    assert statuses[:-1] == [503] * (len(statuses) - 1)
    assert fault.hits == statuses.count(503) >= 1
    assert [api.get("/recordings").status_code for _ in range(3)] == [200, 200, 200]
    assert fault.hits == statuses.count(503)  # expired: it no longer counts anything
    assert api.post("/recordings", {"meeting_id": "00000000-0000-4000-8000-000000000000"}).status_code == 200


def test_duration_fault_arguments(emu: RealtimeKitEmulator) -> None:
    with pytest.raises(ValueError, match="duration"):
        emu.add_fault(status=503, duration=0)
    fault = emu.add_fault(status=503, times=3, duration=60)
    assert fault.times is None
    assert fault.active
    emu.clear_faults()
    assert emu.faults == []


def test_refuse_connections_refuses_and_closes_keep_alive_connections(emu: RealtimeKitEmulator) -> None:
    port = emu.port
    kept_alive = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    kept_alive.request("GET", "/client/v4/x")
    assert kept_alive.getresponse().read()
    emu.refuse_connections(60)
    assert emu.refusing
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    with pytest.raises(requests.ConnectionError):
        requests.get(emu.base_url + "/x", timeout=5)
    with pytest.raises(ConnectionError):  # the server closed it: reset, broken pipe or no answer
        reuse(kept_alive)
    kept_alive.close()
    emu.refuse_connections(1)  # during a refusal: never shortens it
    assert emu.refusing
    emu.accept_connections()
    assert not emu.refusing
    assert emu.port == port
    assert requests.get(emu.base_url + "/x", timeout=5).status_code == 401


def test_refused_connections_reopen_on_the_same_port_by_themselves(emu: RealtimeKitEmulator) -> None:
    api = Api(emu)
    port = emu.port
    assert api.get("/recordings").status_code == 200
    emu.refuse_connections(0.5)
    wait_until(lambda: not emu.refusing, "the emulator listens again")
    assert emu.port == port
    assert api.get("/recordings").status_code == 200  # the session reconnects transparently
    api.close()


def test_refuse_requires_a_running_emulator_and_a_positive_duration() -> None:
    emu = RealtimeKitEmulator()
    with pytest.raises(RuntimeError, match="not running"):
        emu.refuse_connections(1)
    with emu:
        with pytest.raises(ValueError, match="seconds"):
            emu.refuse_connections(0)
        assert not emu.refusing


def test_stop_during_a_refusal_joins_everything() -> None:
    emu = RealtimeKitEmulator().start()
    emu.refuse_connections(60)
    emu.stop()
    assert not emu.refusing
    with pytest.raises(RuntimeError, match="not running"):
        _ = emu.port
    emu.start()  # and it can start again
    assert requests.get(emu.base_url + "/x", timeout=5).status_code == 401
    emu.stop()
