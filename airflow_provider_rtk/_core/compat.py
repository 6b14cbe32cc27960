"""Names whose home moved between Airflow 3.1 and 3.3, imported once here."""

from __future__ import annotations

from typing import Any

try:
    from airflow.sdk import conf
except ImportError:  # Airflow 3.1
    from airflow.configuration import conf  # type: ignore[no-redef,assignment]

try:
    from airflow.sdk.exceptions import AirflowSensorTimeout
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowSensorTimeout  # type: ignore[no-redef,attr-defined]

try:
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException  # type: ignore[attr-defined]
except ImportError:  # Airflow 3.1
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined]
        AirflowFailException,
        AirflowSkipException,
    )

from airflow.sdk.log import mask_secret as _mask_in_sdk

__all__ = [
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "conf",
    "default_deferrable",
    "hook_lineage_collector",
    "mask_secret",
]


def mask_secret(secret: str) -> None:
    """Register ``secret`` with every secret masker present in this process.

    The Task SDK's masker redacts task logs; where airflow-core is installed it has a separate instance,
    and Airflow 3.1.0 redacts rendered template fields with that one alone (apache/airflow#58767).
    """
    if not secret:
        return
    _mask_in_sdk(secret)
    try:
        from airflow._shared.secrets_masker import mask_secret as mask_in_core
    except ImportError:  # a worker with the Task SDK only
        return
    mask_in_core(secret)


def default_deferrable() -> bool:
    """``[operators] default_deferrable``, read when a task is built (not at import)."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


def hook_lineage_collector() -> Any:
    """Airflow's hook-level lineage collector (a no-op unless a lineage reader, e.g. OpenLineage, is
    installed); it moved to the Task SDK in Airflow 3.2."""
    try:
        from airflow.sdk.lineage import get_hook_lineage_collector
    except ImportError:  # Airflow 3.1
        from airflow.lineage.hook import get_hook_lineage_collector  # type: ignore[no-redef]
    return get_hook_lineage_collector()
