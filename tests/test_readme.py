"""Every fenced ``python`` and ``bash`` block in README.md and docs/*.md runs as written, on the emulator.

* ``python`` blocks run on their own: all of them run in order in one fresh interpreter (importing
  Airflow once), each in a namespace of its own unless marked as continuing its page's previous python
  block (below); the environment is restored after each block. ``realtimekit_default`` points at a
  running emulator and ``AIRFLOW_HOME`` at the test home.
* ``bash`` blocks run one by one with ``bash -euo pipefail`` in an empty folder, with the same
  environment and this virtualenv's ``bin`` first on ``PATH``.
* A marker on the line right before a fence changes that; a block without one must run alone:

  - ``<!-- readme-test: skip (needs a real S3 bucket) -->``: not run; these tests list it as skipped with
    its reason.
  - ``<!-- readme-test: file (tests/x.py) -->``: the block is that file of the repository, byte for byte
    (pytest runs the file itself; ``docs/examples`` is run by ``test_docs_examples_pass``).
  - ``<!-- readme-test: continues (the "Operators" block) -->``: the block runs in the namespace of the
    page's previous python block, whose names it uses; the page must say so in its text too.
  - ``<!-- readme-test: quickstart (why) -->``: README's quickstart, which installs into a new virtualenv:
    ``.ci/wheel-smoke`` (``make wheel-smoke``) runs it as written from a fresh clone; here its shape is
    checked (the first block, at most 10 lines, Airflow pinned with its constraints file).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
TESTED = ("python", "bash")
MARKER = re.compile(r"^<!-- readme-test: (?P<kind>skip|file|continues|quickstart) \((?P<arg>[^)]+)\) -->$")
#: What the README tells users to install, and the constraints file Airflow publishes for it.
AIRFLOW_PIN = "apache-airflow==3.3.2"
CONSTRAINTS_URL = "https://raw.githubusercontent.com/apache/airflow/constraints-3.3.2/constraints-3.11.txt"
README_MAX_LINES = 200
QUICKSTART_MAX_LINES = 10
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\s*$")
#: Real seconds per API second: a recording is INVOKED for 0.2 s and UPLOADING for 0.3 s, so the blocks run
#: quickly through the whole lifecycle, bot join included.
TIME_SCALE = 0.1


@dataclass(frozen=True)
class Block:
    lang: str
    line: int  # of the opening fence, 1-based
    code: str
    marker: str | None = None  # "skip", "file", "continues" or "quickstart"
    arg: str | None = None
    page: str = "README.md"  # relative to the repository

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}:{self.lang}"

    @property
    def runs_here(self) -> bool:
        return self.marker in (None, "continues")


def parse(text: str, page: str = "README.md") -> list[Block]:
    """Every fenced block, with the marker on the line before its fence (a stray marker is an error)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        marker = MARKER.match(line)
        if marker and not (index + 1 < len(lines) and FENCE.match(lines[index + 1])):
            raise ValueError(f"{page}:{index + 1}: a readme-test marker must be right before a fence")
        fence = FENCE.match(line)
        if fence is None:
            index += 1
            continue
        end = next((i for i in range(index + 1, len(lines)) if lines[i].strip() == "```"), None)
        if end is None:
            raise ValueError(f"{page}:{index + 1}: unclosed fence")
        previous = MARKER.match(lines[index - 1]) if index else None
        blocks.append(
            Block(
                lang=fence["lang"],
                line=index + 1,
                code="\n".join(lines[index + 1 : end]) + "\n",
                marker=previous["kind"] if previous else None,
                arg=previous["arg"].strip() if previous else None,
                page=page,
            )
        )
        index = end + 1
    return blocks


ALL_BLOCKS = [block for path in PAGES for block in parse(path.read_text(), path.relative_to(REPO).as_posix())]
BLOCKS = [b for b in ALL_BLOCKS if b.lang in TESTED]
PYTHON = [b for b in BLOCKS if b.lang == "python"]
BASH = [b for b in BLOCKS if b.lang == "bash"]

