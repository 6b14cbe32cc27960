"""The download operator's engine: plan a recording's files, stream each one to a temporary object beside
its target (``_destination``), verify it, then give it the target's name. Loaded when the task runs, not
when a DAG file is parsed; it imports no HTTP client and no retry library at load time either.

Naming (``base`` is the recording's ``output_file_name`` for a folder destination, or the destination's
own name for a file destination; ``stem`` is ``base`` without its extension):

* video (``download_url`` is a string): ``base``;
* audio (``audio_download_url``): ``<stem>.audio<ext>``;
* track recordings (``download_url`` is a list): one ``<stem>.<layer><ext>`` per layer;
* temporary objects: ``.<name>.partial-<token>`` in the same directory, ``token`` identifying the try;
  those of earlier tries (a killed worker) are deleted before a file is downloaded again.

``ext`` is the extension of the presigned URL's path when it has one, else ``.m4a`` (audio) or ``.webm``
(tracks, which the API documents as WebM). Layer names are reduced to ``[A-Za-z0-9._-]``.
"""

from __future__ import annotations

import logging
import posixpath
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote, urlsplit

from airflow_provider_rtk._core.redact import mask_download_urls
from airflow_provider_rtk._core.timestamps import parse_api_time
from airflow_provider_rtk.exceptions import (
    RealtimeKitApiError,
    RealtimeKitAuthError,
    RealtimeKitDownloadError,
    RealtimeKitError,
    RealtimeKitRecordingStateError,
)
from airflow_provider_rtk.operators._destination import Destination, TempFile
from airflow_provider_rtk.types import Recording

if TYPE_CHECKING:
    import requests

    from airflow_provider_rtk._core.retry import RetryPolicy
    from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook

log = logging.getLogger(__name__)

#: A URL this close to its ``download_url_expiry`` is refreshed before a request is sent with it.
EXPIRY_MARGIN: Final = timedelta(seconds=30)
#: Refreshes (a new ``get_recording``) allowed per file after the storage answered 403.
MAX_REFRESHES: Final = 3
PROGRESS_EVERY_SECONDS: Final = 30.0


@dataclass(frozen=True)
class RecordingFile:
    """One file of a recording: ``key`` finds its URL in a (refreshed) recording; ``size`` is the API's."""

    key: str
    label: str
    name: str
    size: int | None


# -- planning --------------------------------------------------------------------------------------------

#: What a track layer's name keeps in a file name; every other run of characters becomes ``_``.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def check_downloadable(recording: Mapping[str, Any]) -> None:
    """Raise unless the recording is UPLOADED: this operator does not wait (the sensor does)."""
    status = recording.get("status")
    if status == "UPLOADED":
        return
    recording_id = recording.get("id")
    if status == "ERRORED":
        reason = (recording.get("stop_reason") or {}).get("reason") or "not given"
        raise RealtimeKitRecordingStateError(
            f"recording {recording_id} is ERRORED (stop reason: {reason}): RealtimeKit produced no file "
            "to download"
        )
    raise RealtimeKitRecordingStateError(
        f"recording {recording_id} is {status}, not UPLOADED: its file is not available yet. Wait for "
        "UPLOADED first (RealtimeKitRecordingSensor), then download"
    )


def file_urls(recording: Mapping[str, Any]) -> dict[str, str]:
    """Each file's presigned URL by ``RecordingFile.key``."""
    urls: dict[str, str] = {}
    video = recording.get("download_url")
    if isinstance(video, str):
        urls["video"] = video
    elif isinstance(video, list):
        for entry in video:
            url = ((entry.get("download_urls") or {}).get("file") or {}).get("download_url")
            if isinstance(url, str):
                urls[f"track:{entry.get('layer_name')}"] = url
    audio = recording.get("audio_download_url")
    if isinstance(audio, str):
        urls["audio"] = audio
    return urls


def _url_suffix(url: str, default: str) -> str:
    return posixpath.splitext(unquote(urlsplit(url).path))[1] or default


