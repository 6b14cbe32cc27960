"""The emulator object: builds the store, the routes and the HTTP server, and is what a test drives."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from email.utils import format_datetime
from types import TracebackType
from typing import Any, TextIO

from airflow_provider_rtk.testing.emulator.admin import AdminApi
from airflow_provider_rtk.testing.emulator.clock import Clock
from airflow_provider_rtk.testing.emulator.errors import Envelope
from airflow_provider_rtk.testing.emulator.faults import Fault, FaultSet
from airflow_provider_rtk.testing.emulator.lifecycle import CompositeMedia, Settings
from airflow_provider_rtk.testing.emulator.request_log import RequestLog, RequestRecord
from airflow_provider_rtk.testing.emulator.routes import API_PREFIX, ApiRoutes, Identity
from airflow_provider_rtk.testing.emulator.server import HttpServer, Services
from airflow_provider_rtk.testing.emulator.store import RecordingStore
from airflow_provider_rtk.testing.emulator.validation import ApiVersion

DEFAULT_TOKEN = "rtk-emulator-token"
DEFAULT_ACCOUNT_ID = "023e105f4ecef8ad9ca31a8372d0c353"
DEFAULT_APP_ID = "2a95132c15732412d22c1476fa83f27a"


class RealtimeKitEmulator:
    """A local, real-HTTP stand-in for the six RealtimeKit recording endpoints (plus presigned file URLs).

    All durations are API seconds; ``time_scale`` real seconds elapse per API second, and :meth:`advance`
    moves the clock forward without sleeping. Transport-level times (fault ``delay`` and ``duration``,
    :meth:`refuse_connections`) are real seconds. ``empty_meeting_seconds`` is how long a meeting keeps
    recording after :meth:`end_meeting` (the real service: about 60). ``admin=True`` serves the admin
    endpoint; an ``access_log`` stream gets one line per request. See the package docstring for an
    overview.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        account_id: str = DEFAULT_ACCOUNT_ID,
        app_id: str = DEFAULT_APP_ID,
        api_version: ApiVersion = "current",
        time_scale: float = 1.0,
        invoked_seconds: float = 2.0,
        upload_seconds: float = 3.0,
        file_size: int = 1_048_576,
        audio_file_size: int = 262_144,
        download_url_ttl: int = 7 * 24 * 3600,
        error_on_short_recordings: bool = False,
        empty_meeting_seconds: float = 0.0,
        admin: bool = False,
        access_log: TextIO | None = None,
    ) -> None:
        if api_version not in ("current", "legacy"):
            raise ValueError(f"api_version must be 'current' or 'legacy', not {api_version!r}")
        self.host = host
        self.token = token
        self.account_id = account_id
        self.app_id = app_id
        self.api_version: ApiVersion = api_version
        self.admin = admin
        self._faults = FaultSet()
        self._log = RequestLog()
        self._stopping = threading.Event()
        self._clock = Clock(time_scale)
        self._store = RecordingStore(
            Settings(
                invoked_seconds=invoked_seconds,
                upload_seconds=upload_seconds,
                file_size=file_size,
                audio_file_size=audio_file_size,
                download_url_ttl=download_url_ttl,
                error_on_short_recordings=error_on_short_recordings,
                empty_meeting_seconds=empty_meeting_seconds,
            ),
            self._clock,
        )
        routes = ApiRoutes(Identity(token, account_id, app_id, api_version), self._store)
        self._services = Services(
            route=routes.route,
            admin=AdminApi(self).handle if admin else None,
            faults=self._faults,
            log=self._log,
            http_date=self._http_date,
            stopping=self._stopping,
            access_log=access_log,
        )
        self._requested_port = port
        self._server: HttpServer | None = None
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # wakes the reopener (and who waits for it)
        self._reopen_at = 0.0
        self._reopener: threading.Thread | None = None

    # Server lifecycle

    def start(self) -> RealtimeKitEmulator:
        """Bind and serve in a background thread. Returns ``self``."""
        with self._lock:
            if self._server is None:
                self._stopping.clear()
                self._server = HttpServer(self.host, self._requested_port, self._services)
                self._server.serve()
        return self

    def stop(self) -> None:
        """Stop serving, close every open connection and join all threads. Idempotent."""
        with self._lock:
            server, reopener = self._server, self._reopener
            if server is None:
                return
            self._stopping.set()
            self._wake.notify_all()
        if reopener is not None:
            reopener.join()
        server.stop()
        with self._lock:
            self._server = self._reopener = None
            self._reopen_at = 0.0

    def __enter__(self) -> RealtimeKitEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def refuse_connections(self, seconds: float) -> None:
        """Close the listening socket and every open connection for ``seconds`` real seconds.

        Clients get ECONNREFUSED meanwhile; afterwards the emulator listens again on the same port, in
        the background. Calling it during a refusal extends the refusal to at least ``seconds`` from now.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
            raise ValueError(f"seconds must be a positive number, not {seconds!r}")
        with self._lock:
            server = self._running()
            self._reopen_at = max(self._reopen_at, time.monotonic() + seconds)
            if self._reopener is not None:
                return
            server.close_listener()
            self._reopener = threading.Thread(
                target=self._reopen_when_due, args=(server,), name="rtk-emulator-reopen", daemon=True
            )
            self._reopener.start()

    def accept_connections(self) -> None:
        """End a refusal now: returns once the emulator listens again (a no-op when not refusing)."""
        with self._wake:
            self._reopen_at = 0.0
            self._wake.notify_all()
            while self._reopener is not None and not self._stopping.is_set():
                self._wake.wait()

    @property
    def refusing(self) -> bool:
        """Whether connections are being refused right now (see :meth:`refuse_connections`)."""
        with self._lock:
            return self._reopener is not None

    def _reopen_when_due(self, server: HttpServer) -> None:
        with self._wake:
            while not self._stopping.is_set():
                remaining = self._reopen_at - time.monotonic()
                if remaining <= 0:
                    try:
                        server.reopen_listener()
                    except OSError:
                        remaining = 0.05  # the port is briefly taken: try again
                    else:
                        self._reopener = None
                        self._wake.notify_all()
                        return
                self._wake.wait(remaining)

    def _running(self) -> HttpServer:
        if self._server is None or self._stopping.is_set():
            raise RuntimeError("the emulator is not running: call start() first")
        return self._server

    @property
    def port(self) -> int:
        return self._running().port

    @property
    def origin(self) -> str:
        """Scheme, host and port, e.g. ``http://127.0.0.1:PORT``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API base URL, e.g. ``http://127.0.0.1:PORT/client/v4``."""
        return self.origin + API_PREFIX

    def _http_date(self) -> str:
        return format_datetime(self._clock.to_datetime(self._clock.now()), usegmt=True)

    # Airflow connection

    def connection_json(self, conn_id: str | None = None) -> str:
        """The Airflow connection (JSON form) pointing at this emulator.

        Airflow's JSON connection format has no id field, so ``conn_id`` does not change the result; it
        is accepted so call sites can read like :meth:`env`.
        """
        return json.dumps(
            {
                "conn_type": "realtimekit",
                "host": self.base_url,
                "password": self.token,
                "extra": {"account_id": self.account_id, "app_id": self.app_id},
            }
        )

    def env(self, conn_id: str = "realtimekit_default") -> dict[str, str]:
        """Environment variables that define the connection ``conn_id``."""
        return {f"AIRFLOW_CONN_{conn_id.upper()}": self.connection_json(conn_id)}

    # Faults and the request log

    def add_fault(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        retry_after: int | str | None = None,
        envelope: Envelope = "rtk",
        message: str | None = None,
        delay: float = 0.0,
        drop: bool = False,
        apply: bool = False,
        drop_after_bytes: int | None = None,
        times: int | None = 1,
        duration: float | None = None,
    ) -> Fault:
        """Make the next ``times`` matching requests fail, or all of them for ``duration`` seconds;
        see :class:`Fault`."""
        return self._faults.add(
            Fault(
                method=method,
                path=path,
                status=status,
                retry_after=retry_after,
                envelope=envelope,
                message=message,
                delay=delay,
                drop=drop,
                apply=apply,
                drop_after_bytes=drop_after_bytes,
                times=times,
                duration=duration,
            )
        )

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        """The faults added so far (spent and expired ones included), oldest first."""
        return self._faults.snapshot()

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request received so far, oldest first."""
        return self._log.snapshot()

    def clear_requests(self) -> None:
        self._log.clear()

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """How many logged requests match ``method`` and the regex ``path`` (searched in the path)."""
        return self._log.count(method, path)

    # State controls

    def seed_recording(
        self,
        *,
        meeting_id: str | None = None,
        status: str = "UPLOADED",
        invoked_time: datetime | None = None,
        file_size: int | None = None,
        audio_file_size: int | None = None,
        audio: bool = True,
        track_layers: list[str] | None = None,
        stop_reason: str | None = None,
        meeting_title: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Create a recording directly in ``status`` and return its API view.

        ``extra`` keys are merged into (and override) every view of the recording. ``stop_reason``
        defaults to API_CALL for stopped recordings and INTERNAL_ERROR for ERRORED ones.
        """
        return self._store.seed(
            meeting_id=meeting_id,
            status=status,
            invoked_time=invoked_time,
            media=CompositeMedia(audio, file_size, audio_file_size),
            track_layers=track_layers,
            stop_reason=stop_reason,
            meeting_title=meeting_title,
            extra=extra,
            file_base=self.origin,
        )

    def start_meeting_recording(
        self,
        meeting_id: str,
        *,
        audio: bool = True,
        file_size: int | None = None,
        audio_file_size: int | None = None,
        max_seconds: int = 86400,
        meeting_title: str | None = None,
    ) -> dict[str, Any]:
        """Start a recording as a meeting created with ``record_on_start`` does when it begins, and return
        its API view: INVOKED now, then the usual lifecycle, with ``start_reason``
        ``{"reason": "RECORD_ON_START"}`` (no caller). These are the recordings no Airflow task started,
        which an event-driven DAG exists for. ``meeting_id`` (a UUID) names the meeting, new or not, for
        :meth:`end_meeting`; a ``ValueError`` if that meeting already has an active recording.
        """
        return self._store.start_meeting_recording(
            meeting_id=meeting_id,
            media=CompositeMedia(audio, file_size, audio_file_size),
            max_seconds=max_seconds,
            meeting_title=meeting_title,
            file_base=self.origin,
        )

    def end_meeting(self, meeting_id: str) -> list[dict[str, Any]]:
        """Everyone left ``meeting_id``: each of its active recordings (however started) stops with
        ``stop_reason`` ``{"reason": "ALL_PEERS_LEFT"}`` once the meeting has been empty for
        ``empty_meeting_seconds`` (at once by default), then uploads as usual.

        Returns the views of the recordings it ends (empty if none was active); a ``KeyError`` for a
        meeting id the emulator has never seen.
        """
        return self._store.end_meeting(meeting_id, self.origin)

    def set_status(self, recording_id: str, status: str, *, stop_reason: str | None = None) -> None:
        """Force a recording into ``status`` now (e.g. ERRORED with stop_reason INTERNAL_ERROR)."""
        self._store.force_status(recording_id, status, stop_reason)

    def advance(self, seconds: float) -> None:
        """Move the emulator clock forward by ``seconds`` API seconds."""
        self._store.advance(seconds)

    def recording(self, recording_id: str) -> dict[str, Any]:
        """The API view of a recording now (with freshly issued download URLs once UPLOADED)."""
        return self._store.get(recording_id, self.origin)

    def expected_sha256(self, recording_id: str, kind: str = "video") -> str:
        """sha256 of the bytes served for one file: ``video``, ``audio`` or a track layer name."""
        return self._store.expected_sha256(recording_id, kind)
