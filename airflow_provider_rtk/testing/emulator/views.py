"""The API's JSON views of recordings and meetings, rendered from the store's internal state."""

from __future__ import annotations

import math
from typing import Any, Literal

from airflow_provider_rtk.testing.emulator.clock import Clock, iso
from airflow_provider_rtk.testing.emulator.lifecycle import Meeting, Recording
from airflow_provider_rtk.testing.emulator.presign import UrlSigner
from airflow_provider_rtk.testing.emulator.validation import public_storage_config

#: ``full``: get/start/act answers; ``list``: list items (with the meeting); ``active``: active-recording.
ViewShape = Literal["full", "list", "active"]


class Views:
    """Renders a settled recording as the API shows it, issuing fresh download URLs once UPLOADED."""

    def __init__(self, clock: Clock, signer: UrlSigner) -> None:
        self.clock = clock
        self.signer = signer

    def recording(
        self, rec: Recording, meeting: Meeting, now: float, file_base: str, shape: ViewShape = "full"
    ) -> dict[str, Any]:
        download_url, audio_download_url, expiry = self._urls(rec, now, file_base)
        view: dict[str, Any] = {
            "id": rec.id,
            "audio_download_url": audio_download_url,
            "download_url": download_url,
            "download_url_expiry": expiry,
            "file_size": _file_size(rec),
            "invoked_time": self._moment(rec.invoked_at),
            "output_file_name": rec.output_file_name,
            "session_id": rec.session_id,
            "started_time": self._moment(rec.started_at),
            "status": rec.status,
            "stopped_time": self._moment(rec.stopped_at),
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
            view["meeting"] = self.meeting(meeting)
        view.update(rec.extra)
        return view

    def meeting(self, meeting: Meeting) -> dict[str, Any]:
        created = iso(self.clock.to_datetime(meeting.created_at))
        return {
            "id": meeting.id,
            "created_at": created,
            "updated_at": created,
            "title": meeting.title,
            "status": "ACTIVE",
            "record_on_start": meeting.record_on_start,
            "live_stream_on_start": False,
            "persist_chat": False,
            "summarize_on_end": False,
            "session_keep_alive_time_in_secs": 60,
        }

    def _moment(self, api_seconds: float | None) -> str | None:
        return None if api_seconds is None else iso(self.clock.to_datetime(api_seconds))

    def _urls(self, rec: Recording, now: float, file_base: str) -> tuple[Any, str | None, str | None]:
        """``(download_url, audio_download_url, download_url_expiry)`` - all None until UPLOADED."""
        if rec.status != "UPLOADED" or rec.is_expired(now):
            return None, None, None
        issued = math.floor(now)  # whole seconds, like X-Amz-Date
        urls = {
            f.kind: self.signer.presign(rec.id, f.kind, file_base, issued) for f in rec.files if f.in_bucket
        }
        if not urls:
            return None, None, None
        expiry = iso(self.clock.to_datetime(issued + self.signer.ttl))
        if rec.track:
            layers = [
                {"layer_name": kind, "download_urls": {"file": {"download_url": url}}}
                for kind, url in urls.items()
            ]
            return layers, None, expiry
        return urls.get("video"), urls.get("audio"), expiry


def _file_size(rec: Recording) -> int | None:
    if rec.status != "UPLOADED" or not rec.files:
        return None
    return sum(f.size for f in rec.files) if rec.track else rec.files[0].size
