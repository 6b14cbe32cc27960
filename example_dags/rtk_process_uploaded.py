"""Archive every recording of the app as soon as it is uploaded, and write its summary: no sensor at all.

The DAG is scheduled on an asset watched by ``RealtimeKitRecordingEventTrigger``: the triggerer polls the
app (one request per poll in steady state, whatever the length of its recordings) and reports each
recording that reaches UPLOADED, whoever started it (Airflow, the meeting host, auto-record), as an asset
event, which starts a run of this DAG. On Airflow 3.1-3.3 one event carries every recording of one poll
(so none waits for the asset's next event); from 3.4 each recording is an event, and Airflow may fold
several into one run. Either way the run maps one ``archive`` task per recording it was triggered by
(``recording_ids_from_asset_events`` reads both shapes). Runs have no logical date and use none.

Delivery is exactly once in steady state and at least once around a triggerer restart (see the trigger's
docstring per Airflow version): archiving is idempotent (``if_exists="skip"``), so a repeated event costs
one API request and no download.

Configuration:
- connection ``realtimekit_default`` (type ``realtimekit``); environment ``RTK_ACCOUNT_ID`` / ``RTK_APP_ID``
  name the app in the asset URI (the trigger uses the connection's when they are not set), and
  ``RTK_POLL_INTERVAL`` / ``RTK_LOOKBACK`` set the trigger's ``poll_interval`` and ``lookback`` in seconds
  (defaults 60 and 3600);
- Variable ``rtk_archive_root``: where files go, any Airflow object-storage URL (default
  ``/tmp/rtk-archive``);
- param ``recording_id``: a manual run archives that recording.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG, Asset, AssetWatcher, Param, task

from airflow_provider_rtk.assets import recording_ids_from_asset_events, recordings_asset_uri
from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator
from airflow_provider_rtk.triggers.events import RealtimeKitRecordingEventTrigger

ACCOUNT_ID = os.environ.get("RTK_ACCOUNT_ID")
APP_ID = os.environ.get("RTK_APP_ID")
POLL_INTERVAL = float(os.environ.get("RTK_POLL_INTERVAL", "60"))
LOOKBACK = float(os.environ.get("RTK_LOOKBACK", "3600"))
ARCHIVE = "{{ var.value.get('rtk_archive_root', '/tmp/rtk-archive') }}/uploaded/"

UPLOADED_RECORDINGS = Asset(
    recordings_asset_uri(ACCOUNT_ID or "account", APP_ID or "app"),
    watchers=[
        AssetWatcher(
            name="rtk_uploaded_recordings",
            trigger=RealtimeKitRecordingEventTrigger(
                account_id=ACCOUNT_ID, app_id=APP_ID, poll_interval=POLL_INTERVAL, lookback=LOOKBACK
            ),
        )
    ],
)

with DAG(
    dag_id="rtk_process_uploaded",
    description="Archive each uploaded recording and write its summary, on the recording's asset event",
    schedule=[UPLOADED_RECORDINGS],
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    params={"recording_id": Param(None, type=["null", "string"], description="Manual runs: the recording")},
    tags=["realtimekit", "example"],
) as dag:

    @task
    def uploaded_recordings(**context: object) -> list[str]:
        """The recordings that triggered this run (or the ``recording_id`` param of a manual run)."""
        ids = recording_ids_from_asset_events(context)
        manual = context["params"].get("recording_id")  # type: ignore[attr-defined]
        if manual and manual not in ids:
            ids.append(manual)
        return ids

    archive = RealtimeKitDownloadRecordingOperator.partial(
        task_id="archive", destination=ARCHIVE, if_exists="skip", max_active_tis_per_dag=4
    ).expand(recording_id=uploaded_recordings())

    @task
    def summarize(uris: list[str]) -> dict[str, dict[str, object]]:
        """Read one recording's archived files back; write ``<video stem>.summary.json`` beside them."""
        import hashlib
        import json

        from airflow.sdk import ObjectStoragePath

        summary: dict[str, dict[str, object]] = {}
        for uri in uris:
            path = ObjectStoragePath(uri)
            digest = hashlib.sha256()
            size = 0
            with path.open("rb") as handle:
                while chunk := handle.read(8 << 20):
                    digest.update(chunk)
                    size += len(chunk)
            summary[path.name] = {"uri": uri, "size": size, "sha256": digest.hexdigest()}
        video = ObjectStoragePath(uris[0])
        (video.parent / f"{video.stem}.summary.json").write_text(
            json.dumps(summary, indent=2, sort_keys=True)
        )
        return summary

    summarize.expand(uris=archive.output)
