"""Retries and reconciliation against injected faults: what is resent, what is not, and how long we wait."""

from __future__ import annotations

import time
import traceback
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from airflow_provider_rtk._core.retry import RetryPolicy
from airflow_provider_rtk.exceptions import (
    RealtimeKitApiError,
    RealtimeKitConflictError,
    RealtimeKitError,
    RealtimeKitRateLimitError,
    RealtimeKitServerError,
    RealtimeKitTransportError,
)
from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook


def emulator_list(emulator) -> list[dict]:
    """Every recording the emulator holds, read through a fresh hook with no retries."""
    return list(RealtimeKitHook(retry_limit=1).list_recordings())


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503},
        {"status": 502},
        {"status": 504},
        {"status": 500},
        {"status": 429},
        {"status": 429, "envelope": "cf"},
        {"drop": True},
    ],
    ids=["503", "502", "504", "500", "429", "429-cf", "dropped-connection"],
)
def test_get_recovers_from_each_retryable_fault(hook: RealtimeKitHook, emulator, fault):
    seeded = emulator.seed_recording()
    injected = emulator.add_fault(method="GET", path=r"/recordings/", times=2, **fault)
    assert hook.get_recording(seeded["id"])["id"] == seeded["id"]
    assert injected.hits == 2
    assert emulator.count(method="GET") == 3


def test_get_recovers_from_a_timeout(emulator):
    seeded = emulator.seed_recording()
    # A client timeout with room for a busy machine's normal answer; the held one outlasts it by far.
    emulator.add_fault(method="GET", path=r"/recordings/", delay=4.0, times=1)
    hook = RealtimeKitHook(timeout=1.5, retry_policy=RetryPolicy(max_attempts=3, initial_wait=0.01, jitter=0))
    assert hook.get_recording(seeded["id"])["id"] == seeded["id"]
    assert emulator.count(method="GET") == 2


@pytest.mark.parametrize("action", ["pause", "stop"])
def test_put_is_retried(hook: RealtimeKitHook, emulator, action):
    recording = hook.start_recording(str(uuid.uuid4()))
    emulator.advance(1)
    emulator.add_fault(method="PUT", status=503, times=1)
    result = getattr(hook, f"{action}_recording")(recording["id"])
    assert result["id"] == recording["id"]
    assert emulator.count(method="PUT") == 2


def test_put_500_is_not_retried(hook: RealtimeKitHook, emulator):
    recording = hook.start_recording(str(uuid.uuid4()))
    emulator.add_fault(method="PUT", status=500, times=1)
    with pytest.raises(RealtimeKitServerError):
        hook.stop_recording(recording["id"])
    assert emulator.count(method="PUT") == 1


def test_retries_are_bounded(hook: RealtimeKitHook, emulator):
    emulator.add_fault(method="GET", status=503, times=None)
    with pytest.raises(RealtimeKitServerError) as info:
        hook.get_recording(str(uuid.uuid4()))
    assert info.value.status_code == 503
    assert emulator.count(method="GET") == hook.retry_policy.max_attempts


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_non_retryable_4xx_surfaces_at_once(hook: RealtimeKitHook, emulator, status):
    emulator.add_fault(method="GET", status=status, message=f"nope {status}", times=None)
    with pytest.raises(RealtimeKitApiError) as info:
        hook.get_recording(str(uuid.uuid4()))
    assert info.value.status_code == status
    assert info.value.message == f"nope {status}"
    assert emulator.count() == 1


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_is_respected(emulator, form):
    seeded = emulator.seed_recording()
    if form == "seconds":
        retry_after: int | str = 1
        floor = 0.95
    else:
        retry_after = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
        floor = 0.9  # HTTP dates have one-second resolution
    emulator.add_fault(method="GET", status=429, retry_after=retry_after, times=1)
    hook = RealtimeKitHook(
        retry_policy=RetryPolicy(max_attempts=3, initial_wait=0.01, max_wait=0.01, jitter=0)
    )
    started = time.monotonic()
    hook.get_recording(seeded["id"])
    waited = time.monotonic() - started
    assert waited >= floor, f"retried after {waited:.3f} s despite Retry-After {retry_after!r}"
    assert waited < 5
    assert emulator.count(method="GET") == 2


def test_retry_after_beyond_the_cap_surfaces(emulator):
    emulator.add_fault(method="GET", status=429, retry_after=3600, times=1)
    hook = RealtimeKitHook(retry_policy=RetryPolicy(max_attempts=3, max_retry_after=60))
    started = time.monotonic()
    with pytest.raises(RealtimeKitRateLimitError) as info:
        hook.get_recording(str(uuid.uuid4()))
    assert info.value.retry_after == 3600
    assert time.monotonic() - started < 2
    assert emulator.count() == 1


