"""A recording's state and its time-driven lifecycle, written independently of the provider (the oracle).

No background threads: every read first *settles* a recording, replaying the transitions whose deadline
has passed on the emulator clock (INVOKED -> RECORDING -> UPLOADING -> UPLOADED, with the automatic stops
at ``max_seconds`` of recorded - not paused - time and once the meeting has stayed empty long enough).
Each transition happens at its exact deadline, not at the time of the read, so timestamps and durations
do not depend on how often a client polls.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_rtk.testing.emulator.errors import bad_request

STATUSES = ("INVOKED", "RECORDING", "UPLOADING", "UPLOADED", "ERRORED", "PAUSED")
# A recording in one of these can be stopped, and blocks a second one in its meeting.
ACTIVE_STATUSES = frozenset({"INVOKED", "RECORDING", "PAUSED"})
# Files stay this long in RealtimeKit's bucket; afterwards a recording is "expired" and has no URLs.
BUCKET_RETENTION_SECONDS = 7 * 24 * 3600
# With error_on_short_recordings, a recording stopped before this much recorded time ends ERRORED.
SHORT_RECORDING_SECONDS = 5.0
# Recorded time of a seeded recording that is already stopped.
SEEDED_DURATION_SECONDS = 60.0
CALLER = {
    "name": "RealtimeKit_emulator",
    "type": "ORGANIZATION",
    "user_Id": "d61f6956-e68f-4375-bf10-c38a704d1bec",
}


def reason_object(reason: str) -> dict[str, Any]:
    """A start/stop reason; only an API call names its caller."""
    if reason == "API_CALL":
        return {"caller": dict(CALLER), "reason": reason}
    return {"reason": reason}


def check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")


@dataclass(frozen=True)
class Settings:
    """Emulator-wide lifecycle and file settings (durations in API seconds)."""

    invoked_seconds: float
    upload_seconds: float
    file_size: int
    audio_file_size: int
    download_url_ttl: int
    error_on_short_recordings: bool
    #: How long a meeting without participants keeps recording before it stops with ALL_PEERS_LEFT (the
    #: real service waits about 60 s).
    empty_meeting_seconds: float = 0.0

    def __post_init__(self) -> None:
        for name in (
            "invoked_seconds",
            "upload_seconds",
            "file_size",
            "audio_file_size",
            "empty_meeting_seconds",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.download_url_ttl <= 0:
            raise ValueError("download_url_ttl must be positive")


@dataclass(frozen=True)
class StoredFile:
    """A file a recording produces once uploaded. ``kind``: ``video``, ``audio`` or a track layer name."""

    kind: str
    size: int
    content_type: str
    in_bucket: bool


@dataclass(frozen=True)
class CompositeMedia:
    """The files of a composite recording made outside the API's start (seeded, or started by its meeting):
    a video, and an audio file unless ``audio`` is False. A size left None is the emulator's setting."""

    audio: bool = True
    file_size: int | None = None
    audio_file_size: int | None = None

    def check_sizes(self) -> None:
        """A ``ValueError`` naming the size that is not a whole number of bytes."""
        for name, size in (("file_size", self.file_size), ("audio_file_size", self.audio_file_size)):
            if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
                raise ValueError(f"{name} must be 0 or more bytes, not {size!r}")

    def audio_size(self, settings: Settings) -> int:
        return settings.audio_file_size if self.audio_file_size is None else self.audio_file_size

    def files(self, settings: Settings) -> list[StoredFile]:
        """The stored files, in RealtimeKit's bucket."""
        video_size = settings.file_size if self.file_size is None else self.file_size
        files = [StoredFile("video", video_size, "video/mp4", True)]
        if self.audio:
            files.append(StoredFile("audio", self.audio_size(settings), "audio/mp4", True))
        return files


@dataclass
class Meeting:
    id: str
    title: str
    created_at: float
    #: Whether the meeting starts a recording by itself when it begins (``record_on_start``).
    record_on_start: bool = False


@dataclass
class Recording:
    """Internal state of one recording (times in API seconds); its API view is rendered by ``views``."""

    id: str
    meeting_id: str
    output_file_name: str
    invoked_at: float
    max_seconds: float
    files: list[StoredFile]
    track: bool
    storage_config: dict[str, Any] | None
    extra: dict[str, Any]
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    start_reason: dict[str, Any] | None = field(default_factory=lambda: reason_object("API_CALL"))
    stop_reason: dict[str, Any] | None = None
    status: str = "INVOKED"
    since: float = 0.0
    recorded_before: float = 0.0
    started_at: float | None = None
    stopped_at: float | None = None
    uploaded_at: float | None = None
    #: When the recording stops because its meeting has been empty long enough (ALL_PEERS_LEFT).
    peers_left_at: float | None = None

    def __post_init__(self) -> None:
        self.since = self.invoked_at

    def recorded(self, now: float) -> float:
        """Recorded seconds so far; paused time does not count."""
        running = now - self.since if self.status == "RECORDING" else 0.0
        return self.recorded_before + running

    def is_expired(self, now: float) -> bool:
        """Whether its files have left RealtimeKit's bucket."""
        return self.uploaded_at is not None and now >= self.uploaded_at + BUCKET_RETENTION_SECONDS

    def file(self, kind: str) -> StoredFile:
        for stored in self.files:
            if stored.kind == kind:
                return stored
        raise KeyError(f"recording {self.id} has no {kind!r} file (it has {[f.kind for f in self.files]})")


