"""The recordings store and their time-driven lifecycle.

No background threads: every read first "settles" a recording, replaying the transitions whose deadline
has passed on the emulator clock (INVOKED -> RECORDING -> UPLOADING -> UPLOADED, with the automatic stop
at ``max_seconds`` of recorded - not paused - time). Each transition happens at its exact deadline, not
at the time of the read, so timestamps and durations do not depend on how often a client polls.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from airflow_provider_rtk.testing.emulator.content import content_etag, content_seed, content_sha256
from airflow_provider_rtk.testing.emulator.errors import ApiError, bad_request
from airflow_provider_rtk.testing.emulator.files import FileGrant
from airflow_provider_rtk.testing.emulator.responses import FileError
from airflow_provider_rtk.testing.emulator.validation import (
    ListParams,
    StartParams,
    TrackParams,
    public_storage_config,
)
from airflow_provider_rtk.types import ACTIVE_STATUSES

STATUSES = ("INVOKED", "RECORDING", "UPLOADING", "UPLOADED", "ERRORED", "PAUSED")
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
_AMZ_DATE = "%Y%m%dT%H%M%SZ"

ViewShape = Literal["full", "list", "active"]


def iso(moment: datetime) -> str:
    """The API's timestamp format: UTC, milliseconds, ``Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def reason_object(reason: str) -> dict[str, Any]:
    """A start/stop reason; only an API call names its caller."""
    if reason == "API_CALL":
        return {"caller": dict(CALLER), "reason": reason}
    return {"reason": reason}


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


@dataclass(frozen=True)
class Settings:
    """Emulator-wide lifecycle and file settings (durations in API seconds)."""

    invoked_seconds: float
    upload_seconds: float
    file_size: int
    audio_file_size: int
    download_url_ttl: int
    error_on_short_recordings: bool


@dataclass(frozen=True)
class StoredFile:
    """A file a recording produces once uploaded. ``kind``: ``video``, ``audio`` or a track layer name."""

    kind: str
    size: int
    content_type: str
    in_bucket: bool


@dataclass
class Meeting:
    id: str
    title: str
    created_at: float


@dataclass
class Recording:
    """Internal state of one recording; the API view is rendered from it by the store."""

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

    def recorded(self, now: float) -> float:
        """Recorded seconds so far; paused time does not count."""
        running = now - self.since if self.status == "RECORDING" else 0.0
        return self.recorded_before + running


