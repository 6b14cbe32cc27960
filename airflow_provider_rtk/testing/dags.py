"""Run a DAG file in-process with ``dag.test()`` on a throwaway Airflow home (SQLite), Airflow 3.1 to 3.3.

What a DAG test needs before ``dag.test()`` works, done once: an ``AIRFLOW_HOME`` of its own (config,
SQLite metadata DB, logs), the DB migrated, the DAGs folder pointing at the DAG file's folder, and the DAG
serialized into the DB (Airflow 3.1's ``dag.test()`` does not do that itself). Then :func:`run_dag` runs
the DAG and returns each task's state, return-value XCom and, for a failed task, its exception::

    from airflow_provider_rtk.testing.dags import prepare_airflow_home, run_dag

    prepare_airflow_home("/tmp/my-airflow-home")  # before anything imports airflow, ideally
    result = run_dag("dags/my_dag.py", "my_dag", conf={"meeting_id": "..."})
    result.assert_success()  # on failure: each failed task's exception type and message

The DAGs of a file are the ones Airflow's own ``DagBag`` finds in it, however they are defined (``with
DAG(...):`` with or without ``as``, a ``@dag`` function called with or without assigning its result).

An asset-triggered DAG runs as if its asset events had arrived: ``run_dag(path, asset_events=[recording,
...])`` stores one asset event per item, as the triggerer stores the events of
``RealtimeKitRecordingEventTrigger``, and the run consumes them (see :func:`run_dag`).

In pytest, the ``realtimekit_run_dag`` fixture of :mod:`airflow_provider_rtk.testing.pytest_plugin` does
all of this for you. The RealtimeKit connection comes from the environment (``realtimekit_emulator``
sets it); ``variables=`` sets Airflow Variables for one run the same way.

Nothing here imports Airflow before it is called, so importing this module is cheap.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

__all__ = [
    "AssetEventItem",
    "DagRunResult",
    "TaskError",
    "dagbag",
    "load_dag",
    "migrate_db",
    "prepare_airflow_home",
    "run_dag",
]

#: One item of ``run_dag(asset_events=...)``: a recording (the API's dict, e.g. from the emulator's
#: ``seed_recording``), a recording id, or a list of those (one event carrying several recordings).
AssetEventItem = Mapping[str, Any] | str | Sequence[Mapping[str, Any] | str]

_home: Path | None = None
_migrated = False


def prepare_airflow_home(home: str | os.PathLike[str]) -> Path:
    """Make ``home`` this process's ``AIRFLOW_HOME``, with a SQLite DB in it and Airflow's examples off.

    Call it before anything imports airflow; when airflow is imported already, its settings and database
    engine are reconfigured to the new home. The first call wins: later calls return the home in use, so
    a session fixture and an earlier ``conftest.py`` call agree.
    """
    global _home
    if _home is not None:
        return _home
    path = Path(home).resolve()
    (path / "dags").mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(path),
            "AIRFLOW__CORE__DAGS_FOLDER": str(path / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{path / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
    )
    if "airflow.settings" in sys.modules:
        from airflow import settings

        settings.configure_vars()  # type: ignore[no-untyped-call]
        settings.reconfigure_orm()  # type: ignore[no-untyped-call]
    _home = path
    return path


def migrate_db() -> None:
    """Create the metadata DB's tables, once per process (``airflow db migrate``)."""
    global _migrated
    if _migrated:
        return
    if _home is None:
        raise RuntimeError("call prepare_airflow_home() first: migrating would touch the default ~/airflow")
    from airflow.utils import db

    db.initdb()
    _migrated = True


@dataclass(frozen=True)
class TaskError:
    """The exception that failed a task's last try: its class (``type``, ``module``) and message."""

    type: str
    module: str
    message: str
    traceback: str = field(default="", repr=False)

    @classmethod
    def of(cls, exc: BaseException) -> TaskError:
        kind = type(exc)
        return cls(
            type=kind.__qualname__,
            module=kind.__module__,
            message=str(exc),
            traceback="".join(traceback.format_exception(exc)),
        )

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type


