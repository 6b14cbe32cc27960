"""``make e2e``: one deployment for the whole session, torn down on exit, failure, Ctrl-C or SIGTERM.

Not collected by ``make test`` (``norecursedirs`` in pyproject). Figures each test prints are also
collected in ``.e2e/figures.json`` and repeated in the terminal summary.
"""

from __future__ import annotations

import atexit
import json
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.deployment import OUT, Deployment, log

FIGURES: dict[str, dict[str, Any]] = {}
_STARTED = time.monotonic()


def record(section: str, **figures: Any) -> None:
    """Print figures of one assertion and keep them for the summary."""
    FIGURES.setdefault(section, {}).update(figures)
    for key, value in figures.items():
        log(f"{section}: {key} = {value}")


@pytest.fixture(scope="session")
def deployment() -> Iterator[Deployment]:
    d = Deployment()
    atexit.register(d.stop)
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        d.stop()
        raise KeyboardInterrupt  # pytest ends the session (a SystemExit would only fail the current test)

    signal.signal(signal.SIGTERM, on_term)
    try:
        d.start()
        record("deployment", startup_seconds=round(time.monotonic() - _STARTED))
        yield d
    finally:
        d.stop()
        signal.signal(signal.SIGTERM, previous)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    FIGURES.setdefault("total", {})["wall_seconds"] = round(time.monotonic() - _STARTED)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "figures.json").write_text(json.dumps(FIGURES, indent=2, default=str))
    terminalreporter.section("e2e figures")
    for section, figures in FIGURES.items():
        for key, value in figures.items():
            terminalreporter.write_line(f"{section:<18} {key:<40} {value}")
    terminalreporter.write_line(f"(also in {OUT / 'figures.json'})")
