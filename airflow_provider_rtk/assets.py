"""The consumer side of ``RealtimeKitRecordingEventTrigger``: recordings from a DAG run's asset events.

A DAG scheduled on an asset watched by the trigger runs with ``triggering_asset_events`` in its context;
each event the trigger fired carries the recording in ``extra["payload"]`` (public fields, no download
URL). Airflow may fold several events into one run (every event stored since the DAG's previous run, e.g.
recordings that finished in the same poll), so a consumer handles a list: map a task over
``recording_ids_from_asset_events``, or let the download operator (``from_asset_event=True``) archive them
all. Delivery is at least once on a restart, so consumers should be idempotent (the download operator
skips files already archived).

Cheap to import (DAG files do): no hook, no HTTP client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, cast

from airflow_provider_rtk.exceptions import RealtimeKitError
from airflow_provider_rtk.types import Recording

#: The scheme of the example asset URIs, ``realtimekit://<account_id>/<app_id>/recordings``.
ASSET_SCHEME: Final[str] = "realtimekit"


def recordings_asset_uri(account_id: str, app_id: str) -> str:
    """``realtimekit://<account_id>/<app_id>/recordings``: a URI naming one app's recordings."""
    return f"{ASSET_SCHEME}://{account_id}/{app_id}/recordings"


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
        if not isinstance(payload, Mapping) or not isinstance(payload.get("id"), str):
            continue
        found.setdefault((payload["id"], str(payload.get("status"))), cast("Recording", dict(payload)))
    return list(found.values())


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
