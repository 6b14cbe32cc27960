"""Every endpoint, in both API versions and both error envelopes, checked against the OpenAPI spec."""

from __future__ import annotations

import copy
import dataclasses
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator, RequestRecord
from tests import openapi_validation
from tests.openapi_validation import validate_request, validate_response
from tests.testing.emulator.client import FROZEN, Api, new_id


def exercise_every_endpoint(emu: RealtimeKitEmulator, api: Api) -> None:
    """Drive each operation through its success and failure answers."""
    meeting = new_id()
    storage = {"type": "aws", "bucket": "b", "region": "us-east-1", "access_key": "AKIA", "secret": "s"}
    rid = api.start(
        meeting,
        audio_config={"codec": "AAC", "channel": "stereo"},
        video_config={"codec": "H264", "width": 1280, "height": 720},
        storage_config=storage,
        max_seconds=600,
        file_name_prefix="weekly",
    )["id"]
    api.post("/recordings", {"meeting_id": meeting})  # 409
    api.post("/recordings", {"meeting_id": meeting, "max_seconds": 10})  # 400
    api.get(f"/recordings/active-recording/{meeting}")
    api.get(f"/recordings/active-recording/{new_id()}")  # declared 404
    emu.advance(3)
    api.act(rid, "pause")
    api.act(rid, "pause")  # 400
    api.act(rid, "resume")
    emu.advance(10)
    api.act(rid, "stop")
    emu.advance(5)
    api.get(f"/recordings/{rid}")
    api.get(f"/recordings/{new_id()}")  # 404
    emu.seed_recording(status="ERRORED")
    emu.seed_recording(track_layers=["alice", "bob"])
    by_meeting = new_id()  # started by the meeting itself, stopped because everyone left
    auto = emu.start_meeting_recording(by_meeting)["id"]
    emu.advance(3)
    emu.end_meeting(by_meeting)
    api.get(f"/recordings/{auto}")
    api.get("/recordings", params={"status": ["UPLOADED", "INVOKED"], "per_page": 2, "page_no": 2})
    api.get(
        "/recordings", params={"status": "UPLOADED,INVOKED", "sort_order": "ASC", "sort_by": "invokedTime"}
    )
    api.get("/recordings", params={"meeting_id": meeting, "expired": "false", "search": "weekly"})
    api.get("/recordings", params={"start_time": "2026-01-01T00:00:00Z", "end_time": "2099-01-01T00:00:00Z"})
    if emu.api_version == "current":
        api.post("/recordings/track", {"meeting_id": meeting, "user_ids": ["alice"]})
        api.post("/recordings/track", {"meeting_id": meeting, "layers": {"default": {"media_kind": "audio"}}})
    else:
        layers = {"default": {"file_name_prefix": "t", "outputs": [{"type": "REALTIMEKIT_BUCKET"}]}}
        api.post("/recordings/track", {"meeting_id": meeting, "layers": layers, "max_seconds": 600})
    requests.get(api.app_url + "/recordings", headers={"Authorization": "Bearer nope"}, timeout=5)  # 401 cf
    api.session.get(f"{emu.base_url}/accounts/{'0' * 32}/realtime/kit/{emu.app_id}/recordings", timeout=5)
    emu.add_fault(method="GET", path=r"/recordings$", status=429, retry_after=1)
    api.get("/recordings")
    emu.add_fault(method="GET", path=r"/recordings$", status=503, envelope="cf")
    api.get("/recordings")


@pytest.mark.parametrize("api_version", ["current", "legacy"])
def test_all_exchanges_conform(api_version: str) -> None:
    with RealtimeKitEmulator(time_scale=FROZEN, api_version=api_version) as emu:  # type: ignore[arg-type]
        api = Api(emu)
        exercise_every_endpoint(emu, api)
        api.close()
        log = emu.requests
    statuses = {entry.status for entry in log}
    assert statuses >= {200, 400, 401, 403, 404, 409, 429, 503}
    for entry in log:
        if entry.status != 400:  # the 400s come from deliberately invalid requests
            validate_request(entry)
        validate_response(entry)
    assert sum(entry.response_json is None for entry in log) == (1 if api_version == "legacy" else 0)


