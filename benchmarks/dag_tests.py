"""Benchmark: seconds per DAG test case with the ``realtimekit_emulator`` fixture, old default vs new.

Two user DAG tests, each run under both lifecycles in the same pytest session, interleaved round by round:

* the README's test file (``tests/test_user_dag_example.py``, copied unchanged: ``rtk_scheduled_recording``
  with and without a logical date, two cases);
* the typical user DAG (``tests/testing/user_dags.py``: start with ``wait_for_recording``, stop, the sensor
  at its default ``poke_interval``, download), with a deferrable and with a poking sensor.

``before`` is the fixture's old default, the ``fast`` lifecycle (INVOKED 0.2 s, UPLOADING 0.3 s on a
clock 10x faster than real time); ``after`` its new default, ``instant``. A case's time is pytest's setup
+ call + teardown of that test (the emulator's start and stop included; the session's Airflow home and
DB migration are paid by a warm-up test that is not counted). Reported per test: the median seconds per
case before and after, their ratio, and whether after is within the 10 s per case target.

The DAGs are not tuned: the sensor keeps its 60 s ``poke_interval`` and the start its 5 s poll interval,
so ``before`` shows what a user waited for. A run takes several minutes (each ``before`` case of the
typical DAG waits at least one 5 s poll, often a 60 s one).

Run: ``python -m benchmarks dags`` or ``python benchmarks/dag_tests.py [rounds]``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
ROUNDS = 2
BEFORE, AFTER = "fast", "instant"
TARGET_SECONDS = 10.0
RESULTS_ENV = "RTK_BENCH_DAG_TESTS_RESULTS"
PYTEST_TIMEOUT = ("-p", "pytest_timeout", "-o", "timeout=600")

# Runs every test using realtimekit_emulator under both lifecycles, ROUNDS times, and writes each test's
# setup + call + teardown seconds to a JSON file.
CONFTEST = """
import json, os

pytest_plugins = ["airflow_provider_rtk.testing.pytest_plugin"]

ROUNDS = int(os.environ["RTK_BENCH_ROUNDS"])
FIRST, SECOND = os.environ["RTK_BENCH_LIFECYCLES"].split(",")
durations = {}


def pytest_generate_tests(metafunc):
    if "realtimekit_emulator" in metafunc.fixturenames and metafunc.function.__name__ != "test_warm_up":
        params, ids = [], []
        for round_no in range(ROUNDS):
            for lifecycle in (FIRST, SECOND) if round_no % 2 == 0 else (SECOND, FIRST):
                params.append(lifecycle)
                ids.append(f"r{round_no}-{lifecycle}")
        metafunc.parametrize("realtimekit_emulator", params, ids=ids, indirect=True)


def pytest_runtest_logreport(report):
    entry = durations.setdefault(report.nodeid, {"seconds": 0.0, "outcome": "passed"})
    entry["seconds"] += report.duration
    if report.failed:
        entry["outcome"] = "failed"


def pytest_sessionfinish(session):
    with open(os.environ["RTK_BENCH_DAG_TESTS_RESULTS"], "w") as out:
        json.dump(durations, out)
"""

TYPICAL_TEST = '''
import uuid

import pytest

from tests.testing.user_dags import typical_dag, write_dag


def test_warm_up(realtimekit_emulator, realtimekit_run_dag, tmp_path):
    """Pays the session's Airflow home, DB migration and first imports; not counted."""
    path = write_dag(tmp_path, typical_dag(dag_id="bench_warm_up"))
    conf = {"meeting_id": str(uuid.uuid4()), "archive": str(tmp_path)}
    realtimekit_run_dag(path, conf=conf).assert_success()


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "poke"])
def test_typical_user_dag(realtimekit_emulator, realtimekit_run_dag, tmp_path, deferrable):
    dag_id = "bench_typical_" + ("deferrable" if deferrable else "poke")
    path = write_dag(tmp_path, typical_dag(deferrable=deferrable, dag_id=dag_id))
    result = realtimekit_run_dag(path, conf={"meeting_id": str(uuid.uuid4()), "archive": str(tmp_path / "a")})
    result.assert_success()
