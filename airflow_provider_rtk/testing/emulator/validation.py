"""Parsing and validation of request bodies and list queries, with 400 messages that name the field.

Bounds and enums follow tests/data/recordings-openapi.json; the differences between the two API versions
follow docs/api-notes.md ("Two versions of the API").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from airflow_provider_rtk.testing.emulator.errors import bad_request

ApiVersion = Literal["current", "legacy"]

LEGACY_STATUS_FILTER = frozenset({"INVOKED", "RECORDING", "UPLOADING", "UPLOADED"})
CURRENT_STATUS_FILTER = LEGACY_STATUS_FILTER | {"ERRORED", "PAUSED"}
# The schema lists five storage types; the RealtimeKit docs also show ``cloudflare`` (R2).
STORAGE_TYPES = ("aws", "azure", "digitalocean", "gcs", "sftp", "cloudflare")
# Write-only storage fields: accepted in requests, never returned.
STORAGE_SECRETS = frozenset({"access_key", "secret", "password", "private_key"})
MAX_SECONDS_RANGE = (60, 86400)
MAX_TRACK_USER_IDS = 100
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20
WATERMARK_POSITIONS = ("left top", "right top", "left bottom", "right bottom")
# ``format: uuid`` in the schema: meeting ids (bodies, list query) and recording ids (paths).
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(value: str) -> bool:
    return _UUID.fullmatch(value) is not None


def parse_uuid(value: str, name: str) -> str:
    """``value`` if it is a UUID (8-4-4-4-12 hex digits), else the 400 naming the field."""
    if not is_uuid(value):
        raise bad_request(f"{name} must be a UUID (like 3fa85f64-5717-4562-b3fc-2c963f66afa6), not {value!r}")
    return value


@dataclass(frozen=True)
class StartParams:
    """A validated ``POST .../recordings`` body."""

    meeting_id: str | None
    allow_multiple: bool
    max_seconds: int
    file_name_prefix: str | None
    video_file: bool
    audio_file: bool
    bucket: bool
    storage_config: dict[str, Any] | None


@dataclass(frozen=True)
class TrackLayer:
    """One file of a track recording: its layer name and whether it goes to RealtimeKit's bucket."""

    name: str
    in_bucket: bool


@dataclass(frozen=True)
class TrackParams:
    """A validated ``POST .../recordings/track`` body (either version)."""

    meeting_id: str
    layers: tuple[TrackLayer, ...]
    file_name_prefix: str | None
    max_seconds: float


@dataclass(frozen=True)
class ListParams:
    """A validated ``GET .../recordings`` query."""

    meeting_id: str | None
    page_no: int
    per_page: int
    expired: bool | None
    search: str | None
    ascending: bool
    start_time: datetime | None
    end_time: datetime | None
    statuses: frozenset[str] | None


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"{name} must be an object")
    return value


def _optional_object(parent: dict[str, Any], key: str, prefix: str = "") -> dict[str, Any] | None:
    value = parent.get(key)
    return None if value is None else _object(value, prefix + key)


def _enum(obj: dict[str, Any], key: str, allowed: Sequence[str], prefix: str = "") -> str | None:
    value = obj.get(key)
    if value is not None and value not in allowed:
        raise bad_request(f"{prefix}{key} must be one of {', '.join(allowed)}")
    return value


def _integer(obj: dict[str, Any], key: str, low: int, high: int, prefix: str = "") -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise bad_request(f"{prefix}{key} must be an integer between {low} and {high}")
    return value


def _boolean(obj: dict[str, Any], key: str, prefix: str = "") -> bool | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, bool):
        raise bad_request(f"{prefix}{key} must be a boolean")
    return value


