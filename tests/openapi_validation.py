"""Check logged RealtimeKit requests and responses against the published OpenAPI subset (openapi-core).

Usage, with the emulator's request log (any object with the same attributes works, see :class:`Exchange`)::

    from tests.openapi_validation import validate_request, validate_response

    for entry in emulator.requests:
        validate_request(entry)
        validate_response(entry)

Both raise ``AssertionError`` with the schema errors when the exchange does not conform. Only API calls
can be validated (not the presigned file URLs, which are not part of the spec).

The spec is the project's own copy of the published one, ``tests/data/recordings-openapi.json``: a clone
of the repository has everything its tests read.

Where the spec and the service (docs/api-notes.md) disagree, the helper follows the service, explicitly:

* the spec's server is ``https://api.cloudflare.com/client/v4``; the logged URL's origin is ignored and
  its path (which must start with ``/client/v4``) is matched against the spec's paths;
* ``status`` is declared comma-separated (explode false) but the SDKs repeat the key; repeated values
  are joined with commas before validation;
* ``download_url`` is declared a string, but for track recordings it is a list of
  ``{layer_name, download_urls: {file: {download_url}}}``; the schema is widened to allow both;
* an error status the operation does not declare (the schema declares only 404 on active-recording) is
  checked against the two error envelopes: RealtimeKit's (``realtimekit_GenericErrorResponse``, with
  ``error.code`` equal to the HTTP status) or Cloudflare's v4 envelope;
* the legacy version's track POST answers 200 with an empty body, which is accepted as is.

Caveat: ``PUT .../recordings/{recording_id}`` declares ``app_id`` as exactly 32 lowercase hex digits,
so validate with such an app id (the emulator's default ``2a95132c15732412d22c1476fa83f27a`` is one).
Path ids ``recording_id`` and body/query ``meeting_id`` must be UUIDs.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.exceptions import OpenAPIError
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_schema_validator import OAS30Validator
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPEC = Path(__file__).resolve().parent / "data" / "recordings-openapi.json"
SPEC_ORIGIN = "https://api.cloudflare.com"
API_PREFIX = "/client/v4"

#: Cloudflare's v4 error envelope (docs/api-notes.md), for failures raised before RealtimeKit.
CF_ERROR_ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["success", "errors", "messages", "result"],
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "errors": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
            },
        },
        "messages": {"type": "array"},
        "result": {"nullable": True, "enum": [None]},
    },
}

_TRACK_DOWNLOAD_URLS: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["layer_name", "download_urls"],
        "properties": {
            "layer_name": {"type": "string"},
            "download_urls": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "object",
                        "required": ["download_url"],
                        "properties": {"download_url": {"type": "string", "format": "uri"}},
                    }
                },
            },
        },
    },
}


class Exchange(Protocol):
    """One logged request and its response (the emulator's ``RequestRecord`` has these attributes)."""

    @property
    def method(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def query(self) -> Mapping[str, list[str]]: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def body(self) -> bytes: ...
    @property
    def status(self) -> int | None: ...
    @property
    def response_json(self) -> Any: ...
    @property
    def response_headers(self) -> Mapping[str, str]: ...


@dataclass
class _Request:
    """openapi-core's request protocol."""

    path: str
    method: str
    parameters: RequestParameters
    body: bytes | None
    content_type: str
    host_url: str = SPEC_ORIGIN


@dataclass
class _Response:
    """openapi-core's response protocol."""

    status_code: int
    data: bytes | None
    content_type: str
    headers: Headers = field(default_factory=Headers)


@lru_cache(maxsize=1)
def _spec_dict() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(SPEC.read_text())
    widened = copy.deepcopy(spec)
    recording = widened["components"]["schemas"]["realtimekit_Recording"]["properties"]
    declared = recording["download_url"]
    recording["download_url"] = {
        "description": declared.get("description", ""),
        "readOnly": True,
        "oneOf": [{"type": "string", "format": "uri", "nullable": True}, _TRACK_DOWNLOAD_URLS],
    }
    return widened


@lru_cache(maxsize=1)
def openapi() -> OpenAPI:
    """The (widened) spec, loaded once."""
    return OpenAPI.from_dict(_spec_dict())


def _request(entry: Exchange) -> _Request:
    path = urlsplit(entry.url).path
    if not path.startswith(API_PREFIX + "/"):
        raise AssertionError(f"{entry.method} {entry.url}: not an API call under {API_PREFIX}")
    query = [(key, value) for key, values in entry.query.items() if key != "status" for value in values]
    if entry.query.get("status"):
        query.append(("status", ",".join(entry.query["status"])))
    headers = Headers(dict(entry.headers))
    content_type = headers.get("Content-Type", "application/json" if entry.body else "")
    return _Request(
        path=path,
        method=entry.method.lower(),
        parameters=RequestParameters(query=ImmutableMultiDict(query), header=headers),
        body=entry.body or None,
        content_type=content_type,
    )


def _describe(error: BaseException) -> str:
    """The error and the schema errors openapi-core chains below it."""
    lines = [f"{type(error).__name__}: {error}"]
    cause: BaseException | None = error
    while cause is not None:
        for schema_error in getattr(cause, "schema_errors", ()) or ():
            location = "/".join(str(part) for part in schema_error.path) or "<root>"
            lines.append(f"  at {location}: {schema_error.message}")
        cause = cause.__cause__
    return "\n".join(lines)


def validate_request(entry: Exchange) -> None:
    """Assert that the logged request conforms to the spec (path, query, headers, security, JSON body)."""
    try:
        openapi().validate_request(_request(entry))
    except OpenAPIError as error:
        raise AssertionError(f"{entry.method} {entry.url}: request invalid\n{_describe(error)}") from error


def _is_legacy_track_answer(entry: Exchange, path: str) -> bool:
    return (
        entry.method == "POST"
        and path.endswith("/recordings/track")
        and entry.status == 200
        and entry.response_json is None
        and entry.response_headers.get("Content-Length", "0") == "0"
    )


def validate_response(entry: Exchange) -> None:
    """Assert that the logged JSON response conforms to the spec (or to an error envelope, see above)."""
    where = f"{entry.method} {entry.url} -> {entry.status}"
    if entry.status is None:
        raise AssertionError(f"{where}: no response was sent")
    request = _request(entry)
    if _is_legacy_track_answer(entry, request.path):
        return
    if entry.response_json is None:
        raise AssertionError(f"{where}: the response has no JSON body")
    headers = Headers(dict(entry.response_headers))
    response = _Response(
        status_code=entry.status,
        data=json.dumps(entry.response_json).encode(),
        content_type=headers.get("Content-Type", ""),
        headers=headers,
    )
    try:
        openapi().validate_response(request, response)
    except ResponseNotFound:
        if entry.status < 400:
            raise AssertionError(f"{where}: status not declared by the spec") from None
        _validate_error_envelope(entry.response_json, entry.status, where)
    except OpenAPIError as error:
        raise AssertionError(f"{where}: response invalid\n{_describe(error)}") from error


def _validate_error_envelope(body: Any, status: int, where: str) -> None:
    if isinstance(body, dict) and "error" in body:
        schema = _spec_dict()["components"]["schemas"]["realtimekit_GenericErrorResponse"]
        shape = "RealtimeKit"
    else:
        schema, shape = CF_ERROR_ENVELOPE, "Cloudflare v4"
    errors = sorted(OAS30Validator(schema).iter_errors(body), key=str)
    if errors:
        details = "\n".join(f"  {error.message}" for error in errors)
        raise AssertionError(f"{where}: not a valid {shape} error envelope\n{details}")
    if shape == "RealtimeKit" and body["error"]["code"] != status:
        raise AssertionError(f"{where}: error.code {body['error']['code']} differs from the HTTP status")
    if body.get("success") is not False:
        raise AssertionError(f"{where}: an error envelope must say success: false")
