"""``make test`` lints before it tests, CI checks that lint ran, and a test run that ran nothing fails."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
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


def test_make_dist_builds_then_checks_with_twine_strict_and_the_content_checker():
    lines = _dry_run(
        "dist", "-o", f"{sys.prefix}/.installed-{version('apache-airflow')}", f"VENV={sys.prefix}"
    )
    build = next(i for i, line in enumerate(lines) if "uv build" in line and "--out-dir dist" in line)
    twine = next(i for i, line in enumerate(lines) if "twine check --strict dist/*" in line)
    checker = next(i for i, line in enumerate(lines) if line.endswith(".ci/check_dist.py dist"))
    assert build < twine < checker, lines
    assert any("'.[test,dist]'" in line for line in lines), "the check tools come from the dist extra"


def test_dist_tools_are_an_extra_not_runtime_dependencies():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert any(req.startswith("twine") for req in project["optional-dependencies"]["dist"])
    assert not any(req.startswith(("twine", "build", "uv")) for req in project["dependencies"])


def test_python_targets_run_the_fast_tiers_on_their_own_interpreter_and_virtualenv():
    for minor in ("3.12", "3.13"):
        recipe = " ".join(_dry_run(f"test-py{minor}")).replace("\\ ", "")
        assert f'py="$(.ci/find-python {minor})" && make' in recipe
        assert f"VENV=.venv-py{minor}" in recipe
        assert 'PYTHON="$py"' in recipe
        assert "RTK_LINT=0" in recipe
        for path in ("tests/core", "tests/hooks", "tests/example_dags", "tests/test_user_dag_example.py"):
            assert path in recipe
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    claimed = {
        c.rsplit(" ", 1)[-1]
        for c in project["classifiers"]
        if c.startswith("Programming Language :: Python :: 3.")
    }
    assert claimed == {"3.11", "3.12", "3.13"}


def test_find_python_finds_this_interpreters_version_and_names_a_missing_one():
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    found = subprocess.run(
        [str(REPO / ".ci" / "find-python"), minor], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()
    reported = subprocess.run(
        [found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert reported == minor
    missing = subprocess.run(
        [str(REPO / ".ci" / "find-python"), "2.1"], capture_output=True, text=True, timeout=60, check=False
    )
    assert missing.returncode == 1
    assert "no working Python 2.1" in missing.stderr


def test_ci_runs_the_wheel_smoke_and_the_other_pythons_before_e2e():
    script = (REPO / ".ci" / "run").read_text()
    steps = ["make wheel-smoke >", "make test-py3.13 >", "make test-py3.12 >"]
    positions = [script.index(step) for step in steps]
    assert positions == sorted(positions)
    assert positions[-1] < script.index("step e2e make e2e")
    assert ".ci/find-python --install" in script
    assert "wheel smoke OK" in script
    for name in ("wheel-smoke", "test-py3.12", "test-py3.13"):
        assert f"expect {name} " in script, f"CI does not check the output of {name}"
