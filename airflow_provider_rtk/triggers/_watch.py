"""The machinery behind ``RealtimeKitRecordingEventTrigger``: one app-wide listing, one ledger per watcher.

The list endpoint can filter on status and on ``invoked_time`` (``start_time``), not on "changed since", and
a recording may be invoked hours before it is uploaded. So the window a poll lists starts at the oldest
recording not yet in a final status (UPLOADED, ERRORED), less a small margin for recordings that become
visible late; when none is open it starts at the newest one. Everything invoked before the window's start
is final and has been seen: that start is the watermark. Steady state costs one request per poll (more
only when over 100 recordings fall in the window).

``AppWindow`` owns the listing (it can serve several watchers: Airflow 3.3 shared streams); ``WatchLedger``
is one watcher's record of the (recording, status) pairs it has reported, the part that is persisted.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from airflow_provider_rtk._core.errors import is_transient
from airflow_provider_rtk._core.pacing import Backoff, Pacing
from airflow_provider_rtk._core.redact import without_download_urls
from airflow_provider_rtk._core.retry import RetryPolicy
from airflow_provider_rtk._core.timestamps import parse_api_time
from airflow_provider_rtk._core.validation import iso_time
from airflow_provider_rtk.exceptions import RealtimeKitApiError, RealtimeKitConfigError
from airflow_provider_rtk.hooks.realtimekit import RealtimeKitHook
from airflow_provider_rtk.types import RECORDING_STATUSES, Recording

log = logging.getLogger(__name__)

FINAL_STATUSES: Final[frozenset[str]] = frozenset({"UPLOADED", "ERRORED"})
OPEN_STATUSES: Final[tuple[str, ...]] = ("INVOKED", "RECORDING", "PAUSED", "UPLOADING")
#: The legacy API's status filter knows no PAUSED (nor ERRORED).
LEGACY_OPEN_STATUSES: Final[tuple[str, ...]] = ("INVOKED", "RECORDING", "UPLOADING")
#: How far before the watermark each poll lists: a recording created just before another may become
#: visible in the list just after it.
VISIBILITY_MARGIN: Final[timedelta] = timedelta(seconds=10)
PAGE_SIZE: Final[int] = 100
STATE_VERSION: Final[int] = 1
ONE_ATTEMPT: Final[RetryPolicy] = RetryPolicy(max_attempts=1)


def list_statuses(statuses: Iterable[str] | None) -> list[str] | None:
    """The status filter a window needs: the watched statuses plus every open one (a recording still open
    must stay visible, or the watermark would pass it); None when that is every status."""
    if statuses is None:
        return None
    wanted = set(statuses) | set(OPEN_STATUSES)
    if wanted >= set(RECORDING_STATUSES):
        return None
    return [s for s in RECORDING_STATUSES if s in wanted]


def _invoked(recording: Mapping[str, Any]) -> datetime | None:
    return parse_api_time(recording.get("invoked_time"))


@dataclass(frozen=True)
class Snapshot:
    """One poll's listing: URL-free views of the recordings invoked since ``listed_from``, oldest first,
    and the watermark after it (every recording invoked before ``window_start`` is final)."""

    recordings: list[Recording]
    listed_from: datetime
    window_start: datetime
    requests: int


class AppWindow:
    """The moving window of one app's recordings; see the module docstring.

    :param hook_factory: builds the hook; called again after a non-transient error, so a connection fixed
        in Airflow is read anew.
    :param statuses: the statuses watched (the list filter adds the open ones); None lists every status.
    :param start: a saved watermark; None anchors the window at the oldest open recording, or ``lookback``
        seconds ago if that is earlier.
    :param meeting_id: list only this meeting's recordings.
    """

    def __init__(
        self,
        hook_factory: Callable[[], RealtimeKitHook],
        *,
        statuses: Iterable[str] | None,
        start: datetime | None,
        lookback: float,
        meeting_id: str | None = None,
    ) -> None:
        self._hook_factory = hook_factory
        self._hook = hook_factory()
        self._filter = list_statuses(statuses)
        self._open_filter: list[str] = list(OPEN_STATUSES)
        self.start = start
        self._lookback = timedelta(seconds=lookback)
        self._meeting_id = meeting_id
        self.requests = 0

    async def reset(self) -> None:
        """Close the client and read the connection again on the next poll."""
        await self._hook.aclose()
        self._hook = self._hook_factory()

    async def aclose(self) -> None:
        await self._hook.aclose()

    async def _page(self, page_no: int, **filters: Any) -> Any:
        self.requests += 1
        if self._meeting_id is not None:
            filters["meeting_id"] = self._meeting_id
        return await self._hook.alist_recordings_page(
            page_no=page_no, per_page=PAGE_SIZE, sort_by="invokedTime", sort_order="ASC", **filters
        )

    async def _anchor(self) -> datetime:
        """Where a watch without a saved watermark starts: the oldest open recording, or ``lookback`` ago."""
        since = datetime.now(UTC) - self._lookback
        while True:
            try:
                page = await self._page(1, status=self._open_filter)
                break
            except RealtimeKitApiError as exc:
                if exc.status_code != 400 or self._open_filter == list(LEGACY_OPEN_STATUSES):
                    raise
                self._open_filter = list(LEGACY_OPEN_STATUSES)
        oldest = min(filter(None, map(_invoked, page.recordings)), default=None)
        return since if oldest is None else min(oldest, since)

    async def list_range(self, start: datetime, end: datetime | None = None) -> list[Recording]:
        """Every recording invoked in ``[start, end]`` (in the window's statuses), oldest first, URL-free."""
        found: dict[str, Recording] = {}
        page_no = 1
        while True:
            filters: dict[str, Any] = {"start_time": iso_time("start_time", start), "status": self._filter}
            if end is not None:
                filters["end_time"] = iso_time("end_time", end)
            try:
                page = await self._page(page_no, **filters)
            except RealtimeKitApiError as exc:
                if exc.status_code != 400 or self._filter is None:
                    raise
                # The legacy API refuses PAUSED and ERRORED in the filter: list every status instead.
                log.info(
                    "RealtimeKit list refused the status filter %s (%s): listing all statuses",
                    self._filter,
                    exc,
                )
                self._filter = None
                found.clear()
                page_no = 1
                continue
            for recording in page.recordings:
                found[recording["id"]] = without_download_urls(recording)
            if page.is_last(PAGE_SIZE):
                return list(found.values())
            page_no += 1

    async def poll(self) -> Snapshot:
        """List the window once and move the watermark."""
        before = self.requests
        if self.start is None:
            self.start = await self._anchor()
        listed_from = self.start - VISIBILITY_MARGIN
        recordings = await self.list_range(listed_from)
        open_times = [t for r in recordings if r.get("status") not in FINAL_STATUSES and (t := _invoked(r))]
        all_times = [t for r in recordings if (t := _invoked(r))]
        if open_times:
            self.start = min(open_times)
        elif all_times:
            self.start = max(all_times)
        return Snapshot(recordings, listed_from, self.start, self.requests - before)


def hint(exc: BaseException) -> str:
    """What to check when the API keeps refusing the watch's requests."""
    status = exc.status_code if isinstance(exc, RealtimeKitApiError) else None
    if status in (401, 403):
        return "check the connection's API token, its Realtime permission and the account_id"
    if status == 404:
        return "check the account_id and app_id"
    if status == 400:
        return "the API refused the list request: check meeting_id and statuses"
    if isinstance(exc, RealtimeKitConfigError):
        return "fix the Airflow connection"
    return "this is not a transient error; the watch keeps polling at its longest interval until it clears"


async def poll_forever(
    window: AppWindow, interval: float, max_backoff: float, name: str
) -> AsyncIterator[Snapshot]:
    """Poll ``window`` every ``interval`` seconds for ever, yielding each snapshot.

    Transient errors back off (``Backoff``: up to ``max_backoff``, honouring Retry-After). Any other
    error is logged as an error with what to check, at the same widening cadence, and polled again every
    ``max_backoff`` seconds: Airflow restarts an event trigger that dies within seconds, so dying would only
    turn a bad token into a tight loop of tracebacks and requests.
    """
    backoff = Backoff(Pacing(interval, max_backoff))
    while True:
        try:
            snapshot = await window.poll()
        except Exception as exc:
            if is_transient(exc):
                delay = backoff.failure(exc)
                if backoff.should_warn():
                    log.warning(
                        "%s: polls failing for %.0f s, %d in a row (transient; next poll in %.0f s): %s",
                        name,
                        backoff.failing_for,
                        backoff.failures,
                        delay,
                        exc,
                    )
            else:
                backoff.failure(exc)
                delay = max_backoff
                if backoff.should_warn():
                    log.error(
                        "%s: polling failed %d time(s) in a row for %.0f s: %s; %s. Retrying every %.0f s",
                        name,
                        backoff.failures,
                        backoff.failing_for,
                        exc,
                        hint(exc),
                        delay,
                    )
                await window.reset()
            await asyncio.sleep(delay)
            continue
        failed_for = backoff.success()
        if failed_for is not None:
            log.warning("%s: polling recovered after failing for %.0f s", name, failed_for)
        yield snapshot
        await asyncio.sleep(interval)


async def retry_until_done(
    call: Callable[[], Any], window: AppWindow, interval: float, max_backoff: float, name: str
) -> Any:
    """Await ``call()`` until it succeeds, with ``poll_forever``'s error handling."""
    backoff = Backoff(Pacing(interval, max_backoff))
    while True:
        try:
            return await call()
        except Exception as exc:
            delay = backoff.failure(exc)
            if not is_transient(exc):
                delay = max_backoff
            if backoff.should_warn():
                log.warning(
                    "%s: catching up failed (retrying in %.0f s): %s; %s", name, delay, exc, hint(exc)
                )
            if not is_transient(exc):
                await window.reset()
            await asyncio.sleep(delay)


@dataclass
class WatchLedger:
    """One watcher's record: which (recording, status) pairs it reported, and its watermark ``since``.

    ``reported`` keeps only recordings that a later window can still list (invoked after ``since`` less the
    margin), so it stays as small as the window. ``cutoff`` is set on a fresh start (no saved state): the
    first listing reports recordings already in a watched status only if invoked after it.
    """

    statuses: frozenset[str]
    meeting_id: str | None = None
    since: datetime | None = None
    cutoff: datetime | None = None
    reported: dict[str, tuple[str, set[str]]] = field(default_factory=dict)

    @classmethod
    def restore(
        cls,
        state: object,
        *,
        statuses: Iterable[str],
        meeting_id: str | None,
        lookback: float,
    ) -> WatchLedger:
        """The ledger from a saved state, or a fresh one (``lookback`` seconds of catch-up) if there is none
        or it is unreadable."""
        ledger = cls(frozenset(statuses), meeting_id)
        since = parse_api_time(state.get("since")) if isinstance(state, Mapping) else None
        reported = state.get("reported") if isinstance(state, Mapping) else None
        if since is None or not isinstance(reported, Mapping):
            ledger.cutoff = datetime.now(UTC) - timedelta(seconds=lookback)
            return ledger
        ledger.since = since
        for recording_id, entry in reported.items():
            if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], list):
                ledger.reported[str(recording_id)] = (str(entry[0]), {str(s) for s in entry[1]})
        return ledger

    def state(self) -> dict[str, Any]:
        """A JSON value for the asset state store."""
        return {
            "v": STATE_VERSION,
            "since": None if self.since is None else iso_time("since", self.since),
            "reported": {k: [t, sorted(s)] for k, (t, s) in sorted(self.reported.items())},
        }

    def needs_from(self) -> datetime | None:
        """The oldest invoked time this ledger needs listed, when it has no window yet of its own."""
        if self.since is not None:
            return self.since - VISIBILITY_MARGIN
        return self.cutoff

    def take(self, recordings: Iterable[Recording], window_start: datetime) -> list[Recording]:
        """The recordings newly in a watched status, each once per status; then move the watermark."""
        new: list[Recording] = []
        for recording in recordings:
            status = recording.get("status")
            if status not in self.statuses:
                continue
            if self.meeting_id is not None and _meeting_of(recording) != self.meeting_id:
                continue
            invoked = recording.get("invoked_time") or ""
            _, seen = self.reported.setdefault(recording["id"], (str(invoked), set()))
            if status in seen:
                continue
            seen.add(status)
            invoked_at = _invoked(recording)
            if self.cutoff is not None and invoked_at is not None and invoked_at < self.cutoff:
                continue  # already in this status before the watch began, beyond its lookback
            new.append(recording)
        self.cutoff = None
        self.since = window_start
        keep_from = window_start - VISIBILITY_MARGIN
        for recording_id, (invoked, _) in list(self.reported.items()):
            moment = parse_api_time(invoked)
            if moment is not None and moment < keep_from:
                del self.reported[recording_id]
        return new