def plan_files(recording: Mapping[str, Any], base: str, *, include_audio: bool) -> list[RecordingFile]:
    """The files to archive and their names (see the module docstring).

    A recording whose URLs are gone (after RealtimeKit's 7 days) still plans its video file, so a re-run
    can skip what is already archived.
    """
    stem = posixpath.splitext(base)[0] or base
    urls = file_urls(recording)
    files: list[RecordingFile] = []
    video = recording.get("download_url")
    if isinstance(video, list):
        for entry in video:
            layer = str(entry.get("layer_name"))
            url = urls.get(f"track:{layer}")
            if url is None:
                raise RealtimeKitDownloadError(
                    f"recording {recording.get('id')}: track layer {layer!r} has no download URL"
                )
            safe = _UNSAFE.sub("_", layer).strip("._") or "layer"
            name = f"{stem}.{safe}{_url_suffix(url, '.webm')}"
            files.append(RecordingFile(f"track:{layer}", f"track layer {layer!r}", name, None))
    else:
        files.append(RecordingFile("video", "video", base, _as_size(recording.get("file_size"))))
    if include_audio and "audio" in urls:
        name = f"{stem}.audio{_url_suffix(urls['audio'], '.m4a')}"
        files.append(RecordingFile("audio", "audio", name, None))
    elif include_audio:
        log.info(
            "recording %s has no separate audio file (no audio_download_url: RealtimeKit gives one when the "
            "recording was started with an audio_config, export_file=True): only the video is archived",
            recording.get("id"),
        )
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise RealtimeKitDownloadError(
            f"recording {recording.get('id')}: two files would get the same name ({names})"
        )
    return files


