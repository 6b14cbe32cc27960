"""The consumer side of ``RealtimeKitRecordingEventTrigger``: recordings from a DAG run's asset events.

A DAG scheduled on an asset watched by the trigger runs with ``triggering_asset_events`` in its context;
each event the trigger fired carries, in ``extra["payload"]``, either the recordings of one poll
(``{"recordings": [...], "count": n}``, on Airflow < 3.4) or one recording (its public fields, from 3.4);
no download URL either way. Airflow may also fold several events into one run, so a consumer handles a
list: map a task over ``recording_ids_from_asset_events``, or let the download operator
(``from_asset_event=True``) archive them all. Delivery is at least once on a restart, so consumers should
be idempotent (the download operator skips files already archived).

Cheap to import (DAG files do): no hook, no HTTP client.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, cast
from urllib.parse import SplitResult

from airflow_provider_rtk.exceptions import RealtimeKitError
from airflow_provider_rtk.types import Recording

__all__ = [
    "ASSET_SCHEME",
    "recording_asset_uri",
    "recording_from_asset_event",
    "recording_ids_from_asset_events",
    "recordings_asset_uri",
    "recordings_from_asset_events",
    "sanitize_uri",
]

#: The scheme of the example asset URIs, ``realtimekit://<account_id>/<app_id>/recordings``.
ASSET_SCHEME: Final[str] = "realtimekit"


_ACCOUNT_ID = re.compile(r"[0-9A-Za-z]{1,64}")
_APP_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z-]{0,63}")
_RECORDING_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def recordings_asset_uri(account_id: str, app_id: str) -> str:
    """``realtimekit://<account_id>/<app_id>/recordings``: a URI naming one app's recordings."""
    return f"{ASSET_SCHEME}://{account_id}/{app_id}/recordings"


def recording_asset_uri(account_id: str, app_id: str, recording_id: str) -> str:
    """``realtimekit://<account_id>/<app_id>/recordings/<recording_id>``: one recording, as hook lineage
    reports it (the input of the download operator's files)."""
    return f"{recordings_asset_uri(account_id, app_id)}/{recording_id}"


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Airflow's sanitizer for ``realtimekit`` asset URIs (provider info ``asset-uris``).

    Accepts ``realtimekit://<account_id>/<app_id>/recordings`` (an app's recordings) and
    ``.../recordings/<recording_id>`` (one recording, a UUID): ``account_id`` letters and digits,
    ``app_id`` letters, digits and dashes; no port, user, query or fragment; a trailing slash is dropped.
    Raises ``ValueError`` naming what is wrong and the expected form (Airflow shows it at DAG parse time).
    """
    expected = "expected realtimekit://<account_id>/<app_id>/recordings[/<recording_id>]"
    if uri.scheme != ASSET_SCHEME:
        raise ValueError(
            f"RealtimeKit asset URI: scheme must be {ASSET_SCHEME!r}, got {uri.scheme!r}; {expected}"
        )
    if uri.username or uri.password or uri.port is not None or ":" in uri.netloc:
        raise ValueError(f"RealtimeKit asset URI: no user, password or port allowed; {expected}")
    if uri.query or uri.fragment:
        raise ValueError(f"RealtimeKit asset URI: no query or fragment allowed; {expected}")
    if not _ACCOUNT_ID.fullmatch(uri.netloc):
        raise ValueError(
            f"RealtimeKit asset URI: account_id (the host part) must be letters and digits, got "
            f"{uri.netloc!r}; {expected}"
        )
    parts = uri.path.strip("/").split("/")
    if len(parts) not in (2, 3) or parts[1] != "recordings":
        raise ValueError(
            f"RealtimeKit asset URI: path must be /<app_id>/recordings[/<recording_id>], got {uri.path!r}; "
            f"{expected}"
        )
    if not _APP_ID.fullmatch(parts[0]):
        raise ValueError(
            f"RealtimeKit asset URI: app_id must be letters, digits and dashes, got {parts[0]!r}; {expected}"
        )
    if len(parts) == 3 and not _RECORDING_ID.fullmatch(parts[2]):
        raise ValueError(f"RealtimeKit asset URI: recording_id must be a UUID, got {parts[2]!r}; {expected}")
    return uri._replace(path="/" + "/".join(parts))


def _events(context: Mapping[str, Any], asset: Any | None) -> Iterable[Any]:
    triggering = context.get("triggering_asset_events") or {}
    if asset is not None:
        return list(triggering[asset])
    return [event for events in triggering.values() for event in events]


def recordings_from_asset_events(context: Mapping[str, Any], asset: Any | None = None) -> list[Recording]:
    """The recordings carried by the run's triggering asset events (of ``asset`` only, when given).

    Only events fired by a trigger with a recording payload count; each (recording, status) appears once
    even if the event is reachable through an asset alias too. An empty list for a run not scheduled by
    the trigger (a manual run).
    """
    found: dict[tuple[str, str], Recording] = {}
    for event in _events(context, asset):
        extra = getattr(event, "extra", None) or {}
        payload = extra.get("payload") if isinstance(extra, Mapping) else None
        for recording in _payload_recordings(payload):
            found.setdefault(
                (recording["id"], str(recording.get("status"))), cast("Recording", dict(recording))
            )
    return list(found.values())


def _payload_recordings(payload: object) -> Iterator[Mapping[str, Any]]:
    """The recordings of one event payload: a poll's batch, or one recording; nothing for other payloads."""
    if not isinstance(payload, Mapping):
        return
    batch = payload.get("recordings")
    items = batch if isinstance(batch, list) else [payload]
    for item in items:
        if isinstance(item, Mapping) and isinstance(item.get("id"), str):
            yield item


def recording_ids_from_asset_events(context: Mapping[str, Any], asset: Any | None = None) -> list[str]:
    """The ids of ``recordings_from_asset_events``, each once, in event order."""
    return list(dict.fromkeys(r["id"] for r in recordings_from_asset_events(context, asset)))


def recording_from_asset_event(context: Mapping[str, Any], asset: Any | None = None) -> Recording:
    """The one recording of a run scheduled by a single event; an error naming the count otherwise."""
    recordings = recordings_from_asset_events(context, asset)
    if len(recordings) != 1:
        raise RealtimeKitError(
            f"expected the run to be triggered by exactly one recording event, found {len(recordings)}: "
            "Airflow folds events that arrive together into one run, so map a task over "
            "recording_ids_from_asset_events(context) instead"
        )
    return recordings[0]
