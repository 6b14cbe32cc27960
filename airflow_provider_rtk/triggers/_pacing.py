"""The event trigger's one seam to the provider's pacing rules: poll back-off, argument checks, retries.

The event trigger's modules take every pacing name from here, so the whole watch follows one rule and
re-pointing it (at a shared pacing object) is a change to this file only. Cheap to import: the retry policy
(tenacity) is imported when a hook is built, in the triggerer, never at DAG parse time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_rtk._backoff import DEFAULT_MAX_BACKOFF, PollBackoff, check_backoff_args

if TYPE_CHECKING:
    from airflow_provider_rtk._retry import RetryPolicy

__all__ = ["DEFAULT_MAX_BACKOFF", "PollBackoff", "check_backoff_args", "one_attempt"]


def one_attempt() -> RetryPolicy:
    """The hook's retry policy for a watch: one attempt per request, since the poll loop owns retries
    (``PollBackoff``), so there is one back-off rule."""
    from airflow_provider_rtk._retry import RetryPolicy

    return RetryPolicy(max_attempts=1)
