"""Shared fixtures: an isolated Airflow home, the emulator on loopback, and a hook pointed at it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

# Airflow reads its configuration at import time: isolate it before anything imports airflow.
_AIRFLOW_HOME = os.environ.get("RTK_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="rtk-airflow-home-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", os.path.join(_AIRFLOW_HOME, "dags"))
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_AIRFLOW_HOME}/airflow.db")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")

if TYPE_CHECKING:
    from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

CANARY_TOKEN = "canary-token-7f3a9c1e-do-not-log"

#: Lifecycle fast enough for tests: INVOKED 0.2 s, UPLOADING 0.3 s, one API second = 10 ms of max_seconds.
FAST = {"time_scale": 1.0, "invoked_seconds": 0.2, "upload_seconds": 0.3}


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[RealtimeKitEmulator]:
    """A started emulator whose connection is ``realtimekit_default`` (through the environment)."""
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

    with RealtimeKitEmulator(token=CANARY_TOKEN, **FAST) as emu:
        for key, value in emu.env().items():
            monkeypatch.setenv(key, value)
        yield emu


@pytest.fixture
def hook(emulator: RealtimeKitEmulator) -> Iterator[RealtimeKitHook]:
    """A hook with short timeouts and near-zero backoff, so retry tests take milliseconds."""
    from airflow_provider_rtk._retry import RetryPolicy
    from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook

    policy = RetryPolicy(max_attempts=4, initial_wait=0.01, max_wait=0.05, jitter=0.01)
    h = RealtimeKitHook(timeout=2.0, retry_policy=policy)
    yield h
    h.close()
