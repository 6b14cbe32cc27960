"""Apache Airflow provider for Cloudflare RealtimeKit recordings.

Nothing is imported here eagerly: DAG files import ``airflow_provider_rtk.operators...`` on every parse,
and this package must stay cheap to import. ``__version__`` is read from the installed distribution's
metadata (``pyproject.toml`` is its one source) when first asked for.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DISTRIBUTION", "__version__"]

DISTRIBUTION = "airflow-provider-rtk"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version(DISTRIBUTION)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