@dataclass
class DagRunResult:
    """A finished test run: its state, each task's state and return-value XCom (``task[i]`` when mapped),
    and the exception of each task that failed (``errors``).

    ``assert_success()`` fails with a message naming each failed task's exception; ``str(result)`` is the
    same summary, so ``assert result.state == "success", result`` shows it too.
    """

    dag_id: str
    run_id: str
    state: str
    logical_date: datetime | None
    task_states: dict[str, str | None]
    xcoms: dict[str, Any] = field(default_factory=dict)
    tries: dict[str, int] = field(default_factory=dict)
    #: Each failed task's exception (the last try's), by task key; empty when the run succeeded.
    errors: dict[str, TaskError] = field(default_factory=dict)
    #: ``manual``, ``scheduled`` or ``asset_triggered`` (a run given ``asset_events``).
    run_type: str = ""

    @property
    def failed_tasks(self) -> list[str]:
        """The keys of the tasks that ended ``failed``."""
        return [key for key, state in self.task_states.items() if state == "failed"]

    def assert_success(self) -> DagRunResult:
        """Return the result when the run succeeded; else raise ``AssertionError`` with the summary."""
        if self.state != "success":
            raise AssertionError(str(self))
        return self

    def __str__(self) -> str:
        lines = [f"DAG run {self.dag_id} / {self.run_id} ({self.run_type or 'run'}): {self.state}"]
        for key, state in self.task_states.items():
            line = f"  {key}: {state}"
            if key in self.errors:
                line += f": {self.errors[key]}"
            elif state == "failed":
                line += ": (no exception captured; see the task's log)"
            lines.append(line)
        return "\n".join(lines)

    def __repr__(self) -> str:
        errors = {key: str(error) for key, error in self.errors.items()}
        return (
            f"DagRunResult(dag_id={self.dag_id!r}, run_id={self.run_id!r}, state={self.state!r}, "
            f"task_states={self.task_states!r}, errors={errors!r})"
        )


def run_dag(
    dag_file: str | os.PathLike[str],
    dag_id: str | None = None,
    *,
    logical_date: datetime | None = None,
    conf: Mapping[str, Any] | None = None,
    variables: Mapping[str, str] | None = None,
    asset_events: Sequence[AssetEventItem] | None = None,
    asset: Any = None,
) -> DagRunResult:
    """Run the DAG ``dag_id`` of ``dag_file`` once with ``dag.test()`` and return what it left behind.

    :param dag_file: the DAG file; its folder becomes the DAGs folder for the run.
    :param dag_id: which DAG of the file (as Airflow's ``DagBag`` finds them); optional when the file
        defines one DAG. An error lists the DAGs found when it is missing or not one of them.
    :param logical_date: ``None`` (default) runs it as a manual trigger from the UI or REST API does in
        Airflow 3, without a logical date (no ``ds``); pass a datetime for a scheduled-like run.
    :param conf: the run's ``conf`` (its ``params`` overrides).
    :param variables: Airflow Variables for this run only (as ``AIRFLOW_VAR_<NAME>``).
    :param asset_events: run an asset-scheduled DAG as if these events had triggered it. Each item becomes
        one asset event, stored as the triggerer stores an event of ``RealtimeKitRecordingEventTrigger``
        (``extra={"from_trigger": True, "payload": ...}``, through Airflow's ``AssetManager``), with the
        recording's public fields (presigned URLs dropped, as the trigger does). An item is a recording
        (the API's dict, e.g. from the emulator), a recording id (fetched through the
        ``realtimekit_default`` connection) or a list of those (one event carrying those recordings, when
        ``airflow_provider_rtk.assets`` reads such events). The run is created as the scheduler creates an
        asset-triggered run (``run_type`` ``asset_triggered``, no logical date, ``run_after`` the last
        event's time) with the events as its ``consumed_asset_events``, so tasks see them in
        ``triggering_asset_events`` (``recordings_from_asset_events``, the download operator's
        ``from_asset_event=True``). An empty list stores no event.
    :param asset: which of the DAG's scheduling assets the events are for (an ``Asset``, or its URI or
        name); needed only when the DAG is scheduled on several.
    """
    if _home is None:
        raise RuntimeError("call prepare_airflow_home() first: the run would use the default ~/airflow")
    path = Path(dag_file).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no DAG file at {path}")
    if asset_events is not None:
        asset_events = _check_asset_events(asset_events, logical_date)
    env = {"AIRFLOW__CORE__DAGS_FOLDER": str(path.parent)}
    env.update({f"AIRFLOW_VAR_{name.upper()}": value for name, value in (variables or {}).items()})
    migrate_db()
    with _environ(env), ExitStack() as stack:
        bag = _sync(path)
        dag = _pick(bag, path, dag_id)
        if asset_events is not None:
            target = _target_asset(dag.dag_id, asset)  # before any request for a recording id
            event_ids = _store_asset_events(target, [_payload(item) for item in asset_events])
            created = stack.enter_context(_asset_triggered_run(event_ids))
        errors = stack.enter_context(_captured_errors())
        run = dag.test(logical_date=logical_date, run_conf=dict(conf) if conf else None)
        if asset_events is not None and not created:
            raise RuntimeError(
                "this Airflow's dag.test() did not create its run through "
                "airflow.models.dagrun.get_or_create_dagrun, so the asset events could not be attached"
            )
        return _result(dag.dag_id, run, errors)


