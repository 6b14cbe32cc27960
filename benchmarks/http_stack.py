"""Benchmark: the provider at a git revision ("before") against the working tree ("after"), in one run.

The same benchmark code (this folder) drives both: the package of the revision is extracted with
``git archive`` into a temporary folder that comes first on ``PYTHONPATH``. Rows:

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


def _run(tree: Path | None, names: list[str], out: Path) -> dict[str, Any]:
    """``python -m benchmarks NAMES`` with the package of ``tree`` (None: the working tree)."""
    path = [str(tree)] if tree is not None else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*path, str(ROOT)])}
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
