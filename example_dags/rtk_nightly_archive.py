"""Every night, archive each recording that finished uploading the day before.

Lists the UPLOADED recordings invoked on the UTC day before the run's date and archives each one in
its own mapped task. The run's date is its logical date (a scheduled run or a backfill), or, for a run
triggered by hand without one (Airflow 3's UI and REST API), when it was triggered (``run_after``).
Re-runs and backfills are cheap: a file already archived with the right size is skipped without
downloading it again (``if_exists="skip"``). RealtimeKit keeps files for 7 days, so a nightly run with a
few retries is well inside that window.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_rtk.operators.download import RealtimeKitDownloadRecordingOperator
from airflow_provider_rtk.operators.recording import RealtimeKitListRecordingsOperator

# The UTC day before the run's date, as YYYY-MM-DD. Every run has ``dag_run.run_after``; only scheduled
# runs and backfills have a ``logical_date`` (and ``ds``): a run triggered by hand would fail on ``ds``.
RUN_DATE = "(logical_date | default(dag_run.run_after, true))"
ARCHIVED_DAY = "{{ (" + RUN_DATE + " - macros.timedelta(days=1)) | ds }}"
ARCHIVE_ROOT = "{{ var.value.get('rtk_archive_root', '/tmp/rtk-archive') }}"

with DAG(
    dag_id="rtk_nightly_archive",
    description="Archive yesterday's uploaded recordings, one mapped task each",
    schedule="0 3 * * *",  # 03:00 UTC: late enough for the day's last uploads to have finished
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 3, "retry_delay": timedelta(minutes=5)},
    tags=["realtimekit", "example"],
) as dag:
    uploaded = RealtimeKitListRecordingsOperator(
        task_id="list_uploaded",
        status=["UPLOADED"],
        # The whole UTC day before the run's date. (Airflow 3's cron schedules give a run an empty data
        # interval by default, so the window comes from the run's date, not from data_interval_*.)
        start_time=ARCHIVED_DAY + "T00:00:00Z",
        end_time=ARCHIVED_DAY + "T23:59:59.999Z",  # the API's end_time is inclusive
        sort_order="ASC",
    )

    RealtimeKitDownloadRecordingOperator.partial(
        task_id="archive",
        destination=f"{ARCHIVE_ROOT}/nightly/{ARCHIVED_DAY}/",
        if_exists="skip",
        max_active_tis_per_dag=4,
    ).expand(recording_id=uploaded.output.map(lambda recording: recording["id"]))