def load_dag(dag_file: str | os.PathLike[str], dag_id: str | None = None) -> Any:
    """Parse ``dag_file`` with Airflow's ``DagBag`` and return its DAG ``dag_id`` (or its only DAG)."""
    path = Path(dag_file).resolve()
    bag = dagbag(path)
    if bag.import_errors:
        raise ImportError(f"the DAG file failed to import: {bag.import_errors}")
    return _pick(bag, path, dag_id)


def _pick(bag: Any, path: Path, dag_id: str | None) -> Any:
    """The DAG ``dag_id`` among those the bag found in ``path``, or a ``LookupError`` listing them."""
    dags = {found.dag_id: found for found in bag.dags.values()}
    if dag_id is None and len(dags) == 1:
        return next(iter(dags.values()))
    if not dags:
        raise LookupError(
            f"Airflow's DagBag found no DAG in {path}: a DAG file must mention 'airflow' and 'dag' and "
            "create its DAG when imported (call a @dag function; a `with DAG(...):` block)"
        )
    if dag_id is None:
        raise LookupError(f"{path} defines several DAGs {sorted(dags)}: pass the dag_id of one of them")
    if dag_id not in dags:
        raise LookupError(f"{path} defines DAGs {sorted(dags)}, not {dag_id!r}: pass one of them as dag_id")
    return dags[dag_id]


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def dagbag(path: str | os.PathLike[str]) -> Any:
    """Parse a DAG file or folder as the DAG processor would (``.airflowignore`` included), on Airflow
    3.1 to 3.3: ``dagbag(folder).import_errors == {}`` is the classic "my DAGs import" test."""
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow >= 3.2
    except ImportError:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined,unused-ignore]

    path = Path(path)
    accepted = inspect.signature(DagBag).parameters
    optional: dict[str, Any] = {
        "include_examples": False,
        "bundle_path": path if path.is_dir() else path.parent,
        "bundle_name": "dags-folder",
    }
    return DagBag(dag_folder=str(path), **{k: v for k, v in optional.items() if k in accepted})


def _sync(path: Path) -> Any:
    """Parse the file with a ``DagBag`` and serialize its DAGs into the DB (Airflow 3.1's ``dag.test()``
    needs them there already); the bag, whose DAGs are the ones to run."""
    try:
        from airflow.dag_processing.dagbag import sync_bag_to_db  # Airflow >= 3.2
    except ImportError:
        from airflow.models.dagbag import sync_bag_to_db  # type: ignore[no-redef,attr-defined,unused-ignore]
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()  # type: ignore[no-untyped-call]
    bag = dagbag(path)
    if bag.import_errors:
        raise ImportError(f"the DAG file failed to import: {bag.import_errors}")
    sync_bag_to_db(bag, "dags-folder", None)
    return bag


# -- asset-triggered runs --------------------------------------------------------------------------------


def _check_asset_events(items: Sequence[AssetEventItem], logical_date: datetime | None) -> list[Any]:
    """``asset_events`` as a list, each item a recording, an id or a list of them; before any request."""
    if isinstance(items, str | Mapping) or not isinstance(items, Sequence):
        raise TypeError(
            f"asset_events: a list of events (recordings, recording ids, or lists of them), "
            f"got {type(items).__name__}"
        )
    if logical_date is not None:
        raise ValueError("logical_date: must be None with asset_events (an asset-triggered run has none)")
    for index, item in enumerate(items):
        members = [item] if isinstance(item, str | Mapping) else item
        if not isinstance(members, Sequence) or not members:
            raise TypeError(
                f"asset_events[{index}]: a recording (dict with an 'id'), a recording id, or a non-empty "
                f"list of those, got {item!r}"
            )
        for member in members:
            good = (isinstance(member, str) and member.strip()) or (
                isinstance(member, Mapping) and isinstance(member.get("id"), str)
            )
            if not good:
                raise TypeError(
                    f"asset_events[{index}]: each recording is a dict with a string 'id' or a recording id, "
                    f"got {member!r}"
                )
    return list(items)