class TestStartIsNeverResentBlindly:
    def test_lost_response_yields_exactly_one_recording(self, hook: RealtimeKitHook, emulator):
        meeting = str(uuid.uuid4())
        emulator.add_fault(method="POST", path=r"/recordings$", drop=True, apply=True, times=1)
        recording = hook.start_recording(meeting)
        created = [r for r in emulator_list(emulator) if r["id"] == recording["id"]]
        assert len(created) == 1
        assert emulator.count(method="POST") == 1
        assert emulator.count(method="GET", path="active-recording") == 1
        assert hook.get_active_recording(meeting)["id"] == recording["id"]

    def test_lost_response_of_a_failed_start_is_resent_once_reconciled(self, hook: RealtimeKitHook, emulator):
        meeting = str(uuid.uuid4())
        emulator.add_fault(method="POST", path=r"/recordings$", drop=True, apply=False, times=1)
        recording = hook.start_recording(meeting)
        assert emulator.count(method="POST") == 2
        assert emulator.count(method="GET", path="active-recording") == 1
        assert hook.get_active_recording(meeting)["id"] == recording["id"]

    def test_server_error_on_start_reconciles_before_resending(self, hook: RealtimeKitHook, emulator):
        meeting = str(uuid.uuid4())
        emulator.add_fault(method="POST", path=r"/recordings$", status=503, times=1)
        recording = hook.start_recording(meeting)
        assert recording["id"]
        methods = [(e.method, "active" in e.path) for e in emulator.requests]
        assert methods == [("POST", False), ("GET", True), ("POST", False)]

    def test_429_on_start_is_resent_without_reconciling(self, hook: RealtimeKitHook, emulator):
        emulator.add_fault(method="POST", path=r"/recordings$", status=429, times=1)
        hook.start_recording(str(uuid.uuid4()))
        assert [e.method for e in emulator.requests] == ["POST", "POST"]

    def test_persistent_ambiguity_gives_up_after_the_attempt_limit(self, hook: RealtimeKitHook, emulator):
        emulator.add_fault(method="POST", path=r"/recordings$", drop=True, times=None)
        with pytest.raises(RealtimeKitTransportError):
            hook.start_recording(str(uuid.uuid4()))
        assert emulator.count(method="POST") == hook.retry_policy.max_attempts

    def test_timeout_whose_start_lands_later_is_adopted_not_duplicated(self, emulator):
        meeting = str(uuid.uuid4())
        # The first POST is slow: the client times out, reconciles (nothing yet), resends and gets a 409
        # once the slow one has landed; reconciling again adopts it.
        emulator.add_fault(method="POST", path=r"/recordings$", delay=2.0, times=1)
        hook = RealtimeKitHook(
            timeout=1.0, retry_policy=RetryPolicy(max_attempts=4, initial_wait=1.5, jitter=0)
        )
        recording = hook.start_recording(meeting)
        assert [r["id"] for r in emulator_list(emulator)] == [recording["id"]]

    def test_allow_multiple_is_never_resent_after_ambiguity(self, hook: RealtimeKitHook, emulator):
        emulator.add_fault(method="POST", path=r"/recordings$", status=502, times=1)
        with pytest.raises(RealtimeKitError, match="neither reconciled nor resent"):
            hook.start_recording(str(uuid.uuid4()), allow_multiple_recordings=True)
        assert [e.method for e in emulator.requests] == ["POST"]

    def test_an_older_active_recording_is_a_conflict_not_a_resend(self, hook: RealtimeKitHook, emulator):
        meeting = str(uuid.uuid4())
        older = emulator.seed_recording(
            meeting_id=meeting, status="RECORDING", invoked_time=datetime.now(UTC) - timedelta(hours=1)
        )
        emulator.clear_requests()
        emulator.add_fault(method="POST", path=r"/recordings$", status=503, times=1)
        with pytest.raises(RealtimeKitConflictError, match=older["id"]):
            hook.start_recording(meeting)
        assert [e.method for e in emulator.requests] == ["POST", "GET"]

    def test_a_long_retry_after_on_start_surfaces_instead_of_blocking(self, emulator):
        emulator.add_fault(method="POST", path=r"/recordings$", status=503, retry_after=3600, times=1)
        hook = RealtimeKitHook(retry_policy=RetryPolicy(max_attempts=3, max_retry_after=60))
        started = time.monotonic()
        with pytest.raises(RealtimeKitServerError):
            hook.start_recording(str(uuid.uuid4()))
        assert time.monotonic() - started < 5
        assert emulator.count(method="POST") == 1

    def test_plain_conflict_is_not_adopted(self, hook: RealtimeKitHook, emulator):
        meeting = str(uuid.uuid4())
        hook.start_recording(meeting)
        with pytest.raises(RealtimeKitConflictError):
            hook.start_recording(meeting, reuse_active_recording=False)


def test_a_failed_download_never_shows_the_url_signature(hook: RealtimeKitHook, emulator):
    recording = emulator.seed_recording(status="UPLOADED")
    url = hook.get_recording(recording["id"])["download_url"]
    signature = url.split("?", 1)[1]
    closed_port = url.replace(f":{emulator.port}/", ":9/")
    with pytest.raises(RealtimeKitTransportError) as info, hook.open_download(closed_port):
        pass
    shown = "".join(traceback.format_exception(info.value))
    assert "/_files/" in shown  # the error does say which file
    assert signature not in shown
