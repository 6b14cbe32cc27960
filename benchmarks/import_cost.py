"""Import cost: what importing the provider's DAG-facing modules adds on top of ``import airflow.sdk``.

Every measurement is a fresh interpreter. A baseline child times ``import airflow.sdk`` alone; a subject
child times ``import airflow.sdk`` and then the provider module(s). Baseline and subject children
alternate, round after round, and the figures are medians of the per-round differences:

- across processes: (subject's airflow.sdk + modules) - (baseline's airflow.sdk), paired by round, the
  measure the target is stated in. ``import airflow.sdk`` takes seconds and swings by hundreds of ms on
  a busy machine, so this difference is noisy; it is reported with CPU time as well as wall time.
- in process: the time the subject child spends importing the modules after airflow.sdk, its own
  before/after. Same quantity, without the between-process noise: the precise one.

It also reports the modules the provider imports that airflow.sdk had not (a ``sys.modules`` diff), with
their import self-time from one ``-X importtime`` run, and how much of the increment was the cyclic
garbage collector (a full collection over airflow's ~150k objects, triggered by whatever allocates next).

Run alone: ``python -m benchmarks.import_cost [--rounds 8] [--module-rounds 3]``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from typing import Any

from benchmarks._common import REPO_ROOT, log, median, print_table

TARGET_MS = 30.0
TITLE = "Import cost over `import airflow.sdk` (fresh interpreters)"

MODULES = (
    "airflow_provider_rtk.operators.recording",
    "airflow_provider_rtk.sensors.recording",
    "airflow_provider_rtk.triggers.recording",
    "airflow_provider_rtk.operators.download",
)

# Third-party packages worth naming when the provider is the one that imports them.
HEAVY = (
    "requests",
    "urllib3",
    "charset_normalizer",
    "idna",
    "certifi",
    "tenacity",
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "sniffio",
    "pydantic",
    "cloudflare",
    "aiohttp",
    "fsspec",
    "s3fs",
    "boto3",
    "botocore",
    "sqlalchemy",
)

# The child: times ``import airflow.sdk`` then each module, in this interpreter; prints one JSON line.
_CHILD = r"""
import gc, importlib, json, sys, time

config = json.loads(sys.argv[1])
modules = config["modules"]
gc_time = [0.0, None]
def _on_gc(phase, info):
    if phase == "start":
        gc_time[1] = time.perf_counter()
    elif gc_time[1] is not None:
        gc_time[0] += time.perf_counter() - gc_time[1]
        gc_time[1] = None
gc.callbacks.append(_on_gc)

def rss_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

cpu0, wall0 = time.process_time(), time.perf_counter()
import airflow.sdk
wall1, cpu1 = time.perf_counter(), time.process_time()
before, rss1, gc_time[0] = set(sys.modules), rss_kib(), 0.0
sdk_loaded = [name for name in config["probe"] if name in sys.modules]
before_top = {name.split(".")[0] for name in before}
status = {}
for name in modules:
    try:
        importlib.import_module(name)
        status[name] = "ok"
    except ModuleNotFoundError as exc:
        missing = exc.name and (name == exc.name or name.startswith(exc.name + "."))
        status[name] = "missing" if missing else f"error: ModuleNotFoundError: {exc}"
    except Exception as exc:
        status[name] = f"error: {type(exc).__name__}: {exc}"