def _public(recording: Mapping[str, Any] | str) -> dict[str, Any]:
    """What the event trigger puts in an event for a recording: its public fields, no URL, no secret."""
    from airflow_provider_rtk._core.redact import clean_recording, without_download_urls

    if isinstance(recording, str):
        from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook

        hook = RealtimeKitHook()
        try:
            recording = hook.get_recording(recording.strip())
        finally:
            hook.close()
    public = dict(without_download_urls(clean_recording(recording)))
    return dict(json.loads(json.dumps(public, default=str)))


def _payload(item: Any) -> dict[str, Any]:
    """The event payload carrying the item's recordings, in the shape ``airflow_provider_rtk.assets``
    reads back: the recording itself (one per event), or ``{"recordings": [...]}`` for a list."""
    from airflow_provider_rtk.assets import recordings_from_asset_events

    members = [item] if isinstance(item, str | Mapping) else list(item)
    recordings = [_public(member) for member in members]
    candidates = [recordings[0]] if len(recordings) == 1 else []
    candidates.append({"recordings": recordings})
    wanted = [(r["id"], str(r.get("status"))) for r in recordings]
    for payload in candidates:
        event = SimpleNamespace(extra={"from_trigger": True, "payload": payload})
        read = recordings_from_asset_events({"triggering_asset_events": {"asset": [event]}})
        if [(r["id"], str(r.get("status"))) for r in read] == list(dict.fromkeys(wanted)):
            return payload
    raise ValueError(
        f"asset_events: airflow_provider_rtk.assets reads one recording per event, so an event carrying "
        f"{len(recordings)} recordings would trigger a run that sees none of them: give each recording as "
        "an item of its own"
    )


def _target_asset(dag_id: str, asset: Any) -> tuple[str, str]:
    """``(name, uri)`` of the DAG's scheduling asset the events are for (see ``_scheduling_asset``)."""
    from airflow.models.asset import AssetModel, DagScheduleAssetReference
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        models = list(
            session.scalars(
                select(AssetModel)
                .join(DagScheduleAssetReference, DagScheduleAssetReference.asset_id == AssetModel.id)
                .where(DagScheduleAssetReference.dag_id == dag_id)
                .order_by(AssetModel.id)
            )
        )
        target = _scheduling_asset(dag_id, models, asset)
        return str(target.name), str(target.uri)


def _store_asset_events(target: tuple[str, str], payloads: list[dict[str, Any]]) -> list[int]:
    """Store one asset event per payload for the asset ``(name, uri)``, as the triggerer does for an
    event trigger's ``TriggerEvent`` (``AssetManager.register_asset_change``); the events' ids."""
    from airflow.assets.manager import AssetManager
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    name, uri = target
    with create_session() as session:
        model = session.scalars(
            select(AssetModel).where(AssetModel.name == name, AssetModel.uri == uri)
        ).one()
        ids = []
        for payload in payloads:
            event = AssetManager.register_asset_change(
                asset=model, extra={"from_trigger": True, "payload": payload}, session=session
            )
            if event is None:
                raise RuntimeError(f"Airflow stored no asset event for {uri}")
            session.flush()
            ids.append(int(event.id))
    return ids


def _scheduling_asset(dag_id: str, models: list[Any], asset: Any) -> Any:
    """The asset model the events are for: ``asset`` among the DAG's, or its only one."""
    found = [f"{model.uri} (name {model.name!r})" for model in models]
    if asset is None:
        if len(models) == 1:
            return models[0]
        if not models:
            raise ValueError(
                f"asset_events: DAG {dag_id!r} is not scheduled on an asset (schedule=[Asset(...)]), so no "
                "asset event can trigger it"
            )
        raise ValueError(f"asset: DAG {dag_id!r} is scheduled on several assets {found}: pass one of them")
    keys: set[Any] = {asset}
    if not isinstance(asset, str):
        keys = {getattr(asset, "uri", None), getattr(asset, "name", None)} - {None}
    for model in models:
        if model.uri in keys or model.name in keys:
            return model
    raise ValueError(f"asset: {asset!r} is not among the assets DAG {dag_id!r} is scheduled on: {found}")


