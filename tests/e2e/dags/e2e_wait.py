"""e2e: one deferrable wait for a recording the harness controls (triggerer loss and API outage)."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_rtk.sensors.recording import RealtimeKitRecordingSensor

with DAG(
    dag_id="e2e_wait",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1000,
    max_active_tasks=1000,
    default_args={"retries": 0, "retry_delay": timedelta(seconds=5)},
    params={"recording_id": Param("", type="string")},
    tags=["e2e"],
) as dag:
    RealtimeKitRecordingSensor(
        task_id="wait",
        recording_id="{{ params.recording_id }}",
        deferrable=True,
        poke_interval=10,
        timeout=1800,
    )
