"""Names whose home moved between Airflow 3.1 and 3.3, imported once here."""

from __future__ import annotations

try:
    from airflow.sdk import conf
except ImportError:  # Airflow 3.1
    from airflow.configuration import conf  # type: ignore[no-redef,assignment]

try:
    from airflow.sdk.exceptions import AirflowSensorTimeout
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowSensorTimeout  # type: ignore[no-redef,attr-defined]

from airflow.sdk.log import mask_secret

__all__ = ["AirflowSensorTimeout", "conf", "default_deferrable", "mask_secret"]


def default_deferrable() -> bool:
    """``[operators] default_deferrable``, read when a task is built (not at import)."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)
