"""Operators for Cloudflare RealtimeKit recordings: start, stop (optionally waiting for the upload), pause,
resume, start a track recording, get one and list them.

Each operator returns the recording (storage secrets stripped) as its XCom value; those returning one
recording also push its id as the XCom ``id``, so ``start.output["id"]`` feeds the next task. Presigned
download URLs are credentials: they are masked in task logs and left out of the XCom value unless the
task is built with ``include_download_urls=True``.

All HTTP goes through :class:`~airflow_provider_rtk.hooks.realtimekit.RealtimeKitHook`, imported when a
task runs: importing this module (on every DAG parse) loads no HTTP client.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import cached_property
from itertools import islice
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook, BaseOperator

from airflow_provider_rtk._compat import AirflowSensorTimeout, default_deferrable, mask_secret
from airflow_provider_rtk._connection import DEFAULT_CONN_ID
from airflow_provider_rtk._redact import mask_download_urls
from airflow_provider_rtk._validation import (
    LIST_FILTERS,
    START_FIELDS,
    STORAGE_FIELDS,
    STORAGE_SECRET_FIELDS,
    STORAGE_TYPES,
    build_list_params,
    build_start_body,
    build_track_body,
    check_int,
    require_id,
)
from airflow_provider_rtk._wait import (
    DEFAULT_FAILURE_STATUSES,
    DEFAULT_TARGET_STATUSES,
    evaluate,
    result_from_event,
    xcom_recording,
)
from airflow_provider_rtk.exceptions import (
    RealtimeKitApiError,
    RealtimeKitConflictError,
    RealtimeKitInputError,
)

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context

    from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook
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

#: HTTP statuses with which the API refuses an action the recording's state does not allow.
_STATE_REFUSALS = frozenset({400, 409, 422})
#: Statuses after which a stop has nothing left to do.
_STOPPED_STATUSES = frozenset({"UPLOADING", "UPLOADED", "ERRORED"})


def _is_literal(value: object) -> bool:
    """Whether ``value`` is final when the DAG is parsed: no Jinja template and no XComArg inside."""
    if isinstance(value, str):
        return "{{" not in value and "{%" not in value
    if isinstance(value, Mapping):
        return all(_is_literal(k) and _is_literal(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_is_literal(v) for v in value)
    return value is None or isinstance(value, bool | int | float | datetime)


def _int(value: Any) -> Any:
    """A rendered integer template (``"3600"``) as an int; anything else unchanged (validation judges it)."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


#: Fields whose values are credentials wherever they appear in a config: storage secrets, and the RTMP
#: URL, which carries the stream key.
_SECRET_KEYS = STORAGE_SECRET_FIELDS | {"rtmp_url"}


def _mask_storage_secrets(config: object) -> None:
    """Register every secret in ``config`` (nested too: track layers' outputs) with the secret maskers."""
    if isinstance(config, Mapping):
        for key, value in config.items():
            if key in _SECRET_KEYS and isinstance(value, str):
                mask_secret(value)
            else:
                _mask_storage_secrets(value)
    elif isinstance(config, list | tuple):
        for item in config:
            _mask_storage_secrets(item)


