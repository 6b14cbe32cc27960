"""The app-wide poller behind ``RealtimeKitRecordingEventTrigger``: what each poll lists, and why it is cheap.

The list endpoint filters on status and on ``invoked_time`` (``start_time`` / ``end_time``), not on
"changed since", and a recording may be invoked hours before it is uploaded. A poll therefore sees the
recordings that can still change in two parts:

* **the window**: every recording (any status) invoked since the window start ``W`` (less a visibility
  margin for recordings that appear in the list late). ``W`` follows the oldest recording still open, as a
  watch must see an open recording to notice it finish, but never trails the newest invoked time by more
  than ``RECENT_WINDOW``, so that one long meeting (or a recording stuck INVOKED) does not keep every
  recording finished after it in the listing;
* **the long-open recordings**: those still open when ``W`` moved past them. They are listed with the
  open-status filter over their own invoked range only (one request per 100 of them), and each one that
  leaves that list is fetched once by id (``GET``) to see how it ended.

ERRORED recordings are fetched by id once too, so their events carry ``stop_reason`` (the list view has
none); ERRORED is rare.

Requests per poll: ``ceil(window / 100) + ceil(long-open / 100) + long-open that finished + newly
ERRORED``, where the window holds the recordings invoked in the last ``RECENT_WINDOW`` at most. None of it
grows with how long one recording stays open. A start costs ``ceil(open / 100) + 1`` requests more: the
open recordings and the newest one anchor ``W``.

A ``Snapshot`` is complete: every recording invoked since ``listed_from`` plus every long-open recording,
still open or just finished. Watchers (``_ledger.WatchLedger``) take what they need from it; the poller
depends on nothing per watcher, which Airflow's shared streams require of ``open_shared_stream``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from airflow_provider_rtk._core.redact import without_download_urls
from airflow_provider_rtk._core.timestamps import parse_api_time
from airflow_provider_rtk._core.validation import MAX_PAGE_SIZE, iso_time
from airflow_provider_rtk.exceptions import RealtimeKitApiError, RealtimeKitNotFoundError
from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook
from airflow_provider_rtk.types import FINAL_STATUSES, OPEN_STATUSES, Recording

__all__ = [
    "RECENT_WINDOW",
    "VISIBILITY_MARGIN",
    "AppPoller",
    "Snapshot",
    "invoked",
]

log = logging.getLogger(__name__)

#: The legacy API's status filter knows no PAUSED.
LEGACY_OPEN_STATUSES: Final[tuple[str, ...]] = tuple(s for s in OPEN_STATUSES if s != "PAUSED")
#: How far before a boundary each listing reaches: a recording created just before another may become
#: visible in the list just after it.
VISIBILITY_MARGIN: Final[timedelta] = timedelta(seconds=10)
#: The longest span of invoked times the window lists: recordings open longer are tracked individually.
RECENT_WINDOW: Final[timedelta] = timedelta(hours=1)


def invoked(recording: Mapping[str, Any]) -> datetime | None:
    """The recording's ``invoked_time``, or None when absent or unreadable."""
    return parse_api_time(recording.get("invoked_time"))


@dataclass(frozen=True)
class Snapshot:
    """One poll: URL-free views of every recording invoked since ``listed_from`` and of every long-open one.

    :param recordings: the views, each recording once; a fetched view (ERRORED, or a long-open one that
        finished) carries the full fields (``stop_reason``, ``start_reason``).
    :param listed_from: every recording invoked at or after it is in ``recordings``, whatever its status;
        None when the window reached back to the first recording of the app.
    :param requests: API requests the poll made.
    """

    recordings: list[Recording]
    listed_from: datetime | None
    requests: int


