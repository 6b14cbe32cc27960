"""Benchmark: the provider at a git revision ("before") against the working tree ("after"), in one run.

The same benchmark code (this folder) drives both: the package of the revision is extracted with
``git archive`` into a temporary folder that comes first on ``PYTHONPATH``, and ``PYTHONSAFEPATH`` keeps
Python from putting the working directory (this repository, with the current package) ahead of it, in the
run and in every process it starts. Each run first checks which package it imports. Rows:

* hook call overhead against bare ``requests`` (``hook_overhead``);
* N=1000 deferred waits on the shared poller: API requests per poll interval, and the event loop's lag
  while they poll (``deferred_waits``);
* the event trigger's requests per poll in its workloads (``event_trigger``);
* with ``--paired-import N``: the import of the four DAG-facing modules after ``airflow.sdk``, in N rounds
  of one fresh interpreter per side, sides alternating, so that a drift in load hits both alike (the
  ``import`` benchmark runs one side after the other, and its per-module rows take 3 rounds).

Run: ``python -m benchmarks.http_stack --before <rev>`` (about ten minutes), or ``--before <rev>
--paired-import 20`` for the paired import alone; the tables are printed and, with ``--json FILE``,
written there.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_rtk"


def _extract(rev: str, into: Path) -> Path:
    """The provider package as it is at ``rev``, in ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, PACKAGE], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _imported_from(env: dict[str, str]) -> Path:
    """The folder the package is imported from in a process started with ``env``, as the benchmarks'."""
    code = f"import os, {PACKAGE}; print(os.path.dirname({PACKAGE}.__file__))"
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return Path(found.stdout.strip()).resolve()


def _env(tree: Path | None) -> dict[str, str]:
    """The environment of a process that imports the package of ``tree`` (None: the working tree)."""
    path = [str(tree)] if tree is not None else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*path, str(ROOT)]), "PYTHONSAFEPATH": "1"}
    expected = ((tree or ROOT) / PACKAGE).resolve()
    loaded = _imported_from(env)
    if loaded != expected:
        raise SystemExit(f"http_stack: the run would import {loaded}, not {expected}")
    print(f"http_stack: measuring the package in {loaded}", file=sys.stderr, flush=True)
    return env


def _run(tree: Path | None, names: list[str], out: Path) -> dict[str, Any]:
    """``python -m benchmarks NAMES`` with the package of ``tree`` (None: the working tree)."""
    env = _env(tree)
    subprocess.run(
        [sys.executable, "-m", "benchmarks", *names, "--json", str(out)], cwd=ROOT, env=env, check=False
    )
    results: dict[str, Any] = json.loads(out.read_text())
    return results


DAG_FACING = (
    f"{PACKAGE}.operators.recording",
    f"{PACKAGE}.sensors.recording",
    f"{PACKAGE}.triggers.recording",
    f"{PACKAGE}.operators.download",
)
_IMPORT_PROBE = (
    "import airflow.sdk, json, sys, time\n"
    "start = time.perf_counter()\n"
    "for name in sys.argv[1:]:\n"
    "    __import__(name)\n"
    "print(json.dumps((time.perf_counter() - start) * 1e3))\n"
)


def paired_import(tree: Path, rounds: int) -> dict[str, Any]:
    """Milliseconds to import the DAG-facing modules after ``airflow.sdk``, before and after, interleaved."""
    envs = {"before": _env(tree), "after": _env(None)}
    ms: dict[str, list[float]] = {"before": [], "after": []}
    for index in range(rounds):
        for side in ("before", "after") if index % 2 == 0 else ("after", "before"):
            done = subprocess.run(
                [sys.executable, "-c", _IMPORT_PROBE, *DAG_FACING],
                cwd=ROOT,
                env=envs[side],
                check=True,
                capture_output=True,
                text=True,
            )
            ms[side].append(float(done.stdout.strip().splitlines()[-1]))
    differences = [after - before for before, after in zip(ms["before"], ms["after"], strict=True)]
    result = {
        "rounds": rounds,
        "before_ms_median": statistics.median(ms["before"]),
        "after_ms_median": statistics.median(ms["after"]),
        "after_minus_before_ms_median": statistics.median(differences),
        "after_minus_before_ms_range": (min(differences), max(differences)),
    }
    print("\n### Import of the four DAG-facing modules after airflow.sdk, paired\n")
    header = ("rounds", "before ms (median)", "after ms (median)", "after - before, ms (median)", "range")
    print("| " + " | ".join(header) + " |")
    print("|---:|---:|---:|---:|---|")
    low, high = result["after_minus_before_ms_range"]
    print(
        f"| {rounds} | {result['before_ms_median']:.1f} | {result['after_ms_median']:.1f} "
        f"| {result['after_minus_before_ms_median']:+.1f} | {low:+.1f} to {high:+.1f} |"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision to compare the working tree with")
    parser.add_argument("--json", type=Path, help="also write both runs here")
    parser.add_argument("--paired-import", type=int, default=0, metavar="N", help="rounds (0: not run)")
    default_names = "default: hook deferred event; none with --paired-import"
    parser.add_argument("names", nargs="*", help=f"benchmarks ({default_names})")
    args = parser.parse_args()
    if not args.names and not args.paired_import:
        args.names = ["hook", "deferred", "event"]
    both: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="rtk-bench-before-") as tmp:
        tree = _extract(args.before, Path(tmp))
        if args.names:
            both["before"] = {"rev": args.before, **_run(tree, args.names, Path(tmp) / "before.json")}
            both["after"] = _run(None, args.names, Path(tmp) / "after.json")
        if args.paired_import:
            both["paired_import"] = paired_import(tree, args.paired_import)
    if args.json:
        args.json.write_text(json.dumps(both, indent=2, default=str))


if __name__ == "__main__":
    main()