class RealtimeKitBaseOperator(BaseOperator):
    """Arguments every RealtimeKit operator shares, and its hook.

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
        super().__init__(**kwargs)
        self.realtimekit_conn_id = realtimekit_conn_id
        self.account_id = account_id
        self.app_id = app_id
        self.include_download_urls = include_download_urls

    @cached_property
    def hook(self) -> RealtimeKitHook:
        from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook

        return RealtimeKitHook(self.realtimekit_conn_id, account_id=self.account_id, app_id=self.app_id)

    def _result(self, recording: Recording, context: Context | None = None) -> Recording:
        """Mask the recording's presigned URLs in logs; return what may go to XCom.

        With ``context``, also push the recording id as XCom ``id``, which ``task.output["id"]`` reads.
        """
        mask_download_urls(recording)
        if context is not None:
            context["ti"].xcom_push(key="id", value=recording["id"])
        return xcom_recording(recording, self.include_download_urls)

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
        _mask_storage_secrets(rendered)
        return rendered


class _RecordingIdOperator(RealtimeKitBaseOperator):
    """An operator acting on one existing recording, ``recording_id`` (templated)."""

    template_fields: Sequence[str] = (*RealtimeKitBaseOperator.template_fields, "recording_id")

    def __init__(self, recording_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.recording_id = recording_id
        if _is_literal(recording_id):
            require_id("recording_id", recording_id)

    def _act(self, action: str, done: Iterable[str]) -> Recording:
        """Send ``action``; a refusal because the recording is already ``done`` is success.

        This makes stop, pause and resume safe to retry (an earlier attempt may have landed).
        """
        recording_id = self.recording_id
        call = getattr(self.hook, f"{action}_recording")
        try:
            recording: Recording = call(recording_id)
        except RealtimeKitApiError as exc:
            if exc.status_code not in _STATE_REFUSALS:
                raise
            recording = self.hook.get_recording(recording_id)
            if recording["status"] not in done:
                raise
            self.log.info(
                "Recording %s is already %s (the API refused to %s it: %s)",
                recording_id,
                recording["status"],
                action,
                exc.message,
            )
        else:
            self.log.info("Sent %s to recording %s: now %s", action, recording_id, recording["status"])
        return recording


class RealtimeKitStartRecordingOperator(RealtimeKitBaseOperator):
    """Start recording a meeting; returns the new recording.

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
        failing. This keeps a retried task from failing on the recording its earlier attempt started.

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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
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
        _mask_storage_secrets({"storage_config": storage_config, "rtmp_out_config": rtmp_out_config})
        fields = {k: v for k, v in self._body_fields().items() if _is_literal(v)}
        if storage_conn_id is not None:
            fields.pop("storage_config", None)  # completed from the connection at run time
        build_start_body(meeting_id if _is_literal(meeting_id) else None, fields)

    def _body_fields(self) -> dict[str, Any]:
        """The API body fields as set on the task (``meeting_id`` is the hook's first argument)."""
        fields = {name: getattr(self, name) for name in START_FIELDS[1:]}
        fields["max_seconds"] = _int(fields["max_seconds"])
        return fields

    def _storage_config_from_connection(self, conn_id: str) -> dict[str, Any]:
        conn = BaseHook.get_connection(conn_id)
        extras = conn.extra_dejson
        explicit = dict(self.storage_config or {})
        kind = explicit.get("type") or extras.get("type")
        if kind is None and conn.conn_type in STORAGE_TYPES:
            kind = conn.conn_type
        config: dict[str, Any] = {"type": kind} if kind else {}
        sftp = kind == "sftp"
        if conn.login:
            config["username" if sftp else "access_key"] = conn.login
        if conn.password:
            config["password" if sftp else "secret"] = conn.password
        if sftp and conn.host:
            config["host"] = conn.host
        if sftp and conn.port:
            config["port"] = conn.port
        if extras.get("region_name") is not None:
            config["region"] = extras["region_name"]
        config.update({k: extras[k] for k in STORAGE_FIELDS if extras.get(k) is not None})
        config.update(explicit)
        if "port" in config:
            config["port"] = _int(config["port"])
        _mask_storage_secrets(config)
        return config

    def execute(self, context: Context) -> Recording:
        fields = self._body_fields()
        if self.storage_conn_id:
            fields["storage_config"] = self._storage_config_from_connection(self.storage_conn_id)
        try:
            recording = self.hook.start_recording(self.meeting_id, **fields)
        except RealtimeKitConflictError as exc:
            if not self.reuse_active_recording or self.allow_multiple_recordings:
                raise
            active = self.hook.get_active_recording(self.meeting_id)
            if active is None:
                raise
            self.log.info(
                "Meeting %s already has active recording %s (%s; API said: %s): adopting it, since "
                "reuse_active_recording is set",
                self.meeting_id,
                active["id"],
                active["status"],
                exc.message,
            )
            recording = active
        else:
            self.log.info(
                "Started recording %s of meeting %s (%s)",
                recording["id"],
                self.meeting_id,
                recording["status"],
            )
        return self._result(recording, context)