def _string(obj: dict[str, Any], key: str, prefix: str = "", *, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None and required:
        raise bad_request(f"{prefix}{key} is required")
    if value is not None and (not isinstance(value, str) or not value):
        raise bad_request(f"{prefix}{key} must be a non-empty string")
    return value


def _storage_config(value: Any, prefix: str) -> dict[str, Any] | None:
    if value is None:
        return None
    config = _object(value, prefix)
    if config.get("type") is None:
        raise bad_request(f"{prefix}.type is required")
    _enum(config, "type", STORAGE_TYPES, prefix + ".")
    _enum(config, "auth_method", ("KEY", "PASSWORD"), prefix + ".")
    return config


def public_storage_config(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """The storage config as the API returns it: without its write-only secrets."""
    if config is None:
        return None
    return {key: value for key, value in config.items() if key not in STORAGE_SECRETS}


def parse_start(body: Any, api_version: ApiVersion) -> StartParams:
    """Validate a start body; ``meeting_id`` is required by the current version only."""
    body = _object(body, "body")
    meeting_id = _string(body, "meeting_id", required=api_version == "current")
    if meeting_id is not None:
        parse_uuid(meeting_id, "meeting_id")
    allow_multiple = _boolean(body, "allow_multiple_recordings") or False
    max_seconds = _integer(body, "max_seconds", *MAX_SECONDS_RANGE)
    prefix = _string(body, "file_name_prefix")
    _string(body, "url")

    video = _optional_object(body, "video_config") or {}
    _enum(video, "codec", ("H264", "VP8"), "video_config.")
    _integer(video, "width", 1, 1920, "video_config.")
    _integer(video, "height", 1, 1920, "video_config.")
    video_export = _boolean(video, "export_file", "video_config.")
    watermark = _optional_object(video, "watermark", "video_config.") or {}
    _enum(watermark, "position", WATERMARK_POSITIONS, "video_config.watermark.")

    audio = _optional_object(body, "audio_config")
    if audio is not None:
        _enum(audio, "codec", ("MP3", "AAC"), "audio_config.")
        _enum(audio, "channel", ("mono", "stereo"), "audio_config.")
    audio_export = _boolean(audio or {}, "export_file", "audio_config.")

    interactive = _optional_object(body, "interactive_config") or {}
    _enum(interactive, "type", ("ID3",), "interactive_config.")
    _optional_object(body, "rtmp_out_config")

    bucket_config = _optional_object(body, "realtimekit_bucket_config")
    bucket = True
    if bucket_config is not None:
        enabled = _boolean(bucket_config, "enabled", "realtimekit_bucket_config.")
        if enabled is None:
            raise bad_request("realtimekit_bucket_config.enabled is required")
        bucket = enabled

    return StartParams(
        meeting_id=meeting_id,
        allow_multiple=allow_multiple,
        max_seconds=max_seconds if max_seconds is not None else MAX_SECONDS_RANGE[1],
        file_name_prefix=prefix,
        video_file=video_export is not False,
        audio_file=audio is not None and audio_export is not False,
        bucket=bucket,
        storage_config=_storage_config(body.get("storage_config"), "storage_config"),
    )


def parse_track(body: Any, api_version: ApiVersion) -> TrackParams:
    """Validate a track-recording body in the shape of the given API version."""
    body = _object(body, "body")
    meeting_id = _string(body, "meeting_id", required=True)
    assert meeting_id is not None
    parse_uuid(meeting_id, "meeting_id")
    if api_version == "legacy":
        return _parse_legacy_track(body, meeting_id)

    layers = _optional_object(body, "layers") or {}
    prefixes: list[str] = []
    for name, layer in layers.items():
        layer = _object(layer, f"layers.{name}")
        _enum(layer, "media_kind", ("audio",), f"layers.{name}.")
        prefix = _string(layer, "file_name_prefix", f"layers.{name}.")
        if prefix:
            prefixes.append(prefix)
    user_ids = body.get("user_ids")
    if user_ids is not None:
        if not isinstance(user_ids, list) or not all(isinstance(u, str) and u for u in user_ids):
            raise bad_request("user_ids must be a list of user id strings")
        if len(user_ids) > MAX_TRACK_USER_IDS:
            raise bad_request(f"user_ids accepts at most {MAX_TRACK_USER_IDS} user ids")
    names = list(dict.fromkeys(user_ids)) if user_ids else list(layers) or ["default"]
    return TrackParams(
        meeting_id=meeting_id,
        layers=tuple(TrackLayer(name, in_bucket=True) for name in names),
        file_name_prefix=prefixes[0] if prefixes else None,
        max_seconds=MAX_SECONDS_RANGE[1],
    )


def _parse_legacy_track(body: dict[str, Any], meeting_id: str) -> TrackParams:
    layers = body.get("layers")
    if layers is None:
        raise bad_request("layers is required")
    layers = _object(layers, "layers")
    if not layers:
        raise bad_request("layers must define at least one layer")
    parsed: list[TrackLayer] = []
    prefixes: list[str] = []
    for name, layer in layers.items():
        layer = _object(layer, f"layers.{name}")
        prefix = _string(layer, "file_name_prefix", f"layers.{name}.")
        if prefix:
            prefixes.append(prefix)
        outputs = layer.get("outputs")
        if outputs is not None and not isinstance(outputs, list):
            raise bad_request(f"layers.{name}.outputs must be a list")
        types = []
        for index, output in enumerate(outputs or []):
            where = f"layers.{name}.outputs[{index}]"
            output = _object(output, where)
            types.append(_enum(output, "type", ("REALTIMEKIT_BUCKET", "STORAGE_CONFIG"), where + "."))
            _storage_config(output.get("storage_config"), where + ".storage_config")
        parsed.append(TrackLayer(name, in_bucket=not types or "REALTIMEKIT_BUCKET" in types))
    max_seconds = body.get("max_seconds", MAX_SECONDS_RANGE[1])
    low, high = MAX_SECONDS_RANGE
    if (
        isinstance(max_seconds, bool)
        or not isinstance(max_seconds, int | float)
        or not low <= max_seconds <= high
    ):
        raise bad_request(f"max_seconds must be a number between {low} and {high}")
    return TrackParams(
        meeting_id=meeting_id,
        layers=tuple(parsed),
        file_name_prefix=prefixes[0] if prefixes else None,
        max_seconds=float(max_seconds),
    )


def parse_action(body: Any) -> str:
    """The ``action`` of a ``PUT .../recordings/{id}`` body."""
    body = _object(body, "body")
    if body.get("action") is None:
        raise bad_request("action is required")
    action = _enum(body, "action", ("stop", "pause", "resume"))
    assert action is not None
    return action


def _single(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[-1] if values else None


def _positive_int(query: dict[str, list[str]], key: str, default: int) -> int:
    raw = _single(query, key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{key} must be a positive integer") from None
    if value < 1:
        raise bad_request(f"{key} must be a positive integer")
    return value


def _timestamp(query: dict[str, list[str]], key: str) -> datetime | None:
    raw = _single(query, key)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"{key} must be an ISO 8601 timestamp") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_list_query(query: dict[str, list[str]], api_version: ApiVersion) -> ListParams:
    """Validate list filters. ``status`` may be comma-separated, repeated, or both.

    ``per_page`` above 100 is clamped to 100 (the client reads ``paging``); ERRORED and PAUSED are
    rejected by the legacy version's status filter.
    """
    expired_raw = _single(query, "expired")
    if expired_raw is not None and expired_raw.lower() not in ("true", "false"):
        raise bad_request("expired must be true or false")
    if _single(query, "sort_by") not in (None, "invokedTime"):
        raise bad_request("sort_by must be invokedTime")
    sort_order = _single(query, "sort_order") or "DESC"
    if sort_order not in ("ASC", "DESC"):
        raise bad_request("sort_order must be one of ASC, DESC")

    statuses: frozenset[str] | None = None
    raw_statuses = [part.strip() for value in query.get("status", []) for part in value.split(",")]
    if any(raw_statuses):
        allowed = LEGACY_STATUS_FILTER if api_version == "legacy" else CURRENT_STATUS_FILTER
        for status in raw_statuses:
            if status not in allowed:
                raise bad_request(f"status must be a list of {', '.join(sorted(allowed))}; got {status!r}")
        statuses = frozenset(raw_statuses)

    meeting_id = _single(query, "meeting_id") or None
    return ListParams(
        meeting_id=None if meeting_id is None else parse_uuid(meeting_id, "meeting_id"),
        page_no=_positive_int(query, "page_no", 1),
        per_page=min(_positive_int(query, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE),
        expired=None if expired_raw is None else expired_raw.lower() == "true",
        search=_single(query, "search") or None,
        ascending=sort_order == "ASC",
        start_time=_timestamp(query, "start_time"),
        end_time=_timestamp(query, "end_time"),
        statuses=statuses,
    )
