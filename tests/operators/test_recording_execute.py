"""Operator behaviour outside a DAG run: validation when the task is built, waiting edge cases, the
deferral itself, idempotent actions, the legacy track API, and the cost of importing the module."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
import textwrap
import time
import uuid
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_rtk._core.compat import AirflowSensorTimeout
from airflow_provider_rtk._core.validation import LIST_FILTERS
from airflow_provider_rtk.exceptions import (
    RealtimeKitError,
    RealtimeKitInputError,
    RealtimeKitRecordingStateError,
)
from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator
from airflow_provider_rtk.operators.recording import (
    RealtimeKitGetRecordingOperator,
    RealtimeKitListRecordingsOperator,
    RealtimeKitPauseRecordingOperator,
    RealtimeKitResumeRecordingOperator,
    RealtimeKitStartRecordingOperator,
    RealtimeKitStartTrackRecordingOperator,
    RealtimeKitStopRecordingOperator,
)
from airflow_provider_rtk.types import ListFilters
from tests.conftest import CANARY_TOKEN
from tests.operators.conftest import meeting

#: A well-formed recording id, for tests about other arguments.
SOME_ID = "97440c6a-140b-40a9-9499-b23fd7a3868a"

if TYPE_CHECKING:
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator


def _context() -> dict[str, Any]:
    pushed: dict[str, Any] = {}
    return {
        "ti": SimpleNamespace(xcom_push=lambda key, value: pushed.__setitem__(key, value)),
        "pushed": pushed,
    }


class TestValidationWhenBuilt:
    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"max_seconds": 5}, "max_seconds"),
            ({"video_config": {"codec": "AV1"}}, "video_config.codec"),
            ({"storage_config": {"bucket": "b"}}, "storage_config.type"),
            ({"realtimekit_bucket_config": {}}, "realtimekit_bucket_config.enabled"),
        ],
    )
    def test_start_rejects_literal_bad_input(self, kwargs, field):
        with pytest.raises(RealtimeKitInputError, match=rf"^{field}: "):
            RealtimeKitStartRecordingOperator(task_id="t", meeting_id=meeting(), **kwargs)

    def test_templated_values_wait_for_execute(self):
        """Values that would be rejected as literals are kept, unjudged, while they are templates."""
        start = RealtimeKitStartRecordingOperator(
            task_id="t", meeting_id="{{ params.m }}", max_seconds="{{ params.s }}", url="{{ params.u }}"
        )
        stop = RealtimeKitStopRecordingOperator(task_id="s", recording_id="{{ params.r }}/x")
        listed = RealtimeKitListRecordingsOperator(task_id="l", status="{{ params.status }}")
        assert (start.meeting_id, start.max_seconds, start.url) == (
            "{{ params.m }}",
            "{{ params.s }}",
            "{{ params.u }}",
        )
        assert stop.recording_id == "{{ params.r }}/x"
        assert listed.status == "{{ params.status }}"
        with pytest.raises(RealtimeKitInputError, match=r"^max_seconds: "):
            RealtimeKitStartRecordingOperator(task_id="t2", meeting_id=meeting(), max_seconds="5")
        with pytest.raises(RealtimeKitInputError, match=r"^recording_id: "):
            RealtimeKitStopRecordingOperator(task_id="s2", recording_id="r/x")
        with pytest.raises(RealtimeKitInputError, match=r"^status: "):
            RealtimeKitListRecordingsOperator(task_id="l2", status="DONE")

    def test_storage_config_completed_by_a_connection_needs_no_type(self, emulator, monkeypatch):
        monkeypatch.setenv(
            "AIRFLOW_CONN_STORAGE",
            json.dumps(
                {
                    "conn_type": "aws",
                    "login": "AKIDEXAMPLE",
                    "password": "storage-secret-canary",
                    "extra": {"bucket": "recordings", "region_name": "us-east-1"},
                }
            ),
        )
        op = RealtimeKitStartRecordingOperator(
            task_id="t", meeting_id=meeting(), storage_conn_id="storage", storage_config={"path": "p"}
        )
        with pytest.raises(RealtimeKitInputError, match=r"^storage_config\.type: "):  # without the connection
            RealtimeKitStartRecordingOperator(
                task_id="t2", meeting_id=meeting(), storage_config={"path": "p"}
            )
        recording = op.execute(_context())
        sent = next(r.json for r in emulator.requests if r.method == "POST")["storage_config"]
        assert sent == {
            "type": "aws",
            "access_key": "AKIDEXAMPLE",
            "secret": "storage-secret-canary",
            "bucket": "recordings",
            "region": "us-east-1",
            "path": "p",
        }
        assert "storage-secret-canary" not in repr(recording)

    @pytest.mark.parametrize(
        ("build", "field"),
        [
            (lambda: RealtimeKitStopRecordingOperator(task_id="t", recording_id=""), "recording_id"),
            (lambda: RealtimeKitPauseRecordingOperator(task_id="t", recording_id="a/b"), "recording_id"),
            (lambda: RealtimeKitResumeRecordingOperator(task_id="t", recording_id="a?b"), "recording_id"),
            (lambda: RealtimeKitGetRecordingOperator(task_id="t", recording_id=" "), "recording_id"),
            (
                lambda: RealtimeKitStopRecordingOperator(task_id="t", recording_id=SOME_ID, timeout=0),
                "timeout",
            ),
            (
                lambda: RealtimeKitStopRecordingOperator(task_id="t", recording_id=SOME_ID, poll_interval=-1),
                "poll_interval",
            ),
            (lambda: RealtimeKitListRecordingsOperator(task_id="t", sort_order="UP"), "sort_order"),
            (lambda: RealtimeKitListRecordingsOperator(task_id="t", max_results=0), "max_results"),
            (
                lambda: RealtimeKitStartTrackRecordingOperator(
                    task_id="t", meeting_id=meeting(), user_ids=[]
                ),
                "user_ids",
            ),
        ],
    )
    def test_other_operators_reject_literal_bad_input(self, build, field):
        with pytest.raises(RealtimeKitInputError, match=rf"^{field}: "):
            build()

    def test_deferrable_defaults_to_the_airflow_setting(self, monkeypatch):
        assert RealtimeKitStopRecordingOperator(task_id="a", recording_id=SOME_ID).deferrable is False
        monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "true")
        assert RealtimeKitStopRecordingOperator(task_id="b", recording_id=SOME_ID).deferrable is True
        assert (
            RealtimeKitStopRecordingOperator(task_id="c", recording_id=SOME_ID, deferrable=False).deferrable
            is False
        )


class TestStopAndWait:
    def test_timeout_raises_sensor_timeout(self, monkeypatch):
        from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

        with RealtimeKitEmulator(token=CANARY_TOKEN, invoked_seconds=0.0, upload_seconds=3600) as slow:
            for key, value in slow.env().items():
                monkeypatch.setenv(key, value)
            rid = slow.seed_recording(status="RECORDING")["id"]
            op = RealtimeKitStopRecordingOperator(
                task_id="stop", recording_id=rid, wait_for_upload=True, poll_interval=0.05, timeout=0.3
            )
            started = time.monotonic()
            with pytest.raises(AirflowSensorTimeout, match=rf"recording {rid} was not UPLOADED within 0.3 s"):
                op.execute(_context())
            assert time.monotonic() - started < 30  # the timeout, not the hour-long upload, ended it
            assert slow.recording(rid)["status"] == "UPLOADING"
            assert slow.count("GET", rf"/recordings/{rid}$") >= 3

    def test_errored_recording_fails_the_wait(self, emulator: RealtimeKitEmulator):
        rid = emulator.seed_recording(status="ERRORED", stop_reason="INTERNAL_ERROR")["id"]
        op = RealtimeKitStopRecordingOperator(task_id="stop", recording_id=rid, wait_for_upload=True)
        with pytest.raises(RealtimeKitRecordingStateError, match=r"ERRORED.*INTERNAL_ERROR"):
            op.execute(_context())
        # Without waiting, stopping an ERRORED recording is not an error: it is stopped.
        context = _context()
        op = RealtimeKitStopRecordingOperator(task_id="stop2", recording_id=rid)
        assert op.execute(context)["status"] == "ERRORED"
        assert context["pushed"] == {"id": rid}

    def test_unknown_recording_still_fails(self, emulator: RealtimeKitEmulator):
        op = RealtimeKitStopRecordingOperator(task_id="stop", recording_id=str(uuid.uuid4()))
        with pytest.raises(RealtimeKitError, match="HTTP 404"):
            op.execute(_context())

    def test_defers_with_the_trigger_until_end_time(self, emulator: RealtimeKitEmulator):
        from airflow_provider_rtk.triggers.recording import RealtimeKitRecordingTrigger

        try:
            from airflow.sdk.exceptions import TaskDeferred
        except ImportError:  # Airflow 3.1
            from airflow.exceptions import TaskDeferred

        rid = emulator.seed_recording(status="RECORDING")["id"]
        op = RealtimeKitStopRecordingOperator(
            task_id="stop",
            recording_id=rid,
            wait_for_upload=True,
            deferrable=True,
            poll_interval=5,
            timeout=600,
            account_id=emulator.account_id,
            include_download_urls=True,
        )
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(_context())
        trigger = deferred.value.trigger
        assert isinstance(trigger, RealtimeKitRecordingTrigger)
        assert deferred.value.method_name == "execute_complete"
        _, kwargs = trigger.serialize()
        assert kwargs["recording_id"] == rid
        assert kwargs["account_id"] == emulator.account_id
        assert kwargs["poll_interval"] == 5
        assert "include_download_urls" not in kwargs  # events never carry URLs: see resume()
        assert kwargs["max_consecutive_errors"] is None  # only the timeout ends the wait
        assert abs(kwargs["end_time"] - (time.time() + 600)) < 5

    def test_execute_complete_follows_the_event(self):
        op = RealtimeKitStopRecordingOperator(task_id="stop", recording_id=SOME_ID, wait_for_upload=True)
        recording = {"id": "r", "status": "UPLOADED", "download_url": "https://files/x?X-Amz-Signature=s"}
        event = {"recording_id": "r", "recording_status": "UPLOADED", "message": "", "recording": recording}
        context = _context()
        result = op.execute_complete(context, {**event, "status": "success"})
        assert result["status"] == "UPLOADED"
        assert result["download_url"] is None
        assert context["pushed"] == {"id": "r"}
        with pytest.raises(AirflowSensorTimeout, match="not in time"):
            op.execute_complete(_context(), {**event, "status": "timeout", "message": "not in time"})
        with pytest.raises(RealtimeKitRecordingStateError, match="is ERRORED"):
            op.execute_complete(_context(), {**event, "status": "failed", "message": "r is ERRORED"})


def test_execute_complete_fetches_download_urls_once_when_asked(emulator: RealtimeKitEmulator):
    """Trigger events carry no URL (issue 9.3): the resuming task fetches the recording for them."""
    rid = emulator.seed_recording(status="UPLOADED")["id"]
    event = {"status": "success", "recording_id": rid, "recording_status": "UPLOADED", "message": ""}
    event["recording"] = {"id": rid, "status": "UPLOADED", "download_url": None}
    plain = RealtimeKitStopRecordingOperator(task_id="a", recording_id=rid, wait_for_upload=True)
    assert plain.execute_complete(_context(), event)["download_url"] is None
    assert emulator.count("GET") == 0
    asked = RealtimeKitStopRecordingOperator(
        task_id="b", recording_id=rid, wait_for_upload=True, include_download_urls=True
    )
    assert f"/_files/{rid}/" in asked.execute_complete(_context(), event)["download_url"]
    assert emulator.count("GET") == 1


def test_track_recording_waits_for_the_bot(slow_bot: RealtimeKitEmulator):
    context = _context()
    op = RealtimeKitStartTrackRecordingOperator(
        task_id="track", meeting_id=meeting(), user_ids=["host"], wait_for_recording=True, poll_interval=0.1
    )
    recording = op.execute(context)
    assert recording is not None
    assert recording["status"] == "RECORDING"
    assert context["pushed"] == {"id": recording["id"]}
    served = [r.response_json["data"]["status"] for r in slow_bot.requests if r.method == "GET"]
    assert served[0] == "INVOKED"
    assert served[-1] == "RECORDING"


def test_pause_and_resume_are_idempotent(emulator: RealtimeKitEmulator):
    rid = emulator.seed_recording(status="RECORDING")["id"]
    for _ in range(2):
        assert RealtimeKitPauseRecordingOperator(task_id="p", recording_id=rid).execute(_context())[
            "status"
        ] == ("PAUSED")
    for _ in range(2):
        op = RealtimeKitResumeRecordingOperator(task_id="r", recording_id=rid)
        assert op.execute(_context())["status"] == "RECORDING"
    assert emulator.count("PUT", rf"/recordings/{rid}$") == 4
    # A refusal for a state the action does not lead to is still an error.
    emulator.set_status(rid, "UPLOADED")
    with pytest.raises(RealtimeKitError, match="HTTP 400"):
        RealtimeKitPauseRecordingOperator(task_id="p", recording_id=rid).execute(_context())


def test_start_without_reuse_fails_with_the_api_message(emulator: RealtimeKitEmulator):
    m = meeting()
    first = RealtimeKitStartRecordingOperator(task_id="a", meeting_id=m).execute(_context())
    strict = RealtimeKitStartRecordingOperator(task_id="b", meeting_id=m, reuse_active_recording=False)
    with pytest.raises(RealtimeKitError, match=rf"HTTP 409: Recording already in progress for meeting {m}"):
        strict.execute(_context())
    adopted = RealtimeKitStartRecordingOperator(task_id="c", meeting_id=m).execute(_context())
    assert adopted["id"] == first["id"]


def test_legacy_track_recording_returns_none(monkeypatch):
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

    with RealtimeKitEmulator(token=CANARY_TOKEN, api_version="legacy") as legacy:
        for key, value in legacy.env().items():
            monkeypatch.setenv(key, value)
        context = _context()
        op = RealtimeKitStartTrackRecordingOperator(
            task_id="track",
            meeting_id=meeting(),
            layers={"default": {"file_name_prefix": "t", "outputs": [{"type": "REALTIMEKIT_BUCKET"}]}},
            max_seconds="120",
        )
        assert op.execute(context) is None
        assert context["pushed"] == {}
        assert legacy.requests[-1].json["max_seconds"] == 120


@pytest.mark.parametrize(
    "module",
    [
        "airflow_provider_rtk.operators.recording",
        "airflow_provider_rtk.operators.download",
        "airflow_provider_rtk.sensors.recording",
        "airflow_provider_rtk.triggers.recording",
        "airflow_provider_rtk.triggers.events",  # in an AssetWatcher
        "airflow_provider_rtk.assets",
    ],
)
def test_importing_a_dag_facing_module_loads_no_http_client(module: str):
    """A DAG file pays for nothing beyond ``airflow.sdk``: no requests/urllib3 (which ``airflow.sdk`` does
    not load), no hook, no poller, no retry library. Import time itself is measured in ``benchmarks/``,
    not asserted here."""
    code = textwrap.dedent(
        f"""
        import json, sys
        from airflow.sdk import DAG, Asset, AssetWatcher, BaseOperator
        before = set(sys.modules)
        import {module}
        print(json.dumps(sorted(set(sys.modules) - before)))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    added = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert module in added  # the probe really imported it
    heavy = {
        "requests",
        "urllib3",
        "aiohttp",
        "airflow_provider_rtk.hooks.realtimekit",
        "httpx",
        "airflow_provider_rtk.triggers._poller",
        "airflow_provider_rtk.triggers._watch",
        "airflow_provider_rtk.triggers._window",
        "airflow_provider_rtk.triggers._ledger",
        "tenacity",
        "airflow_provider_rtk._core.retry",
        "airflow_provider_rtk._core.wire",
        "airflow_provider_rtk.operators._download",
        # The connection, the wait rules and the error hints load when a task runs.
        "airflow_provider_rtk._core.connection",
        "airflow_provider_rtk._core.waiting",
        "airflow_provider_rtk._core.errors",
    }
    assert not added & heavy, f"importing {module} loaded {sorted(added & heavy)}"
    assert not {m for m in added if m.startswith(("requests.", "urllib3."))}


