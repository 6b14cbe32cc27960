"""The emulator in its own process for ``make e2e``, with the admin endpoint under ``/_emulator/``.

Prints one JSON line ``{"base_url": ..., "admin_url": ...}`` once it serves, then serves until SIGTERM or
SIGINT. With an emulator that has the built-in admin endpoint (``RealtimeKitEmulator(admin=True)``) the
admin URL is the emulator's own origin; with one that does not yet, a small stand-in implementing the same
contract (faults, refuse, request log, seeded recordings, sha256) serves it on a second loopback port.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

_SHA = re.compile(r"/_emulator/recordings/([^/]+)/sha256")


class _AdminStandIn:
    """The admin contract on its own port, through the emulator's Python API (used until it is built in)."""

    def __init__(self, emulator: RealtimeKitEmulator, host: str) -> None:
        self.emulator = emulator
        self.lock = threading.Lock()
        admin = self
        append = emulator._log.append

        def stamped(record: Any) -> None:
            record.time = time.time()  # the request log's records carry no time before the admin endpoint
            append(record)

        emulator._log.append = stamped  # type: ignore[method-assign]

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, payload: Any) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length) or b"{}")

            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                if path == "/_emulator/requests":
                    self._answer(200, {"requests": admin.requests()})
                elif match := _SHA.fullmatch(path):
                    kind = query.partition("kind=")[2].split("&")[0] or "video"
                    try:
                        self._answer(200, {"sha256": admin.emulator.expected_sha256(match[1], kind)})
                    except Exception as exc:
                        self._answer(404, {"error": str(exc)})
                else:
                    self._answer(404, {"error": path})

            def do_POST(self) -> None:
                body = self._body()
                if self.path == "/_emulator/faults":
                    duration = body.pop("duration", None)
                    if duration is not None:
                        body["times"] = None
                    fault = admin.emulator.add_fault(**body)
                    if duration is not None:
                        threading.Timer(float(duration), admin.expire, args=(fault,)).start()
                    self._answer(201, {"id": id(fault)})
                elif self.path == "/_emulator/refuse":
                    threading.Thread(target=admin.refuse, args=(float(body["seconds"]),), daemon=True).start()
                    self._answer(202, {"seconds": body["seconds"]})
                elif self.path == "/_emulator/recordings":
                    if isinstance(body.get("invoked_time"), str):
                        body["invoked_time"] = datetime.fromisoformat(body["invoked_time"].replace("Z", "+00:00"))
                    self._answer(201, admin.emulator.seed_recording(**body))
                else:
                    self._answer(404, {"error": self.path})

            def do_DELETE(self) -> None:
                if self.path == "/_emulator/faults":
                    admin.emulator.clear_faults()
                elif self.path == "/_emulator/requests":
                    admin.emulator.clear_requests()
                else:
                    self._answer(404, {"error": self.path})
                    return
                self._answer(200, {})

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def requests(self) -> list[dict[str, Any]]:
        return [
            {"method": r.method, "path": r.path, "status": r.status, "time": getattr(r, "time", None)}
            for r in self.emulator.requests
        ]

    @staticmethod
    def expire(fault: Any) -> None:
        fault.times = fault.hits  # no uses left: the rule stops matching

    def refuse(self, seconds: float) -> None:
        """Close the listening socket for ``seconds``, then serve again on the same port."""
        with self.lock:
            port = self.emulator.port
            self.emulator.stop()
            time.sleep(seconds)
            self.emulator._requested_port = port
            self.emulator.start()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--token", required=True)
    parser.add_argument("--invoked-seconds", type=float, default=1.0)
    parser.add_argument("--upload-seconds", type=float, default=5.0)
    parser.add_argument("--file-size", type=int, default=256 * 1024)
    parser.add_argument("--audio-file-size", type=int, default=64 * 1024)
    args = parser.parse_args()
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "token": args.token,
        "invoked_seconds": args.invoked_seconds,
        "upload_seconds": args.upload_seconds,
        "file_size": args.file_size,
        "audio_file_size": args.audio_file_size,
    }
    try:
        emulator = RealtimeKitEmulator(admin=True, **settings)  # type: ignore[call-arg]
        built_in = True
    except TypeError:
        emulator = RealtimeKitEmulator(**settings)
        built_in = False
    emulator.start()
    origin = emulator.base_url.removesuffix("/client/v4")
    admin_url = origin if built_in else _AdminStandIn(emulator, "127.0.0.1").url
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(json.dumps({"base_url": emulator.base_url, "admin_url": admin_url, "built_in_admin": built_in}))
    sys.stdout.flush()
    done.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
