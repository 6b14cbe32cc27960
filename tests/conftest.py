"""Shared fixtures: an isolated Airflow home, the emulator on loopback, and a hook pointed at it.

Emulators come from the shipped plugin's ``realtimekit_emulator_factory``; DAG runs from its harness
(``airflow_provider_rtk.testing.dags``, which migrates the DB at the first run), as the README offers users.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from airflow_provider_rtk.testing.dags import prepare_airflow_home

# Airflow reads its configuration at import time: isolate it before anything imports airflow.
prepare_airflow_home(os.environ.get("RTK_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="rtk-airflow-home-"))
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")

# Also when the entry point is not active (PYTEST_DISABLE_PLUGIN_AUTOLOAD, a tree that is not installed).
pytest_plugins = ["airflow_provider_rtk.testing.pytest_plugin"]

if TYPE_CHECKING:
    from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

CANARY_TOKEN = "canary-token-7f3a9c1e-do-not-log"

#: Lifecycle fast enough for tests: INVOKED 0.2 s, UPLOADING 0.3 s, one API second = 10 ms of max_seconds.
FAST = {"time_scale": 1.0, "invoked_seconds": 0.2, "upload_seconds": 0.3}


@pytest.fixture
def emulator(realtimekit_emulator_factory: Callable[..., RealtimeKitEmulator]) -> RealtimeKitEmulator:
    """A started emulator whose connection is ``realtimekit_default`` (through the environment)."""
    return realtimekit_emulator_factory(token=CANARY_TOKEN, **FAST)


@pytest.fixture
def hook(emulator: RealtimeKitEmulator) -> Iterator[RealtimeKitHook]:
    """A hook with short timeouts and near-zero backoff, so retry tests take milliseconds."""
    from airflow_provider_rtk._core.retry import RetryPolicy
    from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook

    policy = RetryPolicy(max_attempts=4, initial_wait=0.01, max_wait=0.05, jitter=0.01)
    h = RealtimeKitHook(timeout=2.0, retry_policy=policy)
    yield h
    h.close()