class RecordingStore:
    """All recordings of the emulated app, behind one lock."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.lock = threading.RLock()
        self._recordings: dict[str, Recording] = {}
        self._meetings: dict[str, Meeting] = {}
        self._url_key = secrets.token_bytes(32)

    # Lifecycle

    def _settle(self, rec: Recording, now: float) -> None:
        while True:
            if rec.status == "INVOKED":
                deadline = rec.since + self.settings.invoked_seconds
                if deadline > now:
                    return
                rec.status, rec.since, rec.started_at = "RECORDING", deadline, deadline
            elif rec.status == "RECORDING":
                deadline = rec.since + rec.max_seconds - rec.recorded_before
                if deadline > now:
                    return
                # The schema has no stop reason for reaching max_seconds, so none is reported.
                self._stop(rec, deadline, reason=None)
            elif rec.status == "UPLOADING":
                deadline = rec.since + self.settings.upload_seconds
                if deadline > now:
                    return
                rec.status, rec.since, rec.uploaded_at = "UPLOADED", deadline, deadline
            else:
                return

    def _stop(self, rec: Recording, at: float, reason: str | None) -> None:
        rec.recorded_before = rec.recorded(at)
        rec.stopped_at = at
        rec.stop_reason = reason_object(reason) if reason else None
        short = rec.recorded_before < SHORT_RECORDING_SECONDS
        rec.status = "ERRORED" if self.settings.error_on_short_recordings and short else "UPLOADING"
        rec.since = at

    def _is_expired(self, rec: Recording, now: float) -> bool:
        return rec.uploaded_at is not None and now >= rec.uploaded_at + BUCKET_RETENTION_SECONDS

    # Rendering

    def _presign(self, rec: Recording, kind: str, file_base: str, issued: int) -> str:
        """An S3-style presigned URL, valid ``download_url_ttl`` API seconds from ``issued``."""
        amz_date = self.clock.to_datetime(issued).strftime(_AMZ_DATE)
        ttl = self.settings.download_url_ttl
        signature = self._signature(rec.id, kind, amz_date, str(ttl))
        return (
            f"{file_base}/_files/{rec.id}/{quote(kind, safe='')}?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Date={amz_date}&X-Amz-Expires={ttl}&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}"
        )

    def _signature(self, recording_id: str, kind: str, amz_date: str, expires: str) -> str:
        message = f"{recording_id}\n{kind}\n{amz_date}\n{expires}".encode()
        return hmac.new(self._url_key, message, hashlib.sha256).hexdigest()

    def _urls(self, rec: Recording, now: float, file_base: str) -> tuple[Any, str | None, str | None]:
        """``(download_url, audio_download_url, download_url_expiry)`` - all None until UPLOADED."""
        if rec.status != "UPLOADED" or self._is_expired(rec, now):
            return None, None, None
        issued = math.floor(now)  # whole seconds, like X-Amz-Date
        urls = {f.kind: self._presign(rec, f.kind, file_base, issued) for f in rec.files if f.in_bucket}
        if not urls:
            return None, None, None
        expiry = iso(self.clock.to_datetime(issued + self.settings.download_url_ttl))
        if rec.track:
            layers = [
                {"layer_name": kind, "download_urls": {"file": {"download_url": url}}}
                for kind, url in urls.items()
            ]
            return layers, None, expiry
        return urls.get("video"), urls.get("audio"), expiry

    def _file_size(self, rec: Recording) -> int | None:
        if rec.status != "UPLOADED" or not rec.files:
            return None
        return sum(f.size for f in rec.files) if rec.track else rec.files[0].size

    def _view(self, rec: Recording, now: float, file_base: str, shape: ViewShape = "full") -> dict[str, Any]:
        self._settle(rec, now)
        download_url, audio_download_url, expiry = self._urls(rec, now, file_base)

        def moment(api_seconds: float | None) -> str | None:
            return None if api_seconds is None else iso(self.clock.to_datetime(api_seconds))

        view: dict[str, Any] = {
            "id": rec.id,
            "audio_download_url": audio_download_url,
            "download_url": download_url,
            "download_url_expiry": expiry,
            "file_size": self._file_size(rec),
            "invoked_time": moment(rec.invoked_at),
            "output_file_name": rec.output_file_name,
            "session_id": rec.session_id,
            "started_time": moment(rec.started_at),
            "status": rec.status,
            "stopped_time": moment(rec.stopped_at),
            "recording_duration": round(rec.recorded(now)),
        }
        if shape == "full":
            if rec.start_reason is not None:
                view["start_reason"] = rec.start_reason
            if rec.stop_reason is not None:
                view["stop_reason"] = rec.stop_reason
        if shape in ("full", "list"):
            view["storage_config"] = public_storage_config(rec.storage_config)
        if shape == "list":
            view["meeting"] = self._meeting_view(self._meetings[rec.meeting_id])
        view.update(rec.extra)
        return view

    def _meeting_view(self, meeting: Meeting) -> dict[str, Any]:
        created = iso(self.clock.to_datetime(meeting.created_at))
        return {
            "id": meeting.id,
            "created_at": created,
            "updated_at": created,
            "title": meeting.title,
            "status": "ACTIVE",
            "record_on_start": False,
            "live_stream_on_start": False,
            "persist_chat": False,
            "summarize_on_end": False,
            "session_keep_alive_time_in_secs": 60,
        }

    # Helpers

    def _register_meeting(self, meeting_id: str, at: float, title: str | None = None) -> None:
        meeting = self._meetings.get(meeting_id)
        if meeting is None:
            self._meetings[meeting_id] = Meeting(
                meeting_id, title or f"Emulated meeting {meeting_id[:8]}", at
            )
        elif title is not None:
            meeting.title = title

    def _get(self, recording_id: str) -> Recording:
        rec = self._recordings.get(recording_id)
        if rec is None:
            raise ApiError(404, f"Recording not found: {recording_id}")
        return rec

    def _active_in(self, meeting_id: str, now: float) -> list[Recording]:
        found = []
        for rec in self._recordings.values():
            if rec.meeting_id == meeting_id and not rec.track:
                self._settle(rec, now)
                if rec.status in ACTIVE_STATUSES:
                    found.append(rec)
        return found

    def _add(self, rec: Recording) -> None:
        rec.since = rec.invoked_at
        self._recordings[rec.id] = rec

    # API operations

    def start(self, params: StartParams, file_base: str) -> dict[str, Any]:
        """``POST .../recordings``: one active recording per meeting unless multiple are allowed."""
        with self.lock:
            now = self.clock.now()
            meeting_id = params.meeting_id or str(uuid.uuid4())
            if not params.allow_multiple and self._active_in(meeting_id, now):
                raise ApiError(409, f"Recording already in progress for meeting {meeting_id}")
            recording_id = str(uuid.uuid4())
            files = []
            if params.video_file:
                files.append(StoredFile("video", self.settings.file_size, "video/mp4", params.bucket))
            if params.audio_file:
                files.append(StoredFile("audio", self.settings.audio_file_size, "audio/mp4", params.bucket))
            rec = Recording(
                id=recording_id,
                meeting_id=meeting_id,
                output_file_name=f"{params.file_name_prefix or 'rec'}_{recording_id}.mp4",
                invoked_at=now,
                max_seconds=params.max_seconds,
                files=files,
                track=False,
                storage_config=params.storage_config,
                extra={},
            )
            self._register_meeting(meeting_id, now)
            self._add(rec)
            return self._view(rec, now, file_base)

    def start_track(self, params: TrackParams, file_base: str) -> dict[str, Any]:
        """``POST .../recordings/track``: one WebM file per layer (or per user id)."""
        with self.lock:
            now = self.clock.now()
            recording_id = str(uuid.uuid4())
            size = self.settings.audio_file_size
            [StoredFile(layer.name, size, "audio/webm", layer.in_bucket) for layer in params.layers]
            rec = Recording(
                id=recording_id,
                meeting_id=params.meeting_id,
                output_file_name=f"{params.file_name_prefix or 'track'}_{recording_id}.webm",
                invoked_at=now,
                max_seconds=params.max_seconds,
                files=[
                    StoredFile(layer.name, size, "audio/webm", layer.in_bucket) for layer in params.layers
                ],
                track=True,
                storage_config=None,
                extra={},
            )
            self._register_meeting(params.meeting_id, now)
            self._add(rec)
            return self._view(rec, now, file_base)

    def get(self, recording_id: str, file_base: str) -> dict[str, Any]:
        """``GET .../recordings/{id}``: issues fresh download URLs on every call."""
        with self.lock:
            return self._view(self._get(recording_id), self.clock.now(), file_base)

    def act(self, recording_id: str, action: str, file_base: str) -> dict[str, Any]:
        """``PUT .../recordings/{id}``: stop, pause or resume.

        Stopping a recording that is no longer active (UPLOADING, UPLOADED, ERRORED) is a 400
        "Recording is not active": the API has no idempotent stop, and a client that retries a stop
        whose response was lost must treat this answer as "already stopped".
        """
        with self.lock:
            now = self.clock.now()
            rec = self._get(recording_id)
            self._settle(rec, now)
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
            return self._view(rec, now, file_base)

    def active(self, meeting_id: str, file_base: str) -> dict[str, Any]:
        """``GET .../recordings/active-recording/{meeting_id}``: the latest INVOKED/RECORDING/PAUSED one."""
        with self.lock:
            now = self.clock.now()
            active = self._active_in(meeting_id, now)
            if not active:
                raise ApiError(404, f"No active recording found for meeting {meeting_id}")
            latest = max(active, key=lambda rec: rec.invoked_at)
            return self._view(latest, now, file_base, shape="active")

    def list_recordings(
        self, params: ListParams, file_base: str
    ) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """``GET .../recordings``: filtered, sorted by invoked time, paged (1-based offsets, 0/0 if empty)."""
        with self.lock:
            now = self.clock.now()
            selected = []
            for rec in self._recordings.values():
                self._settle(rec, now)
                if self._selected(rec, params, now):
                    selected.append(rec)
            selected.sort(key=lambda rec: rec.invoked_at, reverse=not params.ascending)
            first = (params.page_no - 1) * params.per_page
            page = selected[first : first + params.per_page]
            paging = {
                "start_offset": first + 1 if page else 0,
                "end_offset": first + len(page) if page else 0,
                "total_count": len(selected),
            }
            return [self._view(rec, now, file_base, shape="list") for rec in page], paging

    def _selected(self, rec: Recording, params: ListParams, now: float) -> bool:
        if params.meeting_id is not None and rec.meeting_id != params.meeting_id:
            return False
        if params.statuses is not None and rec.status not in params.statuses:
            return False
        if params.expired is not None and self._is_expired(rec, now) != params.expired:
            return False
        if params.search is not None:
            needle = params.search.lower()
            title = self._meetings[rec.meeting_id].title.lower()
            if needle not in rec.meeting_id.lower() and needle not in title:
                return False
        invoked = self.clock.to_datetime(rec.invoked_at)
        if params.start_time is not None and invoked < params.start_time:
            return False
        return params.end_time is None or invoked <= params.end_time

    # Test controls

    def seed(
        self,
        *,
        meeting_id: str | None,
        status: str,
        invoked_time: datetime | None,
        file_size: int | None,
        audio_file_size: int | None,
        audio: bool,
        track_layers: list[str] | None,
        stop_reason: str | None,
        meeting_title: str | None,
        extra: dict[str, Any],
        file_base: str,
    ) -> dict[str, Any]:
        """Create a recording directly in ``status`` with a consistent timeline.

        Stopped recordings get ``SEEDED_DURATION_SECONDS`` of recorded time ending before now (unless
        ``invoked_time`` says otherwise); active ones start their clocks now and then follow the lifecycle.
        """
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        with self.lock:
            now = self.clock.now()
            settings = self.settings
            recording_id = str(uuid.uuid4())
            meeting_id = meeting_id or str(uuid.uuid4())
            if invoked_time is not None:
                invoked_at = self.clock.from_datetime(invoked_time)
            elif status == "INVOKED":
                invoked_at = now
            else:
                invoked_at = (
                    now - settings.invoked_seconds - SEEDED_DURATION_SECONDS - settings.upload_seconds
                )
            audio_size = settings.audio_file_size if audio_file_size is None else audio_file_size
            if track_layers is not None:
                files = [StoredFile(layer, audio_size, "audio/webm", True) for layer in track_layers]
                name = f"track_{recording_id}.webm"
            else:
                files = [
                    StoredFile(
                        "video", settings.file_size if file_size is None else file_size, "video/mp4", True
                    )
                ]
                if audio:
                    files.append(StoredFile("audio", audio_size, "audio/mp4", True))
                name = f"rec_{recording_id}.mp4"
            rec = Recording(
                id=recording_id,
                meeting_id=meeting_id,
                output_file_name=name,
                invoked_at=invoked_at,
                max_seconds=86400,
                files=files,
                track=track_layers is not None,
                storage_config=None,
                extra=dict(extra),
            )
            self._add(rec)
            self._register_meeting(meeting_id, invoked_at, meeting_title)
            if status != "INVOKED":
                self._seed_timeline(rec, status, now, stop_reason)
            return self._view(rec, now, file_base)

    def _seed_timeline(self, rec: Recording, status: str, now: float, stop_reason: str | None) -> None:
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

    def force_status(self, recording_id: str, status: str, stop_reason: str | None) -> None:
        """Put a recording in ``status`` now, filling the timestamps that status implies."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        with self.lock:
            now = self.clock.now()
            rec = self._recordings[recording_id]
            self._settle(rec, now)
            rec.recorded_before = rec.recorded(now)
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

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.clock.advance(seconds)

    def expected_sha256(self, recording_id: str, kind: str) -> str:
        with self.lock:
            file = self._file(self._recordings[recording_id], kind)
        return content_sha256(content_seed(recording_id, kind), file.size)

    @staticmethod
    def _file(rec: Recording, kind: str) -> StoredFile:
        for file in rec.files:
            if file.kind == kind:
                return file
        raise KeyError(f"recording {rec.id} has no {kind!r} file (it has {[f.kind for f in rec.files]})")

    def open_file(self, recording_id: str, kind: str, query: dict[str, list[str]]) -> FileGrant:
        """Check a presigned URL like S3 would (signature, then expiry, then key) and describe the file."""
        params = {key: values[-1] for key, values in query.items() if values}
        signature = params.get("X-Amz-Signature")
        amz_date = params.get("X-Amz-Date")
        expires = params.get("X-Amz-Expires")
        if signature is None or amz_date is None or expires is None:
            raise FileError(
                403,
                "AccessDenied",
                "Query-string authentication requires the X-Amz-Signature, X-Amz-Date and X-Amz-Expires "
                "parameters",
            )
        if not hmac.compare_digest(signature, self._signature(recording_id, kind, amz_date, expires)):
            raise FileError(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        issued = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=UTC)
        with self.lock:
            now = self.clock.now()
            if now >= self.clock.from_datetime(issued) + int(expires):
                raise FileError(403, "AccessDenied", "Request has expired")
            missing = FileError(404, "NoSuchKey", "The specified key does not exist.")
            rec = self._recordings.get(recording_id)
            if rec is None:
                raise missing
            self._settle(rec, now)
            if rec.status != "UPLOADED" or rec.uploaded_at is None or self._is_expired(rec, now):
                raise missing
            try:
                file = self._file(rec, kind)
            except KeyError:
                raise missing from None
            seed = content_seed(recording_id, kind)
            return FileGrant(
                seed=seed,
                size=file.size,
                content_type=file.content_type,
                etag=content_etag(seed, file.size),
                last_modified=self.clock.to_datetime(rec.uploaded_at),
            )
