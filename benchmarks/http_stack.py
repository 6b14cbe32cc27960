"""Benchmark: the provider at a git revision ("before") against the working tree ("after"), in one run.

The same benchmark code (this folder) drives both: the package of the revision is extracted with
``git archive`` into a temporary folder that comes first on ``PYTHONPATH``, and ``PYTHONSAFEPATH`` keeps
Python from putting the working directory (this repository, with the current package) ahead of it, in the
run and in every process it starts. Each run first checks which package it imports. Rows:

* hook call overhead against bare ``requests`` (``hook_overhead``);
* N=1000 deferred waits on the shared poller: API requests per poll interval, and the event loop's lag
  while they poll (``deferred_waits``);
* the event trigger's requests per poll in its workloads (``event_trigger``).

Run: ``python -m benchmarks.http_stack --before <rev>`` (about ten minutes); the tables are printed and,
with ``--json FILE``, written there.
"""

from __future__ import annotations

import argparse
import json
import os
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


def _run(tree: Path | None, names: list[str], out: Path) -> dict[str, Any]:
    """``python -m benchmarks NAMES`` with the package of ``tree`` (None: the working tree)."""
    path = [str(tree)] if tree is not None else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*path, str(ROOT)]), "PYTHONSAFEPATH": "1"}
    expected = ((tree or ROOT) / PACKAGE).resolve()
    loaded = _imported_from(env)
    if loaded != expected:
        raise SystemExit(f"http_stack: the run would import {loaded}, not {expected}")
    print(f"http_stack: measuring the package in {loaded}", file=sys.stderr, flush=True)
    subprocess.run(
        [sys.executable, "-m", "benchmarks", *names, "--json", str(out)], cwd=ROOT, env=env, check=False
    )
    results: dict[str, Any] = json.loads(out.read_text())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision to compare the working tree with")
    parser.add_argument("--json", type=Path, help="also write both runs here")
    parser.add_argument("names", nargs="*", default=["hook", "deferred", "event"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rtk-bench-before-") as tmp:
        tree = _extract(args.before, Path(tmp))
        before = _run(tree, args.names, Path(tmp) / "before.json")
        after = _run(None, args.names, Path(tmp) / "after.json")
    both = {"before": {"rev": args.before, **before}, "after": after}
    if args.json:
        args.json.write_text(json.dumps(both, indent=2, default=str))


if __name__ == "__main__":
    main()