class AppPoller:
    """The moving window of one app's recordings (of one meeting, when ``meeting_id`` is given).

    :param hook_factory: builds the hook; called again after a non-transient error (``reset``), so a
        connection fixed in Airflow is read anew.
    """

    def __init__(self, hook_factory: Callable[[], RealtimeKitHook], *, meeting_id: str | None = None) -> None:
        self._hook_factory = hook_factory
        self._hook = hook_factory()
        self._meeting_id = meeting_id
        self._open_filter: list[str] = list(OPEN_STATUSES)
        self.start: datetime | None = None  # W; None before the first poll or while the app is empty
        self.anchored = False
        self.newest: datetime | None = None  # the newest invoked time seen
        self.long_open: dict[str, Recording] = {}
        self._errored_fetched: set[str] = set()
        self.requests = 0

    async def reset(self) -> None:
        """Close the client; the next request reads the connection again."""
        await self._hook.aclose()
        self._hook = self._hook_factory()

    async def aclose(self) -> None:
        await self._hook.aclose()

    # -- requests --------------------------------------------------------------------------------------------

    async def _page(self, page_no: int, per_page: int = MAX_PAGE_SIZE, **filters: Any) -> Any:
        self.requests += 1
        if self._meeting_id is not None:
            filters["meeting_id"] = self._meeting_id
        filters.setdefault("sort_by", "invokedTime")
        filters.setdefault("sort_order", "ASC")
        return await self._hook.alist_recordings_page(page_no=page_no, per_page=per_page, **filters)

    async def _list(self, **filters: Any) -> list[Recording]:
        """Every page of one listing, oldest first, each recording once, URL-free."""
        found: dict[str, Recording] = {}
        page_no = 1
        while True:
            page = await self._page(page_no, **filters)
            for recording in page.recordings:
                found[recording["id"]] = without_download_urls(recording)
            if page.is_last(MAX_PAGE_SIZE):
                return list(found.values())
            page_no += 1

    async def _list_open(self, **filters: Any) -> list[Recording]:
        """``_list`` on the open statuses (every open status the API's version knows)."""
        while True:
            try:
                return await self._list(status=self._open_filter, **filters)
            except RealtimeKitApiError as exc:
                if exc.status_code != 400 or self._open_filter == list(LEGACY_OPEN_STATUSES):
                    raise
                self._open_filter = list(LEGACY_OPEN_STATUSES)

    async def fetch(self, recording_id: str) -> Recording | None:
        """One recording by id, URL-free; None when the API no longer has it."""
        self.requests += 1
        try:
            return without_download_urls(await self._hook.aget_recording(recording_id))
        except RealtimeKitNotFoundError:
            return None

    async def list_range(self, start: datetime | None, end: datetime | None) -> list[Recording]:
        """Every recording (any status) invoked in ``[start, end]``, oldest first, URL-free."""
        filters: dict[str, Any] = {}
        if start is not None:
            filters["start_time"] = iso_time("start_time", start)
        if end is not None:
            filters["end_time"] = iso_time("end_time", end)
        return await self._list(**filters)

    # -- one poll --------------------------------------------------------------------------------------------

    async def _anchor(self) -> None:
        """W on a start: the oldest open recording, at most ``RECENT_WINDOW`` before the newest recording
        (older open ones start long-open); the newest recording when none is open."""
        open_now = await self._list_open()
        page = await self._page(1, per_page=1, sort_order="DESC")
        newest = max((t for r in page.recordings if (t := invoked(r))), default=None)
        open_times = [t for r in open_now if (t := invoked(r))]
        if newest is not None:
            self.newest = newest
            start = min(open_times) if open_times else newest
            self.start = max(start, newest - RECENT_WINDOW)
        elif open_times:
            self.start = min(open_times)
        for recording in open_now:
            moment = invoked(recording)
            if self.start is not None and moment is not None and moment < self.start - VISIBILITY_MARGIN:
                self.long_open[recording["id"]] = recording
        self.anchored = True

    async def poll(self) -> Snapshot:
        """List the window and the long-open recordings once; move W."""
        before = self.requests
        if not self.anchored:
            await self._anchor()
        listed_from = None if self.start is None else self.start - VISIBILITY_MARGIN
        window = await self.list_range(listed_from, None)
        views: dict[str, Recording] = {r["id"]: r for r in window}
        for recording in await self._poll_long_open():
            views.setdefault(recording["id"], recording)
        for recording in window:
            if recording.get("status") == "ERRORED" and recording["id"] not in self._errored_fetched:
                fetched = await self.fetch(recording["id"])
                self._errored_fetched.add(recording["id"])
                if fetched is not None:
                    views[recording["id"]] = _merged(recording, fetched)
        self._errored_fetched &= {r["id"] for r in window}
        self._move(window)
        return Snapshot(list(views.values()), listed_from, self.requests - before)

    async def _poll_long_open(self) -> list[Recording]:
        """The long-open recordings: still open (listed), or finished (fetched one by one)."""
        if not self.long_open or self.start is None:
            return []
        oldest = min((t for r in self.long_open.values() if (t := invoked(r))), default=None)
        start = None if oldest is None else oldest - VISIBILITY_MARGIN
        end = iso_time("end_time", self.start)
        filters: dict[str, Any] = {"end_time": end}
        if start is not None:
            filters["start_time"] = iso_time("start_time", start)
        still_open = {r["id"]: r for r in await self._list_open(**filters)}
        out: list[Recording] = []
        for recording_id, last in list(self.long_open.items()):
            if recording_id in still_open:
                self.long_open[recording_id] = still_open[recording_id]
                continue
            fetched = await self.fetch(recording_id)
            if fetched is None:
                log.info("RealtimeKit recording %s is gone from the API; no longer watched", recording_id)
                del self.long_open[recording_id]
                continue
            view = _merged(last, fetched)
            if view.get("status") in FINAL_STATUSES:
                del self.long_open[recording_id]
            else:
                self.long_open[recording_id] = view
            out.append(view)
        for recording_id, view in still_open.items():
            # open, before the window, yet unknown: it became visible late; watch it from now on
            self.long_open.setdefault(recording_id, view)
        return list(self.long_open.values()) + [v for v in out if v["id"] not in self.long_open]

    def _move(self, window: Iterable[Recording]) -> None:
        """Move W to the oldest open recording of the window, at most ``RECENT_WINDOW`` behind the newest
        invoked time; open recordings it passes become long-open."""
        window = list(window)
        times = [t for r in window if (t := invoked(r))]
        if times:
            self.newest = max(times) if self.newest is None else max(self.newest, max(times))
        if self.newest is None:
            return
        open_times = [t for r in window if r.get("status") not in FINAL_STATUSES and (t := invoked(r))]
        candidate = min(open_times) if open_times else self.newest
        start = max(candidate, self.newest - RECENT_WINDOW)
        if self.start is not None:
            start = max(start, self.start)
        self.start = start
        for recording in window:
            moment = invoked(recording)
            if (
                recording.get("status") not in FINAL_STATUSES
                and moment is not None
                and moment < start - VISIBILITY_MARGIN
            ):
                self.long_open[recording["id"]] = recording


def _merged(listed: Recording, fetched: Recording) -> Recording:
    """A fetched view over a listed one: the fetch's fields (``stop_reason``...) and the list's
    ``meeting``."""
    merged: dict[str, Any] = dict(listed)
    merged.update(fetched)
    return merged  # type: ignore[return-value]
