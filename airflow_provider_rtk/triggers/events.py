"""Event-driven scheduling on RealtimeKit recordings: one trigger event per recording reaching a status.

Use it in an ``AssetWatcher``; every recording of the app (started by Airflow or not) that reaches one of
``statuses`` becomes an asset event, and the DAGs scheduled on that asset run. No sensor, no worker slot.

Delivery (``_watch`` has the window and the ledger):

* Airflow 3.3+: the watermark and the (recording, status) pairs already reported are saved in the asset
  state store the triggerer gives event triggers (``asset_state_store``), one poll behind the events, so a
  restart or a move to another triggerer resumes where the last one stopped: recordings that finished in
  between are reported, none is reported again, except the events of the last poll interval before a
  hard kill (at least once; the consumer must be idempotent, as the download operator is). Watchers of one
  app with the same ``poll_interval`` share one poll loop (``shared_stream_key``).
* Airflow 3.1 / 3.2 (no state store): the ledger lives in memory. After a restart the trigger reports
  again the recordings invoked within ``lookback`` seconds that are in a watched status: at least once for
  a triggerer down for less than ``lookback``; recordings invoked earlier and finished during a longer
  outage are missed.

No event ever carries a presigned download URL (the triggerer logs every event payload): a consumer fetches
the recording when it needs one (the download operator does).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Hashable, Iterable
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_rtk._core.connection import DEFAULT_CONN_ID
from airflow_provider_rtk._core.pacing import DEFAULT_MAX_BACKOFF, Pacing
from airflow_provider_rtk._core.validation import check_statuses, require_uuid
from airflow_provider_rtk.exceptions import RealtimeKitInputError

if TYPE_CHECKING:
    from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook
    from airflow_provider_rtk.triggers._watch import AppWindow, LedgerStore, Snapshot, WatchLedger

DEFAULT_STATUSES: tuple[str, ...] = ("UPLOADED",)
SHARED_STREAM_NAME = "airflow_provider_rtk.recordings"


class RealtimeKitRecordingEventTrigger(BaseEventTrigger):
    """Emit one ``TriggerEvent`` per recording of an app newly seen in one of ``statuses``.

    The payload is the recording's public fields, as the sensor pushes to XCom: presigned URLs are
    ``None`` (``download_url``, ``audio_download_url``) and storage secrets absent. Each poll is one
    request for the whole app in steady state (see ``_watch``). Transient errors (no response, 429, 5xx)
    never end the watch: polls back off up to ``max_backoff``, honouring ``Retry-After``. Other errors
    (401, 403, 404, a connection without token) are logged as errors with what to check and polled again
    every ``max_backoff`` seconds: the watch never ends on its own.

    :param realtimekit_conn_id: Airflow connection of type ``realtimekit``.
    :param account_id: overrides the connection's ``account_id``.
    :param app_id: overrides the connection's ``app_id``.
    :param statuses: statuses to report (``UPLOADED``; ``ERRORED`` for failures); one event per recording
        and status.
    :param meeting_id: only this meeting's recordings.
    :param poll_interval: seconds between polls.
    :param include_download_urls: accepted for symmetry with the sensor; events never carry URLs whatever
        its value, since Airflow logs every event payload. Fetch the recording in the consumer
        (``RealtimeKitHook.get_recording``, or the download operator) for fresh URLs.
    :param lookback: on a start without saved state, also report recordings invoked this many seconds ago
        or later that are already in a watched status (0: only changes seen after the start).
    :param max_backoff: longest wait between polls while the API fails.
    """

    def __init__(
        self,
        *,
        realtimekit_conn_id: str = DEFAULT_CONN_ID,
        account_id: str | None = None,
        app_id: str | None = None,
        statuses: Iterable[str] = DEFAULT_STATUSES,
        meeting_id: str | None = None,
        poll_interval: float = 60.0,
        include_download_urls: bool = False,
        lookback: float = 3600.0,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
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
        self.include_download_urls = bool(include_download_urls)
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
                "include_download_urls": self.include_download_urls,
                "lookback": self.lookback,
                "max_backoff": self.max_backoff,
            },
        )

    # -- pieces shared by the standalone and the shared-stream paths -------------------------------------

    @property
    def _name(self) -> str:
        app = self.app_id or f"of connection {self.realtimekit_conn_id}"
        meeting = f", meeting {self.meeting_id}" if self.meeting_id else ""
        return f"RealtimeKit watch of app {app} for {'/'.join(self.statuses)}{meeting}"

    def _hook(self) -> RealtimeKitHook:
        from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook
        from airflow_provider_rtk.triggers._watch import ONE_ATTEMPT

        # One attempt per request: the poll loop owns retries (PollBackoff), so there is one back-off rule.
        return RealtimeKitHook(
            self.realtimekit_conn_id, account_id=self.account_id, app_id=self.app_id, retry_policy=ONE_ATTEMPT
        )

    def _store(self) -> LedgerStore:
        from airflow_provider_rtk.triggers._watch import LedgerStore, state_key

        key = state_key(
            self.realtimekit_conn_id, self.account_id, self.app_id, self.statuses, self.meeting_id
        )
        return LedgerStore(getattr(self, "asset_state_store", None), key, self._name)

    async def _ledger(self, store: LedgerStore, *, local_meeting_filter: bool) -> WatchLedger:
        from airflow_provider_rtk.triggers._watch import WatchLedger

        ledger = WatchLedger.restore(
            await store.load(),
            statuses=self.statuses,
            meeting_id=self.meeting_id if local_meeting_filter else None,
            lookback=self.lookback,
        )
        if ledger.since is not None:
            self.log.info("%s: resuming from the saved watermark %s", self._name, ledger.since.isoformat())
        elif store.available:
            self.log.info(
                "%s: no saved watermark; starting with %.0f s of lookback", self._name, self.lookback
            )
        else:
            self.log.info(
                "%s: no asset state store (Airflow < 3.3, or not run by an asset watcher): the watermark is "
                "kept in memory; a restart reports again what was invoked in the last %.0f s",
                self._name,
                self.lookback,
            )
        return ledger

    def _events(self, ledger: WatchLedger, recordings: list[Any], snapshot: Snapshot) -> list[TriggerEvent]:
        new = ledger.take(recordings, snapshot.window_start)
        self.log.info(
            "%s: %d recording(s) listed (%d request(s)), %d newly %s",
            self._name,
            len(recordings),
            snapshot.requests,
            len(new),
            "/".join(self.statuses),
        )
        return [TriggerEvent(dict(recording)) for recording in new]  # type: ignore[no-untyped-call]

    # -- standalone path (Airflow 3.1 / 3.2, or a trigger run on its own) ---------------------------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_rtk.triggers._watch import AppWindow, poll_forever

        store = self._store()
        ledger = await self._ledger(store, local_meeting_filter=False)
        window = AppWindow(
            self._hook,
            statuses=self.statuses,
            start=ledger.since,
            lookback=self.lookback,
            meeting_id=self.meeting_id,
        )
        try:
            async for snapshot in poll_forever(window, self.poll_interval, self.max_backoff, self._name):
                await store.flush()
                for event in self._events(ledger, snapshot.recordings, snapshot):
                    yield event
                store.stage(ledger.state())
        finally:
            await window.aclose()

    # -- Airflow 3.3 shared streams: one poll loop per app and interval -----------------------------------

    def shared_stream_key(self) -> Hashable | None:
        return (
            SHARED_STREAM_NAME,
            self.realtimekit_conn_id,
            self.account_id,
            self.app_id,
            self.poll_interval,
        )

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """Poll the app's whole window (every status, every meeting) and yield each ``Snapshot``."""
        from airflow_provider_rtk.triggers._watch import AppWindow, poll_forever

        trigger = cls(**kwargs)
        window = AppWindow(trigger._hook, statuses=None, start=None, lookback=trigger.lookback)
        name = f"RealtimeKit shared watch of app {trigger.app_id or trigger.realtimekit_conn_id}"
        try:
            async for snapshot in poll_forever(window, trigger.poll_interval, trigger.max_backoff, name):
                yield snapshot
        finally:
            await window.aclose()

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This watcher's events from the shared snapshots.

        A watcher whose saved watermark (or lookback) reaches further back than the shared window, e.g. one
        that restarts into a poll loop already running, first lists the gap itself, once.
        """
        store = self._store()
        ledger = await self._ledger(store, local_meeting_filter=True)
        catch_up: AppWindow | None = None
        try:
            async for snapshot in shared_stream:
                await store.flush()
                recordings = list(snapshot.recordings)
                needs = ledger.needs_from()
                if needs is not None and needs < snapshot.listed_from:
                    catch_up = catch_up or self._catch_up_window()
                    recordings = await self._list_gap(catch_up, needs, snapshot) + recordings
                for event in self._events(ledger, recordings, snapshot):
                    yield event
                store.stage(ledger.state())
        finally:
            if catch_up is not None:
                await catch_up.aclose()

    def _catch_up_window(self) -> AppWindow:
        from airflow_provider_rtk.triggers._watch import AppWindow

        return AppWindow(
            self._hook, statuses=self.statuses, start=None, lookback=self.lookback, meeting_id=self.meeting_id
        )

    async def _list_gap(self, window: AppWindow, start: Any, snapshot: Snapshot) -> list[Any]:
        from airflow_provider_rtk.triggers._watch import retry_until_done

        self.log.info(
            "%s: listing %s to %s, before the shared window",
            self._name,
            start.isoformat(),
            snapshot.listed_from,
        )
        gap: list[Any] = await retry_until_done(
            lambda: window.list_range(start, snapshot.listed_from),
            window,
            self.poll_interval,
            self.max_backoff,
            self._name,
        )
        return gap
