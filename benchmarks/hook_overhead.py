"""Hook call overhead: ``RealtimeKitHook.get_recording`` against a bare ``requests.Session`` doing the same
GET (same URL, same headers, keep-alive), and against the official ``cloudflare`` SDK.

The emulator serves from a separate process (``_common.EmulatorProcess``), so its CPU time is not counted
in this process; on a 2-core machine client and server then each have a core. The sides are interleaved
call by call (A B C A B C ..., order reversed every other round), in rounds of ``calls`` calls per side;
the reported figure is the median of the per-round ratios.

Run alone: ``python -m benchmarks.hook_overhead [--rounds 5] [--calls 200] [--profile]``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
from collections.abc import Callable
from typing import Any

from benchmarks._common import (
    EmulatorProcess,
    interleave_calls,
    log,
    median,
    print_table,
)

TARGET = 1.15
TITLE = "Hook call overhead: get_recording, per call"


def _bare_client(emu: EmulatorProcess, recording_id: str) -> tuple[Callable[[], Any], Callable[[], None]]:
    """The baseline: what any client must do at least, a keep-alive GET, a status check, a JSON decode."""
    import requests

    session = requests.Session()
    url = f"{emu.app_base}/recordings/{recording_id}"
    headers = {
        "Authorization": f"Bearer {emu.token}",
        "Accept": "application/json",
        "User-Agent": "airflow-provider-rtk",
    }

    def call() -> Any:
        response = session.get(url, headers=headers, timeout=30)
        response.raise_for_status()
        return response.json()["data"]

    return call, session.close


def _hook_client(emu: EmulatorProcess, recording_id: str) -> tuple[Callable[[], Any], Callable[[], None]]:
    from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook

    os.environ.update(emu.env())
    hook = RealtimeKitHook()

    def call() -> Any:
        return hook.get_recording(recording_id)

    return call, hook.close


def _sdk_client(emu: EmulatorProcess, recording_id: str) -> tuple[Callable[[], Any], Callable[[], None]]:
    """The official SDK (``pip install cloudflare``, the ``bench`` extra); raises ImportError without it."""
    import cloudflare

    client = cloudflare.Cloudflare(api_token=emu.token, base_url=emu.base_url)
    recordings = client.realtime_kit.recordings

    def call() -> Any:
        return recordings.get_one_recording(recording_id, account_id=emu.account_id, app_id=emu.app_id).data

    return call, client.close


def _recording_id(result: Any) -> str | None:
    if isinstance(result, dict):
        return result.get("id")
    return getattr(result, "id", None)


# -- profile ----------------------------------------------------------------------------------------------

_SOCKET_WAIT = ("recv_into", "recv", "sendall", "send", "poll", "select", "connect")


def _group(key: tuple[str, int, str]) -> str:
    filename, _, function = key
    path = filename.replace(os.sep, "/")
    if filename == "~":
        if any(f"'{name}'" in function or function.endswith(f".{name}>") for name in _SOCKET_WAIT):
            return "socket I/O (waiting on the server)"
        return "C builtins (other)"
    for marker, name in (
        ("/airflow_provider_rtk/", "provider (airflow_provider_rtk)"),
        ("/tenacity/", "tenacity"),
        ("/requests/", "requests"),
        ("/urllib3/", "urllib3"),
        ("/httpx/", "httpx"),
        ("/httpcore/", "httpcore"),
        ("/cloudflare/", "cloudflare SDK"),
        ("/pydantic", "pydantic"),
        ("/airflow/", "airflow"),
        ("/charset_normalizer/", "charset_normalizer"),
        ("/idna/", "idna"),
        ("/http/client.py", "http.client"),
        ("/email/", "email (header parsing)"),
        ("/json/", "json"),
        ("/socket.py", "socket.py"),
        ("/logging/", "logging"),
        ("/threading.py", "threading"),
    ):
        if marker in path:
            return name
    if "site-packages" in path:
        return "other site-packages: " + path.split("site-packages/", 1)[1].split("/", 1)[0]
    return "other stdlib"


def _profile(call: Callable[[], Any], calls: int) -> pstats.Stats:
    profiler = cProfile.Profile()
    gc.collect()
    profiler.enable()
    for _ in range(calls):
        call()
    profiler.disable()
    return pstats.Stats(profiler)


def _grouped(stats: pstats.Stats, calls: int) -> dict[str, float]:
    groups: dict[str, float] = {}
    for key, (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        name = _group(key)
        groups[name] = groups.get(name, 0.0) + tottime / calls * 1e6
    return groups


def profile_breakdown(
    emu: EmulatorProcess, recording_id: str, calls: int = 300
) -> tuple[list[dict[str, Any]], str]:
    """Where a hook call's time goes, against the bare session, by package (cProfile self time, µs/call).

    cProfile inflates pure-Python code more than C and I/O, so read the differences, not the totals.
    """
    clients = {"bare": _bare_client(emu, recording_id), "hook": _hook_client(emu, recording_id)}
    stats: dict[str, pstats.Stats] = {}
    try:
        for name, (call, _) in clients.items():
            for _ in range(20):
                call()
            stats[name] = _profile(call, calls)
    finally:
        for _, close in clients.values():
            close()
    bare, hook = _grouped(stats["bare"], calls), _grouped(stats["hook"], calls)
    rows = [
        {
            "where": name,
            "bare µs/call": bare.get(name, 0.0),
            "hook µs/call": hook.get(name, 0.0),
            "hook - bare": hook.get(name, 0.0) - bare.get(name, 0.0),
        }
        for name in sorted(set(bare) | set(hook), key=lambda n: -(hook.get(n, 0.0) - bare.get(n, 0.0)))
    ]
    rows.append(
        {
            "where": "total (profiled)",
            "bare µs/call": sum(bare.values()),
            "hook µs/call": sum(hook.values()),
            "hook - bare": sum(hook.values()) - sum(bare.values()),
        }
    )
    text = io.StringIO()
    top = stats["hook"]
    top.stream = text  # type: ignore[attr-defined]
    top.sort_stats("cumulative").print_stats(r"airflow_provider_rtk|tenacity", 25)
    return rows, text.getvalue()


# -- the benchmark ------------------------------------------------------------------------------------------


def benchmark(
    rounds: int = 20, calls: int = 50, *, sdk: bool = True, profile: bool | None = None
) -> dict[str, Any]:
    """Measure; ``profile=None`` profiles only when the hook misses the target."""
    notes: list[str] = []
    rows: list[dict[str, Any]] = []
    with EmulatorProcess(seed=1) as emu:
        recording_id = emu.recording_ids[0]
        clients: dict[str, tuple[Callable[[], Any], Callable[[], None]]] = {
            "bare requests.Session": _bare_client(emu, recording_id),
            "RealtimeKitHook.get_recording": _hook_client(emu, recording_id),
        }
        sdk_status = "skipped"
        if sdk:
            try:
                clients["cloudflare SDK get_one_recording"] = _sdk_client(emu, recording_id)
                sdk_status = "ok"
            except ImportError as exc:
                sdk_status = f"not available: the cloudflare package is not installed ({exc})"
            except AttributeError as exc:
                sdk_status = f"not available: this cloudflare SDK has no such method ({exc})"
        try:
            for name, (call, _) in list(clients.items()):
                try:
                    for _ in range(20):  # warm up: connection, caches, the hook's connection lookup
                        result = call()
                    if _recording_id(result) != recording_id:
                        raise RuntimeError(f"{name} returned {result!r:.200}, not recording {recording_id}")
                except Exception as exc:
                    if not name.startswith("cloudflare"):
                        raise
                    sdk_status = f"not available: {type(exc).__name__}: {exc}"
                    clients.pop(name)[1]()
            log(f"hook overhead: {rounds} rounds x {calls} calls x {len(clients)} clients")
            samples = interleave_calls({name: call for name, (call, _) in clients.items()}, rounds, calls)
        finally:
            for _, close in clients.values():
                close()

        base = "bare requests.Session"
        hook = "RealtimeKitHook.get_recording"
        sdk_name = "cloudflare SDK get_one_recording"
        series = {
            name: {key: [r[key] for r in per_round] for key in per_round[0]}
            for name, per_round in samples.items()
        }

        def ratios(name: str, key: str, against: str = base) -> list[float]:
            return [s / b for s, b in zip(series[name][key], series[against][key], strict=True)]

        for name in samples:
            primary = ratios(name, "wall_median_us")
            row: dict[str, Any] = {
                "client": name,
                "median µs/call": median(series[name]["wall_median_us"]),
                "mean µs/call": median(series[name]["wall_mean_us"]),
                "CPU µs/call": median(series[name]["cpu_mean_us"]),
                "ratio vs bare": median(primary),
                "rounds' ratios": f"{min(primary):.2f}-{max(primary):.2f}",
                "ratio (means)": median(ratios(name, "wall_mean_us")),
                "CPU ratio": median(ratios(name, "cpu_mean_us")),
                "target": None,
                "verdict": None,
            }
            if name == hook:
                row["target"] = f"<= {TARGET}x"
                row["verdict"] = "ok" if row["ratio vs bare"] <= TARGET else "OVER TARGET"
            rows.append(row)
        if sdk_name in series:
            notes.append(
                f"hook / cloudflare SDK: {median(ratios(hook, 'wall_median_us', sdk_name)):.2f}x latency, "
                f"{median(ratios(hook, 'cpu_mean_us', sdk_name)):.2f}x client CPU"
            )
        else:
            rows.append({"client": sdk_name, "verdict": sdk_status})
        notes.append(
            f"{rounds} rounds x {calls} calls per client, interleaved call by call (order reversed every "
            f"other round); emulator in a separate process (pid {emu.pid}). median/mean µs/call: per-call "
            "latency seen by the caller, the median over rounds of each round's median/mean; CPU µs/call: "
            "this process's CPU time per call (the emulator's is not in it). ratio vs bare: the median of "
            "the per-round ratios of median latencies (the target applies to it); rounds' ratios: their "
            "range; ratio (means): the same from per-round means, which scheduler stalls on a busy machine "
            "inflate; CPU ratio: from CPU time per call."
        )
        hook_ratio = median(ratios(hook, "wall_median_us"))
        details: dict[str, Any] = {"per_round": series, "sdk": sdk_status}
        if profile or (profile is None and hook_ratio > TARGET):
            log("hook overhead: profiling hook vs bare (cProfile)")
            breakdown, top = profile_breakdown(emu, recording_id)
            details["profile"] = breakdown
            details["profile_top"] = top
    return {
        "title": TITLE,
        "rows": rows,
        "columns": [
            "client",
            "median µs/call",
            "mean µs/call",
            "CPU µs/call",
            "ratio vs bare",
            "rounds' ratios",
            "ratio (means)",
            "CPU ratio",
            "target",
            "verdict",
        ],
        "notes": notes,
        "details": details,
    }


def run(rounds: int = 20, calls: int = 50) -> list[dict[str, Any]]:
    """The result rows only (same interface as the other benchmark modules)."""
    return list(benchmark(rounds, calls)["rows"])


def print_result(result: dict[str, Any]) -> None:
    print_table(result["title"], result["rows"], result.get("columns"), notes=result.get("notes", ()))
    profile = result.get("details", {}).get("profile")
    if profile:
        print_table(
            "Hook overhead profile: self time by package, µs per call "
            "(cProfile inflates Python code: read the differences)",
            profile,
        )
        print("\n```\n" + result["details"]["profile_top"].strip() + "\n```")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--profile", action="store_true", help="profile even when within the target")
    parser.add_argument("--no-sdk", action="store_true")
    args = parser.parse_args()
    print_result(benchmark(args.rounds, args.calls, sdk=not args.no_sdk, profile=args.profile or None))


if __name__ == "__main__":
    main()
