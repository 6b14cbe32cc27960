"""Canary test: the API token and storage secrets never reach a log line, a return value or an error."""

from __future__ import annotations

import logging
import traceback
import uuid

import pytest

from airflow_provider_rtk.exceptions import RealtimeKitError
from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook
from tests.conftest import CANARY_TOKEN

STORAGE_CANARIES = {
    "access_key": "canary-access-key-1f2e",
    "secret": "canary-secret-9d8c",
    "password": "canary-password-7b6a",
    "private_key": "canary-private-key-5e4d",
}


def test_token_and_storage_secrets_stay_out_of_logs_errors_and_results(
    hook: RealtimeKitHook, emulator, caplog, capfd
):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    meeting = str(uuid.uuid4())

    emulator.add_fault(method="POST", status=503, times=1)
    emulator.add_fault(method="GET", path="/recordings/", status=429, times=1)
    recording = hook.start_recording(meeting, storage_config={"type": "sftp", **STORAGE_CANARIES})
    seen.append(repr(recording))
    seen.append(repr(hook.get_recording(recording["id"])))
    seen.append(repr(list(hook.list_recordings(meeting_id=meeting))))

    emulator.add_fault(method="POST", status=400, message="storage rejected", times=1)
    failures = [
        lambda: hook.start_recording(str(uuid.uuid4()), storage_config={"type": "aws", **STORAGE_CANARIES}),
        lambda: hook.get_recording(str(uuid.uuid4())),
        lambda: hook.start_recording(
            meeting,
            storage_config={"type": "gcs", "secret": STORAGE_CANARIES["secret"]},
            reuse_active_recording=False,
        ),
    ]
    for call in failures:
        with pytest.raises(RealtimeKitError) as info:
            call()
        seen.append(str(info.value))
        seen.append(repr(info.value))
        seen.append("".join(traceback.format_exception(info.value)))
    seen.append(repr(hook.settings))
    seen.append(hook.test_connection()[1])

    out, err = capfd.readouterr()
    haystack = "\n".join([*seen, caplog.text, out, err])
    assert recording["id"] in haystack  # the haystack really holds what happened
    assert CANARY_TOKEN not in haystack
    for name, canary in STORAGE_CANARIES.items():
        assert canary not in haystack, f"storage {name} leaked"
    # ... while the secrets did reach the API, where they belong.
    sent = [e.json for e in emulator.requests if e.method == "POST" and e.json]
    assert any(body.get("storage_config", {}).get("secret") == STORAGE_CANARIES["secret"] for body in sent)
    assert all(e.headers.get("Authorization") == f"Bearer {CANARY_TOKEN}" for e in emulator.requests)
