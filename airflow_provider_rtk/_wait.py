"""Waiting for a recording status: one set of rules shared by the sensor, the trigger and the stop
operator, so that every way of waiting ends the same way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal, TypedDict

from airflow_provider_rtk._compat import AirflowSensorTimeout
from airflow_provider_rtk._redact import without_download_urls
from airflow_provider_rtk._validation import check_enum
from airflow_provider_rtk.exceptions import (
    RealtimeKitError,
    RealtimeKitInputError,
    RealtimeKitRecordingStateError,
)
from airflow_provider_rtk.types import RECORDING_STATUSES, Recording

DEFAULT_TARGET_STATUSES: Final[tuple[str, ...]] = ("UPLOADED",)
DEFAULT_FAILURE_STATUSES: Final[tuple[str, ...]] = ("ERRORED",)

EventStatus = Literal["success", "failed", "timeout", "error"]


class WaitEvent(TypedDict):
    """The one event a recording trigger emits (primitives only)."""

    status: EventStatus
    recording_id: str
    recording_status: str | None
    message: str
    recording: Recording | None


def _statuses(field: str, statuses: Iterable[str], *, allow_empty: bool) -> tuple[str, ...]:
    values = (statuses,) if isinstance(statuses, str) else tuple(statuses)
    if not values and not allow_empty:
        raise RealtimeKitInputError(f"{field}: name at least one of {', '.join(RECORDING_STATUSES)}")
    return tuple(dict.fromkeys(check_enum(field, s, RECORDING_STATUSES) for s in values))


def check_wait_statuses(
    target: Iterable[str], failure: Iterable[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Validated, de-duplicated ``(target_statuses, failure_statuses)``; failure may be empty, and no
    status may be in both (raised when the task or trigger is built, before any request)."""
    targets = _statuses("target_statuses", target, allow_empty=False)
    failures = _statuses("failure_statuses", failure, allow_empty=True)
    overlap = set(targets) & set(failures)
    if overlap:
        raise RealtimeKitInputError(
            f"target_statuses and failure_statuses: {sorted(overlap)} cannot be in both"
        )
    return targets, failures


def describe_failure(recording: Mapping[str, Any]) -> str:
    """'recording <id> is ERRORED (stop reason: INTERNAL_ERROR)': what a failed task should say."""
    reason = recording.get("stop_reason")
    why = reason.get("reason") if isinstance(reason, Mapping) else None
    suffix = f" (stop reason: {why})" if why else ""
    return f"recording {recording.get('id')} is {recording.get('status')}{suffix}"


def evaluate(recording: Mapping[str, Any], target: Iterable[str], failure: Iterable[str]) -> bool:
    """True when the recording reached a target status; raise when it reached a failure status."""
    status = recording.get("status")
    if status in tuple(failure):
        raise RealtimeKitRecordingStateError(describe_failure(recording))
    return status in tuple(target)


def xcom_recording(recording: Recording, include_download_urls: bool) -> Recording:
    """What a task may push: presigned URLs only when explicitly asked for."""
    return recording if include_download_urls else without_download_urls(recording)


def result_from_event(event: Mapping[str, Any]) -> Recording:
    """The recording of a ``success`` event; the matching exception for any other.

    ``timeout`` raises Airflow's ``AirflowSensorTimeout`` so that ``soft_fail`` works; ``failed`` (a
    failure status) and ``error`` (the API kept failing) raise provider errors carrying the message.
    """
    status = event.get("status")
    message = str(event.get("message") or "")
    if status == "success" and isinstance(event.get("recording"), Mapping):
        return event["recording"]  # type: ignore[no-any-return]
    if status == "timeout":
        raise AirflowSensorTimeout(message)
    if status == "failed":
        raise RealtimeKitRecordingStateError(message)
    raise RealtimeKitError(message or f"unexpected trigger event: {dict(event)!r}")
