"""What goes over the wire with the one HTTP client (requests): how a request is built, how a failure
without a response is mapped, and how a response is parsed, in one way only (``_core.transport`` sends).

- Requests: ``ApiRequest`` (a recordings API call, relative to the app's base URL) and ``DownloadRequest``
  (a presigned file URL on the storage host, whose query is a credential).
- Failures without a response: ``no_response_errors`` maps the client's exceptions to
  ``RealtimeKitTransportError`` / ``RealtimeKitTimeoutError``, naming the method and target only.
- Responses: ``parse_response`` turns any HTTP answer into the decoded envelope or a ``RealtimeKitApiError``
  built from either error envelope, and ``read_recording`` / ``read_recording_or_none`` / ``read_page``
  unwrap what a call returns. A 2xx whose body is not what the API documents is a 502 (bad gateway), the
  same wherever it is found:

  - RealtimeKit's own: ``{"success": false, "error": {"code": 404, "message": "..."}}``
  - Cloudflare's v4 edge envelope: ``{"success": false, "errors": [{"code": 10000, "message": "..."}]}``
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final
from urllib.parse import urlsplit

import requests

from airflow_provider_rtk._core.connection import USER_AGENT
from airflow_provider_rtk._core.errors import api_error_class
from airflow_provider_rtk._core.redact import clean_recording
from airflow_provider_rtk.exceptions import (
    RealtimeKitApiError,
    RealtimeKitTimeoutError,
    RealtimeKitTransportError,
)
from airflow_provider_rtk.types import Recording, RecordingPage

if TYPE_CHECKING:
    from airflow_provider_rtk._core.connection import ConnectionSettings

_MAX_MESSAGE: Final[int] = 500
#: The status of a 2xx response whose body is not what the API documents.
MALFORMED_STATUS: Final[int] = 502


@dataclass(frozen=True)
class ApiRequest:
    """One call to the recordings API; ``path`` is relative to ``/accounts/{account}/realtime/kit/{app}/``."""

    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    json: Mapping[str, Any] | None = None

    @property
    def idempotent(self) -> bool:
        """GET and PUT (pause/resume/stop) may be resent; POST (start) may not."""
        return self.method in ("GET", "PUT")

    @property
    def target(self) -> str:
        """What errors and logs name."""
        return self.path

    def url(self, app_base: str) -> str:
        return f"{app_base}/{self.path}"

    def send_args(self, settings: ConnectionSettings) -> dict[str, Any]:
        """The arguments of ``requests.Session.request`` that send this call."""
        return {
            "method": self.method,
            "url": self.url(settings.app_base),
            "params": dict(self.params) or None,
            "json": self.json,
            "headers": auth_headers(settings.token),
        }


@dataclass(frozen=True)
class DownloadRequest:
    """A GET of a presigned recording URL from byte ``offset``: an absolute URL on the storage host.

    The URL is its own credential (its query holds the signature): it is never shown, not even in
    ``repr``; ``target`` is what errors name instead.
    """

    url: str = field(repr=False)
    offset: int = 0
    method: ClassVar[str] = "GET"
    idempotent: ClassVar[bool] = True

    @property
    def target(self) -> str:
        """The URL without its query: host and file path."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"

    @property
    def headers(self) -> dict[str, str]:
        """No ``Authorization`` (the storage host gets no API token); identity encoding, since the bytes
        written must be the file's bytes and ``Range`` offsets count them."""
        headers = {"Accept": "*/*", "Accept-Encoding": "identity"}
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
        return headers


Request = ApiRequest | DownloadRequest


def auth_headers(token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    }


# -- no response -----------------------------------------------------------------------------------------


def no_response_error(
    request: Request, exc: BaseException, *, timed_out: bool, timeout: float, peer: str = ""
) -> RealtimeKitTransportError:
    """The error for a request that got no HTTP answer: method and target only."""
    where = f"{request.method} {request.target}"
    if timed_out:
        return RealtimeKitTimeoutError(f"{where}: no response within {timeout} s")
    return RealtimeKitTransportError(f"{where}: {type(exc).__name__}{f' talking to {peer}' if peer else ''}")


