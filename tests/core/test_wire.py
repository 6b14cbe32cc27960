"""``_wire``: requests, the no-response mapping, error envelopes and response unwrapping, without a server."""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from airflow_provider_rtk._core.connection import ConnectionSettings
from airflow_provider_rtk._core.wire import (
    ApiRequest,
    DownloadRequest,
    build_error,
    no_response_errors,
    parse_response,
    parse_retry_after,
    read_page,
    read_recording,
    read_recording_or_none,
)
from airflow_provider_rtk.exceptions import (
    RealtimeKitApiError,
    RealtimeKitNotFoundError,
    RealtimeKitRateLimitError,
    RealtimeKitServerError,
    RealtimeKitTimeoutError,
    RealtimeKitTransportError,
)
from airflow_provider_rtk.types import RecordingPage

GET = ApiRequest("GET", "recordings/abc")
SIGNED = "https://bucket.example.com/rec/file.mp4?X-Amz-Signature=canary-signature-0b1c"


@dataclass
class Answer:
    """What ``parse_response`` reads of a ``requests.Response``."""

    status_code: int
    content: bytes = b""
    headers: CaseInsensitiveDict[str] = field(default_factory=CaseInsensitiveDict)


def answer(status: int, body: bytes = b"", **headers: str) -> Answer:
    return Answer(status, body, CaseInsensitiveDict({k.replace("_", "-"): v for k, v in headers.items()}))


class TestRequests:
    @pytest.mark.parametrize(("method", "idempotent"), [("GET", True), ("PUT", True), ("POST", False)])
    def test_only_get_and_put_are_idempotent(self, method, idempotent):
        assert ApiRequest(method, "recordings").idempotent is idempotent

    def test_api_request_url_and_target(self):
        request = ApiRequest("GET", "recordings/abc")
        assert request.url("https://h/client/v4/accounts/a/realtime/kit/b") == (
            "https://h/client/v4/accounts/a/realtime/kit/b/recordings/abc"
        )
        assert request.target == "recordings/abc"

    def test_send_args_are_the_same_for_both_clients(self):
        settings = ConnectionSettings("https://h/client/v4", "tok", "acc", "app")
        request = ApiRequest("POST", "recordings", params={"a": "1"}, json={"meeting_id": "m"})
        args = request.send_args(settings)
        assert args["url"] == "https://h/client/v4/accounts/acc/realtime/kit/app/recordings"
        assert (args["method"], args["params"], args["json"]) == ("POST", {"a": "1"}, {"meeting_id": "m"})
        assert args["headers"]["Authorization"] == "Bearer tok"
        assert ApiRequest("GET", "recordings").send_args(settings)["params"] is None
        requests.Request(**args).prepare()

    def test_download_request_never_shows_its_query(self):
        request = DownloadRequest(SIGNED, offset=10)
        assert request.target == "https://bucket.example.com/rec/file.mp4"
        assert "canary-signature" not in repr(request)
        assert request.method == "GET"
        assert request.idempotent

    def test_download_headers_ask_for_identity_bytes_and_a_range_when_resuming(self):
        assert DownloadRequest(SIGNED).headers == {"Accept": "*/*", "Accept-Encoding": "identity"}
        assert DownloadRequest(SIGNED, offset=42).headers["Range"] == "bytes=42-"


class TestNoResponseErrors:
    @pytest.mark.parametrize(
        ("raised", "expected"),
        [
            (requests.ConnectTimeout("slow"), RealtimeKitTimeoutError),
            (requests.ReadTimeout("slow"), RealtimeKitTimeoutError),
            (requests.ConnectionError("refused"), RealtimeKitTransportError),
            (requests.exceptions.ChunkedEncodingError("dropped"), RealtimeKitTransportError),
        ],
        ids=[
            "requests-connect-timeout",
            "requests-read-timeout",
            "requests-refused",
            "requests-dropped",
        ],
    )
    def test_client_errors_map_to_ours(self, raised, expected):
        with pytest.raises(expected) as info, no_response_errors(GET, timeout=3.0, peer="https://h"):
            raise raised
        assert type(info.value) is expected
        assert info.value.transient
        assert str(info.value).startswith("GET recordings/abc: ")
        assert info.value.__cause__ is raised  # API errors keep their cause for debugging

    def test_timeouts_say_how_long(self):
        timeout = pytest.raises(RealtimeKitTimeoutError, match=r"no response within 3\.0 s")
        with timeout, no_response_errors(GET, timeout=3.0):
            raise requests.ReadTimeout("slow")

    def test_other_errors_pass_through(self):
        with pytest.raises(KeyError), no_response_errors(GET, timeout=1.0):
            raise KeyError("not a transport error")

    def test_a_download_error_shows_neither_the_query_nor_the_client_exception(self):
        mapped = no_response_errors(DownloadRequest(SIGNED), timeout=1.0)
        with pytest.raises(RealtimeKitTransportError) as info, mapped:
            raise requests.ConnectionError(f"Max retries exceeded with url: {SIGNED}")
        shown = "".join(traceback.format_exception(info.value))
        assert "https://bucket.example.com/rec/file.mp4" in shown
        assert "canary-signature" not in shown
        assert info.value.__cause__ is None