'''


def _session(rounds: int) -> dict[str, dict[str, Any]]:
    """Run the benchmark's pytest session in a fresh interpreter; each test's seconds and outcome."""
    with tempfile.TemporaryDirectory(prefix="rtk-bench-dag-tests-") as tmp:
        folder = Path(tmp)
        (folder / "tests").mkdir()
        (folder / "conftest.py").write_text(CONFTEST)
        (folder / "tests" / "test_typical_user_dag.py").write_text(textwrap.dedent(TYPICAL_TEST))
        shutil.copy(REPO / "tests" / "test_user_dag_example.py", folder / "tests" / "test_readme_file.py")
        (folder / "example_dags").mkdir()
        for name in ("rtk_scheduled_recording.py", ".airflowignore"):
            shutil.copy(REPO / "example_dags" / name, folder / "example_dags" / name)
        results = folder / "durations.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            {
                "PYTHONPATH": str(REPO),
                "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
                "HOME": str(folder / "home"),
                "RTK_BENCH_ROUNDS": str(rounds),
                "RTK_BENCH_LIFECYCLES": f"{BEFORE},{AFTER}",
                RESULTS_ENV: str(results),
            }
        )
        tests = ["tests/test_typical_user_dag.py::test_warm_up", "tests/test_readme_file.py"]
        tests.append("tests/test_typical_user_dag.py::test_typical_user_dag")
        completed = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *PYTEST_TIMEOUT, *tests],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
        if not results.exists():
            raise RuntimeError(f"the pytest session wrote no durations: {completed.stdout[-3000:]}")
        durations: dict[str, dict[str, Any]] = json.loads(results.read_text())
        failed = [node for node, entry in durations.items() if entry["outcome"] != "passed"]
        if failed or completed.returncode != 0:
            raise RuntimeError(f"DAG test cases failed {failed}: {completed.stdout[-3000:]}")
        return durations


def _test_name(nodeid: str) -> tuple[str, str] | None:
    """(test, lifecycle) of a counted case: the test with its other parameters, and the lifecycle."""
    if "test_warm_up" in nodeid or "[" not in nodeid:
        return None
    function, params = nodeid.split("::", 1)[1].rstrip("]").split("[", 1)
    parts = params.split("-")
    lifecycle = next(p for p in parts if p in (BEFORE, AFTER))
    rest = [p for p in parts if p != lifecycle and not (p.startswith("r") and p[1:].isdigit())]
    label = "README test file" if function.startswith("test_meeting") else "typical user DAG"
    return f"{label} [{'-'.join(rest)}]", lifecycle


def benchmark(rounds: int = ROUNDS) -> dict[str, Any]:
    started = time.perf_counter()
    durations = _session(rounds)
    by_test: dict[str, dict[str, list[float]]] = {}
    for nodeid, entry in durations.items():
        named = _test_name(nodeid)
        if named is not None:
            by_test.setdefault(named[0], {BEFORE: [], AFTER: []})[named[1]].append(entry["seconds"])
    rows = []
    for test, seconds in by_test.items():
        before, after = statistics.median(seconds[BEFORE]), statistics.median(seconds[AFTER])
        rows.append(
            {
                "test case": test,
                "cases": f"{len(seconds[BEFORE])} + {len(seconds[AFTER])}",
                f"before ({BEFORE}), s/case": before,
                f"after ({AFTER}), s/case": after,
                "before / after": before / after,
                "after, max s": max(seconds[AFTER]),
                "verdict": f"meets <= {TARGET_SECONDS:.0f} s"
                if max(seconds[AFTER]) <= TARGET_SECONDS
                else f"misses <= {TARGET_SECONDS:.0f} s",
            }
        )
    return {
        "title": "DAG tests: seconds per case with the realtimekit_emulator fixture, old default vs new",
        "rows": rows,
        "notes": [
            f"{rounds} round(s), lifecycles interleaved (order alternating per round) in one pytest "
            "session; a case is setup + call + teardown; the warm-up case is not counted; session "
            f"{time.perf_counter() - started:.0f} s. "
            f"before = the fixture's old default ({BEFORE}: INVOKED 0.2 s, UPLOADING 0.3 s), "
            f"after = its new default ({AFTER}: each transition due at once). The DAGs keep their "
            "intervals (start poll 5 s, sensor poke_interval 60 s; the README DAG's sensor 30 s).",
        ],
    }


if __name__ == "__main__":
    from benchmarks._common import print_table

    result = benchmark(int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS)
    print_table(result["title"], result["rows"], notes=result["notes"])