@contextmanager
def no_response_errors(request: Request, *, timeout: float, peer: str = "") -> Iterator[None]:
    """Around sending ``request``: the client's connection errors and timeouts become ours.

    For a download the client's exception is not even chained: its text holds the presigned URL,
    signature included.
    """
    try:
        yield
    except requests.RequestException as exc:
        timed_out = isinstance(exc, requests.Timeout)
        error = no_response_error(request, exc, timed_out=timed_out, timeout=timeout, peer=peer)
        if isinstance(request, DownloadRequest):
            raise error from None
        raise error from exc


# -- responses -------------------------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds from either form (delta-seconds or HTTP date); None when absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _error_details(payload: Any) -> tuple[int | str | None, str | None]:
    """(code, message) from either error envelope, or (None, None)."""
    if not isinstance(payload, Mapping):
        return None, None
    error = payload.get("error")
    if isinstance(error, Mapping):
        return error.get("code"), _as_message(error.get("message"))
    if isinstance(error, str):
        return None, error
    errors = payload.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0]
        if isinstance(first, Mapping):
            messages = [_as_message(e.get("message")) for e in errors if isinstance(e, Mapping)]
            return first.get("code"), "; ".join(m for m in messages if m) or None
        return None, str(first)
    return None, None


def _as_message(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _decode(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def build_error(response: requests.Response, request: Request) -> RealtimeKitApiError:
    """The exception for an error response, whichever envelope (or none) the body uses."""
    status, headers, body = response.status_code, response.headers, response.content
    code, message = _error_details(_decode(body))
    if not message:
        text = body.decode("utf-8", "replace").strip()
        message = (
            text[:_MAX_MESSAGE] if text and not text.startswith("<") else f"HTTP {status} with no message"
        )
    return api_error_class(status)(
        status,
        message[:_MAX_MESSAGE],
        code=code,
        ray_id=headers.get("cf-ray"),
        retry_after=parse_retry_after(headers.get("retry-after")),
        method=request.method,
        path=request.target,
    )


def malformed(request: Request, problem: str, ray_id: str | None = None) -> RealtimeKitApiError:
    """The error for a 2xx response whose body is not what the API documents."""
    return api_error_class(MALFORMED_STATUS)(
        MALFORMED_STATUS, problem, ray_id=ray_id, method=request.method, path=request.target
    )


def parse_response(response: requests.Response, request: ApiRequest) -> Any:
    """The decoded envelope of a 2xx response (None for an empty body), or raise the API's error."""
    if response.status_code >= 400:
        raise build_error(response, request)
    body = response.content
    payload = _decode(body)
    if body and payload is None:
        raise malformed(request, f"expected a JSON body, got {body[:80]!r}", response.headers.get("cf-ray"))
    if isinstance(payload, Mapping) and payload.get("success") is False:
        raise build_error(response, request)
    return payload


def read_recording(payload: Any, request: ApiRequest) -> Recording:
    """The recording in ``data`` (or in ``data.recording``, as the current track endpoint wraps it),
    storage secrets stripped."""
    data = payload.get("data") if isinstance(payload, Mapping) else None
    if isinstance(data, Mapping) and isinstance(data.get("recording"), Mapping):
        data = data["recording"]
    if not isinstance(data, Mapping) or "id" not in data:
        raise malformed(request, "response has no recording in 'data'")
    return clean_recording(data)


def read_recording_or_none(payload: Any, request: ApiRequest) -> Recording | None:
    """``read_recording``, or None for no body or ``data: null`` (the legacy track endpoint's answer)."""
    if payload is None or (isinstance(payload, Mapping) and payload.get("data") is None):
        return None
    return read_recording(payload, request)


def read_page(payload: Any, request: ApiRequest) -> RecordingPage:
    """A page of recordings (storage secrets stripped) and its paging offsets."""
    data = payload.get("data") if isinstance(payload, Mapping) else None
    if not isinstance(data, list):
        raise malformed(request, "list response has no 'data' array")
    paging = payload.get("paging") or {}
    total = paging.get("total_count")
    end = paging.get("end_offset")
    return RecordingPage(
        recordings=[clean_recording(item) for item in data if isinstance(item, Mapping)],
        total_count=int(total) if isinstance(total, int | float) else None,
        end_offset=int(end) if isinstance(end, int | float) else None,
    )
