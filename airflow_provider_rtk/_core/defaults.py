"""The defaults a DAG author reads in the public signatures: the connection id, the statuses a wait ends
on, and how long a start waits for the bot to join.

Constants only, so that every DAG-facing module takes them at parse time without loading the connection or
the wait machinery (as httpx keeps its defaults in ``_config``).
"""

from __future__ import annotations

from typing import Final

from airflow_provider_rtk.types import RecordingStatus

__all__ = [
    "DEFAULT_CONN_ID",
    "DEFAULT_FAILURE_STATUSES",
    "DEFAULT_STARTUP_TIMEOUT",
    "DEFAULT_TARGET_STATUSES",
]

DEFAULT_CONN_ID: Final[str] = "realtimekit_default"
DEFAULT_TARGET_STATUSES: Final[tuple[RecordingStatus, ...]] = ("UPLOADED",)
DEFAULT_FAILURE_STATUSES: Final[tuple[RecordingStatus, ...]] = ("ERRORED",)
#: How long pause, resume and ``wait_for_recording`` wait for the bot to join (INVOKED -> RECORDING).
DEFAULT_STARTUP_TIMEOUT: Final[float] = 120.0
