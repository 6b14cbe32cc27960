"""The contributors' module map (CONTRIBUTING.md, "Module map") names every module of the package, once,
and names nothing that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def mapped() -> list[str]:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    section = text.split("## Module map", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- `(airflow_provider_rtk/[^`]+\.py)`: \S", section, flags=re.M)


def test_every_module_is_on_the_map_once():
    modules = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "airflow_provider_rtk").rglob("*.py"))
    lines = mapped()
    assert sorted(set(lines)) == sorted(lines), "a module is on the map twice"
    missing = sorted(set(modules) - set(lines))
    stale = sorted(set(lines) - set(modules))
    assert not missing, f"not on the map: {missing}"
    assert not stale, f"on the map but gone: {stale}"
