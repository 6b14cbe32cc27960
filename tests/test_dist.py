"""``make dist``'s checker (.ci/check_dist.py): it passes what an install needs and names what is missing.

The wheels here are written by the test from the package's own source tree, then broken one way each;
one test builds the real sdist and wheel with ``uv build`` (as ``make dist`` does) and checks them.
"""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
PROJECT: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
VERSION = PROJECT["version"]
INFO = f"airflow_provider_rtk-{VERSION}.dist-info"


def _load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_dist", REPO / ".ci" / "check_dist.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_dist = _load_checker()
SOURCES: set[str] = check_dist.source_files(REPO)

ENTRY_POINTS = """[console_scripts]
rtk-emulator = airflow_provider_rtk.testing.emulator.cli:main

[apache_airflow_provider]
provider_info = airflow_provider_rtk.get_provider_info:get_provider_info

[pytest11]
airflow_provider_rtk.testing.pytest_plugin = airflow_provider_rtk.testing.pytest_plugin
"""


def _metadata(license_expression: str = "Apache-2.0") -> str:
    return (
        f"Metadata-Version: 2.4\nName: airflow-provider-rtk\nVersion: {VERSION}\n"
        f"License-Expression: {license_expression}\nLicense-File: LICENSE\n"
    )


def _wheel(
    path: Path,
    *,
    drop: tuple[str, ...] = (),
    add: tuple[str, ...] = (),
    entry_points: str = ENTRY_POINTS,
    metadata: str | None = None,
) -> Path:
    """A wheel of the real source files, without ``drop`` and with ``add`` (empty files)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name in sorted(SOURCES - set(drop)):
            archive.write(REPO / name, name)
        for name in add:
            archive.writestr(name, "")
        archive.writestr(f"{INFO}/METADATA", metadata if metadata is not None else _metadata())
        archive.writestr(f"{INFO}/entry_points.txt", entry_points)
        archive.writestr(f"{INFO}/licenses/LICENSE", "Apache License")
        archive.writestr(f"{INFO}/RECORD", "")
    return path


def _sdist(path: Path, *, drop: tuple[str, ...] = ()) -> Path:
    root = f"airflow_provider_rtk-{VERSION}"
    with tarfile.open(path, "w:gz") as archive:
        for name in sorted((SOURCES | set(check_dist.SDIST_FILES)) - set(drop)):
            data = b"x"
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _problems(wheel: Path) -> list[str]:
    problems: list[str] = check_dist.check_wheel(wheel, PROJECT, SOURCES)
    return problems


def test_a_complete_wheel_passes(tmp_path: Path) -> None:
    assert _problems(_wheel(tmp_path / "ok.whl")) == []
    assert {"airflow_provider_rtk/py.typed", "airflow_provider_rtk/testing/pytest_plugin.py"} <= SOURCES
    assert any(name.startswith("airflow_provider_rtk/testing/emulator/") for name in SOURCES)


@pytest.mark.parametrize(
    "missing",
    [
        "airflow_provider_rtk/py.typed",
        "airflow_provider_rtk/testing/pytest_plugin.py",
        "airflow_provider_rtk/testing/emulator/content.py",
        "airflow_provider_rtk/get_provider_info.py",
    ],
)
def test_a_missing_package_file_is_named(tmp_path: Path, missing: str) -> None:
    assert _problems(_wheel(tmp_path / "w.whl", drop=(missing,))) == [f"w.whl: {missing} is missing"]


def test_a_file_from_outside_the_package_is_named(tmp_path: Path) -> None:
    problems = _problems(_wheel(tmp_path / "w.whl", add=("tests/conftest.py",)))
    assert problems == ["w.whl: tests/conftest.py is not a file of the airflow_provider_rtk source tree"]


@pytest.mark.parametrize(
    ("section", "name"),
    [
        ("[pytest11]", "airflow_provider_rtk.testing.pytest_plugin"),
        ("[apache_airflow_provider]", "provider_info"),
        ("[console_scripts]", "rtk-emulator"),
    ],
)
def test_a_missing_entry_point_is_named(tmp_path: Path, section: str, name: str) -> None:
    lines = ENTRY_POINTS.splitlines()
    broken = "\n".join(line for line in lines if not line.startswith(f"{name} ="))
    problems = _problems(_wheel(tmp_path / "w.whl", entry_points=broken))
    group = section.strip("[]")
    assert len(problems) == 1, problems
    assert f"entry point {group}:{name} is None" in problems[0]


def test_a_license_other_than_pyprojects_is_named(tmp_path: Path) -> None:
    problems = _problems(_wheel(tmp_path / "w.whl", metadata=_metadata("MIT")))
    assert problems == ["w.whl: License-Expression is 'MIT', pyproject.toml says 'Apache-2.0'"]


def test_an_sdist_without_the_docs_is_named(tmp_path: Path) -> None:
    complete = check_dist.check_sdist(_sdist(tmp_path / "ok.tar.gz"), SOURCES)
    broken = check_dist.check_sdist(
        _sdist(tmp_path / "s.tar.gz", drop=("docs/api-notes.md", "LICENSE")), SOURCES
    )
    assert complete == []
    assert broken == ["s.tar.gz: LICENSE is missing", "s.tar.gz: docs/api-notes.md is missing"]


def test_the_folder_must_hold_one_wheel_and_one_sdist_of_this_version(tmp_path: Path) -> None:
    _wheel(tmp_path / f"airflow_provider_rtk-{VERSION}-py3-none-any.whl")
    (problem,) = check_dist.check_dist(tmp_path, REPO)
    assert f"must hold exactly airflow_provider_rtk-{VERSION}-py3-none-any.whl and" in problem


def _uv() -> Path:
    uv = Path(sys.executable).parent / "uv"
    assert uv.exists(), f"uv is not in {uv.parent}: the Makefile installs it in every virtualenv"
    return uv


def test_the_real_build_passes(tmp_path: Path) -> None:
    """``uv build`` of this tree (sdist, then the wheel from it), checked as ``make dist`` checks it."""
    done = subprocess.run(
        [str(_uv()), "build", "--quiet", "--out-dir", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert check_dist.check_dist(tmp_path, REPO) == []
