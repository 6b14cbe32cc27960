"""Helpers shared by the benchmarks: medians and ratios, tables, RSS, and an emulator in a subprocess.

Every figure the benchmarks report is a ratio (or a difference) against a baseline measured in the same
run, interleaved with the subject, because the machine is small (2 cores) and shared: absolute times drift
by tens of percent while other work runs, ratios of interleaved rounds much less.
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

# -- statistics -----------------------------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def median_ratio(subject: Sequence[float], baseline: Sequence[float]) -> float:
    """Median of the per-round ratios subject[i] / baseline[i] (rounds paired as they were interleaved)."""
    if len(subject) != len(baseline) or not subject:
        raise ValueError("median_ratio needs two non-empty series of the same length")
    return statistics.median(s / b for s, b in zip(subject, baseline, strict=True))


def interleave(
    sides: Mapping[str, Callable[[], float]], rounds: int, *, alternate: bool = True
) -> dict[str, list[float]]:
    """Run each side once per round, in turn, and collect what each returns (e.g. a time per call).

    With ``alternate`` the order is reversed every other round (A B C, C B A, ...), so that a drift in
    machine load does not always favour the side that runs first.
    """
    names = list(sides)
    results: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        order = names if not alternate or index % 2 == 0 else names[::-1]
        for name in order:
            results[name].append(sides[name]())
    return results


def interleave_calls(
    sides: Mapping[str, Callable[[], object]], rounds: int, calls: int
) -> dict[str, list[dict[str, float]]]:
    """Finest interleaving: within each round, one call of each side in turn (A B C A B C ..., reversed
    every other round), ``calls`` calls per side. A burst of load from other processes then lands on all
    sides alike, even within a round.

    Returns, per side, one dict per round: ``wall_mean_us`` and ``wall_median_us`` (per-call latency),
    ``cpu_mean_us`` (this process's CPU time per call). On a busy machine the per-call median is the
    robust figure: a call that happens to be descheduled for milliseconds moves a round's mean by 2x
    but its median hardly at all.
    """
    import gc

    names = list(sides)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    perf, cpu = time.perf_counter, time.process_time
    for index in range(rounds):
        order = [(name, sides[name]) for name in (names if index % 2 == 0 else names[::-1])]
        walls: dict[str, list[float]] = {name: [] for name in names}
        cpus = dict.fromkeys(names, 0.0)
        gc.collect()
        for _ in range(calls):
            for name, call in order:
                c0, w0 = cpu(), perf()
                call()
                w1, c1 = perf(), cpu()
                walls[name].append(w1 - w0)
                cpus[name] += c1 - c0
        for name in names:
            results[name].append(
                {
                    "wall_mean_us": statistics.fmean(walls[name]) * 1e6,
                    "wall_median_us": statistics.median(walls[name]) * 1e6,
                    "cpu_mean_us": cpus[name] / calls * 1e6,
                }
            )
    return results


# -- output ---------------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, list | tuple | set):
        return ", ".join(str(item) for item in value) or "-"
    if isinstance(value, Mapping):
        return json.dumps(value, default=str)
    return str(value)


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured markdown table; columns default to every key, in order of first appearance."""
    if not rows:
        return "(no rows)"
    if columns is None:
        seen: dict[str, None] = {}
        for row in rows:
            for key in row:
                seen.setdefault(str(key), None)
        columns = list(seen)
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    numeric = [
        all(
            (isinstance(row.get(column), int | float) and not isinstance(row.get(column), bool))
            or row.get(column) is None
            for row in rows
        )
        for column in columns
    ]

    def line(values: Sequence[str]) -> str:
        padded = [
            value.rjust(width) if is_num else value.ljust(width)
            for value, width, is_num in zip(values, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    separator = (
        "|"
        + "|".join(
            "-" * (width + 1) + ":" if is_num else "-" * (width + 2)
            for width, is_num in zip(widths, numeric, strict=True)
        )
        + "|"
    )
    return "\n".join([line(list(columns)), separator, *(line(values) for values in cells)])


def print_table(
    title: str,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    notes: Sequence[str] = (),
) -> None:
    print(f"\n### {title}\n", flush=True)
    print(format_table(rows, columns))
    for note in notes:
        print(f"\n{note}")
    sys.stdout.flush()


def log(message: str) -> None:
    """Progress on stderr, so that stdout stays the tables."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- memory ---------------------------------------------------------------------------------------------


def _status_kib(field: str, pid: int | str = "self") -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mib(pid: int | str = "self") -> float:
    """Current resident set size of a process in MiB (Linux ``/proc``; getrusage peak elsewhere)."""
    kib = _status_kib("VmRSS", pid)
    if kib is None:
        if pid != "self":
            raise OSError(f"cannot read the RSS of process {pid}")
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return kib / 1024


def peak_rss_mib(pid: int | str = "self") -> float:
    """Peak resident set size (high-water mark) of a process in MiB."""
    kib = _status_kib("VmHWM", pid)
    if kib is None:
        if pid != "self":
            raise OSError(f"cannot read the peak RSS of process {pid}")
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return kib / 1024


def reset_peak_rss(pid: int | str = "self") -> bool:
    """Reset the kernel's RSS high-water mark (Linux >= 4.0: write 5 to clear_refs). False if refused."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


# -- the emulator in another process ----------------------------------------------------------------------

# Runs in the child. The CLI (``python -m airflow_provider_rtk.testing.emulator``) cannot seed recordings,
# so the child uses the same class the CLI does, seeds, prints one JSON line and serves until its stdin
# closes (the parent closing it, or exiting for any reason).
_CHILD = r"""
import json, sys
from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

config = json.loads(sys.argv[1])
seed, seed_status = config.pop("seed"), config.pop("seed_status")
with RealtimeKitEmulator(**config) as emu:
    ids = [emu.seed_recording(status=seed_status)["id"] for _ in range(seed)]
    print(json.dumps({
        "base_url": emu.base_url, "token": emu.token, "account_id": emu.account_id, "app_id": emu.app_id,
        "connection": emu.connection_json(), "recording_ids": ids,
    }), flush=True)
    sys.stdin.read()
"""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmulatorProcess:
    """The RealtimeKit emulator serving from a separate Python process, so that its CPU time is not
    counted in the benchmark's process.

    ``with EmulatorProcess(seed=3) as emu:`` starts it on a free port, waits until the API answers an
    authenticated request, and exposes ``base_url``, ``token``, ``account_id``, ``app_id``,
    ``recording_ids`` (the seeded recordings), ``connection_json``, ``env()`` and ``pid``. Keyword
    arguments not listed below go to ``RealtimeKitEmulator`` (``time_scale``, ``file_size``, ...).
    """

    def __init__(
        self,
        *,
        seed: int = 1,
        seed_status: str = "UPLOADED",
        host: str = "127.0.0.1",
        token: str = "bench-token",
        startup_timeout: float = 60.0,
        **emulator_kwargs: Any,
    ) -> None:
        self.host = host
        self.startup_timeout = startup_timeout
        self._config: dict[str, Any] = {
            "host": host,
            "token": token,
            "seed": seed,
            "seed_status": seed_status,
            **emulator_kwargs,
        }
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: Any = None
        self.base_url = ""
        self.token = token
        self.account_id = ""
        self.app_id = ""
        self.connection_json = ""
        self.recording_ids: list[str] = []

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("the emulator process is not running")
        return self._proc.pid

    @property
    def app_base(self) -> str:
        """``{base_url}/accounts/{account}/realtime/kit/{app}``: what recording paths hang off."""
        return f"{self.base_url}/accounts/{self.account_id}/realtime/kit/{self.app_id}"

    def env(self, conn_id: str = "realtimekit_default") -> dict[str, str]:
        return {f"AIRFLOW_CONN_{conn_id.upper()}": self.connection_json}

    def start(self) -> EmulatorProcess:
        last_error: Exception | None = None
        for _ in range(3):  # a free port can be taken between free_port() and the child's bind
            config = {**self._config, "port": self._config.get("port") or free_port(self.host)}
            try:
                self._spawn(config)
                self._wait_until_answering()
                return self
            except Exception as exc:
                last_error = exc
                self.stop()
        raise RuntimeError(f"the emulator process did not start: {last_error}") from last_error

    def _spawn(self, config: dict[str, Any]) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # stderr to a file, not a pipe: nobody reads it while serving, and a full pipe would block the child
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in stop())
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            cwd=REPO_ROOT,
            env=env,
        )
        assert self._proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._proc.stdout, selectors.EVENT_READ)
            if not selector.select(self.startup_timeout):
                raise TimeoutError(f"no answer from the emulator process within {self.startup_timeout} s")
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(timeout=10)
            self._stderr.seek(0)
            stderr = self._stderr.read()
            raise RuntimeError(f"the emulator process exited: {stderr.strip()[-2000:]}")
        info = json.loads(line)
        self.base_url = info["base_url"]
        self.token = info["token"]
        self.account_id = info["account_id"]
        self.app_id = info["app_id"]
        self.connection_json = info["connection"]
        self.recording_ids = info["recording_ids"]

    def _wait_until_answering(self) -> None:
        """Poll an authenticated list request (stdlib HTTP, no keep-alive) until it returns 200."""
        import urllib.error
        import urllib.request

        request = urllib.request.Request(
            f"{self.app_base}/recordings?per_page=1",
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
        )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError) as exc:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the emulator at {self.base_url} does not answer: {exc}") from exc
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"the emulator process exited with {self._proc.returncode}")
            time.sleep(0.05)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# -- fresh interpreters ---------------------------------------------------------------------------------


def run_python(code: str, *, timeout: float = 120.0, env: Mapping[str, str] | None = None) -> str:
    """Run ``code`` in a fresh interpreter (this venv's), from the repo root; its stdout, or raise."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"child interpreter failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result.stdout


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
