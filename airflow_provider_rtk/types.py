"""Typed shapes of what the RealtimeKit recordings API takes and returns.

``Recording`` is a ``TypedDict``: a plain ``dict`` at runtime, so it goes through XCom as is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, NotRequired, Required, TypedDict, get_args

__all__ = [
    "FINAL_STATUSES",
    "OPEN_STATUSES",
    "RECORDING_STATUSES",
    "STARTED_STATUSES",
    "STOPPED_STATUSES",
    "ListFilters",
    "Recording",
    "RecordingPage",
    "RecordingStatus",
    "StartOptions",
    "TrackDownload",
    "TrackFile",
]

#: A recording's lifecycle: INVOKED (its bot is joining) -> RECORDING <-> PAUSED -> UPLOADING -> UPLOADED,
#: or ERRORED from any of them. The one list of statuses: every status set below derives from it.
RecordingStatus = Literal["INVOKED", "RECORDING", "PAUSED", "UPLOADING", "UPLOADED", "ERRORED"]

RECORDING_STATUSES: Final[tuple[RecordingStatus, ...]] = get_args(RecordingStatus)
#: Statuses a recording never leaves.
FINAL_STATUSES: Final[tuple[RecordingStatus, ...]] = ("UPLOADED", "ERRORED")
#: Statuses a recording can still leave.
OPEN_STATUSES: Final[tuple[RecordingStatus, ...]] = tuple(
    s for s in RECORDING_STATUSES if s not in FINAL_STATUSES
)
#: Statuses of a recording whose bot has joined: it is, or was, recording.
STARTED_STATUSES: Final[tuple[RecordingStatus, ...]] = ("RECORDING", "PAUSED", "UPLOADING", "UPLOADED")
#: Statuses after which a stop has nothing left to do.
STOPPED_STATUSES: Final[tuple[RecordingStatus, ...]] = ("UPLOADING", "UPLOADED", "ERRORED")


class TrackFile(TypedDict):
    download_url: str


class TrackDownload(TypedDict):
    """One entry of a track recording's ``download_url`` list (one file per layer / participant)."""

    layer_name: str
    download_urls: dict[str, TrackFile]


class Recording(TypedDict, total=False):
    """A recording as the API describes it (snake_case fields, nullable where the API says so)."""

    id: Required[str]
    status: Required[RecordingStatus]
    output_file_name: Required[str]
    invoked_time: Required[str]
    download_url: str | list[TrackDownload] | None
    download_url_expiry: str | None
    audio_download_url: str | None
    file_size: int | float | None
    session_id: str | None
    started_time: str | None
    stopped_time: str | None
    recording_duration: NotRequired[int | float | None]
    start_reason: NotRequired[dict[str, Any] | None]
    stop_reason: NotRequired[dict[str, Any] | None]
    storage_config: NotRequired[dict[str, Any] | None]
    meeting: NotRequired[dict[str, Any] | None]


@dataclass(frozen=True)
class RecordingPage:
    """One page of ``GET recordings``: what ``RealtimeKitHook.alist_recordings_page`` returns."""

    recordings: list[Recording]
    total_count: int | None
    end_offset: int | None

    def is_last(self, per_page: int) -> bool:
        """Whether no page follows: by the paging offsets when given, else by a short page."""
        if not self.recordings:
            return True
        if self.total_count is not None and self.end_offset is not None:
            return self.end_offset >= self.total_count
        return len(self.recordings) < per_page


class StartOptions(TypedDict, total=False):
    """The body fields of ``POST recordings`` besides ``meeting_id``: ``start_recording``'s keywords.

    ``None`` means "not sent" (operators pass every field).
    """

    allow_multiple_recordings: bool | None
    audio_config: Mapping[str, Any] | None
    file_name_prefix: str | None
    interactive_config: Mapping[str, Any] | None
    max_seconds: int | None
    realtimekit_bucket_config: Mapping[str, Any] | None
    rtmp_out_config: Mapping[str, Any] | None
    storage_config: Mapping[str, Any] | None
    url: str | None
    video_config: Mapping[str, Any] | None


class ListFilters(TypedDict, total=False):
    """The filters of ``GET recordings`` (``page_no`` is the pager's own); ``None`` means "no filter"."""

    meeting_id: str | None
    status: str | Iterable[str] | None
    start_time: datetime | str | None
    end_time: datetime | str | None
    expired: bool | None
    search: str | None
    sort_by: str | None
    sort_order: str | None
    per_page: int | None