def _meeting_of(recording: Mapping[str, Any]) -> str | None:
    meeting = recording.get("meeting")
    if isinstance(meeting, Mapping) and isinstance(meeting.get("id"), str):
        return str(meeting["id"])
    value = recording.get("meeting_id")
    return value if isinstance(value, str) else None


def state_key(
    conn_id: str, account_id: str | None, app_id: str | None, statuses: Iterable[str], meeting_id: str | None
) -> str:
    """The asset-state-store key of one watcher (several watchers may share an asset)."""
    identity = json.dumps(
        [conn_id, account_id, app_id, sorted(statuses), meeting_id], separators=(",", ":")
    ).encode()
    return f"realtimekit_watch_{hashlib.sha256(identity).hexdigest()[:16]}"


class LedgerStore:
    """The watcher's ledger in Airflow 3.3's asset state store, when the triggerer provides one.

    Saves lag one poll behind: the state saved when snapshot N arrives is the one after snapshot N-1, whose
    events the trigger yielded a poll interval earlier. The triggerer hands yielded events to its supervisor
    every second and the supervisor stores them, while a state write goes straight through, so saving
    at once could record as reported an event that a crash then loses.
    """

    def __init__(self, accessor: Any, key: str, name: str) -> None:
        self._accessor = accessor
        self._key = key
        self._name = name
        self._pending: dict[str, Any] | None = None
        self._saved: str | None = None

    @property
    def available(self) -> bool:
        return self._accessor is not None

    def _disable(self, why: str, exc: BaseException) -> None:
        log.warning("%s: %s (%s); keeping the watermark in memory only", self._name, why, exc)
        self._accessor = None

    async def load(self) -> object:
        if self._accessor is None:
            return None
        try:
            if hasattr(self._accessor, "aget"):
                value = await self._accessor.aget(self._key, default=None)
            else:  # Airflow 3.3.0 / 3.3.1: blocking accessors only
                value = await asyncio.to_thread(self._accessor.get, self._key, None)
        except ValueError as exc:
            self._disable("the asset state store needs exactly one watched asset", exc)
            return None
        except Exception as exc:
            log.warning("%s: could not read the saved watermark (%s); starting fresh", self._name, exc)
            return None
        self._saved = json.dumps(value, sort_keys=True) if value is not None else None
        return value

    def stage(self, state: dict[str, Any]) -> None:
        """The state to save at the next ``flush``."""
        self._pending = state

    async def flush(self) -> None:
        state, self._pending = self._pending, None
        if state is None or self._accessor is None:
            return
        encoded = json.dumps(state, sort_keys=True)
        if encoded == self._saved:
            return
        try:
            if hasattr(self._accessor, "aset"):
                await self._accessor.aset(self._key, state)
            else:
                await asyncio.to_thread(self._accessor.set, self._key, state)
        except ValueError as exc:
            self._disable("the asset state store needs exactly one watched asset", exc)
            return
        except Exception as exc:
            log.warning("%s: could not save the watermark (%s); will try again next poll", self._name, exc)
            self._pending = state
            return
        self._saved = encoded
