"""Event-driven scheduling on RealtimeKit recordings: asset events for recordings reaching a status.

Use it in an ``AssetWatcher``; every recording of the app (started by Airflow or not) that reaches one of
``statuses`` is reported, and the DAGs scheduled on that asset run. No sensor, no worker slot.

Cost (``_window``): a poll lists the recordings invoked in the recent window and the few recordings open for
longer, never every recording finished since the oldest open one. Requests per poll:
``ceil(window / 100) + ceil(long-open / 100) + long-open that finished + newly ERRORED``; the window holds
at most the recordings invoked in the last hour (fewer when none is open that long).

Events (``event_payload_shape``): on Airflow 3.1-3.3 the scheduler consumes an asset's events by a
created_at window, so of several events stored one after another by one poll, those stored after the run was
created wait for the asset's next event. There, each poll fires ONE event carrying every recording newly in
a watched status (``{"recordings": [...], "count": n}``). Where Airflow consumes events by reference (3.4+),
each recording is its own event (its public fields). ``airflow_provider_rtk.assets`` reads both.

Delivery (``_ledger``):

* Airflow 3.3+: the watcher's ledger (the open recordings it saw and how far it has judged) is saved in the
  asset state store the triggerer gives event triggers, one poll behind the events, so a restart or a move
  to another triggerer resumes where the last one stopped: recordings that finished in between are
  reported, none is reported again, except the events of the last poll interval before a hard kill (at
  least once; the consumer must be idempotent, as the download operator is). A trigger watching several
  assets (two assets with identical watcher arguments in one DAG file share one trigger) saves the same
  ledger under each. Watchers of one app with the same ``poll_interval`` and ``max_backoff`` share one poll
  loop (``shared_stream_key``).
* Airflow 3.1 / 3.2 (no state store): the ledger lives in memory. After a restart the trigger reports
  again the recordings invoked within ``lookback`` seconds that are in a watched status: at least once for
  a triggerer down for less than ``lookback``; recordings invoked earlier and finished during a longer
  outage are missed.

No event ever carries a presigned download URL or a storage secret (the triggerer logs every event
payload): a consumer fetches the recording when it needs one (the download operator does).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Hashable, Iterable
from typing import TYPE_CHECKING, Any, Literal

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_rtk._core.defaults import DEFAULT_CONN_ID
from airflow_provider_rtk._core.pacing import DEFAULT_MAX_BACKOFF, Pacing
from airflow_provider_rtk._core.validation import check_statuses, require_uuid
from airflow_provider_rtk.exceptions import RealtimeKitInputError

if TYPE_CHECKING:
    from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook
    from airflow_provider_rtk.triggers._ledger import LedgerStore, WatchLedger
    from airflow_provider_rtk.triggers._watch import SideRequests
    from airflow_provider_rtk.triggers._window import AppPoller
    from airflow_provider_rtk.types import Recording

__all__ = ["DEFAULT_STATUSES", "RealtimeKitRecordingEventTrigger", "event_payload_shape"]

DEFAULT_STATUSES: tuple[str, ...] = ("UPLOADED",)
SHARED_STREAM_NAME = "airflow_provider_rtk.recordings"


def event_payload_shape() -> Literal["batch", "per_recording"]:
    """``per_recording`` where the running Airflow consumes asset events by reference (3.4+), else
    ``batch`` (one event per poll carrying every new recording)."""
    import re

    from airflow import __version__

    major_minor = tuple(int(part) for part in re.findall(r"\d+", __version__)[:2])
    return "per_recording" if major_minor >= (3, 4) else "batch"


class RealtimeKitRecordingEventTrigger(BaseEventTrigger):
    """Report the recordings of an app newly seen in one of ``statuses``, as trigger events.

    Event payloads are the recordings' public fields, as the sensor pushes to XCom: presigned URLs are
    ``None`` (``download_url``, ``audio_download_url``) and storage secrets absent; ERRORED recordings are
    fetched, so they carry ``stop_reason``. One event per poll with every new recording
    (``{"recordings": [...], "count": n}``) on Airflow < 3.4, one event per recording from 3.4 (see the
    module docstring).

    Requests per poll are bounded by the work that can still change, not by how long one recording stays
    open: ``ceil(window / 100) + ceil(long-open / 100) + long-open that finished + newly ERRORED``, where the
    window holds the recordings invoked since the oldest open one but at most in the last hour, and
    long-open are the recordings open for longer than that. Rarely, a watcher adds its own requests: the
    listing of a gap before the shared window (after a restart, or for ``lookback``) and one GET per
    recording it saw open that finished while it was away. The saved state holds the app's open recordings
    (about 40 bytes each) and the finished ones invoked within 10 s of the newest, never the finished
    history (see ``_ledger``).

    Transient errors (no response, 429, 5xx) never end the watch: polls back off up to ``max_backoff``,
    honouring ``Retry-After``. Other errors (401, 403, 404, a connection without token) are logged as errors
    with what to check and polled again every ``max_backoff`` seconds: the watch never ends on its own.

    :param statuses: statuses to report (``UPLOADED``; ``ERRORED`` for failures); each recording once per
        status.
    :param meeting_id: only this meeting's recordings.
    :param poll_interval: seconds between polls.
    :param lookback: on a start without saved state, also report recordings invoked this many seconds ago
        or later that are already in a watched status (0: only changes seen after the start).
    :param max_backoff: longest wait between polls while the API fails.
    :param realtimekit_conn_id: Airflow connection of type ``realtimekit``.
    :param account_id: overrides the connection's ``account_id``.
    :param app_id: overrides the connection's ``app_id``.
    """

    def __init__(
        self,
        *,
        statuses: Iterable[str] = DEFAULT_STATUSES,
        meeting_id: str | None = None,
        poll_interval: float = 60.0,
        lookback: float = 3600.0,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        realtimekit_conn_id: str = DEFAULT_CONN_ID,
        account_id: str | None = None,
        app_id: str | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.realtimekit_conn_id = realtimekit_conn_id
        self.account_id = account_id
        self.app_id = app_id
        self.statuses = check_statuses("statuses", statuses)
        self.meeting_id = None if meeting_id is None else require_uuid("meeting_id", meeting_id)
        Pacing.for_wait(poll_interval, max_backoff)
        if not isinstance(lookback, int | float) or lookback < 0 or not math.isfinite(lookback):
            raise RealtimeKitInputError(f"lookback: must be seconds >= 0, got {lookback!r}")
        self.poll_interval = float(poll_interval)
        self.lookback = float(lookback)
        self.max_backoff = float(max_backoff)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "realtimekit_conn_id": self.realtimekit_conn_id,
                "account_id": self.account_id,
                "app_id": self.app_id,
                "statuses": list(self.statuses),
                "meeting_id": self.meeting_id,
                "poll_interval": self.poll_interval,
                "lookback": self.lookback,
                "max_backoff": self.max_backoff,
            },
        )

    # -- names and pieces ------------------------------------------------------------------------------------

    def _app(self) -> str:
        return self.app_id or f"of connection {self.realtimekit_conn_id}"

    def _watcher_name(self, assets: list[str]) -> str:
        """The watcher as every log line names it: its asset(s), else its trigger id."""
        if assets:
            who = "asset " + ", ".join(repr(a) for a in assets)
        else:
            who = f"trigger {getattr(self, 'trigger_id', None) or 'not yet scheduled'}"
        meeting = f", meeting {self.meeting_id}" if self.meeting_id else ""
        return f"RealtimeKit watch ({who}) of app {self._app()} for {'/'.join(self.statuses)}{meeting}"

    def _hook(self) -> RealtimeKitHook:
        from airflow_provider_rtk._core.retry import SINGLE_ATTEMPT
        from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook

        # One attempt per request: the poll loop paces its own retries (_core.pacing), one rule.
        return RealtimeKitHook(
            self.realtimekit_conn_id,
            account_id=self.account_id,
            app_id=self.app_id,
            retry_policy=SINGLE_ATTEMPT,
        )

    def _poller(self, meeting_id: str | None) -> AppPoller:
        from airflow_provider_rtk.triggers._window import AppPoller

        return AppPoller(self._hook, meeting_id=meeting_id)

    def _store(self) -> LedgerStore:
        from airflow_provider_rtk.triggers._ledger import LedgerStore, state_key

        key = state_key(
            self.realtimekit_conn_id, self.account_id, self.app_id, self.statuses, self.meeting_id
        )
        store = LedgerStore(getattr(self, "asset_state_store", None), key)
        store.name = self._watcher_name(store.assets)
        return store

    async def _ledger(self, store: LedgerStore, name: str) -> WatchLedger:
        from airflow_provider_rtk.triggers._ledger import WatchLedger

        ledger = WatchLedger.restore(
            await store.load(), statuses=self.statuses, meeting_id=self.meeting_id, lookback=self.lookback
        )
        if ledger.started:
            covered = "none yet" if ledger.covered is None else ledger.covered.isoformat()
            self.log.info(
                "%s: resuming from the saved state (judged up to %s, %d open recording(s))",
                name,
                covered,
                len(ledger.open),
            )
        elif store.available:
            self.log.info("%s: no saved state; starting with %.0f s of lookback", name, self.lookback)
        else:
            self.log.info(
                "%s: no asset state store (Airflow < 3.3, or not run by an asset watcher): the state is "
                "kept in memory; a restart reports again what was invoked in the last %.0f s",
                name,
                self.lookback,
            )
        return ledger

    def _events(self, recordings: list[Recording]) -> list[TriggerEvent]:
        if not recordings:
            return []
        if event_payload_shape() == "per_recording":
            return [TriggerEvent(dict(r)) for r in recordings]  # type: ignore[no-untyped-call]
        payload = {"recordings": [dict(r) for r in recordings], "count": len(recordings)}
        return [TriggerEvent(payload)]  # type: ignore[no-untyped-call]

    # -- the producer: one poll loop (per app and pacing on Airflow 3.3, per trigger otherwise) -------------

    def _produce(self, meeting_id: str | None, name: str) -> AsyncIterator[Any]:
        from airflow_provider_rtk.triggers._watch import poll_forever

        async def snapshots() -> AsyncIterator[Any]:
            poller = self._poller(meeting_id)
            try:
                async for snapshot in poll_forever(poller, self.poll_interval, self.max_backoff, name):
                    yield snapshot
            finally:
                await poller.aclose()

        return snapshots()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Airflow 3.1 / 3.2, or a trigger run on its own: this trigger's own poll loop."""
        name = self._watcher_name([])
        async for event in self.filter_shared_stream(self._produce(self.meeting_id, name)):
            yield event

    def shared_stream_key(self) -> Hashable | None:
        """Everything the shared poll loop uses: the app, and its pacing. Nothing else of a watcher."""
        return (
            SHARED_STREAM_NAME,
            self.realtimekit_conn_id,
            self.account_id,
            self.app_id,
            self.poll_interval,
            self.max_backoff,
        )

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """Poll the whole app (every status, every meeting) and yield each ``Snapshot``.

        Uses only the fields of ``shared_stream_key``: the connection, account, app, ``poll_interval`` and
        ``max_backoff``.
        """
        trigger = cls(**kwargs)
        name = f"RealtimeKit shared poll of app {trigger._app()}"
        async for snapshot in trigger._produce(None, name):
            yield snapshot

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This watcher's events from the snapshots. Never waits on the API: a gap before the shared window
        and recordings that finished while it was away are listed and fetched beside it
        (``SideRequests``), so it keeps draining its queue through any outage."""
        from airflow_provider_rtk.triggers._watch import SideRequests

        store = self._store()
        name = self._watcher_name(store.assets)
        ledger = await self._ledger(store, name)
        side = SideRequests(
            lambda: self._poller(self.meeting_id),
            interval=self.poll_interval,
            max_backoff=self.max_backoff,
            name=name,
            fetch_errored="ERRORED" in self.statuses,
        )
        try:
            async for snapshot in shared_stream:
                await store.flush()
                new = self._side_results(ledger, side)
                new += ledger.apply(snapshot)
                self._ask(ledger, side)
                self.log.info(
                    "%s: %d recording(s) in the poll (%d request(s)), %d newly %s",
                    name,
                    len(snapshot.recordings),
                    snapshot.requests,
                    len(new),
                    "/".join(self.statuses),
                )
                for event in self._events(new):
                    yield event
                store.stage(ledger.state())
        finally:
            await side.aclose()

    @staticmethod
    def _side_results(ledger: WatchLedger, side: SideRequests) -> list[Recording]:
        new: list[Recording] = []
        for kind, argument, views in side.take():
            if kind == "gap":
                new += ledger.apply_gap(argument, views)
            else:
                new += ledger.apply_fetched(argument, views)
        return new

    @staticmethod
    def _ask(ledger: WatchLedger, side: SideRequests) -> None:
        if ledger.gap is not None:
            side.list_gap(ledger.gap)
        missing = ledger.unresolved()
        if missing:
            ledger.resolving |= missing
            side.fetch(missing)
