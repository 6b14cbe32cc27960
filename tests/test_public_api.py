"""The public line: each public module exports exactly its documented names (``__all__``), each of them
resolves, nothing public it defines is left out, and no public signature names a private type.

A public module is any module of the package whose path has no part starting with ``_``. Adding one, or a
name to one, means adding it here: that is the point (DAG files import these names).
"""

from __future__ import annotations

import importlib
import inspect
import typing
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "airflow_provider_rtk"

EXCEPTIONS = {
    "RealtimeKitApiError",
    "RealtimeKitAuthError",
    "RealtimeKitConfigError",
    "RealtimeKitConflictError",
    "RealtimeKitDownloadError",
    "RealtimeKitError",
    "RealtimeKitInputError",
    "RealtimeKitNotFoundError",
    "RealtimeKitRateLimitError",
    "RealtimeKitRecordingStateError",
    "RealtimeKitServerError",
    "RealtimeKitTimeoutError",
    "RealtimeKitTransportError",
}

PUBLIC: dict[str, set[str]] = {
    "airflow_provider_rtk": {"DISTRIBUTION", "__version__"},
    "airflow_provider_rtk.exceptions": EXCEPTIONS,
    "airflow_provider_rtk.types": {
        "FINAL_STATUSES",
        "ListFilters",
        "OPEN_STATUSES",
        "RECORDING_STATUSES",
        "STARTED_STATUSES",
        "STOPPED_STATUSES",
        "Recording",
        "RecordingPage",
        "RecordingStatus",
        "StartOptions",
        "TrackDownload",
        "TrackFile",
    },
    "airflow_provider_rtk.hooks": set(),
    "airflow_provider_rtk.hooks.realtimekit": {"ConnectionSettings", "RealtimeKitHook", "RetryPolicy"},
    "airflow_provider_rtk.operators": set(),
    "airflow_provider_rtk.operators.recording": {
        "RealtimeKitBaseOperator",
        "RealtimeKitGetRecordingOperator",
        "RealtimeKitListRecordingsOperator",
        "RealtimeKitPauseRecordingOperator",
        "RealtimeKitResumeRecordingOperator",
        "RealtimeKitStartRecordingOperator",
        "RealtimeKitStartTrackRecordingOperator",
        "RealtimeKitStopRecordingOperator",
    },
    "airflow_provider_rtk.operators.download": {"RealtimeKitDownloadRecordingOperator"},
    "airflow_provider_rtk.sensors": set(),
    "airflow_provider_rtk.sensors.recording": {"RealtimeKitRecordingSensor"},
    "airflow_provider_rtk.triggers": set(),
    "airflow_provider_rtk.triggers.recording": {"RealtimeKitRecordingTrigger"},
    "airflow_provider_rtk.triggers.events": {
        "DEFAULT_STATUSES",
        "RealtimeKitRecordingEventTrigger",
        "event_payload_shape",
    },
    "airflow_provider_rtk.assets": {
        "ASSET_SCHEME",
        "recording_asset_uri",
        "recording_from_asset_event",
        "recording_ids_from_asset_events",
        "recordings_asset_uri",
        "recordings_from_asset_events",
        "sanitize_uri",
    },
    "airflow_provider_rtk.get_provider_info": {"ACCOUNT_ID_HELP", "APP_ID_HELP", "get_provider_info"},
    "airflow_provider_rtk.testing": set(),
    "airflow_provider_rtk.testing.dags": {
        "AssetEventItem",
        "DagRunResult",
        "TaskError",
        "dagbag",
        "load_dag",
        "migrate_db",
        "prepare_airflow_home",
        "run_dag",
    },
    "airflow_provider_rtk.testing.pytest_plugin": {
        "DEFAULT_CONN_ID",
        "DEFAULT_LIFECYCLE",
        "LIFECYCLES",
        "realtimekit_airflow_home",
        "realtimekit_emulator",
        "realtimekit_emulator_factory",
        "realtimekit_run_dag",
    },
    "airflow_provider_rtk.testing.emulator": {"Fault", "RealtimeKitEmulator", "RequestRecord"},
}