_RUNNER = textwrap.dedent(
    """
    import json, os, sys, traceback

    namespace = {}
    for block in json.load(open(sys.argv[1])):
        if not block["continues"]:
            namespace = {"__name__": "__main__"}
        saved = dict(os.environ)
        try:
            # Padded so that tracebacks give the page's own line numbers.
            exec(compile("\\n" * block["line"] + block["code"], block["path"], "exec"), namespace)
            result = {"id": block["id"], "error": None}
        except BaseException:
            result = {"id": block["id"], "error": traceback.format_exc()}
        finally:
            os.environ.clear()
            os.environ.update(saved)
        print("README-BLOCK " + json.dumps(result), flush=True)
    """
)


def _env(emulator: RealtimeKitEmulator) -> dict[str, str]:
    env = {**os.environ, **emulator.env()}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def emulator_env() -> Iterator[dict[str, str]]:
    """One emulator for the module: the python blocks run in one process, as one reader's session."""
    with RealtimeKitEmulator(time_scale=TIME_SCALE) as emulator:
        yield _env(emulator)


@pytest.fixture(scope="module")
def python_results(emulator_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run every page's python blocks in order in one fresh interpreter (each block in a namespace of its
    own unless it continues the previous one): each block's error (or None), by block id."""
    workdir = tmp_path_factory.mktemp("readme-python")
    runnable = [
        {
            "id": b.id,
            "path": str(REPO / b.page),
            "line": b.line,
            "code": b.code,
            "continues": b.marker == "continues",
        }
        for b in PYTHON
        if b.runs_here
    ]
    (workdir / "blocks.json").write_text(json.dumps(runnable))
    (workdir / "runner.py").write_text(_RUNNER)
    done = subprocess.run(
        [sys.executable, "runner.py", "blocks.json"],
        cwd=workdir,
        env=emulator_env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    results = {}
    for line in done.stdout.splitlines():
        if line.startswith("README-BLOCK "):
            result = json.loads(line.removeprefix("README-BLOCK "))
            results[result["id"]] = result["error"]
    assert len(results) == len(runnable), done.stdout[-3000:] + done.stderr[-3000:]
    return results


def _excluded(block: Block) -> None:
    """Skip a block with a ``skip`` or ``quickstart`` marker (with its reason); check a ``file`` block
    against its file."""
    if block.marker in ("skip", "quickstart"):
        pytest.skip(f"{block.id} excluded: {block.arg}")
    if block.marker == "file":
        assert block.arg is not None
        assert (REPO / block.arg).read_text() == block.code, f"{block.id} differs from {block.arg}"


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: b.id)
def test_python_block_runs(block: Block, python_results: dict[str, Any]) -> None:
    _excluded(block)
    if block.runs_here:
        error = python_results[block.id]
        assert error is None, f"{block.id} failed:\n{block.code}\n{error}"


@pytest.mark.parametrize("block", BASH, ids=lambda b: b.id)
def test_bash_block_runs(block: Block, emulator_env: dict[str, str], tmp_path: Path) -> None:
    _excluded(block)
    if block.marker is None:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block.code],
            cwd=tmp_path,
            env=emulator_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{block.id} failed:\n{block.code}\n{done.stdout}\n{done.stderr}"


def test_readme_has_tested_blocks_and_every_exclusion_gives_a_reason() -> None:
    assert len([b for b in PYTHON if b.marker is None]) >= 3
    assert len([b for b in BASH if b.marker is None]) >= 1
    for block in BLOCKS:
        if block.marker in ("skip", "quickstart"):
            assert len(block.arg or "") >= 10, f"{block.id}: say why the block cannot run here"
    assert {b.page for b in BLOCKS if b.page.startswith("docs/")} >= {
        "docs/operators.md",
        "docs/waiting.md",
        "docs/event-driven.md",
        "docs/testing.md",
        "docs/emulator.md",
    }


def test_a_continuing_block_follows_a_python_block_of_its_page() -> None:
    for block in PYTHON:
        if block.marker == "continues":
            earlier = [b for b in PYTHON if b.page == block.page and b.line < block.line and b.runs_here]
            assert earlier, f"{block.id} continues no earlier python block of {block.page}"


