"""What every RealtimeKit task shares (recording operators, the sensor, the download operator): the
connection arguments, the hook (created on first use, closed after each run), API errors that say what to
check, and the deferral to the recording trigger and back.

A task implements ``run`` (and ``resume`` when it defers); ``execute`` and ``execute_complete`` are the
template that calls them inside ``task_scope``, which closes the hook and explains API errors.

Importing this module loads no HTTP client: the hook and the trigger are imported when a task runs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from airflow_provider_rtk._core.defaults import DEFAULT_CONN_ID, DEFAULT_FAILURE_STATUSES
from airflow_provider_rtk._core.redact import mask_download_urls
from airflow_provider_rtk.exceptions import RealtimeKitApiError, RealtimeKitRecordingStateError

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context

    from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook
    from airflow_provider_rtk.types import Recording

    _Task = BaseOperator
else:
    _Task = object


def is_literal(value: object) -> bool:
    """Whether ``value`` is final when the DAG is parsed: no Jinja template and no XComArg inside."""
    if isinstance(value, str):
        return "{{" not in value and "{%" not in value
    if isinstance(value, Mapping):
        return all(is_literal(k) and is_literal(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(is_literal(v) for v in value)
    return value is None or isinstance(value, bool | int | float | datetime)


def int_from_template(value: Any) -> Any:
    """A rendered integer template (``"3600"``) as an int; anything else unchanged (validation judges it)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


def as_seconds(value: float | timedelta) -> float:
    """A duration given as seconds or as a ``timedelta``, in seconds."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class RealtimeKitTask(_Task):
    """Connection arguments and the hook, for ``BaseOperator`` and ``BaseSensorOperator`` subclasses
    (listed first among the bases).

    Subclasses implement ``run`` (the work of ``execute``) and, when they defer, ``resume`` (the work of
    ``execute_complete``). Both run inside ``task_scope``: the hook is closed when they end, deferral
    included, and a 401, 403 or 404 from the API is re-raised with what to check (``what_to_check``).

    :param realtimekit_conn_id: Airflow connection of type ``realtimekit``.
    :param account_id: overrides the connection's ``account_id``.
    :param app_id: overrides the connection's ``app_id``.
    """

    def __init__(
        self,
        *,
        realtimekit_conn_id: str = DEFAULT_CONN_ID,
        account_id: str | None = None,
        app_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.realtimekit_conn_id = realtimekit_conn_id
        self.account_id = account_id
        self.app_id = app_id

    def execute(self, context: Context) -> Any:
        """Run ``run`` inside ``task_scope``."""
        with self.task_scope():
            return self.run(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after a deferral: ``resume`` inside ``task_scope``."""
        with self.task_scope():
            return self.resume(context, event)

    def run(self, context: Context) -> Any:
        """The task's work."""
        raise NotImplementedError(f"{type(self).__name__} must implement run()")

    def resume(self, context: Context, event: dict[str, Any]) -> Any:
        """The task's work after a deferred wait's event (tasks that defer implement it)."""
        raise NotImplementedError(f"{type(self).__name__} does not defer")

    @contextmanager
    def task_scope(self) -> Iterator[None]:
        """Close the hook when the block ends; re-raise an API error with what to check."""
        try:
            yield
        except RealtimeKitApiError as exc:
            from airflow_provider_rtk._core.errors import with_hint

            hinted = with_hint(exc, **self._ids())
            if hinted is exc:
                raise
            raise hinted from exc
        finally:
            if "hook" in self.__dict__:
                self.hook.close()

    @cached_property
    def hook(self) -> RealtimeKitHook:
        from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook

        return RealtimeKitHook(self.realtimekit_conn_id, account_id=self.account_id, app_id=self.app_id)

    def _ids(self) -> dict[str, str | None]:
        """The account and app the hook used (for error hints), as far as they are known."""
        try:
            settings = self.hook.settings
        except Exception:
            return {"account_id": self.account_id, "app_id": self.app_id}
        return {"account_id": settings.account_id, "app_id": settings.app_id}

    def defer_until(
        self,
        recording_id: str,
        target_statuses: Iterable[str],
        *,
        failure_statuses: Iterable[str],
        poll_interval: float,
        timeout: float | None,
        max_backoff: float | None = None,
        max_consecutive_errors: int | None = None,
        method_name: str = "execute_complete",
    ) -> NoReturn:
        """Hand the wait to ``RealtimeKitRecordingTrigger`` (the coalesced poller of the triggerer);
        ``method_name`` resumes with its event (see ``finish_wait``). ``timeout``: seconds from now."""
        from airflow_provider_rtk.triggers.recording import RealtimeKitRecordingTrigger

        targets = tuple(target_statuses)
        self.log.info("Deferring until recording %s is %s", recording_id, " or ".join(targets))
        self.defer(
            trigger=RealtimeKitRecordingTrigger(
                recording_id,
                realtimekit_conn_id=self.realtimekit_conn_id,
                account_id=self.account_id,
                app_id=self.app_id,
                target_statuses=targets,
                failure_statuses=failure_statuses,
                poll_interval=poll_interval,
                end_time=time.time() + timeout if timeout is not None and math.isfinite(timeout) else None,
                max_backoff=max_backoff,
                max_consecutive_errors=max_consecutive_errors,
            ),
            method_name=method_name,
        )

    def wait_until(
        self,
        recording: Recording,
        statuses: Iterable[str],
        *,
        timeout: float,
        poll_interval: float,
        deferrable: bool,
        max_backoff: float | None = None,
        max_consecutive_errors: int | None = None,
    ) -> Recording:
        """``recording`` once it is in one of ``statuses``: at once when it already is, else by polling
        in this task (``RealtimeKitHook.wait_for_status``) or, when ``deferrable``, in the triggerer (the
        task resumes in ``execute_complete``). ERRORED raises ``RealtimeKitRecordingStateError``."""
        # The wait rules load when a task waits, not when a DAG file is parsed.
        from airflow_provider_rtk._core.waiting import classify, describe_failure

        targets = tuple(statuses)
        state = classify(recording, targets, DEFAULT_FAILURE_STATUSES)
        if state == "failed":
            raise RealtimeKitRecordingStateError(describe_failure(recording))
        if state == "done":
            return recording
        if deferrable:
            self.defer_until(
                recording["id"],
                targets,
                failure_statuses=DEFAULT_FAILURE_STATUSES,
                poll_interval=poll_interval,
                timeout=timeout,
                max_backoff=max_backoff,
                max_consecutive_errors=max_consecutive_errors,
            )
        return self.hook.wait_for_status(
            recording["id"],
            targets,
            timeout=timeout,
            poll_interval=poll_interval,
            max_backoff=max_backoff,
            max_consecutive_errors=max_consecutive_errors,
        )

    def finish_wait(self, event: Mapping[str, Any], *, include_download_urls: bool) -> Recording:
        """The recording a trigger's event reports, or the exception it stands for.

        Events never carry download URLs (Airflow logs every event): with ``include_download_urls`` the
        recording is fetched once more here, in the task, for fresh ones (masked in the task log).
        """
        from airflow_provider_rtk._core.waiting import result_from_event

        recording = result_from_event(event)
        if include_download_urls:
            recording = self.hook.get_recording(recording["id"])
        mask_download_urls(recording)
        return recording