wall2, cpu2 = time.perf_counter(), time.process_time()
print(json.dumps({
    "sdk_wall_ms": (wall1 - wall0) * 1e3, "sdk_cpu_ms": (cpu1 - cpu0) * 1e3,
    "mod_wall_ms": (wall2 - wall1) * 1e3, "mod_cpu_ms": (cpu2 - cpu1) * 1e3,
    "mod_gc_ms": gc_time[0] * 1e3, "rss_added_mib": (rss_kib() - rss1) / 1024,
    "status": status, "new_modules": sorted(set(sys.modules) - before), "sdk_loaded": sdk_loaded,
    "new_packages": sorted({m.split(".")[0] for m in set(sys.modules) - before} - before_top),
}))
"""


def _child(modules: tuple[str, ...]) -> dict[str, Any]:
    config = json.dumps({"modules": list(modules), "probe": list(HEAVY)})
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, config],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO_ROOT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"import child failed: {result.stderr.strip()[-2000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _importtime(modules: tuple[str, ...]) -> list[tuple[int, str, float, float]]:
    """``-X importtime`` of ``modules`` after airflow.sdk: (depth, module, self ms, cumulative ms), in the
    order Python reports them (a module after everything it imported)."""
    # GC off after airflow.sdk: a collection's time would land on whichever module was importing
    code = (
        "import airflow.sdk, gc, sys\ngc.disable()\nprint('--mark--', file=sys.stderr, flush=True)\n"
        + "".join(f"try:\n    import {name}\nexcept Exception:\n    pass\n" for name in modules)
    )
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO_ROOT,
        check=False,
    )
    entries = []
    after = result.stderr.split("--mark--", 1)[-1]
    for match in re.finditer(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", after):
        depth = (len(match.group(3)) - 1) // 2
        entries.append((depth, match.group(4), int(match.group(1)) / 1000, int(match.group(2)) / 1000))
    return entries


def _self_by_package(entries: list[tuple[int, str, float, float]]) -> dict[str, float]:
    per_package: dict[str, float] = {}
    for _, name, self_ms, _ in entries:
        top = name.split(".")[0]
        per_package[top] = per_package.get(top, 0.0) + self_ms
    return per_package


def _chain(entries: list[tuple[int, str, float, float]], package: str) -> tuple[str, float]:
    """The importer chain of ``package``'s shallowest new module, up to the top-level provider module
    imported by the test script, and that module's cumulative import ms."""
    mine = [
        (depth, index) for index, (depth, name, _, _) in enumerate(entries) if name.split(".")[0] == package
    ]
    if not mine:
        return "", 0.0
    depth, index = min(mine)
    chain, want = [entries[index][1]], depth - 1
    for later_depth, later_name, _, _ in entries[index + 1 :]:
        if want < 0:
            break
        if later_depth == want:
            chain.append(later_name)
            want -= 1
    return " <- ".join(_short(n) for n in chain), entries[index][3]


def _short(name: str) -> str:
    return name.removeprefix("airflow_provider_rtk.")


