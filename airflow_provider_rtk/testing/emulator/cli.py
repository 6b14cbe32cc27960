"""The ``rtk-emulator`` console script: serve the emulator until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import shlex
import signal
import threading
from collections.abc import Sequence
from types import FrameType

from airflow_provider_rtk.testing.emulator.emulator import RealtimeKitEmulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rtk-emulator", description="Serve a local emulator of the RealtimeKit recordings API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    parser.add_argument("--token", default="rtk-emulator-token")
    parser.add_argument("--account-id", default="023e105f4ecef8ad9ca31a8372d0c353")
    parser.add_argument("--app-id", default="2a95132c15732412d22c1476fa83f27a")
    parser.add_argument("--api-version", choices=("current", "legacy"), default="current")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="real seconds per API second (0.1 runs 10x faster)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Start the emulator, print how to connect Airflow to it, and serve until interrupted."""
    args = _parser().parse_args(argv)
    emulator = RealtimeKitEmulator(
        host=args.host,
        port=args.port,
        token=args.token,
        account_id=args.account_id,
        app_id=args.app_id,
        api_version=args.api_version,
        time_scale=args.time_scale,
    )
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with emulator:
        connection = emulator.connection_json()
        print(f"RealtimeKit emulator listening on {emulator.base_url}", flush=True)
        print(connection, flush=True)
        print(f"export AIRFLOW_CONN_REALTIMEKIT_DEFAULT={shlex.quote(connection)}", flush=True)
        while not done.wait(0.5):
            pass
    return 0
