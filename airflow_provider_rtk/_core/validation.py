"""Input validation and request-body building, run before any HTTP request.

Every error names the offending field and what is allowed, and is a ``RealtimeKitInputError`` (a
``ValueError``). The rules follow the published OpenAPI schema; where the docs are looser than the schema
(storage type ``cloudflare``), the value passes through with a warning instead of being rejected.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final, Unpack

from airflow_provider_rtk._core.timestamps import format_api_time, parse_api_time
from airflow_provider_rtk.exceptions import RealtimeKitInputError
from airflow_provider_rtk.types import RECORDING_STATUSES, ListFilters, StartOptions

log = logging.getLogger(__name__)


#: ``meeting_id`` and every ``StartOptions`` field: what the start operator takes.
START_FIELDS: Final[tuple[str, ...]] = ("meeting_id", *StartOptions.__annotations__)
LIST_FILTERS: Final[tuple[str, ...]] = tuple(ListFilters.__annotations__)
ACTIONS: Final[tuple[str, ...]] = ("stop", "pause", "resume")
SORT_ORDERS: Final[tuple[str, ...]] = ("ASC", "DESC")
SORT_BY: Final[tuple[str, ...]] = ("invokedTime",)
STORAGE_TYPES: Final[tuple[str, ...]] = ("aws", "azure", "digitalocean", "gcs", "sftp")
#: Storage types the docs show but the schema lacks: passed through with a warning.
DOCUMENTED_STORAGE_TYPES: Final[tuple[str, ...]] = ("cloudflare",)
STORAGE_FIELDS: Final[tuple[str, ...]] = (
    "type",
    "access_key",
    "auth_method",
    "bucket",
    "host",
    "password",
    "path",
    "port",
    "private_key",
    "region",
    "secret",
    "username",
)
#: Write-only storage fields: secrets that must never be logged, rendered or returned.
STORAGE_SECRET_FIELDS: Final[frozenset[str]] = frozenset({"access_key", "secret", "password", "private_key"})
WATERMARK_POSITIONS: Final[tuple[str, ...]] = ("left top", "right top", "left bottom", "right bottom")
TRACK_OUTPUT_TYPES: Final[tuple[str, ...]] = ("REALTIMEKIT_BUCKET", "STORAGE_CONFIG")
MAX_SECONDS_RANGE: Final[tuple[int, int]] = (60, 86400)
VIDEO_SIZE_RANGE: Final[tuple[int, int]] = (1, 1920)
MAX_TRACK_USER_IDS: Final[int] = 100
#: The largest page the list endpoint serves (``per_page``).
MAX_PAGE_SIZE: Final[int] = 100
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_UUID_EXAMPLE: Final[str] = "97440c6a-140b-40a9-9499-b23fd7a3868a"


def _fail(field: str, problem: str) -> RealtimeKitInputError:
    return RealtimeKitInputError(f"{field}: {problem}")


def _allowed(values: Iterable[str]) -> str:
    return ", ".join(repr(v) for v in values)


def require_id(field: str, value: object) -> str:
    """A non-empty string id (recording, meeting); ids go into URL paths, so no slashes either."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(field, f"must be a non-empty string, got {value!r}")
    value = value.strip()
    if any(c in value for c in "/?#%\\") or value in (".", ".."):
        raise _fail(
            field, f"must be an id, without '/', '?', '#', '%' or '\\' and not '.' or '..', got {value!r}"
        )
    return value


def require_uuid(field: str, value: object) -> str:
    """A meeting or recording id: the API declares both ``format: uuid``."""
    text = value.strip() if isinstance(value, str) else None
    if text is None or not _UUID.fullmatch(text):
        raise _fail(field, f"must be a UUID such as {_UUID_EXAMPLE!r} (8-4-4-4-12 hex digits), got {value!r}")
    return text


def check_statuses(field: str, statuses: Iterable[str], *, allow_empty: bool = False) -> tuple[str, ...]:
    """De-duplicated recording statuses, each one the API knows (a single string counts as one)."""
    values = (statuses,) if isinstance(statuses, str) else tuple(statuses)
    if not values and not allow_empty:
        raise RealtimeKitInputError(f"{field}: name at least one of {', '.join(RECORDING_STATUSES)}")
    return tuple(dict.fromkeys(check_enum(field, s, RECORDING_STATUSES) for s in values))


