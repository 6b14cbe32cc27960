"""The HTTP transport: read and log a request, apply its fault, hand it to the routes, write the answer.

It knows nothing of recordings: what to answer comes from :class:`Services`. :class:`HttpServer` serves
in a background thread and can stop listening for a while, then listen again on the same port.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import socketserver
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from airflow_provider_rtk.testing.emulator.content import iter_content
from airflow_provider_rtk.testing.emulator.faults import FaultSet
from airflow_provider_rtk.testing.emulator.request_log import RequestLog, RequestRecord, access_log_line
from airflow_provider_rtk.testing.emulator.responses import Response, fault_response

ADMIN_PREFIX = "/_emulator/"


@dataclass(frozen=True)
class Services:
    """What the transport needs from the emulator.

    ``route`` answers an API or file request (``origin`` is ``http://`` + the Host header); ``admin``
    answers ``/_emulator/`` requests when the admin endpoint is enabled (they bypass faults and the
    request log); ``http_date`` renders the ``Date`` header; ``stopping`` ends fault delays early.
    """

    route: Callable[[RequestRecord, str], Response]
    admin: Callable[[RequestRecord], Response] | None
    faults: FaultSet
    log: RequestLog
    http_date: Callable[[], str]
    stopping: threading.Event
    access_log: TextIO | None = None


class _Handler(BaseHTTPRequestHandler):
    """Reads and logs one request, applies any matching fault, routes it and writes the answer."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the request log (and the optional access log) is the place to look."""

    def version_string(self) -> str:
        return "cloudflare"

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header follows the emulator clock, like every timestamp the emulator reports."""
        return self.server.services.http_date()

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
        services = self.server.services
        body = self._read_body()
        target = urlsplit(self.path)
        host = self.headers.get("Host") or f"{self.server.server_name}:{self.server.server_port}"
        record = RequestRecord(
            method=self.command,
            path=target.path,
            query=parse_qs(target.query, keep_blank_values=True),
            url=f"http://{host}{self.path}",
            headers=dict(self.headers.items()),
            body=body,
            json=_parse_json(body),
        )
        try:
            if services.admin is not None and target.path.startswith(ADMIN_PREFIX):
                self._answer(record, services.admin(record), None)
            else:
                self._handle_api(record, f"http://{host}")
        finally:
            if services.access_log is not None:
                print(access_log_line(record), file=services.access_log, flush=True)

    def _handle_api(self, record: RequestRecord, origin: str) -> None:
        """Log the request as soon as it is read (so in-flight and delayed requests count), apply any
        fault, and fill in the answer before the client can see it."""
        services = self.server.services
        services.log.append(record)
        fault = services.faults.take(record.method, record.path)
        if fault is not None and fault.delay and services.stopping.wait(fault.delay):
            self.close_connection = True
            return
        if fault is not None and fault.drop:
            if fault.apply:
                services.route(record, origin)
            self.close_connection = True
            return
        if fault is not None and fault.status is not None:
            response = fault_response(fault)
        else:
            response = services.route(record, origin)
        self._answer(record, response, fault.drop_after_bytes if fault is not None else None)

    def _answer(self, record: RequestRecord, response: Response, limit: int | None) -> None:
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

    def __init__(self, address: tuple[str, int], services: Services) -> None:
        self.services = services
        self._open: set[socket.socket] = set()
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._local = threading.local()  # the connection a worker thread serves
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would resolve the host name (socket.getfqdn), which can stall on DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def rebind(self) -> None:
        """A new listening socket on the address the first one had (same port, ``SO_REUSEADDR``)."""
        self.socket = socket.socket(self.address_family, self.socket_type)
        try:
            self.server_bind()
            self.server_activate()
        except OSError:
            self.socket.close()
            raise

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

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        self._local.connection = request
        super().process_request_thread(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self, *, join: bool) -> None:
        """Shut down every open connection (waking its thread); with ``join``, wait for all their threads.

        Called from a connection's own thread (an admin request), that connection is spared: it closes
        once its answer is written (the answer says ``Connection: close``).
        """
        with self._lock:
            connections, workers = list(self._open), list(self._workers)
        own = getattr(self._local, "connection", None)
        for connection in connections:
            if connection is own:
                continue
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if join:
            for worker in workers:
                if worker is not threading.current_thread():
                    worker.join()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the client went away (reset, broken pipe) or the emulator closed the connection
        super().handle_error(request, client_address)


class HttpServer:
    """The listening socket and its serving thread. Binds on construction (``port`` 0 picks a free one)."""

    def __init__(self, host: str, port: int, services: Services) -> None:
        self._server = _Server((host, port), services)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def listening(self) -> bool:
        return self._thread is not None

    def serve(self) -> None:
        """Accept connections in a background thread."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="rtk-emulator",
            daemon=True,
        )
        self._thread.start()

    def close_listener(self) -> None:
        """Stop accepting and close the listening socket (new clients get ECONNREFUSED) and every open
        connection. Safe to call from a connection's own thread."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
        self._server.close_connections(join=False)

    def reopen_listener(self) -> None:
        """Listen again on the same port after :meth:`close_listener` (raises OSError if it is taken)."""
        if self._thread is None:
            self._server.rebind()
            self.serve()

    def stop(self) -> None:
        """Close the listener and every connection, and join every thread."""
        self.close_listener()
        self._server.close_connections(join=True)