class Lifecycle:
    """The transitions of a recording, timed by the emulator-wide :class:`Settings`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def settle(self, rec: Recording, now: float) -> None:
        """Replay every transition whose deadline is at or before ``now``."""
        while True:
            left = rec.peers_left_at
            if rec.status == "INVOKED":
                deadline = rec.since + self.settings.invoked_seconds
                if left is not None and left < deadline:
                    if left > now:
                        return
                    self._stop(rec, left, reason="ALL_PEERS_LEFT")  # everyone left before the bot joined
                    continue
                if deadline > now:
                    return
                rec.status, rec.since, rec.started_at = "RECORDING", deadline, deadline
            elif rec.status == "RECORDING":
                deadline = rec.since + rec.max_seconds - rec.recorded_before
                if left is not None and left < deadline:
                    if left > now:
                        return
                    self._stop(rec, left, reason="ALL_PEERS_LEFT")
                    continue
                if deadline > now:
                    return
                # The schema has no stop reason for reaching max_seconds, so none is reported.
                self._stop(rec, deadline, reason=None)
            elif rec.status == "PAUSED" and left is not None:
                if left > now:
                    return
                self._stop(rec, left, reason="ALL_PEERS_LEFT")
            elif rec.status == "UPLOADING":
                deadline = rec.since + self.settings.upload_seconds
                if deadline > now:
                    return
                rec.status, rec.since, rec.uploaded_at = "UPLOADED", deadline, deadline
            else:
                return

    def peers_left(self, rec: Recording, now: float) -> None:
        """The meeting of a settled recording became empty at ``now``: if active, it stops with
        ALL_PEERS_LEFT once the meeting has stayed empty ``empty_meeting_seconds`` (see :meth:`settle`)."""
        if rec.status in ACTIVE_STATUSES:
            at = now + self.settings.empty_meeting_seconds
            rec.peers_left_at = at if rec.peers_left_at is None else min(rec.peers_left_at, at)
            self.settle(rec, now)

    def act(self, rec: Recording, action: str, now: float) -> None:
        """``stop``, ``pause`` or ``resume`` a settled recording, or raise the API's 400.

        Stopping a recording that is no longer active (UPLOADING, UPLOADED, ERRORED) is a 400
        "Recording is not active": the API has no idempotent stop, and a client that retries a stop
        whose response was lost must treat this answer as "already stopped".
        """
        if action == "stop":
            if rec.status not in ACTIVE_STATUSES:
                raise bad_request(f"Recording is not active (status: {rec.status})")
            self._stop(rec, now, reason="API_CALL")
        elif action == "pause":
            if rec.status != "RECORDING":
                raise bad_request(f"Only a RECORDING recording can be paused (status: {rec.status})")
            rec.recorded_before = rec.recorded(now)
            rec.status, rec.since = "PAUSED", now
        else:
            if rec.status != "PAUSED":
                raise bad_request(f"Only a PAUSED recording can be resumed (status: {rec.status})")
            rec.status, rec.since = "RECORDING", now

    def _stop(self, rec: Recording, at: float, reason: str | None) -> None:
        rec.recorded_before = rec.recorded(at)
        rec.stopped_at = at
        rec.peers_left_at = None
        rec.stop_reason = reason_object(reason) if reason else None
        short = rec.recorded_before < SHORT_RECORDING_SECONDS
        rec.status = "ERRORED" if self.settings.error_on_short_recordings and short else "UPLOADING"
        rec.since = at

    def seeded_invoked_at(self, status: str, now: float) -> float:
        """When a recording seeded in ``status`` was invoked: now if INVOKED, otherwise early enough for
        ``SEEDED_DURATION_SECONDS`` of recording and a finished upload to end by now."""
        if status == "INVOKED":
            return now
        return now - self.settings.invoked_seconds - SEEDED_DURATION_SECONDS - self.settings.upload_seconds

    def seed_timeline(self, rec: Recording, status: str, now: float, stop_reason: str | None) -> None:
        """Fill in a consistent past for a recording seeded in ``status`` (not INVOKED)."""
        rec.started_at = rec.invoked_at + self.settings.invoked_seconds
        rec.status, rec.since = status, now
        if status in ACTIVE_STATUSES:
            return
        rec.recorded_before = SEEDED_DURATION_SECONDS
        rec.stopped_at = rec.started_at + SEEDED_DURATION_SECONDS
        default_reason = "INTERNAL_ERROR" if status == "ERRORED" else "API_CALL"
        rec.stop_reason = reason_object(stop_reason or default_reason)
        if status == "UPLOADED":
            rec.uploaded_at = rec.since = rec.stopped_at + self.settings.upload_seconds
        elif status == "ERRORED":
            rec.since = rec.stopped_at

    def force(self, rec: Recording, status: str, now: float, stop_reason: str | None) -> None:
        """Put a recording in ``status`` now, filling the timestamps that status implies."""
        self.settle(rec, now)
        rec.recorded_before = rec.recorded(now)
        rec.peers_left_at = None  # a forced status replaces any pending stop
        if status in ACTIVE_STATUSES:
            rec.stopped_at = rec.uploaded_at = None
            if status != "INVOKED" and rec.started_at is None:
                rec.started_at = now
        else:
            if rec.stopped_at is None:
                rec.stopped_at = now
            if status == "UPLOADED" and rec.uploaded_at is None:
                rec.uploaded_at = now
        if stop_reason is not None:
            rec.stop_reason = reason_object(stop_reason)
        rec.status, rec.since = status, now
