"""``make test`` lints before it tests, CI checks that lint ran, and a test run that ran nothing fails."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _clean_env() -> dict[str, str]:
    """This environment without what an enclosing ``make`` passes down (``make test RTK_LINT=0`` exports
    ``RTK_LINT`` to its recipes, which would switch lint off in the ``make`` under test)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MAKE") and k not in ("RTK_LINT", "LINT")}


def _dry_run(*args: str) -> list[str]:
    env = _clean_env()
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [line.strip() for line in result.stdout.splitlines()]


def _commands(lines: list[str]) -> list[str]:
    """What the recipe runs after the virtualenv exists (install lines dropped)."""
    tools = ("ruff", "mypy", "pytest")
    return [next(t for t in tools if t in line) for line in lines if any(t in line for t in tools)]


def test_make_test_runs_ruff_format_check_mypy_then_pytest():
    lines = _dry_run("test")
    assert _commands(lines) == ["ruff", "ruff", "mypy", "pytest"], lines
    assert any(re.search(r"ruff check \.$", line) for line in lines)
    assert any(re.search(r"ruff format --check \.$", line) for line in lines)
    assert any(line.endswith("/mypy") for line in lines)


def test_lint_switch_is_not_makes_builtin_lint_variable():
    """GNU Make predefines ``LINT``: the switch is ``RTK_LINT``, and setting ``LINT`` changes nothing."""
    assert _commands(_dry_run("test", "RTK_LINT=0")) == ["pytest"]
    assert _commands(_dry_run("test", "LINT=0")) == ["ruff", "ruff", "mypy", "pytest"]


def test_test_target_fails_when_pytest_collects_nothing(tmp_path: Path):
    """pytest exits 5 when no test ran; make passes that on as a failure."""
    (tmp_path / "test_nothing.py").write_text("")
    env = _clean_env()
    # This interpreter's virtualenv, taken as installed (-o): the test must not reinstall anything.
    venv, airflow = sys.prefix, version("apache-airflow")
    stamp = f"{venv}/.installed-{airflow}"
    variables = [f"VENV={venv}", f"AIRFLOW_VERSION={airflow}", "RTK_LINT=0", f"PYTEST_ARGS={tmp_path} -q"]
    result = subprocess.run(
        ["make", "--no-print-directory", "-o", stamp, "test", *variables],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0, result.stdout + result.stderr
    assert "no tests ran" in result.stdout + result.stderr


def test_ci_requires_the_lint_tools_own_success_lines():
    script = (REPO / ".ci" / "run").read_text()
    assert "make test\n" in script
    for line in ("All checks passed!", "already formatted", "Success: no issues found"):
        assert line in script
