"""The realtimekit_emulator fixture: the instant lifecycle by default, others by marker or parameter."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_provider_rtk.testing.pytest_plugin import DEFAULT_LIFECYCLE, LIFECYCLES
from tests.testing.user_dags import typical_dag, write_dag

if TYPE_CHECKING:
    from airflow_provider_rtk.testing.dags import DagRunResult
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

RunDag = Callable[..., "DagRunResult"]


def _start(emulator: RealtimeKitEmulator) -> dict[str, Any]:
    """Start a recording over HTTP; the API's answer."""
    response = requests.post(
        f"{emulator.base_url}/accounts/{emulator.account_id}/realtime/kit/{emulator.app_id}/recordings",
        json={"meeting_id": str(uuid.uuid4())},
        headers={"Authorization": f"Bearer {emulator.token}"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable-sensor", "poking-sensor"])
def test_the_typical_user_dag_waits_no_poll_interval_by_default(
    realtimekit_emulator: RealtimeKitEmulator, realtimekit_run_dag: RunDag, tmp_path: Path, deferrable: bool
) -> None:
    """Start with wait_for_recording, stop, the sensor at its default poke_interval (60 s), download: every
    wait ends at its first look, over real HTTP, with nothing tuned in the DAG."""
    dag_id = f"kit_typical_{'deferrable' if deferrable else 'poke'}"
    path = write_dag(tmp_path / "dags", typical_dag(deferrable=deferrable, dag_id=dag_id))
    result = realtimekit_run_dag(path, conf={"meeting_id": str(uuid.uuid4()), "archive": str(tmp_path / "a")})
    result.assert_success()

    recording_id = result.xcoms["start_recording"]["id"]
    log = [r for r in realtimekit_emulator.requests if recording_id in r.path or r.method == "POST"]
    methods = [r.method for r in log]
    assert methods[:2] == ["POST", "PUT"]  # started, then stopped: nothing to wait for in between
    assert log[0].response_json["data"]["status"] == "RECORDING"
    polls = [r for r in log[2:] if r.method == "GET" and not r.path.startswith("/_files/")]
    # The sensor's first poke already sees UPLOADED, so it neither sleeps nor defers.
    assert polls[0].response_json["data"]["status"] == "UPLOADED"
    assert result.tries["wait_for_upload"] == 1
    assert len(list((tmp_path / "a").glob("*.mp4"))) == 1


def test_the_default_lifecycle_is_instant(realtimekit_emulator: RealtimeKitEmulator) -> None:
    assert DEFAULT_LIFECYCLE == "instant"
    assert LIFECYCLES["instant"]["invoked_seconds"] == LIFECYCLES["instant"]["upload_seconds"] == 0
    assert _start(realtimekit_emulator)["status"] == "RECORDING"


@pytest.mark.realtimekit_emulator("realistic")
def test_the_marker_opts_in_to_a_realistic_lifecycle(realtimekit_emulator: RealtimeKitEmulator) -> None:
    recording = _start(realtimekit_emulator)
    assert recording["status"] == "INVOKED"  # the bot takes 2 s to join


@pytest.mark.realtimekit_emulator("realistic", invoked_seconds=0, upload_seconds=600, file_size=1234)
def test_marker_settings_win_over_its_lifecycle(realtimekit_emulator: RealtimeKitEmulator) -> None:
    recording = _start(realtimekit_emulator)
    assert recording["status"] == "RECORDING"
    stopped = requests.put(
        f"{realtimekit_emulator.base_url}/accounts/{realtimekit_emulator.account_id}/realtime/kit/"
        f"{realtimekit_emulator.app_id}/recordings/{recording['id']}",
        json={"action": "stop"},
        headers={"Authorization": f"Bearer {realtimekit_emulator.token}"},
        timeout=5,
    ).json()["data"]
    assert stopped["status"] == "UPLOADING"
    assert realtimekit_emulator.seed_recording(status="UPLOADED")["file_size"] == 1234


@pytest.mark.parametrize(
    ("realtimekit_emulator", "status"),
    [
        ("instant", "RECORDING"),
        ("fast", "INVOKED"),
        ("realistic", "INVOKED"),
        ({"invoked_seconds": 9}, "INVOKED"),
    ],
    indirect=["realtimekit_emulator"],
)
def test_a_fixture_parameter_chooses_the_lifecycle(
    realtimekit_emulator: RealtimeKitEmulator, status: str
) -> None:
    assert _start(realtimekit_emulator)["status"] == status


@pytest.mark.realtimekit_emulator("slow-motion")
def test_an_unknown_lifecycle_names_the_allowed_ones(request: pytest.FixtureRequest) -> None:
    with pytest.raises(
        ValueError, match="lifecycle must be one of instant, fast, realistic, got 'slow-motion'"
    ):
        request.getfixturevalue("realtimekit_emulator")


def test_the_factory_takes_a_lifecycle_and_keeps_the_emulator_defaults_without_one(
    realtimekit_emulator_factory: Callable[..., RealtimeKitEmulator],
) -> None:
    assert _start(realtimekit_emulator_factory("instant", conn_id=None))["status"] == "RECORDING"
    assert _start(realtimekit_emulator_factory(conn_id=None))["status"] == "INVOKED"
    with pytest.raises(ValueError, match="realtimekit_emulator_factory: lifecycle must be one of"):
        realtimekit_emulator_factory("instantly")
