"""The package's layers: every import of a provider module points to its own layer or one below, and no
modules import each other in a circle. Read from the source (every ``import``, at module level, inside
functions and under ``TYPE_CHECKING``), so a violation fails here before anything runs.

From the bottom: the public leaves (exceptions, types, assets, the provider info), ``_core`` (no Airflow
task concepts), the hook, the triggers and the download engine, the task base, the operators and the
sensor (side by side), and the test kit.
"""

from __future__ import annotations

import ast
from fnmatch import fnmatch
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "airflow_provider_rtk"
ROOT = "airflow_provider_rtk"

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "public leaves",
        (ROOT, f"{ROOT}.exceptions", f"{ROOT}.types", f"{ROOT}.assets", f"{ROOT}.get_provider_info"),
    ),
    ("core", (f"{ROOT}._core", f"{ROOT}._core.*")),
    ("hook", (f"{ROOT}.hooks", f"{ROOT}.hooks.*")),
    (
        "triggers and the download engine",
        (
            f"{ROOT}.triggers",
            f"{ROOT}.triggers.*",
            f"{ROOT}.operators._download",
            f"{ROOT}.operators._destination",
        ),
    ),
    ("task base", (f"{ROOT}._task",)),
    (
        "operators and sensors",
        (f"{ROOT}.operators", f"{ROOT}.operators.*", f"{ROOT}.sensors", f"{ROOT}.sensors.*"),
    ),
    ("test kit", (f"{ROOT}.testing", f"{ROOT}.testing.*")),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    for rank, (_, patterns) in enumerate(LAYERS):
        if any(fnmatch(module, pattern) for pattern in patterns):
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Ids of the import nodes under ``if TYPE_CHECKING:`` (they never run)."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            ids.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return ids


def imports(path: Path, known: set[str], *, runtime_only: bool = False) -> set[str]:
    """The provider modules ``path`` imports (a ``from X import name`` of a submodule counts as X.name);
    with ``runtime_only``, leaving out those under ``TYPE_CHECKING``."""
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    skipped = _type_checking_only(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(ROOT))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(ROOT):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known)
    return {m for m in found if m in known}


def graph(*, runtime_only: bool = False) -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports(p, known, runtime_only=runtime_only) - {name} for name, p in found.items()}


def test_every_module_is_in_a_layer():
    for name in modules():
        layer(name)


def test_no_import_points_up():
    upward = [
        f"{source} ({LAYERS[layer(source)][0]}) imports {target} ({LAYERS[layer(target)][0]})"
        for source, targets in graph().items()
        for target in targets
        if layer(target) > layer(source)
    ]
    assert not upward, "\n".join(upward)


def test_the_sensor_is_not_above_the_operators():
    assert layer(f"{ROOT}.sensors.recording") == layer(f"{ROOT}.operators.recording")


def test_no_import_cycle():
    """Among the imports that run: a type named for annotations only may point back."""
    edges = graph(runtime_only=True)
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


@pytest.mark.parametrize(
    "fake", ["airflow_provider_rtk._core.wire -> airflow_provider_rtk.hooks.realtimekit"]
)
def test_the_checks_can_fail(fake):
    """An upward edge is caught: the layer order really ranks the hook above the core."""
    source, target = fake.split(" -> ")
    assert layer(target) > layer(source)
