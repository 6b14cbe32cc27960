"""Fault injection: the rules a test adds to make the emulator fail, matched against each request."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

from airflow_provider_rtk.testing.emulator.errors import Envelope


@dataclass
class Fault:
    """One injected failure, matched against requests in insertion order.

    ``drop`` takes precedence over ``status``; ``delay`` combines with either. ``apply`` only matters with
    ``drop``: it processes the request (e.g. creates the recording) before the response is lost.
    ``times=None`` matches forever; ``hits`` counts the requests this fault affected.

    ``duration`` makes the rule time-based instead of count-based: it affects every matching request for
    ``duration`` real seconds from its creation (an outage, a throttling storm), and ``times`` is then
    not used (set to None). Like ``delay``, it is measured in real seconds, not on the emulator clock.
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
    duration: float | None = None
    id: int | None = field(default=None, init=False, compare=False)
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)
    _expires_at: float | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.envelope not in ("rtk", "cf"):
            raise ValueError(f"envelope must be 'rtk' or 'cf', not {self.envelope!r}")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code, not {self.status}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1 (or None for forever)")
        if self.duration is not None:
            if self.duration <= 0:
                raise ValueError(f"duration must be a positive number of seconds, not {self.duration}")
            self.times = None
            self._expires_at = time.monotonic() + self.duration
        if self.delay < 0:
            raise ValueError(f"delay must not be negative, not {self.delay}")
        self._pattern = re.compile(self.path) if self.path is not None else None

    @property
    def active(self) -> bool:
        """Whether the rule can still affect a request: uses left and, if time-based, not expired."""
        if self.times is not None and self.hits >= self.times:
            return False
        return self._expires_at is None or time.monotonic() < self._expires_at

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault is still active and applies to ``method path``."""
        if not self.active:
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
        self._next_id = 1

    def add(self, fault: Fault) -> Fault:
        """Append ``fault`` and number it (``fault.id``, from 1, never reused)."""
        with self._lock:
            fault.id, self._next_id = self._next_id, self._next_id + 1
            self._faults.append(fault)
        return fault

    def snapshot(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

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
