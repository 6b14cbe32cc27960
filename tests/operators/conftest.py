"""Fixtures for the operator tests: an emulator whose recordings record at once, and a DAG runner."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from tests.airflow_harness import DagRunResult, run_dag_source
from tests.conftest import CANARY_TOKEN, FAST

if TYPE_CHECKING:
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

DAG_HEADER = """\
from datetime import timedelta

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_rtk.operators.recording import (
    RealtimeKitGetRecordingOperator,
    RealtimeKitListRecordingsOperator,
    RealtimeKitPauseRecordingOperator,
    RealtimeKitResumeRecordingOperator,
    RealtimeKitStartRecordingOperator,
    RealtimeKitStartTrackRecordingOperator,
    RealtimeKitStopRecordingOperator,
)

"""


@pytest.fixture
def emulator(realtimekit_emulator_factory: Callable[..., RealtimeKitEmulator]) -> RealtimeKitEmulator:
    """The shared emulator settings, except that a new recording is RECORDING at once (no INVOKED phase):
    a pause right after the start task must not depend on how fast the next task is scheduled."""
    return realtimekit_emulator_factory(token=CANARY_TOKEN, **{**FAST, "invoked_seconds": 0.0})


@pytest.fixture
def run_dag() -> Callable[..., DagRunResult]:
    """Run ``body`` (tasks, indented as at module level) in a fresh DAG with ``dag.test()``."""

    def run(name: str, body: str, *, dag_args: str = "") -> DagRunResult:
        dag_id = f"{name}_{uuid.uuid4().hex[:8]}"
        source = (
            DAG_HEADER
            + f"with DAG({dag_id!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz='UTC'),"
            + f" catchup=False{', ' + dag_args if dag_args else ''}) as dag:\n"
            + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
            + "\n"
        )
        return run_dag_source(source, dag_id)

    return run


def meeting() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def slow_bot(realtimekit_emulator_factory: Callable[..., RealtimeKitEmulator]) -> RealtimeKitEmulator:
    """An emulator whose new recordings stay INVOKED (the bot joining) for 1.5 s, as the real service's
    do for up to ~30 s."""
    return realtimekit_emulator_factory(token=CANARY_TOKEN, **{**FAST, "invoked_seconds": 1.5})
