#!/usr/bin/env python3
"""Check the sdist and wheel that ``make dist`` built: what a user's install needs must be in them.

``python .ci/check_dist.py dist`` fails (exit 1, one line per problem) unless ``dist/`` holds exactly one
wheel and one sdist of the version in ``pyproject.toml`` and:

* the wheel holds every file of the ``airflow_provider_rtk`` source tree (``py.typed``, the pytest plugin
  module, the emulator's modules and any data file beside them; the emulator generates the bytes it serves
  and loads nothing else at run time), and no file from outside the package (tests, benchmarks, DAGs);
* its entry points are the ones ``pyproject.toml`` declares, among them the ``apache_airflow_provider``
  ``provider_info`` (Airflow finds the provider by it), the ``pytest11`` plugin (the fixtures) and the
  ``rtk-emulator`` script;
* its metadata declares the license of ``pyproject.toml`` and ships the ``LICENSE`` file;
* the sdist holds ``LICENSE``, ``README.md``, ``CHANGELOG.md``, ``pyproject.toml``, ``docs/`` and the
  package's sources.

``twine check --strict`` (run by ``make dist`` before this) checks the metadata's rendering.
"""

from __future__ import annotations

import configparser
import sys
import tarfile
import tomllib
import zipfile
from email.parser import HeaderParser
from pathlib import Path

__all__ = ["check_dist", "check_sdist", "check_wheel", "source_files"]

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "airflow_provider_rtk"
#: Entry points a user's install depends on, whatever else pyproject.toml declares.
REQUIRED_ENTRY_POINTS = {
    ("apache_airflow_provider", "provider_info"),
    ("pytest11", f"{PACKAGE}.testing.pytest_plugin"),
    ("console_scripts", "rtk-emulator"),
}
REQUIRED_PACKAGE_FILES = (
    f"{PACKAGE}/py.typed",
    f"{PACKAGE}/get_provider_info.py",
    f"{PACKAGE}/testing/pytest_plugin.py",
    f"{PACKAGE}/testing/emulator/cli.py",
)
SDIST_FILES = ("LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "docs/api-notes.md")


def source_files(repo: Path = REPO) -> set[str]:
    """Every file of the package's source tree (``airflow_provider_rtk/...``), bytecode excluded."""
    root = repo / PACKAGE
    return {
        path.relative_to(repo).as_posix()
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo")
    }


def _declared_entry_points(project: dict[str, object]) -> dict[tuple[str, str], str]:
    declared: dict[tuple[str, str], str] = {}
    groups = dict(project.get("entry-points", {}))  # type: ignore[call-overload]
    groups["console_scripts"] = project.get("scripts", {})
    for group, entries in groups.items():
        for name, target in dict(entries).items():
            declared[(group, name)] = target
    return declared


def check_wheel(wheel: Path, project: dict[str, object], sources: set[str]) -> list[str]:
    """What is wrong with ``wheel`` (an empty list when nothing is)."""
    problems: list[str] = []
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next((n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")), None)
        if info is None:
            return [f"{wheel.name}: no .dist-info folder"]
        metadata = HeaderParser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points_text = (
            archive.read(f"{info}/entry_points.txt").decode() if f"{info}/entry_points.txt" in names else ""
        )
    packaged = {n for n in names if not n.endswith("/") and not n.startswith(f"{info}/")}
    for name in sorted(set(REQUIRED_PACKAGE_FILES) | sources):
        if name not in packaged:
            problems.append(f"{wheel.name}: {name} is missing")
    for name in sorted(packaged - sources):
        problems.append(f"{wheel.name}: {name} is not a file of the {PACKAGE} source tree")

    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(entry_points_text)
    found = {
        (group, name): parser[group][name].strip() for group in parser.sections() for name in parser[group]
    }
    declared = _declared_entry_points(project)
    for key in sorted(REQUIRED_ENTRY_POINTS - declared.keys()):
        problems.append(f"pyproject.toml does not declare the entry point {key[0]}:{key[1]}")
    for key, target in sorted(declared.items()):
        if found.get(key) != target:
            problems.append(
                f"{wheel.name}: entry point {key[0]}:{key[1]} is {found.get(key)!r}, expected {target!r}"
            )

    license_expression = project.get("license")
    if metadata.get("License-Expression") != license_expression:
        problems.append(
            f"{wheel.name}: License-Expression is {metadata.get('License-Expression')!r}, "
            f"pyproject.toml says {license_expression!r}"
        )
    license_files = metadata.get_all("License-File") or []
    if "LICENSE" not in license_files or f"{info}/licenses/LICENSE" not in names:
        problems.append(f"{wheel.name}: the LICENSE file is not shipped (License-File: {license_files})")
    if metadata.get("Version") != project.get("version"):
        problems.append(f"{wheel.name}: version {metadata.get('Version')!r} != {project.get('version')!r}")
    return problems


def check_sdist(sdist: Path, sources: set[str]) -> list[str]:
    """What is missing from ``sdist`` (an empty list when nothing is)."""
    with tarfile.open(sdist) as archive:
        names = {"/".join(member.name.split("/")[1:]) for member in archive.getmembers() if member.isfile()}
    wanted = set(SDIST_FILES) | sources
    return [f"{sdist.name}: {name} is missing" for name in sorted(wanted - names)]


def check_dist(folder: Path, repo: Path = REPO) -> list[str]:
    """Every problem with the one wheel and one sdist of this version in ``folder``."""
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    stem = f"{PACKAGE}-{project['version']}"
    wheels = sorted(folder.glob("*.whl"))
    sdists = sorted(folder.glob("*.tar.gz"))
    expected = (f"{stem}-py3-none-any.whl", f"{stem}.tar.gz")
    if [w.name for w in wheels] != [expected[0]] or [s.name for s in sdists] != [expected[1]]:
        return [f"{folder} must hold exactly {expected[0]} and {expected[1]}, not {[*wheels, *sdists]}"]
    sources = source_files(repo)
    return check_wheel(wheels[0], project, sources) + check_sdist(sdists[0], sources)


def main(argv: list[str]) -> int:
    folder = Path(argv[1]) if len(argv) > 1 else REPO / "dist"
    problems = check_dist(folder)
    for problem in problems:
        print(f"check_dist: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"check_dist: {', '.join(sorted(p.name for p in folder.iterdir()))} hold what an install needs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
