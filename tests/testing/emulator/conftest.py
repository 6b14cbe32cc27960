"""Fixtures for the emulator's own tests: an emulator driven by ``advance()`` and a thin API client."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator
from tests.testing.emulator.client import FROZEN, Api


@pytest.fixture
def emu(realtimekit_emulator_factory: Callable[..., RealtimeKitEmulator]) -> RealtimeKitEmulator:
    """An emulator whose clock only moves with ``advance()``, so timestamps in assertions are exact.

    No Airflow connection is set: these tests talk to it with their own client."""
    return realtimekit_emulator_factory(time_scale=FROZEN, conn_id=None)


@pytest.fixture
def api(emu: RealtimeKitEmulator) -> Iterator[Api]:
    client = Api(emu)
    yield client
    client.close()
