"""Routing of ``/client/v4/accounts/{account_id}/realtime/kit/{app_id}/...`` to the recording store.

Checks what the edge checks first (route, token, account, app), then parses the request and calls the
store; every failure becomes an answer in the envelope the real service uses for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from airflow_provider_rtk.testing.emulator.errors import CF_METHOD_CODE, CF_ROUTE_CODE, ApiError, bad_request
from airflow_provider_rtk.testing.emulator.files import FILES_PREFIX, serve_file
from airflow_provider_rtk.testing.emulator.request_log import RequestRecord
from airflow_provider_rtk.testing.emulator.responses import Response, error_response, json_response
from airflow_provider_rtk.testing.emulator.store import RecordingStore
from airflow_provider_rtk.testing.emulator.validation import (
    ApiVersion,
    parse_action,
    parse_list_query,
    parse_start,
    parse_track,
    parse_uuid,
)

API_PREFIX = "/client/v4"


@dataclass(frozen=True)
class Identity:
    """Who the emulated app belongs to and which API version it speaks."""

    token: str
    account_id: str
    app_id: str
    api_version: ApiVersion


#: An app's API path: account id, app id, and the endpoint's path below the app.
_APP_PATH = re.compile(r"/client/v4/accounts/([^/]+)/realtime/kit/([^/]+)(/.*)?")


class ApiRoutes:
    """Answers API and file requests (faults are applied before, by the transport)."""

    def __init__(self, identity: Identity, store: RecordingStore) -> None:
        self.identity = identity
        self.store = store

    def route(self, record: RequestRecord, origin: str) -> Response:
        try:
            if record.path.startswith(FILES_PREFIX):
                return serve_file(record, self.store.open_file)
            return self._route_api(record, origin)
        except ApiError as error:
            return error_response(error)

    def _route_api(self, record: RequestRecord, origin: str) -> Response:
        identity = self.identity
        not_routed = ApiError(
            404,
            f"Could not route to {record.path}, perhaps your object identifier is invalid?",
            envelope="cf",
            cf_code=CF_ROUTE_CODE,
        )
        if not record.path.startswith(API_PREFIX + "/"):
            raise not_routed
        if record.headers.get("Authorization") != f"Bearer {identity.token}":
            raise ApiError(401, "Authentication error", envelope="cf")
        match = _APP_PATH.fullmatch(record.path)
        if match is None:
            raise not_routed
        account_id, app_id, rest = match.group(1), match.group(2), match.group(3) or ""
        if unquote(account_id) != identity.account_id:
            raise ApiError(403, "Unauthorized to access requested resource", envelope="cf")
        if unquote(app_id) != identity.app_id:
            raise ApiError(404, "App not found")
        segments = [unquote(part) for part in rest.strip("/").split("/")] if rest.strip("/") else []
        method = record.method
        store = self.store
        version = identity.api_version

        if segments == ["recordings"]:
            if method == "GET":
                data, paging = store.list_recordings(parse_list_query(record.query, version), origin)
                return json_response(200, {"success": True, "data": data, "paging": paging})
            if method == "POST":
                params = parse_start(_json_body(record), version)
                return json_response(200, {"success": True, "data": store.start(params, origin)})
        elif segments == ["recordings", "track"] and method == "POST":
            recording = store.start_track(parse_track(_json_body(record), version), origin)
            if version == "legacy":
                return Response(200, {})
            return json_response(200, {"success": True, "data": {"recording": recording}})
        elif len(segments) == 3 and segments[:2] == ["recordings", "active-recording"]:
            if method == "GET":
                meeting_id = parse_uuid(segments[2], "meeting_id")
                return json_response(200, {"success": True, "data": store.active(meeting_id, origin)})
        elif len(segments) == 2 and segments[0] == "recordings":
            if method == "GET":
                recording_id = parse_uuid(segments[1], "recording_id")
                return json_response(200, {"success": True, "data": store.get(recording_id, origin)})
            if method == "PUT":
                recording_id = parse_uuid(segments[1], "recording_id")
                action = parse_action(_json_body(record))
                return json_response(200, {"success": True, "data": store.act(recording_id, action, origin)})
        else:
            raise not_routed
        raise ApiError(
            405, f"Method {method} not allowed for {record.path}", envelope="cf", cf_code=CF_METHOD_CODE
        )


def _json_body(record: RequestRecord) -> Any:
    if record.json is None:
        raise bad_request("Request body must be a JSON object")
    return record.json