@contextmanager
def _asset_triggered_run(event_ids: list[int]) -> Iterator[list[Any]]:
    """While active, ``dag.test()`` creates its run as the scheduler creates an asset-triggered run:
    ``run_type`` ``asset_triggered``, triggered by ``asset``, no logical date or data interval,
    ``run_after`` the last event's time, the events as ``consumed_asset_events`` and the DAG's queued
    asset entries removed. ``dag.test()`` has no parameter for a run's events; it gets its run from
    ``airflow.models.dagrun.get_or_create_dagrun`` (3.1 to 3.3), which this replaces for the call.
    Yields the runs created (one, once ``dag.test()`` ran)."""
    import airflow.models.dagrun as dagrun_module
    from airflow.models.asset import AssetDagRunQueue, AssetEvent
    from airflow.sdk import timezone
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import delete, select

    original = dagrun_module.get_or_create_dagrun
    created: list[Any] = []

    def create_asset_triggered_run(**kwargs: Any) -> Any:
        dag, session = kwargs["dag"], kwargs["session"]
        events = list(
            session.scalars(
                select(AssetEvent)
                .where(AssetEvent.id.in_(event_ids))
                .order_by(AssetEvent.timestamp.asc(), AssetEvent.id.asc())
            )
        )
        triggered = timezone.coerce_datetime(
            max((event.timestamp for event in events), default=kwargs["run_after"])
        )
        run = dag.create_dagrun(
            run_id=dagrun_module.DagRun.generate_run_id(
                run_type=DagRunType.ASSET_TRIGGERED, logical_date=None, run_after=triggered
            ),
            logical_date=None,
            data_interval=None,
            run_after=triggered,
            conf=kwargs.get("conf"),
            run_type=DagRunType.ASSET_TRIGGERED,
            triggered_by=DagRunTriggeredByType.ASSET,
            state=DagRunState.RUNNING,
            start_date=kwargs.get("start_date") or triggered,
            session=session,
        )
        run.consumed_asset_events.extend(events)
        session.execute(delete(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == dag.dag_id))
        session.commit()
        created.append(run)
        return run

    dagrun_module.get_or_create_dagrun = create_asset_triggered_run  # type: ignore[assignment]
    try:
        yield created
    finally:
        dagrun_module.get_or_create_dagrun = original


# -- results ---------------------------------------------------------------------------------------------


@contextmanager
def _captured_errors() -> Iterator[dict[str, TaskError]]:
    """While active, the exception of each task try ``dag.test()`` runs, by task key (the last try's).

    ``dag.test()`` runs each try through ``run_task_in_process``, whose result carries the exception, and
    then drops it; this wraps that function (and the inline trigger run) to keep it, changing nothing
    else. A try that ends without an exception clears its task's entry."""
    import airflow.sdk.definitions.dag as dag_module
    import airflow.sdk.execution_time.supervisor as supervisor

    errors: dict[str, TaskError] = {}
    run_task = supervisor.run_task_in_process
    run_trigger = getattr(dag_module, "_run_inline_trigger", None)

    def run_task_in_process(*args: Any, **kwargs: Any) -> Any:
        result = run_task(*args, **kwargs)
        ti = kwargs.get("ti") or args[0]
        key = _key(ti.task_id, ti.map_index)
        error = getattr(result, "error", None)
        if isinstance(error, BaseException):
            errors[key] = TaskError.of(error)
        else:
            errors.pop(key, None)
        return result

    def run_inline_trigger(trigger: Any, ti: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return run_trigger(trigger, ti, *args, **kwargs)  # type: ignore[misc]
        except Exception as exc:
            errors[_key(ti.task_id, ti.map_index)] = TaskError.of(exc)
            raise

    supervisor.run_task_in_process = run_task_in_process
    if run_trigger is not None:
        dag_module._run_inline_trigger = run_inline_trigger  # type: ignore[attr-defined,assignment,unused-ignore]
    try:
        yield errors
    finally:
        supervisor.run_task_in_process = run_task
        if run_trigger is not None:
            dag_module._run_inline_trigger = run_trigger  # type: ignore[attr-defined,unused-ignore]


def _state(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def _key(task_id: str, map_index: int | None) -> str:
    return task_id if map_index is None or map_index < 0 else f"{task_id}[{map_index}]"


def _result(dag_id: str, run: Any, errors: Mapping[str, TaskError]) -> DagRunResult:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    tis = run.get_task_instances()
    with create_session() as session:
        rows: Any = session.query(XComModel).filter_by(dag_id=dag_id, run_id=run.run_id, key="return_value")
        xcoms = {_key(row.task_id, row.map_index): XComModel.deserialize_value(row) for row in rows}
    states = {_key(ti.task_id, ti.map_index): _state(ti.state) for ti in tis}
    return DagRunResult(
        dag_id=dag_id,
        run_id=run.run_id,
        state=_state(run.state) or "",
        logical_date=run.logical_date,
        task_states=states,
        xcoms=xcoms,
        tries={_key(ti.task_id, ti.map_index): ti.try_number for ti in tis},
        errors={key: error for key, error in errors.items() if states.get(key) == "failed"},
        run_type=_state(run.run_type) or "",
    )
