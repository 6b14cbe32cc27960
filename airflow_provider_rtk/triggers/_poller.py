"""One shared, coalescing poller per (connection, account, app) and event loop.

RealtimeKit allows about 1,000 recording requests per 50 s. A triggerer running many recording triggers
would exhaust that if each polled its own recording, so every trigger in one event loop subscribes a
``Waiter`` to a shared ``RecordingPoller`` instead. Each tick the poller answers all waiters that are due
with as few requests as it can:

* recordings whose ``invoked_time`` is unknown are first looked for in the newest-first list (one page
  can hold 100 of them), the rest are fetched one by one, which also teaches the poller their
  ``invoked_time``;
* known recordings are answered by the list filtered on the statuses the waiters care about and on the
  earliest ``invoked_time`` (a recording absent from it has not reached any of those statuses yet), or by
  per-recording GETs when that is cheaper: few waiters, more pages than waiters, or a list filter the
  API rejects (the legacy API refuses ERRORED in it).

Every request makes one attempt: a request that fails is an error for every waiter it was meant to
answer, and only for those. The poller alone paces each waiter through failures: a waiter carries its
wait's ``Backoff`` (the one rule of ``_core.pacing``), which the poller advances with each answer and from
which it sets when the waiter is next due; the trigger only reads the answers. Only the trigger's deadline
ends its wait. A 429 stops the tick and holds the whole poller back (``Retry-After``, or the same doubling
back-off when the server gave none, capped at the smallest ``max_backoff`` of its waiters).
The poller task ends and closes its HTTP client as soon as its last waiter leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final

from airflow_provider_rtk._core.errors import is_transient
from airflow_provider_rtk._core.pacing import Backoff, Pacing
from airflow_provider_rtk._core.retry import SINGLE_ATTEMPT
from airflow_provider_rtk._core.timestamps import parse_api_time
from airflow_provider_rtk._core.validation import MAX_PAGE_SIZE
from airflow_provider_rtk.exceptions import (
    RealtimeKitApiError,
    RealtimeKitError,
    RealtimeKitRateLimitError,
)
from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook
from airflow_provider_rtk.types import Recording

log = logging.getLogger(__name__)

#: Below this many recordings a tick uses per-recording GETs rather than the list.
MIN_LIST_RECORDINGS: Final[int] = 3
#: Slack on the list's ``start_time`` filter, for clock skew and timestamp rounding.
START_TIME_MARGIN: Final[timedelta] = timedelta(minutes=5)
#: Per-recording GETs in flight at once (the hook's client keeps 20 connections).
GET_CONCURRENCY: Final[int] = 10


@dataclass(frozen=True)
class PollerKey:
    """What one poller serves: a connection, with its account and app resolved."""

    conn_id: str
    account_id: str
    app_id: str


@dataclass(frozen=True)
class Outcome:
    """One tick's answer for a waiter.

    ``recording`` is its latest view; both fields ``None`` means the filtered list shows the recording in
    none of the statuses the waiters wait for, i.e. nothing to act on yet. For the waiter, ``delay`` is the
    back-off after a transient ``error``, and ``failing_for`` how long polls had been failing before this
    answer (None when they had not).
    """

    recording: Recording | None = None
    error: Exception | None = None
    delay: float | None = None
    failing_for: float | None = None


@dataclass(eq=False)
class Waiter:
    """One trigger's subscription: which recording, which statuses end its wait, and its wait's pacing.

    ``due`` is the loop time from which the next tick answers it; ``answer`` sets it from ``backoff``.
    """

    recording_id: str
    target_statuses: frozenset[str]
    failure_statuses: frozenset[str]
    backoff: Backoff
    due: float = -math.inf
    _outcomes: asyncio.Queue[Outcome] = field(default_factory=asyncio.Queue, repr=False)

    @property
    def interval(self) -> float:
        return self.backoff.interval

    @property
    def max_backoff(self) -> float:
        return self.backoff.pacing.cap

    @property
    def statuses(self) -> frozenset[str]:
        return self.target_statuses | self.failure_statuses

    def needs_detail(self, recording: Recording) -> bool:
        """Whether a list entry lacks what this waiter's final event must carry (a failure's stop reason)."""
        return recording.get("status") in self.failure_statuses and recording.get("stop_reason") is None

    def answer(self, outcome: Outcome, now: float) -> None:
        """Pace the next poll by ``outcome`` (a transient error backs off, anything else resets) and hand
        the outcome, with its pacing, to the trigger."""
        if outcome.error is not None and is_transient(outcome.error):
            delay = self.backoff.failure(outcome.error)
            self.due = now + delay
            outcome = replace(outcome, delay=delay)
        else:
            failing_for = self.backoff.success() if outcome.error is None else None
            self.due = now + self.interval
            outcome = replace(outcome, failing_for=failing_for)
        self._outcomes.put_nowait(outcome)

    def deliver(self, outcome: Outcome) -> None:
        """Hand ``outcome`` to the trigger as it is (an error that ends the wait)."""
        self._outcomes.put_nowait(outcome)

    async def next_outcome(self) -> Outcome:
        return await self._outcomes.get()


@dataclass
class _Tick:
    """What one tick gathered: an outcome per recording id, and whether the API throttled it."""

    waiters: dict[str, list[Waiter]]
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    throttled: RealtimeKitRateLimitError | None = None

    def answer(self, recording: Recording) -> bool:
        """Record a recording found by the list; False when its waiters need the full GET view."""
        waiters = self.waiters[recording["id"]]
        if any(w.needs_detail(recording) for w in waiters):
            return False
        self.outcomes[recording["id"]] = Outcome(recording=recording)
        return True

    def fail(self, recording_ids: Iterable[str], exc: Exception) -> None:
        for recording_id in recording_ids:
            self.outcomes[recording_id] = Outcome(error=exc)
        if isinstance(exc, RealtimeKitRateLimitError):
            longest = (self.throttled.retry_after or 0.0) if self.throttled else -1.0
            if (exc.retry_after or 0.0) > longest:
                self.throttled = exc


class RecordingPoller:
    """The shared poll loop for one ``PollerKey`` in one event loop; see the module docstring."""

    def __init__(self, key: PollerKey, registry: _Registry) -> None:
        self.key = key
        self._registry = registry
        self._hook = RealtimeKitHook(
            key.conn_id, account_id=key.account_id, app_id=key.app_id, retry_policy=SINGLE_ATTEMPT
        )
        self._waiters: dict[Waiter, None] = {}
        self._invoked: dict[str, datetime] = {}
        self._list_ok = True
        self._status_filter_ok = True
        self._list_total: int | None = None
        self._throttle: Backoff | None = None
        self._wakeup = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._last_tick = self._next_tick = loop.time()
        self._hold_until = 0.0  # no tick before this loop time: the API asked us to back off (429)
        self.task = loop.create_task(self._run(), name=f"realtimekit-poller-{key.conn_id}")

    @property
    def waiters(self) -> list[Waiter]:
        return list(self._waiters)

    @property
    def hook(self) -> RealtimeKitHook:
        return self._hook

    def _period(self) -> float:
        return min(w.interval for w in self._waiters)

    def add(self, waiter: Waiter) -> None:
        """Answer ``waiter`` from the next tick on; a shorter interval brings that tick forward, but never
        ahead of a back-off the API asked for."""
        self._waiters[waiter] = None
        self._next_tick = max(min(self._next_tick, self._last_tick + waiter.interval), self._hold_until)
        self._wakeup.set()

    async def remove(self, waiter: Waiter) -> None:
        """Stop answering ``waiter``; the last one out stops the poller and closes its client."""
        self._waiters.pop(waiter, None)
        if not any(w.recording_id == waiter.recording_id for w in self._waiters):
            self._invoked.pop(waiter.recording_id, None)
        if self._waiters:
            return
        self._registry.discard(self)
        self.task.cancel()
        await asyncio.wait([self.task])

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiters:
                delay = self._next_tick - loop.time()
                if delay > 0:
                    self._wakeup.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._wakeup.wait()
                    continue
                self._last_tick = started = loop.time()
                hold = await self._safe_tick(started)
                self._hold_until = started + hold
                if self._waiters:
                    self._next_tick = started + max(self._period(), hold)
        finally:
            await self._hook.aclose()

    async def _safe_tick(self, now: float) -> float:
        """One tick; returns how long a 429 asks to hold off. An unexpected error ends every due wait."""
        period = self._period()
        due = [w for w in self._waiters if w.due <= now + period / 2]
        if not due:
            return 0.0
        try:
            tick = await self._tick(due)
        except Exception as exc:
            log.exception("RealtimeKit poller for %s failed unexpectedly", self.key)
            for waiter in due:
                waiter.deliver(Outcome(error=exc))
            return 0.0
        for recording_id, outcome in tick.outcomes.items():
            for waiter in tick.waiters[recording_id]:
                waiter.answer(outcome, now)
        if tick.throttled is None:
            self._throttle = None
            return 0.0
        if self._throttle is None:
            cap = max(period, min(w.max_backoff for w in self._waiters))
            self._throttle = Backoff(Pacing(period, cap))
        return self._throttle.failure(tick.throttled)

    async def _tick(self, due: list[Waiter]) -> _Tick:
        # Longest-waiting first, so a tick cut short by a 429 does not starve the same recordings.
        due.sort(key=lambda w: w.due)
        by_id: dict[str, list[Waiter]] = {}
        for waiter in due:
            by_id.setdefault(waiter.recording_id, []).append(waiter)
        tick = _Tick(waiters=by_id)
        unknown = [i for i in by_id if i not in self._invoked]
        if self._list_ok and len(unknown) >= MIN_LIST_RECORDINGS:
            to_get = await self._discover(tick, unknown)
        else:
            to_get = unknown
        known = [i for i in by_id if i in self._invoked and i not in tick.outcomes and i not in to_get]
        if tick.throttled is None:
            use_list = self._list_ok and self._status_filter_ok and len(known) >= MIN_LIST_RECORDINGS
            pages = max(1, math.ceil((self._list_total or 0) / MAX_PAGE_SIZE))
            if use_list and pages < len(known):
                to_get += await self._filtered_list(tick, known)
            else:
                to_get += known
        await self._get_each(tick, to_get)
        return tick

    def _learn(self, recording: Recording) -> None:
        invoked = parse_api_time(recording.get("invoked_time"))
        if invoked is not None:
            self._invoked[recording["id"]] = invoked

    async def _discover(self, tick: _Tick, unknown: list[str]) -> list[str]:
        """Look for new recordings in the newest-first list; returns the ids still to GET.

        A page is worth its request while it finds recordings we wait for; once one finds none, the rest
        are fetched one by one.
        """
        missing = set(unknown)
        detail: list[str] = []
        page_no = 1
        while missing:
            try:
                page = await self._hook.alist_recordings_page(
                    page_no=page_no,
                    per_page=MAX_PAGE_SIZE,
                    sort_by="invokedTime",
                    sort_order="DESC",
                )
            except RealtimeKitApiError as exc:
                if exc.status_code != 400:
                    tick.fail(missing, exc)
                    return detail
                log.warning("RealtimeKit list rejected (%s); polling recordings one by one", exc)
                self._list_ok = False
                break
            except RealtimeKitError as exc:
                tick.fail(missing, exc)
                return detail
            found = False
            for recording in page.recordings:
                recording_id = recording["id"]
                if recording_id not in tick.waiters or recording_id in tick.outcomes:
                    continue
                self._learn(recording)
                found = found or recording_id in missing
                missing.discard(recording_id)
                if not tick.answer(recording) and recording_id not in detail:
                    detail.append(recording_id)
            if not found or page.is_last(MAX_PAGE_SIZE):
                break
            page_no += 1
        return detail + [i for i in unknown if i in missing]

    async def _filtered_list(self, tick: _Tick, known: list[str]) -> list[str]:
        """Answer recordings of known ``invoked_time`` from the status-filtered list; returns those to GET."""
        statuses = sorted({s for i in known for w in tick.waiters[i] for s in w.statuses})
        start = min(self._invoked[i] for i in known) - START_TIME_MARGIN
        unresolved = set(known)
        to_get: list[str] = []
        page_no = 1
        while unresolved:
            try:
                page = await self._hook.alist_recordings_page(
                    page_no=page_no,
                    status=statuses,
                    start_time=start,
                    per_page=MAX_PAGE_SIZE,
                    sort_by="invokedTime",
                    sort_order="ASC",
                )
            except RealtimeKitApiError as exc:
                if exc.status_code == 400:
                    log.warning(
                        "RealtimeKit list filter %s rejected (%s); polling recordings one by one",
                        statuses,
                        exc,
                    )
                    self._status_filter_ok = False
                    return to_get + [i for i in known if i in unresolved]
                tick.fail(unresolved, exc)
                return to_get
            except RealtimeKitError as exc:
                tick.fail(unresolved, exc)
                return to_get
            self._list_total = page.total_count
            for recording in page.recordings:
                if recording["id"] in unresolved:
                    unresolved.discard(recording["id"])
                    if not tick.answer(recording):
                        to_get.append(recording["id"])
            total, end = page.total_count, page.end_offset
            if page.is_last(MAX_PAGE_SIZE):
                break
            pages_left = (
                math.ceil((total - end) / MAX_PAGE_SIZE) if total is not None and end is not None else 0
            )
            if pages_left >= len(unresolved):
                return to_get + [i for i in known if i in unresolved]
            page_no += 1
        for recording_id in unresolved:
            tick.outcomes[recording_id] = Outcome()
        return to_get

    async def _get_each(self, tick: _Tick, recording_ids: list[str]) -> None:
        """One GET per recording, a few at a time; after a 429 the rest wait for the next tick."""
        limit = asyncio.Semaphore(GET_CONCURRENCY)

        async def get(recording_id: str) -> None:
            async with limit:
                if tick.throttled is not None:
                    return
                try:
                    recording = await self._hook.aget_recording(recording_id)
                except RealtimeKitError as exc:
                    tick.fail([recording_id], exc)
                    return
                self._learn(recording)
                tick.outcomes[recording_id] = Outcome(recording=recording)

        if recording_ids:
            await asyncio.gather(*(get(i) for i in dict.fromkeys(recording_ids)))


class _Registry:
    """The pollers of one event loop, and the connection lookups that name them."""

    def __init__(self) -> None:
        self.pollers: dict[PollerKey, RecordingPoller] = {}
        self._aliases: dict[tuple[str, str | None, str | None], PollerKey] = {}
        self._lookups: dict[tuple[str, str | None, str | None], asyncio.Task[PollerKey]] = {}

    def discard(self, poller: RecordingPoller) -> None:
        if self.pollers.get(poller.key) is poller:
            del self.pollers[poller.key]
        for alias in [a for a, k in self._aliases.items() if k == poller.key]:
            del self._aliases[alias]

    async def resolve(self, conn_id: str, account_id: str | None, app_id: str | None) -> PollerKey:
        """The poller key, reading the connection (once for all concurrent callers) when ids are missing."""
        if account_id and app_id:
            return PollerKey(conn_id, account_id, app_id)
        alias = (conn_id, account_id, app_id)
        key = self._aliases.get(alias)
        if key is not None and key in self.pollers:
            return key
        lookup = self._lookups.get(alias)
        if lookup is None:
            lookup = asyncio.get_running_loop().create_task(_lookup(conn_id, account_id, app_id))
            self._lookups[alias] = lookup
            lookup.add_done_callback(lambda task: self._looked_up(alias, task))
        return await asyncio.shield(lookup)

    def _looked_up(self, alias: tuple[str, str | None, str | None], task: asyncio.Task[PollerKey]) -> None:
        self._lookups.pop(alias, None)
        if not task.cancelled() and task.exception() is None:
            self._aliases[alias] = task.result()


async def _lookup(conn_id: str, account_id: str | None, app_id: str | None) -> PollerKey:
    settings = await RealtimeKitHook(conn_id, account_id=account_id, app_id=app_id).asettings()
    return PollerKey(conn_id, settings.account_id, settings.app_id)


_REGISTRIES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Registry] = weakref.WeakKeyDictionary()


def _registry() -> _Registry:
    loop = asyncio.get_running_loop()
    registry = _REGISTRIES.get(loop)
    if registry is None:
        registry = _REGISTRIES[loop] = _Registry()
    return registry


async def subscribe(
    waiter: Waiter, conn_id: str, account_id: str | None, app_id: str | None
) -> RecordingPoller:
    """Add ``waiter`` to the running loop's poller for this connection, starting one if needed."""
    registry = _registry()
    key = await registry.resolve(conn_id, account_id, app_id)
    poller = registry.pollers.get(key)
    if poller is None:
        poller = registry.pollers[key] = RecordingPoller(key, registry)
    poller.add(waiter)
    return poller


def active_pollers(loop: asyncio.AbstractEventLoop | None = None) -> list[RecordingPoller]:
    """The pollers running in ``loop`` (default: the running loop); for tests and diagnostics."""
    registry = _REGISTRIES.get(loop or asyncio.get_running_loop())
    return list(registry.pollers.values()) if registry else []
