"""Archive an UPLOADED recording's files to local disk or any Airflow object storage."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from airflow.sdk import BaseOperator

from airflow_provider_rtk._core.defaults import DEFAULT_CONN_ID
from airflow_provider_rtk._core.validation import check_enum, check_int, require_uuid
from airflow_provider_rtk._task import RealtimeKitTask, is_literal
from airflow_provider_rtk.exceptions import RealtimeKitDownloadError, RealtimeKitInputError
from airflow_provider_rtk.operators._destination import Destination, Location

if TYPE_CHECKING:
    from airflow.sdk import Asset, Context, ObjectStoragePath

    from airflow_provider_rtk.operators._download import RecordingFile

__all__ = ["RealtimeKitDownloadRecordingOperator"]

IF_EXISTS: Final[tuple[str, ...]] = ("skip", "overwrite", "fail")
#: Small enough that each chunk stays in the CPU caches between the socket and the file
#: (``benchmarks/download.py`` compares chunk sizes against ``curl``).
DEFAULT_CHUNK_SIZE: Final = 128 << 10


class RealtimeKitDownloadRecordingOperator(RealtimeKitTask, BaseOperator):
    """Stream a recording's files to ``destination``, verified, resumable and idempotent.

    The recording must be UPLOADED (an ERRORED or unfinished one fails at once, before anything is
    written: waiting is the sensor's job). Each file streams in ``chunk_size`` pieces (memory stays flat
    for multi-GB recordings) to a temporary object ``.<name>.partial-<token>`` beside its target, and gets
    the target's name only once its size matches the API's ``file_size`` (video) or the storage's
    ``Content-Length`` (audio, track layers); a failed download deletes it, and one left by a killed
    earlier try is deleted before the next download of that file. A dropped connection, a
    timeout, 429 or 5xx resumes with an HTTP ``Range`` request from the bytes written (``max_resumes``,
    exponential backoff); an expired presigned URL is replaced by fetching the recording again.

    Files: the video as the recording's ``output_file_name`` (or the destination's own name when it names
    a file), the audio beside it as ``<stem>.audio<ext>``, and for a track recording one
    ``<stem>.<layer><ext>`` per layer (rules in ``airflow_provider_rtk.operators._download``).

    Returns the URIs (``<protocol>://<path>``, ``file://`` for local files) of every file now at the
    destination, skipped ones included. A destination without Jinja is declared as an outlet
    ``Asset(<destination URI>)`` unless ``outlets`` is given, and its event carries ``{"recording_id",
    "uris"}``; with an ``AssetAlias`` in ``outlets``, one ``Asset(uri)`` event per file (extra
    ``{"recording_id"}``) is added to it.
    Presigned URLs are masked and never returned or logged.

    :param recording_id: the recording to archive.
    :param from_asset_event: instead of ``recording_id``, archive every recording in the run's triggering
        asset events (``RealtimeKitRecordingEventTrigger``; usually one, several when Airflow folded
        events into one run, none for a manual run). The static outlet's event then carries
        ``{"recording_ids", "uris"}``.
    :param destination: where the files go: a local path, a ``file://`` URL, or an object storage URL
        (``s3://bucket/prefix/``, ``gs://...``) as ``ObjectStoragePath`` takes it (an ``ObjectStoragePath``
        is accepted too). One rule: it is a **folder** (created when missing) unless its last segment ends
        in a file extension with a letter in it (``standup.mp4``) and is not an existing folder; then it
        names the video file. ``/archive/2026-05-04`` and ``s3://b/runs/2026.05.04`` are folders. The full
        path of every file written is logged.
    :param destination_conn_id: Airflow connection of the object storage (e.g. an ``aws`` connection).
    :param include_audio: also archive the separate audio file when the recording has one (RealtimeKit
        gives one when the recording was started with an ``audio_config``, ``export_file=True``); when it
        has none, the log says so and only the video is archived.
    :param if_exists: ``skip`` a file already there (with the API's ``file_size`` when it reports one; a
        wrong-sized video is downloaded again), ``overwrite`` it, or ``fail``. Re-runs that skip send no
        file request.
    :param chunk_size: bytes read and written at a time (object-store writers gather them into their own
        upload parts).
    :param max_resumes: resumes allowed per file.
    :param resume_delay: first wait before a resume, in seconds (doubles, capped at 30 s).
    :param realtimekit_conn_id: the RealtimeKit connection.
    :param account_id: overrides the connection's ``account_id``.
    :param app_id: overrides the connection's ``app_id``.
    """

    template_fields: Sequence[str] = (
        "recording_id",
        "destination",
        "destination_conn_id",
        "realtimekit_conn_id",
        "account_id",
        "app_id",
    )
    ui_color = "#f6821f"

    def __init__(
        self,
        recording_id: str | None = None,
        destination: str | ObjectStoragePath | None = None,
        *,
        from_asset_event: bool = False,
        destination_conn_id: str | None = None,
        include_audio: bool = True,
        if_exists: str = "skip",
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_resumes: int = 5,
        resume_delay: float = 1.0,
        realtimekit_conn_id: str = DEFAULT_CONN_ID,
        account_id: str | None = None,
        app_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.if_exists = check_enum("if_exists", if_exists, IF_EXISTS)
        self.chunk_size = check_int("chunk_size", chunk_size, (1, 1 << 30))
        self.max_resumes = check_int("max_resumes", max_resumes, (0, 1000))
        if not isinstance(resume_delay, int | float) or resume_delay < 0:
            raise RealtimeKitInputError(
                f"resume_delay: must be a number of seconds >= 0, got {resume_delay!r}"
            )
        if destination is None:
            raise RealtimeKitInputError("destination: required (a directory or file path, or a URL)")
        if (recording_id is None) != bool(from_asset_event):
            raise RealtimeKitInputError(
                "recording_id: give either recording_id or from_asset_event=True (not both, not neither)"
            )
        if recording_id is not None and is_literal(recording_id):
            require_uuid("recording_id", recording_id)
        self.from_asset_event = bool(from_asset_event)
        self._archive_asset: Asset | None = None
        if "outlets" not in kwargs and is_literal(destination):
            from airflow.sdk import Asset

            self._archive_asset = Asset(Location.parse(str(destination), destination_conn_id).uri())
            kwargs["outlets"] = [self._archive_asset]
        super().__init__(
            realtimekit_conn_id=realtimekit_conn_id, account_id=account_id, app_id=app_id, **kwargs
        )
        self.recording_id = recording_id
        self.destination = destination
        self.destination_conn_id = destination_conn_id
        self.include_audio = include_audio
        self.resume_delay = float(resume_delay)

    def run(self, context: Context) -> list[str]:
        if self.from_asset_event:
            from airflow_provider_rtk.assets import recording_ids_from_asset_events

            recording_ids = recording_ids_from_asset_events(context)
            self.log.info("Recordings from the triggering asset events: %s", recording_ids or "none")
        else:
            recording_ids = [str(self.recording_id)]
        archived: list[tuple[str, list[str]]] = []
        for recording_id in recording_ids:
            uris, recording_id = self._archive(_try_token(context), recording_id)
            archived.append((recording_id, uris))
        self._record_asset_events(context, archived)
        return [uri for _, uris in archived for uri in uris]

    def _archive(self, token: str, recording_id: str) -> tuple[list[str], str]:
        # The engine (and the retry policy with it) is imported when a task runs, not on every DAG parse.
        from airflow_provider_rtk._core.retry import RetryPolicy
        from airflow_provider_rtk.operators._download import (
            Downloader,
            check_downloadable,
            plan_files,
            safe_name,
        )

        recording = self.hook.get_recording(recording_id)
        downloader = Downloader(
            self.hook,
            recording,
            chunk_size=self.chunk_size,
            max_resumes=self.max_resumes,
            backoff=RetryPolicy(initial_wait=self.resume_delay, jitter=self.resume_delay / 2),
        )
        check_downloadable(recording)
        destination = Destination(Location.parse(str(self.destination), self.destination_conn_id))
        base = destination.file_name or safe_name(recording.get("output_file_name"), f"{recording['id']}.mp4")
        files = plan_files(recording, base, include_audio=self.include_audio)
        written = []
        for file in [file for file in files if self._needs_download(file, destination)]:
            final = destination.path_for(file.name)
            temp = destination.path_for(f".{file.name}.partial-{token}")
            destination.remove_stale_partials(file.name, keep=temp)
            downloader.save(file, destination, final, temp)
            written.append(destination.location.uri(final))
        self._report_lineage(recording["id"], written)
        return [destination.location.uri(destination.path_for(file.name)) for file in files], recording["id"]

    def _report_lineage(self, recording_id: str, written: list[str]) -> None:
        """Hook-level lineage (OpenLineage and other readers): the recording in, each file written out."""
        if not written:
            return
        from airflow_provider_rtk._core.compat import hook_lineage_collector
        from airflow_provider_rtk.assets import recording_asset_uri

        settings = self.hook.settings
        collector = hook_lineage_collector()
        source = recording_asset_uri(settings.account_id, settings.app_id, recording_id)
        collector.add_input_asset(context=self.hook, uri=source)
        for uri in written:
            collector.add_output_asset(context=self.hook, uri=uri)

    def _needs_download(self, file: RecordingFile, destination: Destination) -> bool:
        """Apply ``if_exists`` to a file already at the destination (before any file is downloaded)."""
        path = destination.path_for(file.name)
        size = destination.size(path)
        where = destination.location.uri(path)
        if size is None or self.if_exists == "overwrite":
            return True
        if self.if_exists == "fail":
            raise RealtimeKitDownloadError(
                f"{where} already exists ({size} bytes) and if_exists='fail': delete it, or use "
                "if_exists='skip' or 'overwrite'"
            )
        if file.size is None or size == file.size:
            self.log.info("%s already exists (%d bytes): skipped (if_exists='skip')", where, size)
            return False
        self.log.warning(
            "%s exists with %d bytes but the recording's %s file has %d: downloading it again",
            where,
            size,
            file.label,
            file.size,
        )
        return True

    def _record_asset_events(self, context: Context, archived: list[tuple[str, list[str]]]) -> None:
        from airflow.sdk import Asset, AssetAlias

        events = context.get("outlet_events")
        if events is None:
            return
        for outlet in self.outlets:
            if isinstance(outlet, AssetAlias):
                # Flat extra: Airflow 3.1 hashes alias event extras, so a list value would fail the task.
                for recording_id, uris in archived:
                    for uri in uris:
                        events[outlet].add(Asset(uri), extra={"recording_id": recording_id})
            elif outlet == self._archive_asset:
                extra: dict[str, Any] = {"uris": [uri for _, uris in archived for uri in uris]}
                if self.from_asset_event:
                    extra["recording_ids"] = [recording_id for recording_id, _ in archived]
                else:
                    extra["recording_id"] = archived[0][0]
                events[outlet].extra = extra


def _try_token(context: Context) -> str:
    """12 hex chars naming this task try, so concurrent runs never share a temporary object."""
    ti = context.get("ti")
    if ti is None:
        return secrets.token_hex(6)
    ident = f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{ti.map_index}/{ti.try_number}"
    return hashlib.sha256(ident.encode()).hexdigest()[:12]
