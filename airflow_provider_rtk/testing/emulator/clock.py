"""API time: the emulator's own clock, scaled and advanceable, so lifecycle tests need no sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class Clock:
    """API time in seconds: real monotonic time divided by ``time_scale``, plus what :meth:`advance` added.

    ``epoch`` is the wall-clock time of API second 0, a whole second so presigned-URL dates round-trip.
    """

    def __init__(self, time_scale: float) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self._scale = time_scale
        self._origin = time.monotonic()
        self._offset = 0.0
        self.epoch = datetime.now(UTC).replace(microsecond=0)

    def now(self) -> float:
        return (time.monotonic() - self._origin) / self._scale + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the emulator clock only moves forward")
        self._offset += seconds

    def to_datetime(self, api_seconds: float) -> datetime:
        return self.epoch + timedelta(seconds=api_seconds)

    def from_datetime(self, moment: datetime) -> float:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return (moment - self.epoch).total_seconds()


def iso(moment: datetime) -> str:
    """The API's timestamp format: UTC, milliseconds, ``Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
