"""The hook's waits and lifecycle-aware actions against the emulator: ``wait_for_status`` through outages
and throttling, pause/resume waiting for the bot's join (INVOKED), stop sent as is, and starts that cannot
reach the host."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from airflow_provider_rtk._core.compat import AirflowSensorTimeout
from airflow_provider_rtk._core.retry import RetryPolicy
from airflow_provider_rtk._core.start import IdempotentStart
from airflow_provider_rtk.exceptions import (
    RealtimeKitError,
    RealtimeKitNotFoundError,
    RealtimeKitRecordingStateError,
    RealtimeKitServerError,
    RealtimeKitTransportError,
)
from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook
from tests.conftest import CANARY_TOKEN, FAST

if TYPE_CHECKING:
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

#: Fast polls for outage tests: the back-off doubles from 0.05 s to a 0.1 s cap.
PACE = {"poll_interval": 0.05, "max_backoff": 0.1}


def one_recording(emulator: RealtimeKitEmulator, status: str = "RECORDING") -> str:
    return str(emulator.seed_recording(status=status)["id"])


def get_path(recording_id: str) -> str:
    return rf"/recordings/{recording_id}$"


def statuses_seen(emulator: RealtimeKitEmulator, recording_id: str) -> list[str]:
    """The status each answered GET of ``recording_id`` showed, in order."""
    return [
        r.response_json["data"]["status"]
        for r in emulator.requests
        if r.method == "GET" and r.path.endswith(f"/recordings/{recording_id}") and r.status == 200
    ]


def when(condition: Callable[[], bool], action: Callable[[], None]) -> threading.Thread:
    """Run ``action`` in a thread as soon as ``condition`` holds (polled every 10 ms, for up to 30 s)."""
    done = threading.Event()

    def watch() -> None:
        for _ in range(3000):
            if condition():
                action()
                return
            done.wait(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def slow_bot(realtimekit_emulator_factory: Callable[..., RealtimeKitEmulator]) -> RealtimeKitEmulator:
    """An emulator whose new recordings stay INVOKED for an hour of its clock (tests advance it)."""
    return realtimekit_emulator_factory(token=CANARY_TOKEN, **{**FAST, "invoked_seconds": 3600.0})


class TestWaitForStatus:
    def test_reaches_the_status_and_logs_each_poll(self, emulator, hook, caplog):
        caplog.set_level(logging.INFO)
        rid = one_recording(emulator)
        when(lambda: emulator.count("GET", get_path(rid)) >= 2, lambda: hook_stop(emulator, rid))
        recording = hook.wait_for_status(rid, ["UPLOADED"], timeout=30, poll_interval=0.05)
        assert recording["status"] == "UPLOADED"
        polls = emulator.count("GET", get_path(rid))
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"Recording {rid} is")]
        assert len(lines) == polls  # one line per poll
        assert lines[0].startswith(f"Recording {rid} is RECORDING (waited ")
        assert lines[-1].startswith(f"Recording {rid} is UPLOADED (waited ")

    def test_failure_status_fails_with_the_stop_reason(self, emulator, hook):
        rid = emulator.seed_recording(status="ERRORED", stop_reason="INTERNAL_ERROR")["id"]
        with pytest.raises(RealtimeKitRecordingStateError, match=rf"{rid} is ERRORED .*INTERNAL_ERROR"):
            hook.wait_for_status(rid, ["UPLOADED"], timeout=30, poll_interval=0.05)

    def test_timeout_names_the_last_status(self, emulator, hook):
        rid = one_recording(emulator)
        with pytest.raises(AirflowSensorTimeout, match=rf"{rid} was not UPLOADED within 1.5 s; last status"):
            hook.wait_for_status(rid, ["UPLOADED"], timeout=1.5, poll_interval=0.05)
        assert emulator.count("GET", get_path(rid)) >= 2

    def test_non_transient_error_fails_at_once(self, emulator, hook):
        rid = str(uuid.uuid4())
        with pytest.raises(RealtimeKitNotFoundError):
            hook.wait_for_status(rid, ["UPLOADED"], timeout=30, **PACE)
        assert emulator.count("GET") == 1

    @pytest.mark.parametrize(
        "fault",
        [
            pytest.param({"status": 503}, id="503-outage"),
            pytest.param({"status": 429, "retry_after": 0}, id="429-storm"),
            pytest.param({"drop": True}, id="dropped-connections"),
        ],
    )
    def test_survives_an_outage_of_many_polls(self, emulator, hook, caplog, fault):
        """20 failed polls in a row (4x the 5 that used to end a wait): the wait goes on, warns at the
        1st, 2nd, 4th, 8th and 16th failure, then logs the recovery."""
        caplog.set_level(logging.INFO)
        rid = one_recording(emulator, "UPLOADED")
        emulator.add_fault(method="GET", path=get_path(rid), times=20, **fault)
        recording = hook.wait_for_status(rid, ["UPLOADED"], timeout=60, **PACE)
        assert recording["status"] == "UPLOADED"
        assert emulator.count("GET", get_path(rid)) == 21  # one request per poll: no retries inside
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len([w for w in warnings if w.startswith(f"Polling recording {rid} failed")]) == 5
        assert any("answered again" in r.getMessage() for r in caplog.records)

    def test_an_outage_longer_than_the_timeout_ends_at_the_timeout(self, emulator, hook):
        rid = one_recording(emulator, "UPLOADED")
        emulator.add_fault(method="GET", path=get_path(rid), status=503, times=None)
        with pytest.raises(AirflowSensorTimeout, match="within 1 s; the API did not answer"):
            hook.wait_for_status(rid, ["UPLOADED"], timeout=1, **PACE)
        assert emulator.count("GET", get_path(rid)) >= 2  # it kept polling through the outage

    def test_max_consecutive_errors_is_opt_in(self, emulator, hook):
        rid = one_recording(emulator, "UPLOADED")
        emulator.add_fault(method="GET", path=get_path(rid), status=503, times=None)
        with pytest.raises(RealtimeKitError, match="after 3 consecutive failed polls"):
            hook.wait_for_status(rid, ["UPLOADED"], timeout=60, max_consecutive_errors=3, **PACE)
        assert emulator.count("GET", get_path(rid)) == 3


def hook_stop(emulator: RealtimeKitEmulator, recording_id: str) -> None:
    emulator.set_status(recording_id, "UPLOADING")


@pytest.fixture
def bot_hook(slow_bot: RealtimeKitEmulator) -> Iterator[RealtimeKitHook]:
    h = RealtimeKitHook(timeout=2.0)
    yield h
    h.close()


class TestBotJoin:
    """The recording bot joins in up to ~30 s: pause and resume wait for it, stop does not."""

    def test_pause_right_after_start_waits_for_the_bot(self, slow_bot, bot_hook):
        recording = bot_hook.start_recording(str(uuid.uuid4()))
        rid = recording["id"]
        assert recording["status"] == "INVOKED"
        # The bot joins once the pause has found the recording INVOKED and polled it twice.
        when(lambda: slow_bot.count("GET", get_path(rid)) >= 3, lambda: slow_bot.advance(3600))
        paused = bot_hook.pause_recording(rid, poll_interval=0.05)
        assert paused["status"] == "PAUSED"
        statuses = [r.status for r in slow_bot.requests if r.method == "PUT"]
        assert statuses == [400, 200]  # refused while INVOKED, sent again once RECORDING

    def test_a_bot_that_joins_between_the_refusal_and_the_look_gets_the_action_sent_again(
        self, slow_bot, bot_hook
    ):
        rid = bot_hook.start_recording(str(uuid.uuid4()))["id"]
        slow_bot.add_fault(method="GET", path=get_path(rid), delay=0.5, times=1)
        # The bot joins right after the pause is refused, while the hook's look at the recording is delayed.
        when(lambda: slow_bot.count("PUT") >= 1, lambda: slow_bot.advance(3600))
        paused = bot_hook.pause_recording(rid, poll_interval=0.05)
        assert paused["status"] == "PAUSED"
        assert [r.status for r in slow_bot.requests if r.method == "PUT"] == [400, 200]
        assert statuses_seen(slow_bot, rid) == ["RECORDING"]  # the one look found it joined

    def test_resume_of_an_invoked_recording_finds_it_recording(self, slow_bot, bot_hook):
        rid = bot_hook.start_recording(str(uuid.uuid4()))["id"]
        when(lambda: slow_bot.count("GET", get_path(rid)) >= 2, lambda: slow_bot.advance(3600))
        assert bot_hook.resume_recording(rid, poll_interval=0.05)["status"] == "RECORDING"
        assert slow_bot.count("PUT") == 1

    def test_bot_that_cannot_join_fails_with_the_stop_reason(self, slow_bot, bot_hook):
        rid = bot_hook.start_recording(str(uuid.uuid4()))["id"]
        when(
            lambda: slow_bot.count("GET", get_path(rid)) >= 2,
            lambda: slow_bot.set_status(rid, "ERRORED", stop_reason="INTERNAL_ERROR"),
        )
        with pytest.raises(RealtimeKitRecordingStateError, match=rf"{rid} is ERRORED .*INTERNAL_ERROR"):
            bot_hook.pause_recording(rid, poll_interval=0.05)

    def test_startup_timeout_bounds_the_wait(self, slow_bot, bot_hook):
        rid = bot_hook.start_recording(str(uuid.uuid4()))["id"]
        with pytest.raises(AirflowSensorTimeout, match=rf"{rid} was not RECORDING or .* within 0.3 s"):
            bot_hook.pause_recording(rid, startup_timeout=0.3, poll_interval=0.05)
        assert slow_bot.recording(rid)["status"] == "INVOKED"

    def test_stop_of_an_invoked_recording_is_sent_as_is(self, slow_bot, bot_hook):
        rid = bot_hook.start_recording(str(uuid.uuid4()))["id"]
        assert bot_hook.stop_recording(rid)["status"] in ("UPLOADING", "UPLOADED")
        assert slow_bot.count("PUT") == 1
        assert slow_bot.count("GET") == 0

    def test_a_refusal_for_another_reason_still_fails(self, emulator, hook):
        rid = one_recording(emulator, "UPLOADED")
        with pytest.raises(RealtimeKitError, match="HTTP 400"):
            hook.pause_recording(rid)


class TestStartCannotReachTheHost:
    def refusing_hook(
        self, emulator: RealtimeKitEmulator, monkeypatch: pytest.MonkeyPatch
    ) -> RealtimeKitHook:
        conn = json.loads(emulator.connection_json())
        monkeypatch.setenv(
            "AIRFLOW_CONN_REALTIMEKIT_DEFAULT", json.dumps({**conn, "host": "http://127.0.0.1:9"})
        )
        return RealtimeKitHook(retry_policy=RetryPolicy(max_attempts=3, initial_wait=0.01, jitter=0))

    def test_the_error_names_the_start_and_the_host(self, emulator, monkeypatch, caplog):
        caplog.set_level(logging.WARNING)
        hook = self.refusing_hook(emulator, monkeypatch)
        with pytest.raises(RealtimeKitTransportError) as info:
            hook.start_recording(str(uuid.uuid4()))
        message = str(info.value)
        assert message.startswith("starting a recording for meeting ")
        assert "http://127.0.0.1:9/client/v4 refused the connection (3 attempt(s)" in message
        assert "active-recording" not in message + caplog.text  # no reconcile lookup: nothing was sent

    def test_the_reconcile_lookup_fails_fast_on_a_refused_connection(self, emulator, monkeypatch, caplog):
        caplog.set_level(logging.WARNING)
        hook = self.refusing_hook(emulator, monkeypatch)
        lost = RealtimeKitServerError(502, "bad gateway", method="POST", path="recordings")
        start = IdempotentStart(hook.transport, hook.settings, hook.reconcile_window, hook._recent)
        with pytest.raises(RealtimeKitError) as info:
            start._reconcile(str(uuid.uuid4()), datetime.now(UTC), lost)
        assert "failed ambiguously (POST recordings: HTTP 502: bad gateway)" in str(info.value)
        assert "looking up the meeting's active recording at http://127.0.0.1:9/client/v4" in str(info.value)
        assert "retrying" not in caplog.text  # one attempt: retries cannot bring a refusing host up
