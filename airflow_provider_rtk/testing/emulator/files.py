"""The file endpoint behind presigned download URLs (``/_files/{recording_id}/{kind}``), S3-style.

Whole files, one ``Range`` (206/416), ``If-Range``, ETag and Last-Modified; signature and expiry are
checked by the presigner before a :class:`FileGrant` is handed out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import unquote

from airflow_provider_rtk.testing.emulator.request_log import RequestRecord
from airflow_provider_rtk.testing.emulator.responses import FileBody, FileError, Response, s3_error_response

FILES_PREFIX = "/_files/"


@dataclass(frozen=True)
class FileGrant:
    """What the file endpoint needs to serve a file whose presigned URL checked out."""

    seed: str
    size: int
    content_type: str
    etag: str
    last_modified: datetime


OpenFile = Callable[[str, str, dict[str, list[str]]], FileGrant]


def serve_file(record: RequestRecord, open_file: OpenFile) -> Response:
    """Answer a request for ``/_files/{recording_id}/{kind}``; ``open_file`` checks the presigned URL."""
    parts = record.path[len(FILES_PREFIX) :].split("/")
    if record.method not in ("GET", "HEAD"):
        return s3_error_response(FileError(405, "MethodNotAllowed", "The specified method is not allowed."))
    if len(parts) != 2:
        return s3_error_response(FileError(404, "NoSuchKey", "The specified key does not exist."))
    try:
        grant = open_file(unquote(parts[0]), unquote(parts[1]), record.query)
    except FileError as error:
        return s3_error_response(error)
    return _file_response(grant, record.headers)


#: The one ``Range`` form served: a single ``first-last`` span, either end optional.
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _file_response(grant: FileGrant, request_headers: dict[str, str]) -> Response:
    """200 with the whole file, or 206/416 for one ``Range`` (a multi-range request gets the whole file)."""
    headers = {
        "Content-Type": grant.content_type,
        "ETag": grant.etag,
        "Last-Modified": format_datetime(grant.last_modified, usegmt=True),
        "Accept-Ranges": "bytes",
    }
    size = grant.size
    range_header = request_headers.get("Range")
    if_range = request_headers.get("If-Range")
    if range_header is None or (if_range is not None and if_range != grant.etag):
        return Response(200, headers, FileBody(grant.seed, 0, size))
    match = _RANGE.fullmatch(range_header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return Response(200, headers, FileBody(grant.seed, 0, size))
    first, last = match.group(1), match.group(2)
    if first == "":
        start, stop = max(size - int(last), 0), size
    elif last != "" and int(last) < int(first):
        return Response(200, headers, FileBody(grant.seed, 0, size))  # an invalid range is ignored
    else:
        start, stop = int(first), size if last == "" else min(int(last) + 1, size)
    if start >= stop:
        headers["Content-Range"] = f"bytes */{size}"
        return Response(416, headers)
    headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    return Response(206, headers, FileBody(grant.seed, start, stop))
