"""Keeping secrets out of returned data, XComs and logs.

Storage credentials are write-only in the API, but the published examples echo them back; the hook strips
them from every recording it returns. Presigned download URLs are credentials too (anyone holding one can
fetch the meeting until ``download_url_expiry``): ``without_download_urls`` drops them for XComs and
trigger events unless a task asks to keep them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, cast
from urllib.parse import urlsplit

from airflow_provider_rtk._core.compat import mask_secret
from airflow_provider_rtk._core.validation import STORAGE_SECRET_FIELDS
from airflow_provider_rtk.types import Recording

DOWNLOAD_URL_FIELDS: Final[tuple[str, ...]] = ("download_url", "audio_download_url")


def strip_storage_secrets(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if config is None:
        return None
    return {k: v for k, v in config.items() if k not in STORAGE_SECRET_FIELDS}


def clean_recording(data: Mapping[str, Any]) -> Recording:
    """A copy of an API recording without any storage secret."""
    recording = dict(data)
    if isinstance(recording.get("storage_config"), Mapping):
        recording["storage_config"] = strip_storage_secrets(recording["storage_config"])
    return cast("Recording", recording)


def download_urls(recording: Mapping[str, Any]) -> list[str]:
    """Every presigned URL in a recording (string or track-recording list form)."""
    urls: list[str] = []
    for name in DOWNLOAD_URL_FIELDS:
        value = recording.get(name)
        if isinstance(value, str):
            urls.append(value)
        elif isinstance(value, list):
            urls.extend(_track_urls(value))
    return urls


def _track_urls(entries: Iterable[Any]) -> Iterable[str]:
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        for file in (entry.get("download_urls") or {}).values():
            if isinstance(file, Mapping) and isinstance(file.get("download_url"), str):
                yield file["download_url"]


def mask_download_urls(recording: Mapping[str, Any]) -> None:
    """Register every presigned URL of the recording, and its query (the signature), with the maskers.

    The query alone is masked too: HTTP client logs and errors show a URL's path and query without its
    host, which the whole-URL mask would not match.
    """
    for url in download_urls(recording):
        mask_secret(url)
        mask_secret(urlsplit(url).query)


def without_download_urls(recording: Recording) -> Recording:
    """A copy with presigned URLs replaced by ``None`` (their presence stays visible)."""
    copy: dict[str, Any] = dict(recording)
    for name in DOWNLOAD_URL_FIELDS:
        value = copy.get(name)
        if isinstance(value, list):
            # Track recordings: keep which layers exist, drop their URLs.
            copy[name] = [
                {"layer_name": e.get("layer_name"), "download_urls": {}}
                for e in value
                if isinstance(e, Mapping)
            ]
        elif value is not None:
            copy[name] = None
    return cast("Recording", copy)


def xcom_recording(recording: Recording, include_download_urls: bool) -> Recording:
    """What a task may push: presigned URLs only when explicitly asked for."""
    return recording if include_download_urls else without_download_urls(recording)


#: Fields whose values are credentials wherever they appear in a config: storage secrets, and the RTMP
#: URL, which carries the stream key.
CONFIG_SECRET_FIELDS: Final[frozenset[str]] = frozenset(STORAGE_SECRET_FIELDS | {"rtmp_url"})


def mask_config_secrets(config: object) -> None:
    """Register every secret in ``config`` (nested too: track layers' outputs) with the secret maskers."""
    if isinstance(config, Mapping):
        for key, value in config.items():
            if key in CONFIG_SECRET_FIELDS and isinstance(value, str):
                mask_secret(value)
            else:
                mask_config_secrets(value)
    elif isinstance(config, list | tuple):
        for item in config:
            mask_config_secrets(item)
