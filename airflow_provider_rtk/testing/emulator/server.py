"""The HTTP side of the emulator: routing, file downloads, fault handling and the emulator object."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import socketserver
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from airflow_provider_rtk.testing.emulator.content import iter_content
from airflow_provider_rtk.testing.emulator.errors import (
    CF_AUTH_CODE,
    CF_METHOD_CODE,
    CF_ROUTE_CODE,
    ApiError,
    Envelope,
    bad_request,
    cf_error_body,
    rtk_error_body,
)
from airflow_provider_rtk.testing.emulator.faults import Fault, FaultSet, RequestLog, RequestRecord
from airflow_provider_rtk.testing.emulator.state import Clock, FileError, FileGrant, RecordingStore, Settings
from airflow_provider_rtk.testing.emulator.validation import (
    ApiVersion,
    parse_action,
    parse_list_query,
    parse_start,
    parse_track,
)

API_PREFIX = "/client/v4"
FILES_PREFIX = "/_files/"
_APP_PATH = re.compile(r"/client/v4/accounts/([^/]+)/realtime/kit/([^/]+)(/.*)?")
_JSON = "application/json; charset=utf-8"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass
class FileBody:
    """A byte range of an emulated file, streamed rather than held in memory."""

    seed: str
    start: int
    stop: int


@dataclass
class Response:
    """An answer before it is written: the body is bytes, or a :class:`FileBody` to stream."""

    status: int
    headers: dict[str, str]
    body: bytes | FileBody = b""

    @property
    def length(self) -> int:
        return self.body.stop - self.body.start if isinstance(self.body, FileBody) else len(self.body)


def json_response(status: int, payload: Any) -> Response:
    return Response(status, {"Content-Type": _JSON}, json.dumps(payload).encode())


def error_response(error: ApiError) -> Response:
    return json_response(error.status, error.body())


def fault_response(fault: Fault) -> Response:
    assert fault.status is not None
    if fault.envelope == "cf":
        body = cf_error_body(CF_AUTH_CODE, fault.error_message)
    else:
        body = rtk_error_body(fault.status, fault.error_message)
    response = json_response(fault.status, body)
    if fault.retry_after is not None:
        response.headers["Retry-After"] = str(fault.retry_after)
    return response


def s3_error_response(error: FileError) -> Response:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{error.code}</Code><Message>{error.message}</Message></Error>"
    )
    return Response(error.status, {"Content-Type": "application/xml"}, xml.encode())


class _Handler(BaseHTTPRequestHandler):
    """Reads and logs one request, applies any matching fault, routes it and writes the answer."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the request log is the place to look."""

    def version_string(self) -> str:
        return "cloudflare"

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header follows the emulator clock, like every timestamp the emulator reports."""
        clock = self.server.emulator._store.clock
        return format_datetime(clock.to_datetime(clock.now()), usegmt=True)

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        """Log the request as soon as it is read (so in-flight and delayed requests count), apply any
        fault, and fill in the answer before the client can see it."""
        emulator = self.server.emulator
        body = self._read_body()
        target = urlsplit(self.path)
        host = self.headers.get("Host") or f"{emulator.host}:{emulator.port}"
        record = RequestRecord(
            method=self.command,
            path=target.path,
            query=parse_qs(target.query, keep_blank_values=True),
            url=f"http://{host}{self.path}",
            headers=dict(self.headers.items()),
            body=body,
            json=_parse_json(body),
        )
        emulator._log.append(record)
        fault = emulator._faults.take(self.command, target.path)
        if fault is not None and fault.delay and emulator._stopping.wait(fault.delay):
            self.close_connection = True
            return
        if fault is not None and fault.drop:
            if fault.apply:
                emulator._route(record, f"http://{host}")
            self.close_connection = True
            return
        if fault is not None and fault.status is not None:
            response = fault_response(fault)
        else:
            response = emulator._route(record, f"http://{host}")
        limit = fault.drop_after_bytes if fault is not None else None
        headers = self._headers(response, limit)
        record.response_headers = headers
        if isinstance(response.body, bytes):
            record.response_json = _parse_json(response.body)
        record.status = response.status
        self._write(response, headers, limit)

    def _headers(self, response: Response, limit: int | None) -> dict[str, str]:
        headers = {
            "Server": self.version_string(),
            "Date": self.date_time_string(),
            "cf-ray": secrets.token_hex(8) + "-SJC",
            **response.headers,
            "Content-Length": str(response.length),
        }
        if limit is not None:
            headers["Connection"] = "close"
        return headers

    def _write(self, response: Response, headers: dict[str, str], limit: int | None) -> None:
        self.send_response_only(response.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        remaining = response.length if limit is None else min(limit, response.length)
        if isinstance(response.body, bytes):
            self.wfile.write(response.body[:remaining])
        else:
            body = response.body
            for chunk in iter_content(body.seed, body.start, body.start + remaining):
                self.wfile.write(chunk)


def _parse_json(raw: bytes) -> Any | None:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


class _Server(ThreadingHTTPServer):
    """Threaded server that tracks its connections and their threads, so it can close and join them all.

    ``socketserver`` never joins daemon threads, and keep-alive connections would otherwise keep their
    threads blocked on the next request forever.
    """

    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: RealtimeKitEmulator) -> None:
        self.emulator = emulator
        self._open: set[socket.socket] = set()
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve the host name (socket.getfqdn), which can stall on DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        worker = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), name="rtk-emulator-connection"
        )
        worker.daemon = True
        with self._lock:
            self._open.add(request)
            self._workers = [thread for thread in self._workers if thread.is_alive()]
            self._workers.append(worker)
        worker.start()

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every open connection (waking its thread) and join all connection threads."""
        with self._lock:
            connections, workers = list(self._open), list(self._workers)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for worker in workers:
            worker.join()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the client went away (reset, broken pipe) or stop() closed the connection
        super().handle_error(request, client_address)