def _as_size(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if float(value).is_integer() and value >= 0 else None


def safe_name(name: object, fallback: str) -> str:
    """A file name from the API, without any directory part."""
    base = posixpath.basename(str(name or "").replace("\\", "/"))
    return base if base not in ("", ".", "..") else fallback


# -- transfer --------------------------------------------------------------------------------------------

#: A 206's ``Content-Range``: first and last byte sent, and the file's size (``*`` when unknown).
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class _Interrupted(RealtimeKitError):
    """The body stopped before its end: resume from the bytes written."""

    @property
    def transient(self) -> bool:
        return True


class _Restart(_Interrupted):
    """What was written cannot be continued (the file changed, a bad range): start over from zero."""


def _body(response: requests.Response, chunk_size: int) -> Iterator[bytes]:
    """The raw (not content-decoded) body in chunks; a broken connection becomes ``_Interrupted``."""
    import urllib3  # loaded with requests by now; imported here to keep DAG parsing cheap

    try:
        while chunk := response.raw.read(chunk_size, decode_content=False):
            yield chunk
    except (OSError, urllib3.exceptions.HTTPError) as exc:
        raise _Interrupted(f"connection broken ({type(exc).__name__})") from exc


class Downloader:
    """Streams files of one recording, refreshing its presigned URLs when they expire.

    :param max_resumes: resumes allowed per file after a transient failure (a dropped connection, a
        timeout, 429 or 5xx).
    :param backoff: its ``next_wait`` paces the resumes (``max_resumes`` replaces its attempt count); a
        ``Retry-After`` beyond its ``max_retry_after`` ends the download rather than block the worker.
    """

    def __init__(
        self,
        hook: RealtimeKitHook,
        recording: Recording,
        *,
        chunk_size: int,
        max_resumes: int,
        backoff: RetryPolicy,
    ) -> None:
        self.hook = hook
        self.recording_id = recording["id"]
        self.chunk_size = chunk_size
        self.max_resumes = max_resumes
        self.backoff = replace(backoff, max_attempts=max_resumes + 1)
        self._use(recording)

    def _use(self, recording: Recording) -> None:
        mask_download_urls(recording)
        self.urls = file_urls(recording)
        self.expiry = parse_api_time(recording.get("download_url_expiry"))

    def refresh(self) -> None:
        """Fetch the recording again: the API issues new presigned URLs on every read."""
        recording = self.hook.get_recording(self.recording_id)
        check_downloadable(recording)
        self._use(recording)

    def _expired(self) -> bool:
        return self.expiry is not None and datetime.now(UTC) >= self.expiry - EXPIRY_MARGIN

    def _url(self, file: RecordingFile) -> str:
        url = self.urls.get(file.key)
        if url is None:
            raise RealtimeKitDownloadError(
                f"recording {self.recording_id} has no download URL for its {file.label} file: RealtimeKit "
                "keeps files 7 days, and issues no URL when its own bucket is disabled (the file then only "
                "goes to the recording's storage_config)"
            )
        return url

    def save(self, file: RecordingFile, destination: Destination, final: str, temp: str) -> int:
        """Download ``file`` to ``temp``, verify it and rename it to ``final``; returns its size."""
        where = f"{file.label} file of recording {self.recording_id}"
        handle = destination.open_temp(temp)
        try:
            size = self._transfer(file, handle, where)
            handle.close()
            stored = destination.size(temp)
            if stored != size:
                raise RealtimeKitDownloadError(f"{where}: wrote {size} bytes but the store holds {stored}")
            destination.commit(temp, final)
        except BaseException:
            handle.discard()
            raise
        return size

    def _transfer(self, file: RecordingFile, handle: TempFile, where: str) -> int:
        written, total, etag = 0, file.size, None
        resumes = refreshes = 0
        just_refreshed = False
        progress = _Progress(where)
        while True:
            if self._expired() and not just_refreshed:
                log.info("%s: the download URL has expired; fetching a fresh one", where)
                self.refresh()
            just_refreshed = False
            try:
                with self.hook.open_download(self._url(file), offset=written) as response:
                    total, etag = self._check(response, file, written, total, etag, where)
                    if response.status_code == 200 and written:
                        log.warning("%s: the server ignored the Range request; restarting from zero", where)
                        handle.restart()
                        written = 0
                    for chunk in _body(response, self.chunk_size):
                        if written + len(chunk) > total:
                            raise RealtimeKitDownloadError(f"{where}: more than the expected {total} bytes")
                        handle.write(chunk)
                        written += len(chunk)
                        progress.update(written, total)
                if written == total:
                    log.info("%s: %d bytes downloaded and verified", where, written)
                    return written
                raise _Interrupted(f"the body ended after {written} of {total} bytes")
            except RealtimeKitAuthError as exc:
                if exc.status_code != 403 or refreshes >= MAX_REFRESHES:
                    raise RealtimeKitDownloadError(
                        f"{where}: the storage refused the download: {exc}"
                    ) from exc
                refreshes += 1
                log.warning("%s: the storage answered 403 (expired URL?); fetching a fresh URL", where)
                self.refresh()
                just_refreshed = True
            except RealtimeKitError as exc:
                if not exc.transient:
                    if isinstance(exc, RealtimeKitApiError):
                        raise RealtimeKitDownloadError(f"{where}: the storage refused it: {exc}") from exc
                    raise
                wait = self.backoff.next_wait(exc, resumes + 1)
                if wait is None:
                    raise RealtimeKitDownloadError(
                        f"{where}: gave up after {resumes} resumes at byte {written} of {total}: {exc}"
                    ) from exc
                resumes += 1
                if isinstance(exc, _Restart):
                    handle.restart()
                    written, total, etag = 0, file.size, None
                log.warning(
                    "%s: %s; resuming from byte %d in %.2f s (resume %d of %d)",
                    where,
                    exc,
                    written,
                    wait,
                    resumes,
                    self.max_resumes,
                )
                time.sleep(wait)

    @staticmethod
    def _check(
        response: requests.Response,
        file: RecordingFile,
        offset: int,
        total: int | None,
        etag: str | None,
        where: str,
    ) -> tuple[int, str | None]:
        """Validate a response's status and headers against what was asked; returns ``(total, etag)``."""
        headers = response.headers
        new_etag = headers.get("ETag")
        if response.status_code == 200:
            length = _content_length(headers.get("Content-Length"))
            if file.size is not None and length is not None and length != file.size:
                raise RealtimeKitDownloadError(
                    f"{where}: the storage serves {length} bytes but the API reports file_size {file.size}"
                )
            expected = file.size if file.size is not None else length
            if expected is None:
                raise RealtimeKitDownloadError(
                    f"{where}: no Content-Length and no file_size: the download cannot be verified"
                )
            return expected, new_etag
        if response.status_code != 206:
            raise RealtimeKitDownloadError(
                f"{where}: unexpected HTTP {response.status_code} from the storage"
            )
        match = _CONTENT_RANGE.fullmatch(headers.get("Content-Range", "").strip())
        if match is None:
            raise _Restart(f"206 without a usable Content-Range ({headers.get('Content-Range')!r})")
        first, last, size = int(match.group(1)), int(match.group(2)), match.group(3)
        full = total if size == "*" else int(size)
        if full is None:
            raise _Restart("206 without the file's size")
        if file.size is not None and full != file.size:
            raise RealtimeKitDownloadError(
                f"{where}: the storage holds {full} bytes but the API reports file_size {file.size}"
            )
        if first != offset or full != total or last != full - 1:
            raise _Restart(f"206 for bytes {first}-{last}/{size} when bytes {offset}-/{total} were asked")
        if etag is not None and new_etag is not None and new_etag != etag:
            raise _Restart("the file changed on the storage (new ETag)")
        return full, etag or new_etag


def _content_length(value: str | None) -> int | None:
    """A ``Content-Length`` header's byte count; None when absent or not a number."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class _Progress:
    """Logs how far a long download got, at most every ``PROGRESS_EVERY_SECONDS``."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.next_at = time.monotonic() + PROGRESS_EVERY_SECONDS

    def update(self, written: int, total: int) -> None:
        now = time.monotonic()
        if now >= self.next_at:
            self.next_at = now + PROGRESS_EVERY_SECONDS
            log.info("%s: %d of %d bytes (%.0f%%)", self.where, written, total, 100.0 * written / total)
