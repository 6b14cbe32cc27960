"""Fault injection and the request log: what a test uses to break the emulator and to inspect traffic."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_rtk.testing.emulator.errors import Envelope


@dataclass
class Fault:
    """One injected failure, matched against requests in insertion order.

    ``drop`` takes precedence over ``status``; ``delay`` combines with either. ``apply`` only matters with
    ``drop``: it processes the request (e.g. creates the recording) before the response is lost.
    ``times=None`` matches forever; ``hits`` counts the requests this fault affected.
    """

    method: str | None = None
    path: str | None = None
    status: int | None = None
    retry_after: int | str | None = None
    envelope: Envelope = "rtk"
    message: str | None = None
    delay: float = 0.0
    drop: bool = False
    apply: bool = False
    drop_after_bytes: int | None = None
    times: int | None = 1
    hits: int = 0
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.envelope not in ("rtk", "cf"):
            raise ValueError(f"envelope must be 'rtk' or 'cf', not {self.envelope!r}")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code, not {self.status}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1 (or None for forever)")
        self._pattern = re.compile(self.path) if self.path is not None else None

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault still has uses left and applies to ``method path``."""
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self._pattern is None or self._pattern.search(path) is not None

    @property
    def error_message(self) -> str:
        return self.message or f"Injected fault: HTTP {self.status}"


class FaultSet:
    """Thread-safe ordered list of faults; :meth:`take` consumes one use of the first match."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None


@dataclass
class RequestRecord:
    """One request the emulator received and what it answered.

    A record is logged as soon as the request is read; the response fields are filled in just before
    the answer is sent. ``url`` is the absolute URL (``http://`` + Host header + request target as
    received); ``path`` is the request target without its query. ``status`` is None while the request is
    in flight (e.g. delayed) and when no response was sent (a dropped connection); with
    ``drop_after_bytes`` the status line was sent, so it is recorded.
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