class RealtimeKitStopRecordingOperator(_RecordingIdOperator):
    """Stop a recording; returns it. A recording already stopped (UPLOADING, UPLOADED, ERRORED) is returned
    as is, so a retried stop succeeds.

    :param recording_id: the recording to stop.
    :param wait_for_upload: then wait until the recording is UPLOADED, exactly as
        ``RealtimeKitRecordingSensor`` does: ERRORED fails the task, and running out of ``timeout`` raises
        ``AirflowSensorTimeout`` (which fails the task without retrying it).
    :param deferrable: wait in the triggerer instead of a worker slot (default: ``[operators]
        default_deferrable``).
    :param poll_interval: seconds between status checks while waiting.
    :param timeout: seconds to wait for the upload after the stop.
    """

    def __init__(
        self,
        recording_id: str,
        *,
        wait_for_upload: bool = False,
        deferrable: bool | None = None,
        poll_interval: float | timedelta = 30.0,
        timeout: float | timedelta = 6 * 3600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(recording_id=recording_id, **kwargs)
        self.wait_for_upload = wait_for_upload
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = _seconds(poll_interval)
        self.timeout = _seconds(timeout)
        if self.poll_interval <= 0:
            raise RealtimeKitInputError(f"poll_interval: must be positive, got {self.poll_interval}")
        if self.timeout <= 0:
            raise RealtimeKitInputError(f"timeout: must be positive, got {self.timeout}")

    def execute(self, context: Context) -> Recording:
        recording = self._act("stop", _STOPPED_STATUSES)
        if not self.wait_for_upload or evaluate(recording, DEFAULT_TARGET_STATUSES, DEFAULT_FAILURE_STATUSES):
            return self._result(recording, context)
        if self.deferrable:
            from airflow_provider_rtk.triggers.recording import RealtimeKitRecordingTrigger

            self.log.info(
                "Recording %s is %s: deferring until UPLOADED", recording["id"], recording["status"]
            )
            self.defer(
                trigger=RealtimeKitRecordingTrigger(
                    recording["id"],
                    realtimekit_conn_id=self.realtimekit_conn_id,
                    account_id=self.account_id,
                    app_id=self.app_id,
                    target_statuses=DEFAULT_TARGET_STATUSES,
                    failure_statuses=DEFAULT_FAILURE_STATUSES,
                    poll_interval=self.poll_interval,
                    end_time=time.time() + self.timeout,
                    include_download_urls=self.include_download_urls,
                ),
                method_name="execute_complete",
            )
        return self._result(self._wait(recording["id"]), context)

    def _wait(self, recording_id: str) -> Recording:
        deadline = time.monotonic() + self.timeout
        while (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(self.poll_interval, remaining))
            recording = self.hook.get_recording(recording_id)
            if evaluate(recording, DEFAULT_TARGET_STATUSES, DEFAULT_FAILURE_STATUSES):
                self.log.info("Recording %s is UPLOADED", recording_id)
                return recording
            self.log.info("Recording %s is %s: waiting for UPLOADED", recording_id, recording["status"])
        raise AirflowSensorTimeout(f"recording {recording_id} was not UPLOADED within {self.timeout:g} s")

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Recording:
        """Resume after the trigger: the UPLOADED recording, or the error its event describes."""
        return self._result(result_from_event(event), context)


class RealtimeKitPauseRecordingOperator(_RecordingIdOperator):
    """Pause a recording; returns it. A recording already PAUSED is returned as is.

    :param recording_id: the recording to pause.
    """

    def execute(self, context: Context) -> Recording:
        return self._result(self._act("pause", ("PAUSED",)), context)


class RealtimeKitResumeRecordingOperator(_RecordingIdOperator):
    """Resume a paused recording; returns it. A recording already RECORDING is returned as is.

    :param recording_id: the recording to resume.
    """

    def execute(self, context: Context) -> Recording:
        return self._result(self._act("resume", ("RECORDING",)), context)


class RealtimeKitStartTrackRecordingOperator(RealtimeKitBaseOperator):
    """Start recording participants' tracks (one file per layer or participant); returns the recording, or
    ``None`` from the legacy API, which answers without a body.

    Not idempotent: the API offers no way to tell whether an ambiguous start took effect, so a failed
    attempt is not resent by the hook.

    :param meeting_id: the meeting to record.
    :param layers: layer name -> configuration (current API: ``file_name_prefix``, ``media_kind``; legacy:
        ``file_name_prefix``, ``outputs``).
    :param user_ids: participants to record (current API, up to 100).
    :param max_seconds: legacy API: maximum duration, 60 to 86400.
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.meeting_id = meeting_id
        self.layers = layers
        self.user_ids = user_ids
        self.max_seconds = max_seconds
        _mask_storage_secrets(layers)
        if _is_literal((meeting_id, layers, user_ids, max_seconds)):
            build_track_body(meeting_id, layers=layers, user_ids=user_ids, max_seconds=_int(max_seconds))

    def execute(self, context: Context) -> Recording | None:
        recording = self.hook.start_track_recording(
            self.meeting_id,
            layers=self.layers,
            user_ids=self.user_ids,
            max_seconds=_int(self.max_seconds),
        )
        if recording is None:
            self.log.info(
                "Started a track recording of meeting %s (the API returned no body)", self.meeting_id
            )
            return None
        self.log.info("Started track recording %s of meeting %s", recording["id"], self.meeting_id)
        return self._result(recording, context)


class RealtimeKitGetRecordingOperator(_RecordingIdOperator):
    """Fetch one recording; returns it.

    :param recording_id: the recording to fetch.
    """

    def execute(self, context: Context) -> Recording:
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
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
        if _is_literal(list(self._filters().values())):
            build_list_params(**self._filters())

    def _filters(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in LIST_FILTERS}

    def execute(self, context: Context) -> list[Recording]:
        recordings = list(islice(self.hook.list_recordings(**self._filters()), self.max_results))
        self.log.info("Found %d recording(s)", len(recordings))
        return [self._result(recording) for recording in recordings]
