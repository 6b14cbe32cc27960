"""Wait for a RealtimeKit recording to reach a status, in poke, reschedule or deferrable mode."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_rtk._core.compat import AirflowFailException, AirflowSkipException, default_deferrable
from airflow_provider_rtk._core.defaults import (
    DEFAULT_CONN_ID,
    DEFAULT_FAILURE_STATUSES,
    DEFAULT_TARGET_STATUSES,
)
from airflow_provider_rtk._core.pacing import Pacing
from airflow_provider_rtk._core.redact import mask_download_urls, xcom_recording
from airflow_provider_rtk._core.validation import check_error_limit, check_wait_statuses, require_uuid
from airflow_provider_rtk._task import RealtimeKitTask, is_literal
from airflow_provider_rtk.exceptions import (
    RealtimeKitApiError,
    RealtimeKitError,
    RealtimeKitRecordingStateError,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_rtk._core.waiting import WaitProgress
    from airflow_provider_rtk.types import Recording

__all__ = ["RealtimeKitRecordingSensor"]


class RealtimeKitRecordingSensor(RealtimeKitTask, BaseSensorOperator):
    """Wait until a recording reaches one of ``target_statuses``; return the recording as the XCom.

    A failure status (ERRORED by default) or an API error that waiting cannot fix (401, 403, 404, 400)
    fails the task at once, without task retries, saying what to check. Running out of ``timeout`` raises
    Airflow's sensor timeout, so ``soft_fail=True`` skips the task. Presigned download URLs are
    credentials: they are masked in task logs and left out of the XCom unless ``include_download_urls=True``.

    Outages and throttling (no response, 429, 5xx) never end the wait before ``timeout``. In poke mode a
    failed poke returns False, the next poke backs off from ``poke_interval`` up to ``max_backoff``
    (honouring ``Retry-After``), and warnings are logged at the 1st, 2nd, 4th... failure in a row. In
    reschedule mode each poke is a new process with no memory of the last: every failed poke logs a warning
    and is retried after ``poke_interval`` (or the ``Retry-After``), and ``max_consecutive_errors`` can only
    count failures within one poke. Deferrable mode checks once, then waits in the triggerer on a poller
    shared by all recording waits of the connection (``poke_interval`` is the poll interval) with the same
    back-off.

    :param recording_id: the recording to wait for (templated).
    :param target_statuses: statuses that end the wait successfully.
    :param failure_statuses: statuses that fail the task (may be empty).
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param max_backoff: longest delay between polls while the API fails, in seconds (default: 300, or
        ``poke_interval`` when longer).
    :param max_consecutive_errors: opt-in: fail after this many failed polls in a row (429s not counted);
        by default only ``timeout`` ends the wait.
    :param realtimekit_conn_id: Airflow connection of type ``realtimekit``.
    :param account_id: overrides the connection's ``account_id`` (templated).
    :param app_id: overrides the connection's ``app_id`` (templated).
    :param include_download_urls: keep the presigned download URLs in the XCom.
    """

    template_fields: Sequence[str] = ("recording_id", "account_id", "app_id")
    ui_color = "#f6821f"

    def __init__(
        self,
        recording_id: str,
        *,
        target_statuses: Iterable[str] = DEFAULT_TARGET_STATUSES,
        failure_statuses: Iterable[str] = DEFAULT_FAILURE_STATUSES,
        deferrable: bool | None = None,
        max_backoff: float | None = None,
        max_consecutive_errors: int | None = None,
        realtimekit_conn_id: str = DEFAULT_CONN_ID,
        account_id: str | None = None,
        app_id: str | None = None,
        include_download_urls: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            realtimekit_conn_id=realtimekit_conn_id, account_id=account_id, app_id=app_id, **kwargs
        )
        self.recording_id = recording_id
        if is_literal(recording_id):
            require_uuid("recording_id", recording_id)
        self.target_statuses, self.failure_statuses = check_wait_statuses(target_statuses, failure_statuses)
        self.include_download_urls = include_download_urls
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.max_backoff = Pacing.for_wait(float(self.poke_interval), max_backoff).cap
        self.max_consecutive_errors = check_error_limit(max_consecutive_errors)
        self._progress: WaitProgress | None = None
        self._retry_in: float | None = None

    def run(self, context: Context) -> Any:
        self.recording_id = require_uuid("recording_id", self.recording_id)
        if not self.deferrable:
            return BaseSensorOperator.execute(self, context)
        started = time.monotonic()
        try:
            done = self.poke(context)
        except AirflowFailException as exc:
            if self.soft_fail:
                raise AirflowSkipException(f"Skipping due to soft_fail: {exc}") from exc
            raise
        if not isinstance(done, PokeReturnValue):
            self.defer_until(
                self.recording_id,
                self.target_statuses,
                failure_statuses=self.failure_statuses,
                poll_interval=self.poke_interval,
                timeout=self.timeout - (time.monotonic() - started),
                max_backoff=self.max_backoff,
                max_consecutive_errors=self.max_consecutive_errors,
            )
        return done.xcom_value

    def _wait_progress(self, context: Context) -> WaitProgress:
        # The wait rules load when the sensor pokes, not when a DAG file is parsed.
        from airflow_provider_rtk._core.waiting import WaitProgress

        if self._progress is None:
            self._progress = WaitProgress.start(
                self.recording_id,
                self.target_statuses,
                self.log,
                pacing=Pacing(float(self.poke_interval), self.max_backoff),
                max_consecutive_errors=self.max_consecutive_errors,
                clock=time.time,
            )
            first = _first_poke(self, context)
            if first is not None:
                self._progress.started = first.timestamp()
        return self._progress

    def poke(self, context: Context) -> bool | PokeReturnValue:
        from airflow_provider_rtk._core.errors import with_hint
        from airflow_provider_rtk._core.waiting import classify, describe_failure

        progress = self._wait_progress(context)
        try:
            recording = self.hook.get_recording(self.recording_id, single_attempt=True)
        except RealtimeKitError as exc:
            if exc.transient:
                self._retry_in = progress.failed(exc)
                return False
            if isinstance(exc, RealtimeKitApiError):
                raise AirflowFailException(str(with_hint(exc, **self._ids()))) from exc
            raise
        self._retry_in = None
        mask_download_urls(recording)
        progress.seen(recording.get("status"))
        state = classify(recording, self.target_statuses, self.failure_statuses)
        if state == "failed":
            raise AirflowFailException(describe_failure(recording))
        if state == "done":
            return PokeReturnValue(
                is_done=True, xcom_value=xcom_recording(recording, self.include_download_urls)
            )
        return False

    def _get_next_poke_interval(
        self, started_at: datetime | float, run_duration: Callable[[], float], poke_count: int
    ) -> float:
        """After a failed poke, the back-off delay (never past ``timeout``); else Airflow's own rule.

        Airflow 3.1 to 3.3 give a sensor no public way to set the delay before its next poke (only the fixed
        ``poke_interval`` and ``exponential_backoff``), so this overrides the private method, which has this
        signature in every supported version; the poke-mode outage tests run on 3.1 and 3.3.
        """
        if self._retry_in is None:
            return float(super()._get_next_poke_interval(started_at, run_duration, poke_count))
        return max(0.0, min(self._retry_in, self.timeout - run_duration()))

    def resume(self, context: Context, event: dict[str, Any]) -> Recording:
        """Finish after the trigger's event: the recording (fetched once more for its download URLs when
        ``include_download_urls``), or the error the event stands for."""
        try:
            recording = self.finish_wait(event, include_download_urls=self.include_download_urls)
        except RealtimeKitRecordingStateError as exc:
            raise AirflowFailException(str(exc)) from exc
        self.log.info("Recording %s is %s", recording.get("id"), recording.get("status"))
        return xcom_recording(recording, self.include_download_urls)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """As in poke mode, ``soft_fail`` skips on a timeout or a failure status only: an API error the
        trigger gave up on (a rejected token, a vanished recording) still fails the task."""
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowSkipException as skip:
            cause = skip.__cause__
            if self.soft_fail and isinstance(cause, RealtimeKitError):
                raise cause from None
            raise


def _first_poke(sensor: BaseSensorOperator, context: Context) -> datetime | None:
    """When a reschedule-mode sensor first poked (its earlier pokes ran in other processes)."""
    if not sensor.reschedule:
        return None
    ti = context.get("ti") if hasattr(context, "get") else None
    first = getattr(ti, "get_first_reschedule_date", None)
    try:
        value = first(context) if callable(first) else None
        # Airflow 3.1's dag.test() hands it over as an ISO string.
        return datetime.fromisoformat(value) if isinstance(value, str) else value
    except Exception:
        return None