def benchmark(rounds: int = 8, module_rounds: int = 3) -> dict[str, Any]:
    all_modules = MODULES
    variants: dict[str, tuple[str, ...]] = {"baseline": ()}
    variants["all four"] = all_modules
    for name in all_modules:
        variants[_short(name)] = (name,)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    total = rounds * 2 + module_rounds * len(all_modules)
    log(f"import cost: {total} fresh interpreters ({rounds} rounds baseline/all, {module_rounds} per module)")
    for index in range(max(rounds, module_rounds)):
        names = ["baseline", "all four"] if index < rounds else []
        if index < module_rounds:
            names += [_short(name) for name in all_modules]
        if index % 2:
            names.reverse()
        for name in names:
            results[name].append(_child(variants[name]))

    base = results["baseline"]
    rows: list[dict[str, Any]] = []
    for name, runs in results.items():
        if name == "baseline":
            rows.append(
                {
                    "import": "airflow.sdk alone (baseline)",
                    "status": "ok",
                    "in-process ms": None,
                    "of which GC ms": None,
                    "excl. GC ms": None,
                    "vs baseline wall ms": None,
                    "vs baseline CPU ms": None,
                    "baseline ms": median(r["sdk_wall_ms"] for r in runs),
                    "RSS +MiB": None,
                    "new modules": None,
                    "target": None,
                    "verdict": None,
                }
            )
            continue
        statuses = {module: runs[0]["status"].get(module, "?") for module in variants[name]}
        bad = {m: s for m, s in statuses.items() if s != "ok"}
        status = "ok" if not bad else "; ".join(f"{_short(m)}: {s}" for m, s in bad.items())
        row: dict[str, Any] = {
            "import": "airflow.sdk + " + (name if name != "all four" else "all four modules"),
            "status": status,
            "in-process ms": median(r["mod_wall_ms"] for r in runs),
            "of which GC ms": median(r["mod_gc_ms"] for r in runs),
            "excl. GC ms": median(r["mod_wall_ms"] - r["mod_gc_ms"] for r in runs),
            "vs baseline wall ms": None,
            "vs baseline CPU ms": None,
            "baseline ms": None,
            "RSS +MiB": median(r["rss_added_mib"] for r in runs),
            "new modules": len(runs[0]["new_modules"]),
            "target": f"<= {TARGET_MS:.0f} ms",
            "verdict": None,
        }
        paired = list(zip(runs, base, strict=False))
        if len(paired) >= 1:
            row["vs baseline wall ms"] = median(
                r["sdk_wall_ms"] + r["mod_wall_ms"] - b["sdk_wall_ms"] for r, b in paired
            )
            row["vs baseline CPU ms"] = median(
                r["sdk_cpu_ms"] + r["mod_cpu_ms"] - b["sdk_cpu_ms"] for r, b in paired
            )
        row["verdict"] = "ok" if row["in-process ms"] <= TARGET_MS else "OVER TARGET"
        rows.append(row)

    # which heavy packages the provider brings in, and from which module
    log("import cost: one -X importtime run for the per-package breakdown")
    entries = _importtime(all_modules)
    self_ms = _self_by_package(entries)
    first = {name: runs[0] for name, runs in results.items()}
    added_all = first["all four"]["new_modules"]
    package_rows: list[dict[str, Any]] = []
    for package in sorted({m.split(".")[0] for m in added_all}):
        count = sum(1 for m in added_all if m.split(".")[0] == package)
        via = _chain(entries, package) if package != "airflow_provider_rtk" else ("", 0.0)
        package_rows.append(
            {
                "package": package,
                "new package": package in first["all four"]["new_packages"],
                "modules added": count,
                "imported by": [
                    _short(m)
                    for m in all_modules
                    if any(n.split(".")[0] == package for n in first[_short(m)]["new_modules"])
                ],
                "self ms (-X importtime)": self_ms.get(package, 0.0),
                "cumulative ms": via[1] if via[0] else None,
                "first imported via": via[0],
            }
        )
    package_rows.sort(key=lambda r: -r["self ms (-X importtime)"])
    heavy_new = [p for p in HEAVY if p in first["all four"]["new_packages"]]
    already = [p for p in HEAVY if p in first["baseline"]["sdk_loaded"]]
    provider_self = sorted(
        ((name, self_ms) for _, name, self_ms, _ in entries if name.startswith("airflow_provider_rtk")),
        key=lambda item: -item[1],
    )
    notes = [
        f"{rounds} rounds of (baseline, all four) and {module_rounds} of each single module, each a fresh "
        "interpreter, alternating order. in-process ms: the subject child's own time to import the modules "
        "after airflow.sdk (median; the target applies to it). of which GC ms: cyclic-GC time inside that "
        "window. vs baseline wall/CPU ms: median paired difference (subject airflow.sdk + modules) - "
        "(baseline airflow.sdk) across processes, noisy since airflow.sdk alone takes seconds. "
        "RSS +MiB: resident memory added by the modules.",
        "heavy third-party packages the provider adds: " + (", ".join(heavy_new) or "none"),
        "heavy packages airflow.sdk had already imported (no extra cost): " + (", ".join(already) or "none"),
    ]
    return {
        "title": TITLE,
        "rows": rows,
        "columns": list(rows[0]),
        "notes": notes,
        "details": {
            "packages": package_rows,
            "heavy_new": heavy_new,
            "heavy_cumulative_ms": {p: _chain(entries, p)[1] for p in heavy_new},
            "provider_self_ms": dict(provider_self),
            "runs": results,
            "importtime_self_ms": self_ms,
        },
    }


def run(rounds: int = 8, module_rounds: int = 3) -> list[dict[str, Any]]:
    """The result rows only (same interface as the other benchmark modules)."""
    return list(benchmark(rounds, module_rounds)["rows"])


def print_result(result: dict[str, Any]) -> None:
    print_table(result["title"], result["rows"], result.get("columns"), notes=result.get("notes", ()))
    details = result.get("details", {})
    print_table(
        "Modules the provider imports that airflow.sdk had not, by top-level package",
        details.get("packages", []),
        notes=[
            "new package: not loaded at all after airflow.sdk (otherwise more submodules of a loaded one); "
            "imported by: which of the modules, imported alone, pulls it in; self ms: import self-time "
            "summed over the package, from one `-X importtime` run of all four with the cyclic GC off "
            "(its time is in the GC column above). cumulative ms: that run's cumulative time of the "
            "package's first (shallowest) new module, what it imported included; first imported via: its "
            "importer chain (all four imported in the order listed).",
            "provider's own modules, self ms: "
            + ", ".join(f"{_short(n)} {ms:.1f}" for n, ms in details.get("provider_self_ms", {}).items()),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--module-rounds", type=int, default=3)
    args = parser.parse_args()
    print_result(benchmark(args.rounds, args.module_rounds))


if __name__ == "__main__":
    main()
