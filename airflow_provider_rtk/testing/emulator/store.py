"""The recordings and meetings of the emulated app, behind one lock: the API operations and test seeding.

The store keeps state and enforces the per-meeting rules; transitions are :mod:`lifecycle`'s, views are
:mod:`views`' and presigned URLs :mod:`presign`'s.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from typing import Any

from airflow_provider_rtk.testing.emulator.clock import Clock
from airflow_provider_rtk.testing.emulator.content import content_etag, content_seed, content_sha256
from airflow_provider_rtk.testing.emulator.errors import ApiError
from airflow_provider_rtk.testing.emulator.files import FileGrant
from airflow_provider_rtk.testing.emulator.lifecycle import (
    ACTIVE_STATUSES,
    CompositeMedia,
    Lifecycle,
    Meeting,
    Recording,
    Settings,
    StoredFile,
    check_status,
    reason_object,
)
from airflow_provider_rtk.testing.emulator.presign import UrlSigner
from airflow_provider_rtk.testing.emulator.responses import FileError
from airflow_provider_rtk.testing.emulator.validation import (
    MAX_SECONDS_RANGE,
    ListParams,
    StartParams,
    TrackParams,
    is_uuid,
)
from airflow_provider_rtk.testing.emulator.views import Views, ViewShape


class RecordingStore:
    """All recordings of the emulated app. ``file_base`` arguments are the origin download URLs point at."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.lock = threading.RLock()
        self.lifecycle = Lifecycle(settings)
        self.signer = UrlSigner(clock, settings.download_url_ttl)
        self.views = Views(clock, self.signer)
        self._recordings: dict[str, Recording] = {}
        self._meetings: dict[str, Meeting] = {}

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
            return self._add(rec, now, file_base)

    def start_track(self, params: TrackParams, file_base: str) -> dict[str, Any]:
        """``POST .../recordings/track``: one WebM file per layer (or per user id)."""
        with self.lock:
            now = self.clock.now()
            recording_id = str(uuid.uuid4())
            size = self.settings.audio_file_size
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
            return self._add(rec, now, file_base)

    def get(self, recording_id: str, file_base: str) -> dict[str, Any]:
        """``GET .../recordings/{id}``: issues fresh download URLs on every call."""
        with self.lock:
            return self._render(self._get(recording_id), self.clock.now(), file_base)

    def act(self, recording_id: str, action: str, file_base: str) -> dict[str, Any]:
        """``PUT .../recordings/{id}``: stop, pause or resume."""
        with self.lock:
            now = self.clock.now()
            rec = self._get(recording_id)
            self.lifecycle.settle(rec, now)
            self.lifecycle.act(rec, action, now)
            return self._render(rec, now, file_base)

    def active(self, meeting_id: str, file_base: str) -> dict[str, Any]:
        """``GET .../recordings/active-recording/{meeting_id}``: the latest INVOKED/RECORDING/PAUSED one."""
        with self.lock:
            now = self.clock.now()
            active = self._active_in(meeting_id, now)
            if not active:
                raise ApiError(404, f"No active recording found for meeting {meeting_id}")
            latest = max(active, key=lambda rec: rec.invoked_at)
            return self._render(latest, now, file_base, shape="active")

    def list_recordings(
        self, params: ListParams, file_base: str
    ) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """``GET .../recordings``: filtered, sorted by invoked time, paged (1-based offsets, 0/0 if empty)."""
        with self.lock:
            now = self.clock.now()
            selected = []
            for rec in self._recordings.values():
                self.lifecycle.settle(rec, now)
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
            return [self._render(rec, now, file_base, shape="list") for rec in page], paging

    def open_file(self, recording_id: str, kind: str, query: dict[str, list[str]]) -> FileGrant:
        """Check a presigned URL like S3 would (signature, then expiry, then key) and describe the file."""
        with self.lock:
            now = self.clock.now()
            self.signer.check(recording_id, kind, query, now)
            missing = FileError(404, "NoSuchKey", "The specified key does not exist.")
            rec = self._recordings.get(recording_id)
            if rec is None:
                raise missing
            self.lifecycle.settle(rec, now)
            if rec.status != "UPLOADED" or rec.uploaded_at is None or rec.is_expired(now):
                raise missing
            try:
                file = rec.file(kind)
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

    # Test controls

    def seed(
        self,
        *,
        meeting_id: str | None,
        status: str,
        invoked_time: datetime | None,
        media: CompositeMedia,
        track_layers: list[str] | None,
        stop_reason: str | None,
        meeting_title: str | None,
        extra: dict[str, Any],
        file_base: str,
    ) -> dict[str, Any]:
        """Create a recording directly in ``status`` with a consistent timeline.

        Stopped recordings get ``SEEDED_DURATION_SECONDS`` of recorded time ending before now (unless
        ``invoked_time`` says otherwise); active ones start their clocks now and then follow the lifecycle.
        A track recording (``track_layers``) gets one audio file per layer, of ``media``'s audio size.
        """
        check_status(status)
        if meeting_id is not None and not is_uuid(meeting_id):
            raise ValueError(f"meeting_id must be a UUID, as the API's are, not {meeting_id!r}")
        with self.lock:
            now = self.clock.now()
            settings = self.settings
            recording_id = str(uuid.uuid4())
            if invoked_time is not None:
                invoked_at = self.clock.from_datetime(invoked_time)
            else:
                invoked_at = self.lifecycle.seeded_invoked_at(status, now)
            if track_layers is not None:
                audio_size = media.audio_size(settings)
                files = [StoredFile(layer, audio_size, "audio/webm", True) for layer in track_layers]
                name = f"track_{recording_id}.webm"
            else:
                files = media.files(settings)
                name = f"rec_{recording_id}.mp4"
            rec = Recording(
                id=recording_id,
                meeting_id=meeting_id or str(uuid.uuid4()),
                output_file_name=name,
                invoked_at=invoked_at,
                max_seconds=86400,
                files=files,
                track=track_layers is not None,
                storage_config=None,
                extra=dict(extra),
            )
            self._recordings[rec.id] = rec
            self._register_meeting(rec.meeting_id, invoked_at, meeting_title)
            if status != "INVOKED":
                self.lifecycle.seed_timeline(rec, status, now, stop_reason)
            return self._render(rec, now, file_base)

    def start_meeting_recording(
        self,
        *,
        meeting_id: str,
        media: CompositeMedia,
        max_seconds: int,
        meeting_title: str | None,
        file_base: str,
    ) -> dict[str, Any]:
        """A recording the meeting starts by itself (``record_on_start``): INVOKED now, then the lifecycle.

        Its ``start_reason`` is ``{"reason": "RECORD_ON_START"}`` (no caller, as the API documents). Like the
        API, a meeting has one active recording: a second one while the first is active is refused.
        """
        if not isinstance(meeting_id, str) or not is_uuid(meeting_id):
            raise ValueError(f"meeting_id must be a UUID, as the API's are, not {meeting_id!r}")
        low, high = MAX_SECONDS_RANGE
        if (
            isinstance(max_seconds, bool)
            or not isinstance(max_seconds, int)
            or not low <= max_seconds <= high
        ):
            raise ValueError(f"max_seconds must be a whole number from {low} to {high}, not {max_seconds!r}")
        media.check_sizes()
        with self.lock:
            now = self.clock.now()
            if self._active_in(meeting_id, now):
                raise ValueError(f"meeting {meeting_id} already has an active recording")
            recording_id = str(uuid.uuid4())
            rec = Recording(
                id=recording_id,
                meeting_id=meeting_id,
                output_file_name=f"rec_{recording_id}.mp4",
                invoked_at=now,
                max_seconds=max_seconds,
                files=media.files(self.settings),
                track=False,
                storage_config=None,
                extra={},
                start_reason=reason_object("RECORD_ON_START"),
            )
            self._recordings[rec.id] = rec
            self._register_meeting(meeting_id, now, meeting_title)
            self._meetings[meeting_id].record_on_start = True
            return self._render(rec, now, file_base)

    def end_meeting(self, meeting_id: str, file_base: str) -> list[dict[str, Any]]:
        """Every participant left ``meeting_id`` now: its active recordings (track ones too) stop with
        ALL_PEERS_LEFT once it has stayed empty ``empty_meeting_seconds``. Returns their views now;
        a ``KeyError`` for a meeting the emulator has never seen."""
        with self.lock:
            if meeting_id not in self._meetings:
                raise KeyError(f"No meeting {meeting_id}")
            now = self.clock.now()
            ended = []
            for rec in self._recordings.values():
                if rec.meeting_id == meeting_id:
                    self.lifecycle.settle(rec, now)
                    if rec.status in ACTIVE_STATUSES:
                        self.lifecycle.peers_left(rec, now)
                        ended.append(rec)
            return [self._render(rec, now, file_base) for rec in ended]

    def force_status(self, recording_id: str, status: str, stop_reason: str | None) -> None:
        """Put a recording in ``status`` now, filling the timestamps that status implies."""
        check_status(status)
        with self.lock:
            self.lifecycle.force(self._recordings[recording_id], status, self.clock.now(), stop_reason)

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.clock.advance(seconds)

    def expected_sha256(self, recording_id: str, kind: str) -> str:
        with self.lock:
            file = self._recordings[recording_id].file(kind)
        return content_sha256(content_seed(recording_id, kind), file.size)

    # Helpers

    def _add(self, rec: Recording, now: float, file_base: str) -> dict[str, Any]:
        self._recordings[rec.id] = rec
        self._register_meeting(rec.meeting_id, now)
        return self._render(rec, now, file_base)

    def _render(
        self, rec: Recording, now: float, file_base: str, shape: ViewShape = "full"
    ) -> dict[str, Any]:
        self.lifecycle.settle(rec, now)
        return self.views.recording(rec, self._meetings[rec.meeting_id], now, file_base, shape)

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
                self.lifecycle.settle(rec, now)
                if rec.status in ACTIVE_STATUSES:
                    found.append(rec)
        return found

    def _selected(self, rec: Recording, params: ListParams, now: float) -> bool:
        if params.meeting_id is not None and rec.meeting_id != params.meeting_id:
            return False
        if params.statuses is not None and rec.status not in params.statuses:
            return False
        if params.expired is not None and rec.is_expired(now) != params.expired:
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
