"""Every fenced ``python`` and ``bash`` block in README.md runs as written, against the emulator.

* ``python`` blocks run in order in one fresh interpreter, sharing one namespace as a reader's session
  would (a later snippet may use a name an earlier one defined); the environment is restored after each
  block. ``realtimekit_default`` points at a running emulator and ``AIRFLOW_HOME`` at the test home.
* ``bash`` blocks run one by one with ``bash -euo pipefail`` in an empty folder, with the same
  environment and this virtualenv's ``bin`` first on ``PATH``.
* A block is excluded only by a marker on the line right before its fence, which these tests list as
  skipped with its reason::

      <!-- readme-test: skip (needs a real S3 bucket) -->

* ``<!-- readme-test: file (tests/x.py) -->``: the block is that file of the repository, byte for byte
  (pytest runs the file itself as part of the suite).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
TESTED = ("python", "bash")
MARKER = re.compile(r"^<!-- readme-test: (?P<kind>skip|file) \((?P<arg>[^)]+)\) -->$")
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\s*$")
#: One API second lasts 0.1 s: a recording is INVOKED for 0.2 s and UPLOADING for 0.3 s.
TIME_SCALE = 0.1


@dataclass(frozen=True)
class Block:
    lang: str
    line: int  # of the opening fence, 1-based
    code: str
    marker: str | None = None  # "skip" or "file"
    arg: str | None = None

    @property
    def id(self) -> str:
        return f"README.md:{self.line}:{self.lang}"


def parse(text: str) -> list[Block]:
    """Every fenced block, with the marker on the line before its fence (a stray marker is an error)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        marker = MARKER.match(line)
        if marker and not (index + 1 < len(lines) and FENCE.match(lines[index + 1])):
            raise ValueError(f"README.md:{index + 1}: a readme-test marker must be right before a fence")
        fence = FENCE.match(line)
        if fence is None:
            index += 1
            continue
        end = next((i for i in range(index + 1, len(lines)) if lines[i].strip() == "```"), None)
        if end is None:
            raise ValueError(f"README.md:{index + 1}: unclosed fence")
        previous = MARKER.match(lines[index - 1]) if index else None
        blocks.append(
            Block(
                lang=fence["lang"],
                line=index + 1,
                code="\n".join(lines[index + 1 : end]) + "\n",
                marker=previous["kind"] if previous else None,
                arg=previous["arg"].strip() if previous else None,
            )
        )
        index = end + 1
    return blocks


BLOCKS = [b for b in parse(README.read_text()) if b.lang in TESTED]
PYTHON = [b for b in BLOCKS if b.lang == "python"]
BASH = [b for b in BLOCKS if b.lang == "bash"]

_RUNNER = textwrap.dedent(
    """
    import json, os, sys, traceback

    namespace = {"__name__": "__main__"}
    for block in json.load(open(sys.argv[1])):
        saved = dict(os.environ)
        try:
            # Padded so that tracebacks give README.md's own line numbers.
            exec(compile("\\n" * block["line"] + block["code"], sys.argv[2], "exec"), namespace)
            result = {"line": block["line"], "error": None}
        except BaseException:
            result = {"line": block["line"], "error": traceback.format_exc()}
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
def python_results(emulator_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[int, Any]:
    """Run every unmarked python block in order in one interpreter; each block's error (or None)."""
    workdir = tmp_path_factory.mktemp("readme-python")
    runnable = [{"line": b.line, "code": b.code} for b in PYTHON if b.marker is None]
    (workdir / "blocks.json").write_text(json.dumps(runnable))
    (workdir / "runner.py").write_text(_RUNNER)
    done = subprocess.run(
        [sys.executable, "runner.py", "blocks.json", str(README)],
        cwd=workdir,
        env=emulator_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    results = {}
    for line in done.stdout.splitlines():
        if line.startswith("README-BLOCK "):
            result = json.loads(line.removeprefix("README-BLOCK "))
            results[result["line"]] = result["error"]
    assert len(results) == len(runnable), done.stdout[-3000:] + done.stderr[-3000:]
    return results


def _excluded(block: Block) -> None:
    """Skip a block with a ``skip`` marker (with its reason); check a ``file`` block against its file."""
    if block.marker == "skip":
        pytest.skip(f"{block.id} excluded: {block.arg}")
    if block.marker == "file":
        assert block.arg is not None
        assert (REPO / block.arg).read_text() == block.code, f"{block.id} differs from {block.arg}"


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: b.id)
def test_python_block_runs(block: Block, python_results: dict[int, Any]) -> None:
    _excluded(block)
    if block.marker is None:
        error = python_results[block.line]
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
        if block.marker == "skip":
            assert len(block.arg or "") >= 10, f"{block.id}: say why the block cannot run here"


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
    skipped, plain = parse(text)
    assert (skipped.lang, skipped.line, skipped.marker, skipped.arg) == (
        "bash",
        2,
        "skip",
        "needs a real bucket",
    )
    assert (plain.lang, plain.code, plain.marker) == ("python", "print(1)\n", None)
    with pytest.raises(ValueError, match="right before a fence"):
        parse("<!-- readme-test: skip (why) -->\n\n```bash\ntrue\n```")
