"""Operators for Cloudflare RealtimeKit recordings: start (optionally waiting until it records), stop
(optionally waiting for the upload), pause, resume, start a track recording, get one and list them.

Each operator returns the recording (storage secrets stripped) as its XCom value; those returning one
recording also push its id as the XCom ``id``, so ``start.output["id"]`` feeds the next task. Presigned
download URLs are credentials: they are masked in task logs and left out of the XCom value unless the
task is built with ``include_download_urls=True``.

Operators are callers: every request, retry, wait and decision about the API's answers is the hook's
(:class:`~airflow_provider_rtk.hooks.realtimekit.RealtimeKitHook`), imported when a task runs, so that
importing this module (on every DAG parse) loads no HTTP client.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_rtk._core.compat import default_deferrable
from airflow_provider_rtk._core.defaults import (
    DEFAULT_CONN_ID,
    DEFAULT_STARTUP_TIMEOUT,
    DEFAULT_TARGET_STATUSES,
)
from airflow_provider_rtk._core.pacing import Pacing
from airflow_provider_rtk._core.redact import mask_config_secrets, mask_download_urls, xcom_recording
from airflow_provider_rtk._core.validation import (
    LIST_FILTERS,
    START_FIELDS,
    build_list_params,
    build_start_body,
    build_track_body,
    check_error_limit,
    check_int,
    require_uuid,
)
from airflow_provider_rtk._task import (
    RealtimeKitTask,
    as_seconds,
    int_from_template,
    is_literal,
)
from airflow_provider_rtk.exceptions import RealtimeKitInputError
from airflow_provider_rtk.types import STARTED_STATUSES

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context

    from airflow_provider_rtk.types import Recording


__all__ = [
    "RealtimeKitBaseOperator",
    "RealtimeKitGetRecordingOperator",
    "RealtimeKitListRecordingsOperator",
    "RealtimeKitPauseRecordingOperator",
    "RealtimeKitResumeRecordingOperator",
    "RealtimeKitStartRecordingOperator",
    "RealtimeKitStartTrackRecordingOperator",
    "RealtimeKitStopRecordingOperator",
]


def _positive(field: str, value: float) -> float:
    if not value > 0:
        raise RealtimeKitInputError(f"{field}: must be positive, got {value}")
    return value


class RealtimeKitBaseOperator(RealtimeKitTask, BaseOperator):
    """Arguments every RealtimeKit operator shares, and its hook (closed after each run).

    :param realtimekit_conn_id: Airflow connection of type ``realtimekit``.
    :param account_id: overrides the connection's ``account_id``.
    :param app_id: overrides the connection's ``app_id``.
    :param include_download_urls: keep presigned download URLs in the returned recording. They are
        credentials (anyone holding one can fetch the meeting until it expires, up to 7 days) and XCom
        values are readable by every DAG author, so they are left out by default.
    """

    template_fields: Sequence[str] = ("account_id", "app_id")

    def __init__(
        self,
        *,
        realtimekit_conn_id: str = DEFAULT_CONN_ID,
        account_id: str | None = None,
        app_id: str | None = None,
        include_download_urls: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            realtimekit_conn_id=realtimekit_conn_id, account_id=account_id, app_id=app_id, **kwargs
        )
        self.include_download_urls = include_download_urls

    def _result(self, recording: Recording, context: Context | None = None) -> Recording:
        """Mask the recording's presigned URLs in logs; return what may go to XCom.

        With ``context``, also push the recording id as XCom ``id``, which ``task.output["id"]`` reads.
        """
        mask_download_urls(recording)
        if context is not None:
            context["ti"].xcom_push(key="id", value=recording["id"])
        return xcom_recording(recording, self.include_download_urls)

    def resume(self, context: Context, event: dict[str, Any]) -> Recording:
        """Resume after a deferred wait (``wait_until``): the recording, or the error its event describes."""
        recording = self.finish_wait(event, include_download_urls=self.include_download_urls)
        return self._result(recording, context)

    def render_template(
        self,
        content: Any,
        context: Context,
        jinja_env: jinja2.Environment | None = None,
        seen_oids: set[int] | None = None,
    ) -> Any:
        """Render as usual, then mask rendered secrets (storage credentials, RTMP URLs) before the rendered
        fields are stored.

        Overridden here rather than ``render_template_fields``, which mapped tasks do not call.
        """
        rendered = super().render_template(content, context, jinja_env, seen_oids)
        mask_config_secrets(rendered)
        return rendered


class _RecordingIdOperator(RealtimeKitBaseOperator):
    """An operator acting on one existing recording, ``recording_id`` (templated)."""

    template_fields: Sequence[str] = (*RealtimeKitBaseOperator.template_fields, "recording_id")

    def __init__(self, recording_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.recording_id = recording_id
        if is_literal(recording_id):
            require_uuid("recording_id", recording_id)


class _StartOperator(RealtimeKitBaseOperator):
    """A start, optionally waiting until the recording's bot has joined (``wait_for_recording``).

    :param wait_for_recording: succeed only once the recording is RECORDING (or already past it: PAUSED,
        UPLOADING, UPLOADED); a recording that ends ERRORED instead (the bot could not join) fails the
        task with its stop reason, and one still INVOKED after ``startup_timeout`` raises
        ``AirflowSensorTimeout``. Waiting survives API outages and throttling up to ``startup_timeout``.
    :param startup_timeout: seconds to wait for the bot to join (the real service takes up to ~30 s).
    :param poll_interval: seconds between status checks while waiting.
    :param deferrable: wait in the triggerer instead of a worker slot (default: ``[operators]
        default_deferrable``).
    """

    def __init__(
        self,
        *,
        wait_for_recording: bool = False,
        startup_timeout: float | timedelta = DEFAULT_STARTUP_TIMEOUT,
        poll_interval: float | timedelta = 5.0,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.wait_for_recording = wait_for_recording
        self.startup_timeout = _positive("startup_timeout", as_seconds(startup_timeout))
        self.poll_interval = _positive("poll_interval", as_seconds(poll_interval))
        self.deferrable = default_deferrable() if deferrable is None else deferrable

    def _started(self, recording: Recording, context: Context) -> Recording:
        """The started recording, waited for when ``wait_for_recording`` asks for it."""
        if self.wait_for_recording:
            recording = self.wait_until(
                recording,
                STARTED_STATUSES,
                timeout=self.startup_timeout,
                poll_interval=self.poll_interval,
                deferrable=self.deferrable,
            )
        return self._result(recording, context)


class RealtimeKitStartRecordingOperator(_StartOperator):
    """Start recording a meeting; returns the new recording (INVOKED while its bot joins the meeting, up
    to ~30 s in the real service, unless ``wait_for_recording=True``).

    The keyword arguments from ``allow_multiple_recordings`` to ``video_config`` are the API's start body
    fields. Values are validated when the task is built if they are not templated, else before any request.

    :param meeting_id: the meeting to record.
    :param storage_conn_id: an Airflow connection holding the storage destination, so that its secrets stay
        in Airflow's secrets backend. ``login``/``password`` become ``access_key``/``secret``, or for
        ``sftp`` ``username``/``password`` with ``host``/``port`` from the connection's host and port.
        Extras ``type``, ``bucket``, ``region`` (or ``region_name``), ``path``, ``host``, ``port``,
        ``private_key`` and ``auth_method`` fill the fields of the same name. ``type`` defaults to the
        connection type when that is a storage type (e.g. ``aws``). Keys given in ``storage_config``
        win over the connection's, so a DAG can set e.g. a per-run ``path``.
    :param reuse_active_recording: when the meeting already records (the API's 409) and
        ``allow_multiple_recordings`` is not set, adopt that recording, whoever started it, instead of
        failing. This keeps a retried task from failing on the recording its earlier attempt started;
        and on a repeated try of the task (a retry, or a cleared and re-run task) the meeting's newest
        recording invoked since the DAG run's ``run_after`` that did not end ERRORED is adopted even if it
        has finished since, so that re-running the start of a finished run starts nothing new.
    :param wait_for_recording: succeed only once the recording is RECORDING (or already past it); one
        that ends ERRORED instead (its bot could not join) fails with its stop reason, one still INVOKED
        after ``startup_timeout`` seconds (default 120) raises ``AirflowSensorTimeout``. Polled every
        ``poll_interval`` seconds, in the triggerer when ``deferrable``.

    Inline secrets in ``storage_config`` work, but are masked in logs and rendered fields only; prefer
    ``storage_conn_id``, which keeps them out of the DAG file.
    """

    template_fields: Sequence[str] = (
        *RealtimeKitBaseOperator.template_fields,
        *START_FIELDS,  # meeting_id and every body field
        "storage_conn_id",
    )
    template_fields_renderers = {
        "audio_config": "json",
        "interactive_config": "json",
        "realtimekit_bucket_config": "json",
        "rtmp_out_config": "json",
        "storage_config": "json",
        "video_config": "json",
    }

    def __init__(
        self,
        meeting_id: str,
        *,
        allow_multiple_recordings: bool | None = None,
        audio_config: dict[str, Any] | None = None,
        file_name_prefix: str | None = None,
        interactive_config: dict[str, Any] | None = None,
        max_seconds: int | None = None,
        realtimekit_bucket_config: dict[str, Any] | None = None,
        rtmp_out_config: dict[str, Any] | None = None,
        storage_config: dict[str, Any] | None = None,
        url: str | None = None,
        video_config: dict[str, Any] | None = None,
        storage_conn_id: str | None = None,
        reuse_active_recording: bool = True,
        wait_for_recording: bool = False,
        startup_timeout: float | timedelta = DEFAULT_STARTUP_TIMEOUT,
        poll_interval: float | timedelta = 5.0,
        deferrable: bool | None = None,
        realtimekit_conn_id: str = DEFAULT_CONN_ID,
        account_id: str | None = None,
        app_id: str | None = None,
        include_download_urls: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            wait_for_recording=wait_for_recording,
            startup_timeout=startup_timeout,
            poll_interval=poll_interval,
            deferrable=deferrable,
            realtimekit_conn_id=realtimekit_conn_id,
            account_id=account_id,
            app_id=app_id,
            include_download_urls=include_download_urls,
            **kwargs,
        )
        self.meeting_id = meeting_id
        self.allow_multiple_recordings = allow_multiple_recordings
        self.audio_config = audio_config
        self.file_name_prefix = file_name_prefix
        self.interactive_config = interactive_config
        self.max_seconds = max_seconds
        self.realtimekit_bucket_config = realtimekit_bucket_config
        self.rtmp_out_config = rtmp_out_config
        self.storage_config = storage_config
        self.url = url
        self.video_config = video_config
        self.storage_conn_id = storage_conn_id
        self.reuse_active_recording = reuse_active_recording
        mask_config_secrets({"storage_config": storage_config, "rtmp_out_config": rtmp_out_config})
        fields = {k: v for k, v in self._body_fields().items() if is_literal(v)}
        if storage_conn_id is not None:
            fields.pop("storage_config", None)  # completed from the connection at run time
        build_start_body(meeting_id if is_literal(meeting_id) else None, fields)

    def _body_fields(self) -> dict[str, Any]:
        """The API body fields as set on the task (``meeting_id`` is the hook's first argument)."""
        fields = {name: getattr(self, name) for name in START_FIELDS[1:]}
        fields["max_seconds"] = int_from_template(fields["max_seconds"])
        return fields

    def run(self, context: Context) -> Recording:
        from airflow_provider_rtk._core.connection import storage_config_from_connection

        fields = self._body_fields()
        if self.storage_conn_id:
            fields["storage_config"] = storage_config_from_connection(
                self.storage_conn_id, self.storage_config
            )
        recording = self.hook.start_recording(
            self.meeting_id,
            reuse_active_recording=self.reuse_active_recording,
            adopt_since=self._earlier_tries_since(context),
            **fields,
        )
        self.log.info(
            "Recording %s of meeting %s is %s", recording["id"], self.meeting_id, recording["status"]
        )
        return self._started(recording, context)

    def _earlier_tries_since(self, context: Context) -> datetime | None:
        """When an earlier try of this task in this run may have started the recording: the run's
        ``run_after`` (every run has one, a logical date or not); None on a first try or without reuse."""
        try_number = getattr(context.get("ti"), "try_number", 1) or 1
        run_after: datetime | None = getattr(context.get("dag_run"), "run_after", None)
        if not self.reuse_active_recording or try_number <= 1:
            return None
        return run_after


class RealtimeKitStopRecordingOperator(_RecordingIdOperator):
    """Stop a recording (an INVOKED one too); returns it. A recording already stopped (UPLOADING,
    UPLOADED, ERRORED) is returned as is, so a retried stop succeeds.

    :param recording_id: the recording to stop.
    :param wait_for_upload: then wait until the recording is UPLOADED, exactly as
        ``RealtimeKitRecordingSensor`` does: ERRORED fails the task, and running out of ``timeout`` raises
        ``AirflowSensorTimeout`` (which fails the task without retrying it). API outages and throttling
        do not end the wait before ``timeout``.
    :param deferrable: wait in the triggerer instead of a worker slot (default: ``[operators]
        default_deferrable``).
    :param poll_interval: seconds between status checks while waiting.
    :param timeout: seconds to wait for the upload after the stop.
    :param max_backoff: longest delay between polls while the API fails (the delay doubles from
        ``poll_interval`` up to this; a ``Retry-After`` may ask for more). Default: 300 s, or
        ``poll_interval`` when longer.
    :param max_consecutive_errors: opt-in: fail after this many failed polls in a row (429s not counted);
        by default only ``timeout`` ends the wait.
    """

    def __init__(
        self,
        recording_id: str,
        *,
        wait_for_upload: bool = False,
        deferrable: bool | None = None,
        poll_interval: float | timedelta = 30.0,
        timeout: float | timedelta = 6 * 3600.0,
        max_backoff: float | None = None,
        max_consecutive_errors: int | None = None,
        realtimekit_conn_id: str = DEFAULT_CONN_ID,
        account_id: str | None = None,
        app_id: str | None = None,
        include_download_urls: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            recording_id=recording_id,
            realtimekit_conn_id=realtimekit_conn_id,
            account_id=account_id,
            app_id=app_id,
            include_download_urls=include_download_urls,
            **kwargs,
        )
        self.wait_for_upload = wait_for_upload
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = _positive("poll_interval", as_seconds(poll_interval))
        self.timeout = _positive("timeout", as_seconds(timeout))
        self.max_backoff = Pacing.for_wait(self.poll_interval, max_backoff).cap
        self.max_consecutive_errors = check_error_limit(max_consecutive_errors)

    def run(self, context: Context) -> Recording:
        recording = self.hook.stop_recording(self.recording_id)
        if not self.wait_for_upload:
            return self._result(recording, context)
        recording = self.wait_until(
            recording,
            DEFAULT_TARGET_STATUSES,
            timeout=self.timeout,
            poll_interval=self.poll_interval,
            deferrable=self.deferrable,
            max_backoff=self.max_backoff,
            max_consecutive_errors=self.max_consecutive_errors,
        )
        return self._result(recording, context)


class _JoinedBotOperator(_RecordingIdOperator):
    """Pause or resume: the API refuses both while the recording is INVOKED, so the hook waits for the
    bot's join first, up to ``startup_timeout`` seconds."""

    def __init__(
        self,
        recording_id: str,
        *,
        startup_timeout: float | timedelta = DEFAULT_STARTUP_TIMEOUT,
        realtimekit_conn_id: str = DEFAULT_CONN_ID,
        account_id: str | None = None,
        app_id: str | None = None,
        include_download_urls: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            recording_id=recording_id,
            realtimekit_conn_id=realtimekit_conn_id,
            account_id=account_id,
            app_id=app_id,
            include_download_urls=include_download_urls,
            **kwargs,
        )
        self.startup_timeout = _positive("startup_timeout", as_seconds(startup_timeout))


class RealtimeKitPauseRecordingOperator(_JoinedBotOperator):
    """Pause a recording; returns it. A recording already PAUSED is returned as is. One still INVOKED
    (its bot is joining the meeting) is waited for until it records, up to ``startup_timeout``; one that
    ends ERRORED instead fails the task with its stop reason.

    :param recording_id: the recording to pause.
    :param startup_timeout: seconds to wait for an INVOKED recording to start recording.
    """

    def run(self, context: Context) -> Recording:
        recording = self.hook.pause_recording(self.recording_id, startup_timeout=self.startup_timeout)
        return self._result(recording, context)


class RealtimeKitResumeRecordingOperator(_JoinedBotOperator):
    """Resume a paused recording; returns it. A recording already RECORDING is returned as is; one still
    INVOKED is waited for as by ``RealtimeKitPauseRecordingOperator``.

    :param recording_id: the recording to resume.
    :param startup_timeout: seconds to wait for an INVOKED recording to start recording.
    """

    def run(self, context: Context) -> Recording:
        recording = self.hook.resume_recording(self.recording_id, startup_timeout=self.startup_timeout)
        return self._result(recording, context)


class RealtimeKitStartTrackRecordingOperator(_StartOperator):
    """Start recording participants' tracks (one file per layer or participant); returns the recording, or
    ``None`` from the legacy API, which answers without a body (and so cannot be waited for).

    Not idempotent: the API offers no way to tell whether an ambiguous start took effect, so a failed
    attempt is not resent by the hook.

    :param meeting_id: the meeting to record.
    :param layers: layer name -> configuration (current API: ``file_name_prefix``, ``media_kind``; legacy:
        ``file_name_prefix``, ``outputs``).
    :param user_ids: participants to record (current API, up to 100).
    :param max_seconds: legacy API: maximum duration, 60 to 86400.
    :param wait_for_recording: succeed only once the recording is RECORDING (or already past it); one
        that ends ERRORED instead (its bot could not join) fails with its stop reason, one still INVOKED
        after ``startup_timeout`` seconds (default 120) raises ``AirflowSensorTimeout``. Polled every
        ``poll_interval`` seconds, in the triggerer when ``deferrable``.
    """

    template_fields: Sequence[str] = (
        *RealtimeKitBaseOperator.template_fields,
        "meeting_id",
        "layers",
        "user_ids",
        "max_seconds",
    )
    template_fields_renderers = {"layers": "json"}

    def __init__(
        self,
        meeting_id: str,
        *,
        layers: dict[str, Any] | None = None,
        user_ids: list[str] | None = None,
        max_seconds: int | None = None,
        wait_for_recording: bool = False,
        startup_timeout: float | timedelta = DEFAULT_STARTUP_TIMEOUT,
        poll_interval: float | timedelta = 5.0,
        deferrable: bool | None = None,
        realtimekit_conn_id: str = DEFAULT_CONN_ID,
        account_id: str | None = None,
        app_id: str | None = None,
        include_download_urls: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            wait_for_recording=wait_for_recording,
            startup_timeout=startup_timeout,
            poll_interval=poll_interval,
            deferrable=deferrable,
            realtimekit_conn_id=realtimekit_conn_id,
            account_id=account_id,
            app_id=app_id,
            include_download_urls=include_download_urls,
            **kwargs,
        )
        self.meeting_id = meeting_id
        self.layers = layers
        self.user_ids = user_ids
        self.max_seconds = max_seconds
        mask_config_secrets(layers)
        if is_literal((meeting_id, layers, user_ids, max_seconds)):
            build_track_body(
                meeting_id, layers=layers, user_ids=user_ids, max_seconds=int_from_template(max_seconds)
            )

    def run(self, context: Context) -> Recording | None:
        recording = self.hook.start_track_recording(
            self.meeting_id,
            layers=self.layers,
            user_ids=self.user_ids,
            max_seconds=int_from_template(self.max_seconds),
        )
        if recording is None:
            self.log.info(
                "Started a track recording of meeting %s (the API returned no body%s)",
                self.meeting_id,
                ", so wait_for_recording cannot follow it" if self.wait_for_recording else "",
            )
            return None
        self.log.info("Started track recording %s of meeting %s", recording["id"], self.meeting_id)
        return self._started(recording, context)


class RealtimeKitGetRecordingOperator(_RecordingIdOperator):
    """Fetch one recording; returns it.

    :param recording_id: the recording to fetch.
    """

    def __init__(
        self,
        recording_id: str,
        *,
        realtimekit_conn_id: str = DEFAULT_CONN_ID,
        account_id: str | None = None,
        app_id: str | None = None,
        include_download_urls: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            recording_id=recording_id,
            realtimekit_conn_id=realtimekit_conn_id,
            account_id=account_id,
            app_id=app_id,
            include_download_urls=include_download_urls,
            **kwargs,
        )

    def run(self, context: Context) -> Recording:
        recording = self.hook.get_recording(self.recording_id)
        self.log.info("Recording %s is %s", recording["id"], recording["status"])
        return self._result(recording, context)


class RealtimeKitListRecordingsOperator(RealtimeKitBaseOperator):
    """List recordings matching the filters, walking every page; returns the list (e.g. to ``.expand()``
    a mapped task over it).

    :param meeting_id: only this meeting's recordings.
    :param status: one status or a list of them.
    :param start_time: recordings invoked from this time (datetime or ISO-8601 string).
    :param end_time: recordings invoked until this time.
    :param expired: only expired (True) or unexpired (False) recordings in RealtimeKit's bucket.
    :param search: search the meeting id or title.
    :param sort_by: ``"invokedTime"``.
    :param sort_order: ``"ASC"`` or ``"DESC"``.
    :param per_page: page size of each request, 1 to 100.
    :param max_results: stop after this many recordings (no further pages are fetched).
    """

    template_fields: Sequence[str] = (
        *RealtimeKitBaseOperator.template_fields,
        "meeting_id",
        "status",
        "start_time",
        "end_time",
        "search",
    )

    def __init__(
        self,
        *,
        meeting_id: str | None = None,
        status: str | list[str] | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        expired: bool | None = None,
        search: str | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
        per_page: int | None = None,
        max_results: int | None = None,
        realtimekit_conn_id: str = DEFAULT_CONN_ID,
        account_id: str | None = None,
        app_id: str | None = None,
        include_download_urls: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            realtimekit_conn_id=realtimekit_conn_id,
            account_id=account_id,
            app_id=app_id,
            include_download_urls=include_download_urls,
            **kwargs,
        )
        self.meeting_id = meeting_id
        self.status = status
        self.start_time = start_time
        self.end_time = end_time
        self.expired = expired
        self.search = search
        self.sort_by = sort_by
        self.sort_order = sort_order
        self.per_page = per_page
        self.max_results = max_results
        if max_results is not None:
            check_int("max_results", max_results, (1, 1 << 31))
        if is_literal(list(self._filters().values())):
            build_list_params(**self._filters())

    def _filters(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in LIST_FILTERS}

    def run(self, context: Context) -> list[Recording]:
        recordings = list(islice(self.hook.list_recordings(**self._filters()), self.max_results))
        self.log.info("Found %d recording(s)", len(recordings))
        return [self._result(recording) for recording in recordings]