class TestErrors:
    def test_realtimekit_envelope(self):
        body = b'{"success": false, "error": {"code": 404, "message": "Recording not found"}}'
        error = build_error(answer(404, body, cf_ray="ray-1"), GET)
        assert isinstance(error, RealtimeKitNotFoundError)
        assert (error.status_code, error.code, error.message, error.ray_id) == (
            404,
            404,
            "Recording not found",
            "ray-1",
        )
        assert str(error) == "GET recordings/abc: HTTP 404: Recording not found [cf-ray ray-1]"

    def test_cloudflare_envelope_joins_every_message(self):
        body = b'{"success": false, "errors": [{"code": 10000, "message": "a"}, {"code": 1, "message": "b"}]}'
        error = build_error(answer(401, body), GET)
        assert (error.code, error.message) == (10000, "a; b")

    def test_html_or_empty_bodies_get_a_status_message(self):
        assert build_error(answer(503, b"<html>busy</html>"), GET).message == "HTTP 503 with no message"
        assert build_error(answer(500, b""), GET).message == "HTTP 500 with no message"
        assert build_error(answer(500, b"x" * 2000), GET).message == "x" * 500

    def test_retry_after_is_read(self):
        error = build_error(answer(429, b"", retry_after="7"), GET)
        assert isinstance(error, RealtimeKitRateLimitError)
        assert error.retry_after == 7.0

    def test_a_download_error_names_the_file_not_the_signature(self):
        error = build_error(answer(403, b"<Error>AccessDenied</Error>"), DownloadRequest(SIGNED))
        assert error.path == "https://bucket.example.com/rec/file.mp4"
        assert "canary-signature" not in str(error)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("5", 5.0),
            ("0.5", 0.5),
            ("-3", 0.0),
            ("Wed, 21 Oct 2026 07:28:10 GMT", 10.0),
            ("soon", None),
            (None, None),
        ],
    )
    def test_parse_retry_after(self, value, expected):
        now = datetime(2026, 10, 21, 7, 28, 0, tzinfo=UTC)
        assert parse_retry_after(value, now=now) == expected


class TestMalformedIsA502Everywhere:
    @pytest.mark.parametrize(
        "call",
        [
            lambda: parse_response(answer(200, b"not json"), GET),
            lambda: read_recording({"data": {"no": "id"}}, GET),
            lambda: read_recording(["a list"], GET),
            lambda: read_page({"data": {"not": "a list"}}, GET),
        ],
        ids=["body-not-json", "no-recording", "not-an-envelope", "page-without-array"],
    )
    def test_malformed_2xx(self, call):
        with pytest.raises(RealtimeKitServerError) as info:
            call()
        assert info.value.status_code == 502
        assert info.value.transient
        assert info.value.path == "recordings/abc"

    def test_success_false_on_a_2xx_is_the_apis_error(self):
        body = b'{"success": false, "error": {"code": 400, "message": "nope"}}'
        with pytest.raises(RealtimeKitApiError, match="nope"):
            parse_response(answer(200, body), GET)


class TestUnwrapping:
    def test_a_requests_response_parses(self):
        body = b'{"success": false, "error": {"code": 429, "message": "slow down"}}'
        from_requests = requests.Response()
        from_requests.status_code, from_requests._content = 429, body
        from_requests.headers = CaseInsensitiveDict({"Retry-After": "3"})
        with pytest.raises(RealtimeKitRateLimitError) as info:
            parse_response(from_requests, GET)
        assert (info.value.message, info.value.retry_after) == ("slow down", 3.0)

    def test_parse_response_returns_the_envelope(self):
        assert parse_response(answer(200, b'{"success": true, "data": {"id": "r"}}'), GET)["data"] == {
            "id": "r"
        }
        assert parse_response(answer(204, b""), GET) is None

    def test_recording_from_data_or_data_recording_without_storage_secrets(self):
        recording = {"id": "r", "storage_config": {"type": "aws", "secret": "canary", "bucket": "b"}}
        assert read_recording({"data": recording}, GET)["storage_config"] == {"type": "aws", "bucket": "b"}
        assert read_recording({"data": {"recording": {"id": "t"}}}, GET)["id"] == "t"

    def test_legacy_track_answers_are_none(self):
        assert read_recording_or_none(None, GET) is None
        assert read_recording_or_none({"success": True, "data": None}, GET) is None
        assert read_recording_or_none({"data": {"recording": {"id": "t"}}}, GET) == {"id": "t"}

    def test_page_and_its_end(self):
        page = read_page({"data": [{"id": "a"}, "junk"], "paging": {"total_count": 3, "end_offset": 1}}, GET)
        assert page == RecordingPage([{"id": "a"}], total_count=3, end_offset=1)
        assert not page.is_last(per_page=1)
        assert RecordingPage([{"id": "a"}], 3, 3).is_last(per_page=1)
        assert RecordingPage([], None, None).is_last(per_page=1)
        assert RecordingPage([{"id": "a"}], None, None).is_last(per_page=2)  # short page
        assert not RecordingPage([{"id": "a"}], None, None).is_last(per_page=1)