#: The emulator's API is its package (``testing.emulator``); its modules are how it is built.
IMPLEMENTATION = "airflow_provider_rtk.testing.emulator."


def public_modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        name = ".".join(parts)
        if not any(p.startswith("_") for p in parts) and not name.startswith(IMPLEMENTATION):
            names.append(name)
    return names


def test_every_public_module_declares_its_api_here():
    assert set(public_modules()) == set(PUBLIC), "a public module was added or removed: list it in PUBLIC"


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_all_is_exactly_the_documented_names(name):
    module = importlib.import_module(name)
    assert set(getattr(module, "__all__", ())) == PUBLIC[name]
    for attr in PUBLIC[name]:
        assert getattr(module, attr) is not None


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_nothing_public_that_a_module_defines_is_left_out(name):
    module = importlib.import_module(name)
    defined = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith(("_", "pytest_"))  # pytest hooks are pytest's API, not ours
        and (inspect.isclass(value) or inspect.isfunction(value))
        and getattr(value, "__module__", None) == name
    }
    assert defined <= set(module.__all__), f"{name} defines {sorted(defined - set(module.__all__))}"


def _leaves(annotation: object) -> list[object]:
    """Every class an annotation names, through unions, generics and ``Unpack``."""
    args = typing.get_args(annotation)
    if not args:
        return [annotation]
    return [leaf for arg in args for leaf in _leaves(arg)]


def _is_private(leaf: object) -> bool:
    module = getattr(leaf, "__module__", "") or ""
    return module.startswith("airflow_provider_rtk") and any(p.startswith("_") for p in module.split("."))


def _exported_anywhere() -> set[int]:
    ids = set()
    for name in PUBLIC:
        module = importlib.import_module(name)
        ids.update(id(getattr(module, attr)) for attr in module.__all__)
    return ids


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_no_private_type_in_a_public_signature(name):
    """Types a user passes or gets back are public, or exported by a public module (httpx style)."""
    module = importlib.import_module(name)
    exported = _exported_anywhere()
    offenders = []
    for attr in module.__all__:
        value = getattr(module, attr)
        callables = [value]
        if inspect.isclass(value):
            callables = [m for n, m in vars(value).items() if callable(m) and not n.startswith("_")]
            callables.append(value.__init__)
        for func in callables:
            try:
                hints = typing.get_type_hints(func)
            except Exception:
                continue
            for hint in hints.values():
                offenders += [
                    f"{name}.{attr}.{getattr(func, '__name__', func)}: {leaf}"
                    for leaf in _leaves(hint)
                    if _is_private(leaf) and id(leaf) not in exported
                ]
    assert not offenders, "\n".join(sorted(set(offenders)))


CONNECTION_ARGS = ["realtimekit_conn_id", "account_id", "app_id"]


def _tasks_and_triggers() -> list[type]:
    from airflow.sdk import BaseOperator
    from airflow.triggers.base import BaseTrigger

    found = []
    for name in PUBLIC:
        module = importlib.import_module(name)
        found += [
            value
            for attr in module.__all__
            if inspect.isclass(value := getattr(module, attr))
            and issubclass(value, BaseOperator | BaseTrigger)
            and "realtimekit_conn_id" in inspect.signature(value).parameters
        ]
    return found


def test_every_task_and_trigger_lists_its_own_arguments_then_the_connections():
    """One order for every signature a DAG author reads: the class's own arguments, then the connection's
    three, then ``include_download_urls`` where the class returns recordings, then ``**kwargs``. (The hook
    is the exception: the connection is what it is about, so it comes first there.)"""
    classes = _tasks_and_triggers()
    assert len(classes) >= 11, [c.__name__ for c in classes]  # 8 operators, the sensor, 2 triggers
    wrong = {}
    for cls in classes:
        names = [n for n, p in inspect.signature(cls).parameters.items() if p.kind is not p.VAR_KEYWORD]
        tail = names[names.index("realtimekit_conn_id") :]
        if tail not in (CONNECTION_ARGS, [*CONNECTION_ARGS, "include_download_urls"]):
            wrong[cls.__name__] = tail
    assert not wrong, wrong
