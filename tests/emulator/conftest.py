"""Fixtures for the emulator's own tests: an emulator driven by ``advance()`` and a thin API client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

# The plugin's fixture, imported rather than listed in ``pytest_plugins`` (which only a top-level
# conftest may define); test_pytest_plugin.py also checks the documented ``pytest_plugins`` route.
from airflow_provider_rtk.testing.pytest_plugin import realtimekit_emulator
from tests.emulator.client import FROZEN, Api

__all__ = ["realtimekit_emulator"]


@pytest.fixture
def emu() -> Iterator[RealtimeKitEmulator]:
    """An emulator whose clock only moves with ``advance()``, so timestamps in assertions are exact."""
    with RealtimeKitEmulator(time_scale=FROZEN) as emulator:
        yield emulator


@pytest.fixture
def api(emu: RealtimeKitEmulator) -> Iterator[Api]:
    client = Api(emu)
    yield client
    client.close()
