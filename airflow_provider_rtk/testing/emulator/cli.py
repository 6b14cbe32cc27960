"""The ``rtk-emulator`` console script: serve the emulator until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import errno
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from airflow_provider_rtk.testing.emulator.emulator import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_APP_ID,
    DEFAULT_TOKEN,
    RealtimeKitEmulator,
)

DEFAULT_PORT = 8787
#: Exit status for a command line or an address the emulator cannot use (argparse's own usage status).
USAGE_ERROR = 2


def _number(kind: type[int] | type[float], minimum: float, what: str) -> Callable[[str], Any]:
    """An argparse type: a ``kind`` of at least ``minimum`` (above it if ``what`` says "positive"), with a
    message that says what is expected."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}") from None
        if value < minimum or ("positive" in what and value <= 0):
            raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}")
        return value

    return parse


_seconds = _number(float, 0, "0 or more seconds")
_positive = _number(float, 0, "a positive number")
_bytes = _number(int, 0, "0 or more bytes")
_positive_seconds = _number(int, 0, "a positive whole number of seconds")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rtk-emulator",
        description="Serve a local emulator of the Cloudflare RealtimeKit recordings API, and print the "
        "Airflow connection that points at it. Durations are API seconds unless said otherwise.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _add_server_arguments(parser.add_argument_group("server"))
    _add_recording_arguments(parser.add_argument_group("recordings"))
    return parser


def _add_server_arguments(server: argparse._ArgumentGroup) -> None:
    """Where the emulator listens, whom it answers, and what it serves besides the API."""
    server.add_argument("--host", default="127.0.0.1", help="address to listen on")
    server.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port to listen on; 0 picks a free one"
    )
    server.add_argument("--token", default=DEFAULT_TOKEN, help="API token clients must send (Bearer)")
    server.add_argument("--account-id", default=DEFAULT_ACCOUNT_ID, help="Cloudflare account id in the URL")
    server.add_argument("--app-id", default=DEFAULT_APP_ID, help="RealtimeKit app id in the URL")
    server.add_argument(
        "--api-version",
        choices=("current", "legacy"),
        default="current",
        help="which version of the recordings API to speak (see docs/api-notes.md)",
    )
    server.add_argument(
        "--log-requests",
        action="store_true",
        help="print one line per request to stderr: time, method, path, status (never the query or a header)",
    )
    server.add_argument(
        "--admin",
        action="store_true",
        help="serve the admin endpoint under /_emulator/ (faults, refused connections, request log, seeds)",
    )


def _add_recording_arguments(lifecycle: argparse._ArgumentGroup) -> None:
    """How the emulated recordings live: their lifecycle's pace, file sizes, URL lifetime."""
    lifecycle.add_argument(
        "--time-scale", type=_positive, default=1.0, help="real seconds per API second (0.1 runs 10x faster)"
    )
    lifecycle.add_argument(
        "--invoked-seconds",
        type=_seconds,
        default=2.0,
        help="how long a new recording stays INVOKED before the bot joins and it is RECORDING "
        "(the real service: up to ~30)",
    )
    lifecycle.add_argument(
        "--upload-seconds", type=_seconds, default=3.0, help="how long a stopped recording stays UPLOADING"
    )
    lifecycle.add_argument("--file-size", type=_bytes, default=1_048_576, help="bytes of each video file")
    lifecycle.add_argument(
        "--audio-file-size",
        type=_bytes,
        default=262_144,
        help="bytes of each audio file (and track layer file)",
    )
    lifecycle.add_argument(
        "--download-url-ttl",
        type=_positive_seconds,
        default=7 * 24 * 3600,
        help="lifetime of a presigned download URL",
    )
    lifecycle.add_argument(
        "--error-on-short-recordings",
        action="store_true",
        help="a recording stopped within 5 s of recording ends ERRORED instead of UPLOADED",
    )
    lifecycle.add_argument(
        "--empty-meeting-seconds",
        type=_seconds,
        default=0.0,
        help="how long a meeting everyone left (POST /_emulator/meetings/{id}/end) keeps recording before "
        "its recordings stop with ALL_PEERS_LEFT (the real service: ~60)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Start the emulator, print how to connect Airflow to it, and serve until interrupted."""
    args = _parser().parse_args(argv)
    try:
        emulator = RealtimeKitEmulator(
            host=args.host,
            port=args.port,
            token=args.token,
            account_id=args.account_id,
            app_id=args.app_id,
            api_version=args.api_version,
            time_scale=args.time_scale,
            invoked_seconds=args.invoked_seconds,
            upload_seconds=args.upload_seconds,
            file_size=args.file_size,
            audio_file_size=args.audio_file_size,
            download_url_ttl=args.download_url_ttl,
            error_on_short_recordings=args.error_on_short_recordings,
            empty_meeting_seconds=args.empty_meeting_seconds,
            admin=args.admin,
            access_log=sys.stderr if args.log_requests else None,
        )
    except ValueError as error:
        print(f"rtk-emulator: {error}", file=sys.stderr)
        return USAGE_ERROR
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        emulator.start()
    except OSError as error:
        print(f"rtk-emulator: {_bind_error(args.host, args.port, error)}", file=sys.stderr)
        return USAGE_ERROR
    try:
        connection = emulator.connection_json()
        print(f"RealtimeKit emulator listening on {emulator.base_url}", flush=True)
        print(connection, flush=True)
        print(f"export AIRFLOW_CONN_REALTIMEKIT_DEFAULT={shlex.quote(connection)}", flush=True)
        if args.admin:
            print(f"Admin endpoint: {emulator.origin}/_emulator/", flush=True)
        while not done.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


def _bind_error(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use; pick another with --port, or --port 0 for a free one"
        )
    return f"cannot listen on {host} port {port}: {error.strerror or error}"
