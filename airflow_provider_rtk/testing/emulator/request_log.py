"""The request log (what a test inspects) and the access log line (what ``--log-requests`` prints)."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any


def _epoch_now() -> float:
    return time.time()


@dataclass
class RequestRecord:
    """One request the emulator received and what it answered.

    A record is logged as soon as the request is read; the response fields are filled in just before
    the answer is sent. ``url`` is the absolute URL (``http://`` + Host header + request target as
    received); ``path`` is the request target without its query. ``status`` is None while the request is
    in flight (e.g. delayed) and when no response was sent (a dropped connection); with
    ``drop_after_bytes`` the status line was sent, so it is recorded. ``time`` is when it arrived (Unix
    epoch seconds, real time).
    """

    method: str
    path: str
    query: dict[str, list[str]]
    url: str
    headers: dict[str, str]
    body: bytes
    json: Any | None
    status: int | None = None
    response_json: Any | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    time: float = field(default_factory=_epoch_now)


class RequestLog:
    """Thread-safe append-only list of :class:`RequestRecord`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def count(self, method: str | None = None, path: str | None = None) -> int:
        pattern = re.compile(path) if path is not None else None
        return sum(
            1
            for record in self.snapshot()
            if (method is None or record.method == method.upper())
            and (pattern is None or pattern.search(record.path))
        )


def access_log_line(record: RequestRecord) -> str:
    """``METHOD path status`` of one answered (or dropped: ``-``) request.

    Only the path: never the query (a presigned URL's signature) and never a header (the API token).
    """
    status = "-" if record.status is None else str(record.status)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.time))
    return f"{stamp} {record.method} {record.path} {status}"