@pytest.mark.parametrize(
    "build",
    [
        lambda rid: RealtimeKitStopRecordingOperator(task_id="t", recording_id=rid),
        lambda rid: RealtimeKitGetRecordingOperator(task_id="t", recording_id=rid),
        lambda rid: RealtimeKitDownloadRecordingOperator(task_id="t", recording_id=rid, destination="/x/"),
    ],
)
def test_a_literal_recording_id_that_is_no_uuid_fails_at_parse_time(build):
    with pytest.raises(RealtimeKitInputError, match=r"^recording_id: must be a UUID"):
        build("rec-1")
    assert build("{{ ti.xcom_pull('start', key='id') }}").recording_id.startswith("{{")


CONNECTION_ARGS = {"realtimekit_conn_id", "account_id", "app_id"}
WAIT_ARGS = {"wait_for_recording", "startup_timeout", "poll_interval", "deferrable"}


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (RealtimeKitStartRecordingOperator, CONNECTION_ARGS | WAIT_ARGS | {"include_download_urls"}),
        (RealtimeKitStartTrackRecordingOperator, CONNECTION_ARGS | WAIT_ARGS | {"include_download_urls"}),
        (RealtimeKitStopRecordingOperator, CONNECTION_ARGS | {"wait_for_upload", "deferrable", "timeout"}),
        (RealtimeKitPauseRecordingOperator, CONNECTION_ARGS | {"startup_timeout", "include_download_urls"}),
        (RealtimeKitResumeRecordingOperator, CONNECTION_ARGS | {"startup_timeout", "include_download_urls"}),
        (RealtimeKitGetRecordingOperator, CONNECTION_ARGS | {"include_download_urls"}),
        (RealtimeKitListRecordingsOperator, CONNECTION_ARGS | {"max_results"}),
        (RealtimeKitDownloadRecordingOperator, CONNECTION_ARGS | {"destination", "from_asset_event"}),
    ],
)
def test_public_signatures_show_every_documented_argument(cls, expected):
    """What an IDE and ``inspect.signature`` show: no documented argument hides in ``**kwargs``."""
    shown = set(inspect.signature(cls).parameters)
    assert expected <= shown, f"{cls.__name__} hides {sorted(expected - shown)}"
    documented = set(re.findall(r":param (\w+):", "".join(c.__doc__ or "" for c in cls.__mro__[:4])))
    assert expected <= documented | CONNECTION_ARGS


def test_the_list_operators_filters_are_the_hooks():
    """The explicit filter arguments of the list operator are exactly the one ``ListFilters`` declaration."""
    shown = set(inspect.signature(RealtimeKitListRecordingsOperator).parameters)
    assert set(LIST_FILTERS) <= shown
    assert set(LIST_FILTERS) == set(ListFilters.__annotations__)
    assert shown - set(LIST_FILTERS) == CONNECTION_ARGS | {"include_download_urls", "max_results", "kwargs"}