def check_wait_statuses(
    target: Iterable[str], failure: Iterable[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Validated, de-duplicated ``(target_statuses, failure_statuses)``; failure may be empty, and no
    status may be in both (raised when the task or trigger is built, before any request)."""
    targets = check_statuses("target_statuses", target)
    failures = check_statuses("failure_statuses", failure, allow_empty=True)
    overlap = set(targets) & set(failures)
    if overlap:
        raise RealtimeKitInputError(
            f"target_statuses and failure_statuses: {sorted(overlap)} cannot be in both"
        )
    return targets, failures


def check_error_limit(max_consecutive_errors: int | None) -> int | None:
    """The opt-in error limit of a wait: None (no limit) or at least 1."""
    if max_consecutive_errors is not None and (
        isinstance(max_consecutive_errors, bool)
        or not isinstance(max_consecutive_errors, int)
        or max_consecutive_errors < 1
    ):
        raise RealtimeKitInputError(
            f"max_consecutive_errors: must be at least 1 or None (no limit), got {max_consecutive_errors!r}"
        )
    return max_consecutive_errors


def check_enum(field: str, value: object, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise _fail(field, f"must be one of {_allowed(allowed)}, got {value!r}")
    return str(value)


def check_int(field: str, value: object, bounds: tuple[int, int]) -> int:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise _fail(field, f"must be an integer between {low} and {high}, got {value!r}")
    if not low <= value <= high:
        raise _fail(field, f"must be between {low} and {high}, got {value!r}")
    return value


def check_bool(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise _fail(field, f"must be true or false, got {value!r}")
    return value


def check_str(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise _fail(field, f"must be a string, got {type(value).__name__}")
    return value


def _check_object(field: str, value: object, known: Iterable[str]) -> dict[str, Any]:
    """A JSON object; keys we do not know pass through (the API grows), with a warning."""
    if not isinstance(value, Mapping):
        raise _fail(field, f"must be an object (dict), got {type(value).__name__}")
    unknown = sorted(set(value) - set(known))
    if unknown:
        log.warning("%s: passing through keys this provider does not know: %s", field, ", ".join(unknown))
    return dict(value)


def _check_audio_config(value: object) -> dict[str, Any]:
    config = _check_object("audio_config", value, ("channel", "codec", "export_file"))
    if "channel" in config:
        check_enum("audio_config.channel", config["channel"], ("mono", "stereo"))
    if "codec" in config:
        check_enum("audio_config.codec", config["codec"], ("MP3", "AAC"))
    if "export_file" in config:
        check_bool("audio_config.export_file", config["export_file"])
    return config


def _check_video_config(value: object) -> dict[str, Any]:
    config = _check_object("video_config", value, ("codec", "export_file", "height", "width", "watermark"))
    if "codec" in config:
        check_enum("video_config.codec", config["codec"], ("H264", "VP8"))
    if "export_file" in config:
        check_bool("video_config.export_file", config["export_file"])
    for dim in ("width", "height"):
        if dim in config:
            config[dim] = check_int(f"video_config.{dim}", config[dim], VIDEO_SIZE_RANGE)
    if "watermark" in config:
        mark = _check_object("video_config.watermark", config["watermark"], ("position", "size", "url"))
        if "position" in mark:
            check_enum("video_config.watermark.position", mark["position"], WATERMARK_POSITIONS)
        if "url" in mark:
            check_str("video_config.watermark.url", mark["url"])
        if "size" in mark:
            size = _check_object("video_config.watermark.size", mark["size"], ("height", "width"))
            for dim in ("width", "height"):
                if dim in size:
                    size[dim] = check_int(f"video_config.watermark.size.{dim}", size[dim], (1, 1 << 16))
            mark["size"] = size
        config["watermark"] = mark
    return config


def check_storage_config(value: object, field: str = "storage_config") -> dict[str, Any]:
    """Validate a storage destination; ``type`` is required."""
    config = _check_object(field, value, STORAGE_FIELDS)
    if "type" not in config:
        raise _fail(f"{field}.type", f"is required; one of {_allowed(STORAGE_TYPES)}")
    kind = config["type"]
    if kind in DOCUMENTED_STORAGE_TYPES:
        log.warning(
            "%s.type %r is shown in the RealtimeKit docs but not in the API schema; passing it through",
            field,
            kind,
        )
    else:
        check_enum(f"{field}.type", kind, STORAGE_TYPES)
    if "auth_method" in config:
        check_enum(f"{field}.auth_method", config["auth_method"], ("KEY", "PASSWORD"))
    if "port" in config:
        config["port"] = check_int(f"{field}.port", config["port"], (1, 65535))
    for name in ("access_key", "bucket", "host", "password", "path", "private_key", "region", "secret"):
        if name in config and config[name] is not None:
            check_str(f"{field}.{name}", config[name])
    return config


def build_start_body(meeting_id: str | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``start_recording`` keywords and return the JSON body (``None`` values dropped)."""
    unknown = sorted(set(fields) - set(StartOptions.__annotations__))
    if unknown:
        raise _fail(
            ", ".join(unknown),
            f"unknown start_recording field(s) (meeting_id is the first argument); "
            f"allowed: {_allowed(StartOptions.__annotations__)}",
        )
    body: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    if meeting_id is not None:
        body["meeting_id"] = require_uuid("meeting_id", meeting_id)
    if "allow_multiple_recordings" in body:
        check_bool("allow_multiple_recordings", body["allow_multiple_recordings"])
    if "audio_config" in body:
        body["audio_config"] = _check_audio_config(body["audio_config"])
    if "video_config" in body:
        body["video_config"] = _check_video_config(body["video_config"])
    if "file_name_prefix" in body:
        check_str("file_name_prefix", body["file_name_prefix"])
    if "url" in body:
        check_str("url", body["url"])
    if "interactive_config" in body:
        config = _check_object("interactive_config", body["interactive_config"], ("type",))
        if "type" in config:
            check_enum("interactive_config.type", config["type"], ("ID3",))
        body["interactive_config"] = config
    if "max_seconds" in body:
        body["max_seconds"] = check_int("max_seconds", body["max_seconds"], MAX_SECONDS_RANGE)
    if "realtimekit_bucket_config" in body:
        config = _check_object("realtimekit_bucket_config", body["realtimekit_bucket_config"], ("enabled",))
        if "enabled" not in config:
            raise _fail("realtimekit_bucket_config.enabled", "is required (true or false)")
        check_bool("realtimekit_bucket_config.enabled", config["enabled"])
        body["realtimekit_bucket_config"] = config
    if "rtmp_out_config" in body:
        config = _check_object("rtmp_out_config", body["rtmp_out_config"], ("rtmp_url",))
        if "rtmp_url" in config:
            check_str("rtmp_out_config.rtmp_url", config["rtmp_url"])
        body["rtmp_out_config"] = config
    if "storage_config" in body:
        body["storage_config"] = check_storage_config(body["storage_config"])
    return body


def build_track_body(
    meeting_id: str,
    *,
    layers: Mapping[str, Any] | None,
    user_ids: Iterable[str] | None,
    max_seconds: int | None,
) -> dict[str, Any]:
    """Body of ``POST recordings/track``: passes both the legacy (``outputs``) and current
    (``media_kind``, ``user_ids``) layer shapes through, validating what each declares."""
    body: dict[str, Any] = {"meeting_id": require_uuid("meeting_id", meeting_id)}
    if layers is not None:
        if not isinstance(layers, Mapping) or not layers:
            raise _fail("layers", "must be a non-empty object mapping a layer name to its configuration")
        checked: dict[str, Any] = {}
        for name, layer in layers.items():
            where = f"layers.{name}"
            config = _check_object(where, layer, ("file_name_prefix", "media_kind", "outputs"))
            if "media_kind" in config:
                check_enum(f"{where}.media_kind", config["media_kind"], ("audio",))
            if "file_name_prefix" in config:
                check_str(f"{where}.file_name_prefix", config["file_name_prefix"])
            if "outputs" in config:
                outputs = config["outputs"]
                if not isinstance(outputs, list):
                    raise _fail(f"{where}.outputs", "must be a list of {type, storage_config} objects")
                checked_outputs = []
                for i, out in enumerate(outputs):
                    out = _check_object(f"{where}.outputs[{i}]", out, ("type", "storage_config"))
                    check_enum(f"{where}.outputs[{i}].type", out.get("type"), TRACK_OUTPUT_TYPES)
                    if out.get("storage_config") is not None:
                        out["storage_config"] = check_storage_config(
                            out["storage_config"], f"{where}.outputs[{i}].storage_config"
                        )
                    checked_outputs.append(out)
                config["outputs"] = checked_outputs
            checked[str(name)] = config
        body["layers"] = checked
    if user_ids is not None:
        if isinstance(user_ids, str):
            raise _fail("user_ids", "must be a list of participant user ids, not a single string")
        ids = [require_id("user_ids[]", u) for u in user_ids]
        if not ids or len(ids) > MAX_TRACK_USER_IDS:
            raise _fail("user_ids", f"must hold between 1 and {MAX_TRACK_USER_IDS} ids, got {len(ids)}")
        body["user_ids"] = ids
    if max_seconds is not None:
        body["max_seconds"] = check_int("max_seconds", max_seconds, MAX_SECONDS_RANGE)
    return body


def iso_time(field: str, value: datetime | str) -> str:
    """A datetime or ISO-8601 string as the ISO UTC string the API expects (naive means UTC)."""
    if isinstance(value, datetime):
        return format_api_time(value)
    parsed = parse_api_time(value)
    if parsed is None:
        shown = repr(value) if isinstance(value, str) else type(value).__name__
        raise _fail(field, f"must be a datetime or an ISO-8601 string, got {shown}")
    return format_api_time(parsed)


def build_list_params(**filters: Unpack[ListFilters]) -> dict[str, str]:
    """Query parameters for ``GET recordings`` (without ``page_no``, which the pager adds)."""
    unknown = sorted(set(filters) - set(LIST_FILTERS))
    if unknown:
        raise _fail(", ".join(unknown), f"unknown recordings filter(s); allowed: {_allowed(LIST_FILTERS)}")
    params: dict[str, str] = {}
    if (meeting_id := filters.get("meeting_id")) is not None:
        params["meeting_id"] = require_uuid("meeting_id", meeting_id)
    if (status := filters.get("status")) is not None:
        statuses = [status] if isinstance(status, str) else list(status)
        if not statuses:
            raise _fail("status", f"must name at least one of {_allowed(RECORDING_STATUSES)}")
        for value in statuses:
            check_enum("status", value, RECORDING_STATUSES)
        # The schema declares explode: false, i.e. one comma-separated value.
        params["status"] = ",".join(statuses)
    if (start_time := filters.get("start_time")) is not None:
        params["start_time"] = iso_time("start_time", start_time)
    if (end_time := filters.get("end_time")) is not None:
        params["end_time"] = iso_time("end_time", end_time)
    if start_time is not None and end_time is not None and params["start_time"] > params["end_time"]:
        raise _fail(
            "start_time", f"must not be after end_time ({params['start_time']} > {params['end_time']})"
        )
    if (expired := filters.get("expired")) is not None:
        params["expired"] = "true" if check_bool("expired", expired) else "false"
    if (search := filters.get("search")) is not None:
        params["search"] = check_str("search", search)
    if (sort_by := filters.get("sort_by")) is not None:
        params["sort_by"] = check_enum("sort_by", sort_by, SORT_BY)
    if (sort_order := filters.get("sort_order")) is not None:
        params["sort_order"] = check_enum("sort_order", sort_order, SORT_ORDERS)
    if (per_page := filters.get("per_page")) is not None:
        params["per_page"] = str(check_int("per_page", per_page, (1, MAX_PAGE_SIZE)))
    return params
