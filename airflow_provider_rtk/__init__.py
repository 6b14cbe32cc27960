"""Apache Airflow provider for Cloudflare RealtimeKit recordings.

Nothing is imported here eagerly: DAG files import ``airflow_provider_rtk.operators...`` on every parse,
and this package must stay cheap to import.
"""

from __future__ import annotations

__version__ = "0.1.0"
