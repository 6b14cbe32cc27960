"""Typed shapes of what the RealtimeKit recordings API returns.

``Recording`` is a ``TypedDict``: a plain ``dict`` at runtime, so it goes through XCom as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, NotRequired, Required, TypedDict, get_args

__all__ = [
    "FINAL_STATUSES",
    "OPEN_STATUSES",
    "RECORDING_STATUSES",
    "STARTED_STATUSES",
    "STOPPED_STATUSES",
    "Recording",
    "RecordingPage",
    "RecordingStatus",
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