class RealtimeKitEmulator:
    """A local, real-HTTP stand-in for the six RealtimeKit recording endpoints (plus presigned file URLs).

    All durations are API seconds; ``time_scale`` real seconds elapse per API second, and :meth:`advance`
    moves the clock forward without sleeping. See the package docstring for an overview.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "rtk-emulator-token",
        account_id: str = "023e105f4ecef8ad9ca31a8372d0c353",
        app_id: str = "2a95132c15732412d22c1476fa83f27a",
        api_version: ApiVersion = "current",
        time_scale: float = 1.0,
        invoked_seconds: float = 2.0,
        upload_seconds: float = 3.0,
        file_size: int = 1_048_576,
        audio_file_size: int = 262_144,
        download_url_ttl: int = 7 * 24 * 3600,
        error_on_short_recordings: bool = False,
    ) -> None:
        if api_version not in ("current", "legacy"):
            raise ValueError(f"api_version must be 'current' or 'legacy', not {api_version!r}")
        self.host = host
        self.token = token
        self.account_id = account_id
        self.app_id = app_id
        self.api_version: ApiVersion = api_version
        self._faults = FaultSet()
        self._log = RequestLog()
        self._stopping = threading.Event()
        self._store = RecordingStore(
            Settings(
                invoked_seconds=invoked_seconds,
                upload_seconds=upload_seconds,
                file_size=file_size,
                audio_file_size=audio_file_size,
                download_url_ttl=download_url_ttl,
                error_on_short_recordings=error_on_short_recordings,
            ),
            Clock(time_scale),
        )
        self._requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # Server lifecycle

    def start(self) -> RealtimeKitEmulator:
        """Bind and serve in a background thread. Returns ``self``."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self._requested_port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="rtk-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every open connection and join all threads. Idempotent."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        thread.join()
        server.server_close()
        server.close_connections()
        self._server = self._thread = None

    def __enter__(self) -> RealtimeKitEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return self._server.server_port

    @property
    def base_url(self) -> str:
        """The API base URL, e.g. ``http://127.0.0.1:PORT/client/v4``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{API_PREFIX}"

    # Airflow connection

    def connection_json(self, conn_id: str | None = None) -> str:
        """The Airflow connection (JSON form) pointing at this emulator.

        Airflow's JSON connection format has no id field; ``conn_id`` is accepted so call sites can read
        like :meth:`env`, and does not change the result.
        """
        del conn_id
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
        return {f"AIRFLOW_CONN_{conn_id.upper()}": self.connection_json()}

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
    ) -> Fault:
        """Make the next ``times`` matching requests fail; see :class:`Fault`."""
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
            )
        )

    def clear_faults(self) -> None:
        self._faults.clear()

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

    def _origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}" if self._server is not None else f"http://{host}"

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
            file_size=file_size,
            audio_file_size=audio_file_size,
            audio=audio,
            track_layers=track_layers,
            stop_reason=stop_reason,
            meeting_title=meeting_title,
            extra=extra,
            file_base=self._origin(),
        )

    def set_status(self, recording_id: str, status: str, *, stop_reason: str | None = None) -> None:
        """Force a recording into ``status`` now (e.g. ERRORED with stop_reason INTERNAL_ERROR)."""
        self._store.force_status(recording_id, status, stop_reason)

    def advance(self, seconds: float) -> None:
        """Move the emulator clock forward by ``seconds`` API seconds."""
        self._store.advance(seconds)

    def recording(self, recording_id: str) -> dict[str, Any]:
        """The API view of a recording now (with freshly issued download URLs once UPLOADED)."""
        return self._store.get(recording_id, self._origin())

    def expected_sha256(self, recording_id: str, kind: str = "video") -> str:
        """sha256 of the bytes served for one file: ``video``, ``audio`` or a track layer name."""
        return self._store.expected_sha256(recording_id, kind)

    # Routing

    def _route(self, record: RequestRecord, origin: str) -> Response:
        """Answer one request (no faults here: the handler applies them)."""
        try:
            if record.path.startswith(FILES_PREFIX):
                return self._serve_file(record)
            return self._route_api(record, origin)
        except ApiError as error:
            return error_response(error)

    def _route_api(self, record: RequestRecord, origin: str) -> Response:
        not_routed = ApiError(
            404,
            f"Could not route to {record.path}, perhaps your object identifier is invalid?",
            envelope="cf",
            cf_code=CF_ROUTE_CODE,
        )
        if not record.path.startswith(API_PREFIX + "/"):
            raise not_routed
        if record.headers.get("Authorization") != f"Bearer {self.token}":
            raise ApiError(401, "Authentication error", envelope="cf")
        match = _APP_PATH.fullmatch(record.path)
        if match is None:
            raise not_routed
        account_id, app_id, rest = match.group(1), match.group(2), match.group(3) or ""
        if unquote(account_id) != self.account_id:
            raise ApiError(403, "Unauthorized to access requested resource", envelope="cf")
        if unquote(app_id) != self.app_id:
            raise ApiError(404, "App not found")
        segments = [unquote(part) for part in rest.strip("/").split("/")] if rest.strip("/") else []
        method = record.method
        store = self._store

        if segments == ["recordings"]:
            if method == "GET":
                data, paging = store.list_recordings(parse_list_query(record.query, self.api_version), origin)
                return json_response(200, {"success": True, "data": data, "paging": paging})
            if method == "POST":
                params = parse_start(self._json_body(record), self.api_version)
                return json_response(200, {"success": True, "data": store.start(params, origin)})
        elif segments == ["recordings", "track"] and method == "POST":
            recording = store.start_track(parse_track(self._json_body(record), self.api_version), origin)
            if self.api_version == "legacy":
                return Response(200, {})
            return json_response(200, {"success": True, "data": {"recording": recording}})
        elif len(segments) == 3 and segments[:2] == ["recordings", "active-recording"]:
            if method == "GET":
                return json_response(200, {"success": True, "data": store.active(segments[2], origin)})
        elif len(segments) == 2 and segments[0] == "recordings":
            if method == "GET":
                return json_response(200, {"success": True, "data": store.get(segments[1], origin)})
            if method == "PUT":
                action = parse_action(self._json_body(record))
                return json_response(200, {"success": True, "data": store.act(segments[1], action, origin)})
        else:
            raise not_routed
        raise ApiError(
            405, f"Method {method} not allowed for {record.path}", envelope="cf", cf_code=CF_METHOD_CODE
        )

    @staticmethod
    def _json_body(record: RequestRecord) -> Any:
        if record.json is None:
            raise bad_request("Request body must be a JSON object")
        return record.json

    def _serve_file(self, record: RequestRecord) -> Response:
        parts = record.path[len(FILES_PREFIX) :].split("/")
        if record.method not in ("GET", "HEAD"):
            return s3_error_response(
                FileError(405, "MethodNotAllowed", "The specified method is not allowed.")
            )
        if len(parts) != 2:
            return s3_error_response(FileError(404, "NoSuchKey", "The specified key does not exist."))
        try:
            grant = self._store.open_file(unquote(parts[0]), unquote(parts[1]), record.query)
        except FileError as error:
            return s3_error_response(error)
        return _file_response(grant, record.headers)


def _file_response(grant: FileGrant, request_headers: dict[str, str]) -> Response:
    """200 with the whole file, or 206/416 for one ``Range`` (a multi-range request gets the whole file)."""
    headers = {
        "Content-Type": grant.content_type,
        "ETag": grant.etag,
        "Last-Modified": format_datetime(grant.last_modified, usegmt=True),
        "Accept-Ranges": "bytes",
    }
    size = grant.size
    range_header = request_headers.get("Range")
    if_range = request_headers.get("If-Range")
    if range_header is None or (if_range is not None and if_range != grant.etag):
        return Response(200, headers, FileBody(grant.seed, 0, size))
    match = _RANGE.fullmatch(range_header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return Response(200, headers, FileBody(grant.seed, 0, size))
    first, last = match.group(1), match.group(2)
    if first == "":
        start, stop = max(size - int(last), 0), size
    elif last != "" and int(last) < int(first):
        return Response(200, headers, FileBody(grant.seed, 0, size))  # an invalid range is ignored
    else:
        start, stop = int(first), size if last == "" else min(int(last) + 1, size)
    if start >= stop:
        headers["Content-Range"] = f"bytes */{size}"
        return Response(416, headers)
    headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    return Response(206, headers, FileBody(grant.seed, start, stop))
