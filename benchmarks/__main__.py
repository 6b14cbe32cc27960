"""``make bench``: run the benchmarks, print one table each, and write them all to benchmarks/results.json.

    python -m benchmarks                      # all four
    python -m benchmarks hook import          # a subset: hook, import, deferred, download
    python -m benchmarks --json out.json      # somewhere else ("-" for stdout only)

A benchmark module that is not there (or fails to import) is reported as "not available"; one that fails
while running is reported with its error, the others still run, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks._common import cpu_count, log, print_table

RESULTS = Path(__file__).resolve().parent / "results.json"


def _rich_or_run(**run_kwargs: Any) -> Callable[[Any], Any]:
    """Call the module's ``benchmark()`` when it has one (title, rows, notes), else ``run(**run_kwargs)``."""

    def call(module: Any) -> Any:
        rich = getattr(module, "benchmark", None)
        if callable(rich):
            return rich()
        return module.run(**run_kwargs)

    return call


# name -> (module, title used when the module gives none, how to call it)
BENCHMARKS: dict[str, tuple[str, str, Callable[[Any], Any]]] = {
    "hook": ("benchmarks.hook_overhead", "Hook call overhead", _rich_or_run()),
    "import": ("benchmarks.import_cost", "Import cost", _rich_or_run()),
    "deferred": ("benchmarks.deferred_waits", "Deferred waits", _rich_or_run(sizes=(10, 100, 1000))),
    "download": ("benchmarks.download", "Recording download", _rich_or_run()),
    "event": ("benchmarks.event_trigger", "Event trigger", _rich_or_run()),
    "dags": ("benchmarks.dag_tests", "DAG tests", _rich_or_run()),
}
ALIASES = {"hook_overhead": "hook", "import_cost": "import", "deferred_waits": "deferred"}


def _machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        from importlib.metadata import version

        info["airflow"] = version("apache-airflow")
    except Exception:
        info["airflow"] = "?"
    with contextlib.suppress(OSError):
        info["load average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def _import(module_name: str) -> tuple[Any | None, str | None]:
    """The module, or None and why it is not available."""
    try:
        return importlib.import_module(module_name), None
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None, "not available (module not present)"
        return None, f"not available (import failed: {type(exc).__name__}: {exc})"
    except Exception as exc:
        return None, f"not available (import failed: {type(exc).__name__}: {exc})"


def _normalise(raw: Any, default_title: str) -> dict[str, Any]:
    """Our modules return {"title", "rows", "columns", "notes", "details"}; others a list of row dicts."""
    if isinstance(raw, dict) and "rows" in raw:
        return {"title": raw.get("title") or default_title, **raw, "rows": list(raw["rows"])}
    if isinstance(raw, list | tuple):
        return {"title": default_title, "rows": [r if isinstance(r, dict) else {"value": r} for r in raw]}
    return {"title": default_title, "rows": [{"result": raw}]}


def _verdicts(rows: list[dict[str, Any]]) -> str:
    values = [str(v) for row in rows for k, v in row.items() if "verdict" in str(k).lower() and v]
    if not values:
        return "-"
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return ", ".join(f"{n} {v}" for v, n in counts.items())


def run_one(name: str) -> dict[str, Any]:
    module_name, default_title, call = BENCHMARKS[name]
    module, why = _import(module_name)
    if module is None:
        print(f"\n### {default_title}\n\n{why}", flush=True)
        return {"status": "not available", "reason": why, "title": default_title}
    log(f"running {name} ({module_name})")
    started = time.perf_counter()
    try:
        result = _normalise(call(module), default_title)
    except Exception as exc:
        seconds = time.perf_counter() - started
        print(
            f"\n### {default_title}\n\nERROR after {seconds:.0f} s: {type(exc).__name__}: {exc}", flush=True
        )
        traceback.print_exc()
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}", "seconds": seconds}
    result["seconds"] = time.perf_counter() - started
    result["status"] = "ok"
    printer = getattr(module, "print_result", None)
    if callable(printer) and "columns" in result:
        printer(result)
    else:
        print_table(result["title"], result["rows"], result.get("columns"), notes=result.get("notes", ()))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument(
        "which",
        nargs="*",
        metavar="BENCHMARK",
        help=f"any of {', '.join(BENCHMARKS)} (default: all)",
    )
    parser.add_argument("--json", default=str(RESULTS), help="where to write the results ('-': nowhere)")
    args = parser.parse_args(argv)
    names = [ALIASES.get(n, n) for n in args.which] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}: choose from {', '.join(BENCHMARKS)}")

    machine = _machine()
    print(
        f"# airflow-provider-rtk benchmarks, {machine['date']}: {machine['cores']} cores, "
        f"Python {machine['python']}, Airflow {machine['airflow']}, "
        f"load average at start {machine.get('load average', '?')}",
        flush=True,
    )
    started = time.perf_counter()
    results = {name: run_one(name) for name in names}
    machine["load average at end"] = [round(x, 2) for x in os.getloadavg()]
    summary = [
        {
            "benchmark": results[name].get("title", name),
            "status": results[name]["status"],
            "seconds": results[name].get("seconds"),
            "verdicts": _verdicts(results[name].get("rows", [])),
        }
        for name in names
    ]
    print_table(
        "Summary",
        summary,
        notes=[
            f"total {time.perf_counter() - started:.0f} s; "
            f"load average at end {machine['load average at end']}"
        ],
    )
    if args.json != "-":
        path = Path(args.json)
        path.write_text(json.dumps({"machine": machine, "results": results}, indent=2, default=str) + "\n")
        print(f"\nresults written to {path} (not committed)", flush=True)
    return 1 if any(r["status"] == "error" for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
