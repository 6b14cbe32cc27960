"""Answers before they are written: JSON, API errors and faults, S3-style file errors, streamed files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from airflow_provider_rtk.testing.emulator.errors import CF_AUTH_CODE, ApiError, cf_error_body, rtk_error_body
from airflow_provider_rtk.testing.emulator.faults import Fault

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class FileBody:
    """A byte range of an emulated file, streamed rather than held in memory."""

    seed: str
    start: int
    stop: int


@dataclass
class Response:
    """An answer before it is written: the body is bytes, or a :class:`FileBody` to stream."""

    status: int
    headers: dict[str, str]
    body: bytes | FileBody = b""

    @property
    def length(self) -> int:
        return self.body.stop - self.body.start if isinstance(self.body, FileBody) else len(self.body)


def json_response(status: int, payload: Any) -> Response:
    return Response(status, {"Content-Type": JSON_TYPE}, json.dumps(payload).encode())


def error_response(error: ApiError) -> Response:
    return json_response(error.status, error.body())


def fault_response(fault: Fault) -> Response:
    """The error answer of a fault with a ``status``, in its envelope, with its ``Retry-After``."""
    assert fault.status is not None
    if fault.envelope == "cf":
        body = cf_error_body(CF_AUTH_CODE, fault.error_message)
    else:
        body = rtk_error_body(fault.status, fault.error_message)
    response = json_response(fault.status, body)
    if fault.retry_after is not None:
        response.headers["Retry-After"] = str(fault.retry_after)
    return response


class FileError(Exception):
    """An S3-style failure of the file endpoint (``code`` is the S3 error code)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def s3_error_response(error: FileError) -> Response:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{error.code}</Code><Message>{error.message}</Message></Error>"
    )
    return Response(error.status, {"Content-Type": "application/xml"}, xml.encode())