def test_readme_opens_with_a_short_quickstart_that_pins_airflow_with_its_constraints() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    quickstarts = [b for b in ALL_BLOCKS if b.marker == "quickstart"]
    assert [b.page for b in quickstarts] == ["README.md"], "exactly one quickstart, in README.md"
    quickstart = quickstarts[0]
    assert quickstart == next(b for b in ALL_BLOCKS if b.page == "README.md"), "the README's first block"
    assert quickstart.lang == "bash"
    assert len(quickstart.code.splitlines()) <= QUICKSTART_MAX_LINES
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    for needed in (f"dist/airflow_provider_rtk-{version}-py3-none-any.whl", AIRFLOW_PIN, CONSTRAINTS_URL):
        assert needed in quickstart.code, f"the quickstart lacks {needed}"
    for step in (
        "make dist",
        "rtk-emulator",
        "AIRFLOW_CONN_REALTIMEKIT_DEFAULT",
        "airflow dags test",
        "pytest",
    ):
        assert step in quickstart.code, f"the quickstart lacks {step}"


LINK = re.compile(r"\]\((?P<target>[^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_point_at_files_of_the_repository(page: Path) -> None:
    targets = [m["target"] for m in LINK.finditer(page.read_text()) if "://" not in m["target"]]
    missing = [t for t in targets if not (page.parent / t).exists()]
    assert not missing, f"{page.name} links to missing files: {missing}"


def test_docs_examples_pass_under_the_shipped_fixtures(
    realtimekit_emulator: RealtimeKitEmulator, realtimekit_run_dag: Any, tmp_path: Path
) -> None:
    """The quickstart's DAG test (docs/examples), run here with the same fixtures its pytest session gets
    (the wheel smoke runs it in a user's own session, from the installed wheel)."""
    path = REPO / "docs" / "examples" / "test_rtk_first_recording.py"
    spec = importlib.util.spec_from_file_location("docs_example_test", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tests = [name for name in vars(module) if name.startswith("test_")]
    assert tests == ["test_first_recording_is_archived"]
    module.test_first_recording_is_archived(realtimekit_emulator, realtimekit_run_dag, tmp_path)
    assert list((tmp_path / "first").glob("*.mp4")), "the example test archived no video"


def test_marker_parsing() -> None:
    text = "\n".join(
        [
            "<!-- readme-test: skip (needs a real bucket) -->",
            "```bash",
            "aws s3 ls",
            "```",
            "```python",
            "print(1)",
            "```",
        ]
    )
    skipped, plain = parse(text, "docs/x.md")
    assert (skipped.lang, skipped.line, skipped.marker, skipped.arg) == (
        "bash",
        2,
        "skip",
        "needs a real bucket",
    )
    assert (plain.lang, plain.code, plain.marker, plain.id) == (
        "python",
        "print(1)\n",
        None,
        "docs/x.md:5:python",
    )
    (continuing,) = parse("<!-- readme-test: continues (the block above) -->\n```python\nx\n```")
    assert (continuing.marker, continuing.runs_here) == ("continues", True)
    with pytest.raises(ValueError, match="right before a fence"):
        parse("<!-- readme-test: skip (why) -->\n\n```bash\ntrue\n```")


def test_a_block_sees_an_earlier_blocks_names_only_when_it_continues_it(tmp_path: Path) -> None:
    """The runner gives each block a namespace of its own: ``NameError: dag`` unless marked ``continues``."""
    blocks = [
        {"id": "a", "path": "a.md", "line": 1, "code": "dag = 1\n", "continues": False},
        {"id": "b", "path": "a.md", "line": 5, "code": "dag\n", "continues": False},
        {"id": "c", "path": "a.md", "line": 9, "code": "x = 2\n", "continues": False},
        {"id": "d", "path": "a.md", "line": 13, "code": "assert x == 2\n", "continues": True},
    ]
    (tmp_path / "blocks.json").write_text(json.dumps(blocks))
    (tmp_path / "runner.py").write_text(_RUNNER)
    done = subprocess.run(
        [sys.executable, "runner.py", "blocks.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    results = {
        r["id"]: r["error"] for r in map(json.loads, re.findall(r"^README-BLOCK (.*)$", done.stdout, re.M))
    }
    assert results["a"] is None
    assert "NameError: name 'dag' is not defined" in results["b"]
    assert 'File "a.md", line 6' in results["b"]
    assert results["c"] is None
    assert results["d"] is None
