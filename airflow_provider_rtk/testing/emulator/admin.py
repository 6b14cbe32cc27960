"""The admin endpoint: drive a running emulator from another process (faults, outages, seeds, the log).

Served under ``/_emulator/`` when enabled; JSON in and out, no authentication (a loopback test tool).
Admin requests bypass faults and are not in the request log. See the package docstring for the routes.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from airflow_provider_rtk.testing.emulator.faults import Fault
from airflow_provider_rtk.testing.emulator.request_log import RequestRecord
from airflow_provider_rtk.testing.emulator.responses import Response, json_response

if TYPE_CHECKING:
    from airflow_provider_rtk.testing.emulator.emulator import RealtimeKitEmulator

_NUMBER = (int, float)
# The JSON types each Fault field accepts (None is accepted for every field but the booleans).
FAULT_FIELDS: dict[str, tuple[type, ...]] = {
    "method": (str,),
    "path": (str,),
    "status": (int,),
    "retry_after": (int, str),
    "envelope": (str,),
    "message": (str,),
    "delay": _NUMBER,
    "drop": (bool,),
    "apply": (bool,),
    "drop_after_bytes": (int,),
    "times": (int,),
    "duration": _NUMBER,
}
#: The JSON types each ``start_meeting_recording`` field accepts (``meeting_id`` is required).
MEETING_RECORDING_FIELDS: dict[str, tuple[type, ...]] = {
    "meeting_id": (str,),
    "audio": (bool,),
    "file_size": (int,),
    "audio_file_size": (int,),
    "max_seconds": (int,),
    "meeting_title": (str,),
}
_SHA256_PATH = re.compile(r"/_emulator/recordings/([^/]+)/sha256")
_END_MEETING_PATH = re.compile(r"/_emulator/meetings/([^/]+)/end")


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class AdminApi:
    """Maps ``/_emulator/`` requests onto the emulator's public Python API."""

    def __init__(self, emulator: RealtimeKitEmulator) -> None:
        self.emulator = emulator

    def handle(self, record: RequestRecord) -> Response:
        try:
            return self._route(record)
        except AdminError as error:
            return json_response(error.status, {"error": error.message})

    def _route(self, record: RequestRecord) -> Response:
        emulator, method, path = self.emulator, record.method, record.path.rstrip("/")
        if path == "/_emulator/faults":
            if method == "POST":
                fault = emulator.add_fault(**_fault_kwargs(record))
                return json_response(201, {"id": fault.id})
            if method == "GET":
                return json_response(200, {"faults": [fault_view(fault) for fault in emulator.faults]})
            if method == "DELETE":
                emulator.clear_faults()
                return json_response(200, {})
        elif path == "/_emulator/refuse":
            if method == "POST":
                seconds = _object(record).get("seconds")
                if isinstance(seconds, bool) or not isinstance(seconds, _NUMBER) or seconds <= 0:
                    raise AdminError(400, "seconds must be a positive number")
                emulator.refuse_connections(seconds)
                response = json_response(200, {"seconds": seconds})
                response.headers["Connection"] = "close"  # this connection closes too, once answered
                return response
        elif path == "/_emulator/requests":
            if method == "GET":
                return json_response(200, {"requests": [request_view(r) for r in emulator.requests]})
            if method == "DELETE":
                emulator.clear_requests()
                return json_response(200, {})
        elif path == "/_emulator/recordings":
            if method == "POST":
                return json_response(201, self._seed(_object(record)))
        elif path == "/_emulator/meeting-recordings":
            if method == "POST":
                return json_response(201, self._start_meeting_recording(_object(record)))
        elif match := _END_MEETING_PATH.fullmatch(path):
            if method == "POST":
                try:
                    ended = emulator.end_meeting(unquote(match.group(1)))
                except KeyError as error:
                    raise AdminError(404, str(error.args[0]) if error.args else "not found") from None
                return json_response(200, {"recordings": ended})
        elif match := _SHA256_PATH.fullmatch(path):
            if method == "GET":
                return json_response(200, {"sha256": self._sha256(unquote(match.group(1)), record)})
        else:
            raise AdminError(404, f"No admin route {path}")
        raise AdminError(405, f"Method {method} not allowed for {path}")

    def _seed(self, body: dict[str, Any]) -> dict[str, Any]:
        kwargs = dict(body)
        invoked = kwargs.get("invoked_time")
        if invoked is not None:
            try:
                kwargs["invoked_time"] = datetime.fromisoformat(str(invoked).replace("Z", "+00:00"))
            except ValueError:
                raise AdminError(400, "invoked_time must be an ISO 8601 timestamp") from None
        try:
            return self.emulator.seed_recording(**kwargs)
        except (TypeError, ValueError) as error:
            raise AdminError(400, str(error)) from None

    def _start_meeting_recording(self, body: dict[str, Any]) -> dict[str, Any]:
        for key, value in body.items():
            types = MEETING_RECORDING_FIELDS.get(key)
            if types is None:
                allowed = ", ".join(MEETING_RECORDING_FIELDS)
                raise AdminError(400, f"unknown meeting recording field {key!r}; allowed: {allowed}")
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                raise AdminError(400, f"{key} must be {' or '.join(t.__name__ for t in types)}")
        if "meeting_id" not in body:
            raise AdminError(400, "meeting_id is required (the UUID of the meeting that starts recording)")
        kwargs = dict(body)
        try:
            return self.emulator.start_meeting_recording(kwargs.pop("meeting_id"), **kwargs)
        except ValueError as error:
            raise AdminError(400, str(error)) from None

    def _sha256(self, recording_id: str, record: RequestRecord) -> str:
        kind = (record.query.get("kind") or ["video"])[-1]
        try:
            return self.emulator.expected_sha256(recording_id, kind)
        except KeyError as error:
            raise AdminError(404, str(error.args[0]) if error.args else "not found") from None


def _object(record: RequestRecord) -> dict[str, Any]:
    if not isinstance(record.json, dict):
        raise AdminError(400, "the body must be a JSON object")
    return record.json


def _fault_kwargs(record: RequestRecord) -> dict[str, Any]:
    body = _object(record)
    for key, value in body.items():
        types = FAULT_FIELDS.get(key)
        if types is None:
            raise AdminError(400, f"unknown fault field {key!r}; allowed: {', '.join(FAULT_FIELDS)}")
        nullable = types != (bool,)
        if (value is None and not nullable) or (
            value is not None
            and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types))
        ):
            names = " or ".join(t.__name__ for t in types)
            raise AdminError(400, f"{key} must be {names}{' or null' if nullable else ''}")
    try:
        Fault(**body)  # validates values (status range, regex, ...) before anything is added
    except (ValueError, re.error) as error:
        raise AdminError(400, str(error)) from None
    return body


def fault_view(fault: Fault) -> dict[str, Any]:
    view = {name: getattr(fault, name) for name in FAULT_FIELDS}
    return {"id": fault.id, **view, "hits": fault.hits, "active": fault.active}


def request_view(record: RequestRecord) -> dict[str, Any]:
    """What the admin endpoint tells of a request: never headers, bodies or the query (secrets)."""
    return {"time": record.time, "method": record.method, "path": record.path, "status": record.status}