@pytest.fixture(scope="module")
def uploaded_get() -> RequestRecord:
    """A logged GET of an UPLOADED recording with a storage config."""
    with RealtimeKitEmulator(time_scale=FROZEN) as emu:
        api = Api(emu)
        rid = api.start(storage_config={"type": "gcs", "bucket": "b"}, audio_config={})["id"]
        emu.set_status(rid, "UPLOADED")
        api.get(f"/recordings/{rid}")
        api.close()
        return emu.requests[-1]


def mutated(entry: RequestRecord, change: Callable[[dict[str, Any]], object]) -> RequestRecord:
    assert isinstance(entry.response_json, dict)
    body = copy.deepcopy(entry.response_json)
    change(body["data"])
    return dataclasses.replace(entry, response_json=body)


@pytest.mark.parametrize(
    "change",
    [
        lambda data: data["storage_config"].update(access_key="leaked"),
        lambda data: data.update(status="DONE"),
        lambda data: data.pop("session_id"),
        lambda data: data.update(recording_duration=None),
        lambda data: data.update(download_url=[{"layer_name": "x"}]),
        lambda data: data.update(invoked_time="yesterday"),
        lambda data: data.update(id="not-a-uuid"),
    ],
    ids=["write-only", "status", "required", "duration", "track-urls", "date-time", "uuid"],
)
def test_helper_rejects_nonconforming_responses(
    uploaded_get: RequestRecord, change: Callable[[dict[str, Any]], object]
) -> None:
    validate_response(uploaded_get)
    with pytest.raises(AssertionError, match="response invalid"):
        validate_response(mutated(uploaded_get, change))


def test_helper_accepts_track_url_lists(uploaded_get: RequestRecord) -> None:
    layers = [{"layer_name": "u1", "download_urls": {"file": {"download_url": "https://example.com/x"}}}]
    validate_response(mutated(uploaded_get, lambda data: data.update(download_url=layers)))


def test_helper_checks_error_envelopes(uploaded_get: RequestRecord) -> None:
    def error(status: int, body: Any) -> RequestRecord:
        return dataclasses.replace(uploaded_get, status=status, response_json=body)

    validate_response(error(500, {"success": False, "error": {"code": 500, "message": "boom"}}))
    cf = {"success": False, "errors": [{"code": 10000, "message": "x"}], "messages": [], "result": None}
    validate_response(error(401, cf))
    with pytest.raises(AssertionError, match="differs from the HTTP status"):
        validate_response(error(500, {"success": False, "error": {"code": 404, "message": "x"}}))
    with pytest.raises(AssertionError, match="Cloudflare v4 error envelope"):
        validate_response(error(401, {"success": False, "errors": []}))
    with pytest.raises(AssertionError, match="not declared"):
        validate_response(error(201, uploaded_get.response_json))
    with pytest.raises(AssertionError, match="no response"):
        validate_response(dataclasses.replace(uploaded_get, status=None))


def test_helper_rejects_nonconforming_requests(uploaded_get: RequestRecord) -> None:
    validate_request(uploaded_get)
    no_token = dataclasses.replace(uploaded_get, headers={"Host": "x"})
    with pytest.raises(AssertionError, match="request invalid"):
        validate_request(no_token)
    bad_query = dataclasses.replace(
        uploaded_get, url=uploaded_get.url.rsplit("/", 1)[0], query={"sort_order": ["UP"]}
    )
    with pytest.raises(AssertionError, match="request invalid"):
        validate_request(bad_query)
    with pytest.raises(AssertionError, match="not an API call"):
        validate_request(dataclasses.replace(uploaded_get, url="http://127.0.0.1/_files/x/video"))


def test_spec_is_the_repositorys_own_tracked_copy() -> None:
    """A clone has the spec: it is in the repository (tracked by git), not read from beside it."""
    repo = Path(__file__).resolve().parents[3]
    spec = openapi_validation.SPEC
    assert spec.is_relative_to(repo / "tests" / "data")
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", str(spec.relative_to(repo))],
        cwd=repo,
        capture_output=True,
        check=False,
    )
    assert tracked.returncode == 0, tracked.stderr
    assert openapi_validation.openapi().spec["info"]["title"]
