"""Wait for a RealtimeKit recording to reach a status, in poke, reschedule or deferrable mode."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_rtk._compat import default_deferrable
from airflow_provider_rtk._connection import DEFAULT_CONN_ID
from airflow_provider_rtk._redact import mask_download_urls
from airflow_provider_rtk._validation import require_id
from airflow_provider_rtk._wait import (
    DEFAULT_FAILURE_STATUSES,
    DEFAULT_TARGET_STATUSES,
    check_wait_statuses,
    evaluate,
    result_from_event,
    xcom_recording,
)
from airflow_provider_rtk.exceptions import (
    RealtimeKitError,
    RealtimeKitNotFoundError,
    RealtimeKitRecordingStateError,
)
from airflow_provider_rtk.types import Recording

try:
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException  # type: ignore[attr-defined]
except ImportError:  # Airflow 3.1
    from airflow.exceptions import (  # type: ignore[no-redef,attr-defined]
        AirflowFailException,
        AirflowSkipException,
    )

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook


class RealtimeKitRecordingSensor(BaseSensorOperator):
    """Wait until a recording reaches one of ``target_statuses``; return the recording as the XCom.

    A failure status (ERRORED by default) or an unknown recording (404) fails the task at once, without
    task retries: waiting longer cannot change either. Running out of ``timeout`` raises Airflow's sensor
    timeout, so ``soft_fail=True`` skips the task. Presigned download URLs are credentials: they are masked
    in task logs and left out of the XCom unless ``include_download_urls=True``.

    Deferrable mode checks once before deferring, then waits in the triggerer on a poller shared by all
    recording waits of the connection (``poke_interval`` is the poll interval).

    :param recording_id: the recording to wait for (templated).
    :param realtimekit_conn_id: Airflow connection of type ``realtimekit``.
    :param account_id: overrides the connection's ``account_id`` (templated).
    :param app_id: overrides the connection's ``app_id`` (templated).
    :param target_statuses: statuses that end the wait successfully.
    :param failure_statuses: statuses that fail the task (may be empty).
    :param include_download_urls: keep the presigned download URLs in the XCom.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = ("recording_id", "account_id", "app_id")
    ui_color = "#f6821f"

    def __init__(
        self,
        recording_id: str,
        *,
        realtimekit_conn_id: str = DEFAULT_CONN_ID,
        account_id: str | None = None,
        app_id: str | None = None,
        target_statuses: Iterable[str] = DEFAULT_TARGET_STATUSES,
        failure_statuses: Iterable[str] = DEFAULT_FAILURE_STATUSES,
        include_download_urls: bool = False,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.recording_id = recording_id
        self.realtimekit_conn_id = realtimekit_conn_id
        self.account_id = account_id
        self.app_id = app_id
        self.target_statuses, self.failure_statuses = check_wait_statuses(target_statuses, failure_statuses)
        self.include_download_urls = include_download_urls
        self.deferrable = default_deferrable() if deferrable is None else deferrable

    @cached_property
    def hook(self) -> RealtimeKitHook:
        from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook

        return RealtimeKitHook(self.realtimekit_conn_id, account_id=self.account_id, app_id=self.app_id)

    def execute(self, context: Context) -> Any:
        self.recording_id = require_id("recording_id", self.recording_id)
        try:
            if not self.deferrable:
                return super().execute(context)
            return self._execute_deferrable(context)
        finally:
            self.hook.close()

    def _execute_deferrable(self, context: Context) -> Any:
        started = time.monotonic()
        try:
            done = self.poke(context)
        except AirflowFailException as exc:
            if self.soft_fail:
                raise AirflowSkipException(f"Skipping due to soft_fail: {exc}") from exc
            raise
        if not isinstance(done, PokeReturnValue):
            remaining = self.timeout - (time.monotonic() - started)
            from airflow_provider_rtk.triggers.recording import RealtimeKitRecordingTrigger

            self.defer(
                trigger=RealtimeKitRecordingTrigger(
                    self.recording_id,
                    realtimekit_conn_id=self.realtimekit_conn_id,
                    account_id=self.account_id,
                    app_id=self.app_id,
                    target_statuses=self.target_statuses,
                    failure_statuses=self.failure_statuses,
                    poll_interval=self.poke_interval,
                    end_time=time.time() + remaining if math.isfinite(remaining) else None,
                    include_download_urls=self.include_download_urls,
                ),
                method_name="execute_complete",
            )
        return done.xcom_value

    def poke(self, context: Context) -> bool | PokeReturnValue:
        try:
            recording = self.hook.get_recording(self.recording_id)
        except RealtimeKitNotFoundError as exc:
            raise AirflowFailException(
                f"recording {self.recording_id} not found (HTTP 404): check recording_id, account_id and "
                f"app_id. API said: {exc.message}"
            ) from exc
        self._mask(recording)
        self.log.info("Recording %s is %s", self.recording_id, recording.get("status"))
        if self._reached(recording):
            xcom = xcom_recording(recording, self.include_download_urls)
            return PokeReturnValue(is_done=True, xcom_value=xcom)
        return False

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Recording:
        """Finish after the trigger's event: the recording, or the error the event stands for."""
        try:
            recording = result_from_event(event)
        except RealtimeKitRecordingStateError as exc:
            raise AirflowFailException(str(exc)) from exc
        self._mask(recording)
        self.log.info("Recording %s is %s", recording.get("id"), recording.get("status"))
        return recording

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

    def _reached(self, recording: Recording) -> bool:
        try:
            return evaluate(recording, self.target_statuses, self.failure_statuses)
        except RealtimeKitRecordingStateError as exc:
            raise AirflowFailException(str(exc)) from exc

    @staticmethod
    def _mask(recording: Recording) -> None:
        mask_download_urls(recording)
