"""Request building and response parsing, written once for the sync (requests) and async (httpx) paths.

``ApiRequest`` says what to send; ``parse_response`` turns any HTTP answer into the ``data`` payload or a
``RealtimeKitApiError`` built from either error envelope:

- RealtimeKit's own: ``{"success": false, "error": {"code": 404, "message": "..."}}``
- Cloudflare's v4 edge envelope: ``{"success": false, "errors": [{"code": 10000, "message": "..."}]}``
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import quote

from airflow_provider_rtk.exceptions import (
    RealtimeKitApiError,
    RealtimeKitTimeoutError,
    RealtimeKitTransportError,
    api_error_class,
)

DEFAULT_BASE_URL: Final[str] = "https://api.cloudflare.com/client/v4"
DEFAULT_CONN_ID: Final[str] = "realtimekit_default"
CONN_TYPE: Final[str] = "realtimekit"
USER_AGENT: Final[str] = "airflow-provider-rtk"
_MAX_MESSAGE: Final[int] = 500


@dataclass(frozen=True)
class ApiRequest:
    """One call to the recordings API, relative to ``/accounts/{account}/realtime/kit/{app}/``."""

    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    json: Mapping[str, Any] | None = None

    @property
    def idempotent(self) -> bool:
        """GET and PUT (pause/resume/stop) may be resent; POST (start) may not."""
        return self.method in ("GET", "PUT")


def app_url(base_url: str, account_id: str, app_id: str) -> str:
    """The URL every recordings path hangs off."""
    return (
        f"{base_url.rstrip('/')}/accounts/{quote(account_id, safe='')}/realtime/kit/{quote(app_id, safe='')}"
    )


def request_url(app_base: str, request: ApiRequest) -> str:
    return f"{app_base}/{request.path}"


def auth_headers(token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    }


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


def parse_api_time(value: object) -> datetime | None:
    """An API timestamp (ISO 8601, ``Z`` or offset; naive means UTC) as an aware datetime, else None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


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


def no_response_error(
    request: ApiRequest, exc: Exception, *, timed_out: bool, timeout: float, peer: str = ""
) -> RealtimeKitTransportError:
    """The error for a request that got no HTTP answer (either client library): method and path only,
    since a presigned URL's query is a credential."""
    where = f"{request.method} {request.path}"
    if timed_out:
        return RealtimeKitTimeoutError(f"{where}: no response within {timeout} s")
    return RealtimeKitTransportError(f"{where}: {type(exc).__name__}{f' talking to {peer}' if peer else ''}")


def build_error(
    status: int, headers: Mapping[str, str], body: bytes, request: ApiRequest
) -> RealtimeKitApiError:
    """The exception for an error response, whichever envelope (or none) the body uses."""
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
        path=request.path,
    )


def parse_response(status: int, headers: Mapping[str, str], body: bytes, request: ApiRequest) -> Any:
    """The decoded envelope of a 2xx response (None for an empty body), or raise the API's error.

    ``headers`` must be case-insensitive (both requests' and httpx's header maps are).
    """
    if status >= 400:
        raise build_error(status, headers, body, request)
    payload = _decode(body)
    if body and payload is None:
        raise api_error_class(502)(
            502,
            f"expected a JSON body, got {body[:80]!r}",
            ray_id=headers.get("cf-ray"),
            method=request.method,
            path=request.path,
        )
    if isinstance(payload, Mapping) and payload.get("success") is False:
        raise build_error(status, headers, body, request)
    return payload
