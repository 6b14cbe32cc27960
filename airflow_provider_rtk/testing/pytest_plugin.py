"""pytest fixtures for testing DAGs and hooks against the local RealtimeKit emulator.

Installing the provider registers this plugin through its ``pytest11`` entry point, so the fixtures are
available with nothing to configure. From a source tree that is not installed, or with
``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` set, enable it in the top-level ``conftest.py``::

    pytest_plugins = ["airflow_provider_rtk.testing.pytest_plugin"]

or on the command line with ``-p airflow_provider_rtk.testing.pytest_plugin``.

Fixtures:

``realtimekit_emulator``
    A started :class:`~airflow_provider_rtk.testing.emulator.RealtimeKitEmulator` (function scope) with a
    fast lifecycle - one API second lasts 0.1 real seconds, so INVOKED takes 0.2 s and UPLOADING 0.3 s -
    and ``AIRFLOW_CONN_REALTIMEKIT_DEFAULT`` pointing at it for the duration of the test.

The emulator is imported inside the fixture, so merely loading the plugin stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

#: Real seconds per API second in the fixture's emulator.
FIXTURE_TIME_SCALE = 0.1


@pytest.fixture
def realtimekit_emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[RealtimeKitEmulator]:
    """A running emulator with a fast lifecycle, set as the ``realtimekit_default`` Airflow connection."""
    from airflow_provider_rtk.testing.emulator import RealtimeKitEmulator

    with RealtimeKitEmulator(time_scale=FIXTURE_TIME_SCALE) as emulator:
        for name, value in emulator.env().items():
            monkeypatch.setenv(name, value)
        yield emulator
