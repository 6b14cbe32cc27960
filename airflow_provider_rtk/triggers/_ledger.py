"""One watcher's memory of what it reported (``WatchLedger``), and where it is saved (``LedgerStore``).

The ledger remembers the recordings that can still change, not the ones it reported: the recordings it saw
open (id and status), the coverage ``covered`` (the newest invoked time of the listings it has judged
without a gap), and the few finished recordings invoked within the visibility margin of it. A recording
listed in a watched status is reported when it was seen open before (it finished since), or when it is
newer than the coverage (first seen); a finished recording invoked before the coverage was judged when it
was listed then. So the saved value grows with the open recordings of the app (about 40 bytes each, in
the watched meeting when one is set) and the finished ones invoked within the visibility margin (10 s) of
the newest (about 60 bytes each), never with the finished history: 1,000 open recordings take ~40 KB.

When a listing starts after the coverage (a restart, or a watch joining a running shared poll), the ledger
records the gap; the watcher lists it on the side (``_watch.SideRequests``) and hands the result to
``apply_gap``. An open recording that a complete snapshot no longer shows (it finished while the watcher
was away) is fetched by id and handed to ``apply_fetched``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from airflow_provider_rtk._core.timestamps import parse_api_time
from airflow_provider_rtk._core.validation import iso_time
from airflow_provider_rtk.triggers._window import VISIBILITY_MARGIN, Snapshot, invoked
from airflow_provider_rtk.types import FINAL_STATUSES, Recording

__all__ = ["STATE_VERSION", "Gap", "LedgerStore", "WatchLedger", "state_key"]

log = logging.getLogger(__name__)

STATE_VERSION: Final[int] = 2
KEY_PREFIX: Final[str] = "realtimekit_watch_"
#: The asset-state-store key listing each watcher key of the asset and when its watcher last ran.
INDEX_KEY: Final[str] = "realtimekit_watch_index"
#: A watcher key whose watcher has not run for this long is deleted (its arguments changed, or it is gone).
STALE_AFTER: Final[timedelta] = timedelta(days=30)
#: How often a running watcher refreshes its entry in the index.
INDEX_REFRESH: Final[timedelta] = timedelta(days=1)


@dataclass(frozen=True)
class Gap:
    """Invoked times ``[start, end)`` that the ledger has not judged yet; ``start`` None: from the first."""

    start: datetime | None
    end: datetime

    def holds(self, moment: datetime | None) -> bool:
        if moment is None:
            return False
        return (self.start is None or moment >= self.start) and moment < self.end

    def merged(self, other: Gap | None) -> Gap:
        if other is None:
            return self
        starts = [s for s in (self.start, other.start) if s is not None]
        start = None if len(starts) < 2 else min(starts)
        return Gap(start, max(self.end, other.end))


@dataclass
class OpenEntry:
    status: str
    seen: set[str] = field(default_factory=set)  # statuses already reported (or present before the watch)


@dataclass
class WatchLedger:
    """One watcher's record; see the module docstring.

    :param cutoff: on a start without saved state: finished recordings invoked before it are not reported
        (``lookback`` seconds before the start).
    """

    statuses: frozenset[str]
    meeting_id: str | None = None
    cutoff: datetime | None = None
    covered: datetime | None = None
    started: bool = False
    open: dict[str, OpenEntry] = field(default_factory=dict)
    tail: dict[str, str] = field(default_factory=dict)  # finished recordings near ``covered``: invoked time
    gap: Gap | None = None
    resolving: set[str] = field(default_factory=set)
    absent: set[str] = field(default_factory=set)

    # -- state ---------------------------------------------------------------------------------------------

    @classmethod
    def restore(
        cls, state: object, *, statuses: Iterable[str], meeting_id: str | None, lookback: float
    ) -> WatchLedger:
        """The ledger from a saved state, or a fresh one (``lookback`` seconds of catch-up) if there is none
        or it is unreadable (an older version included)."""
        ledger = cls(frozenset(statuses), meeting_id)
        if not isinstance(state, Mapping) or state.get("v") != STATE_VERSION:
            ledger.cutoff = datetime.now(UTC) - timedelta(seconds=lookback)
            return ledger
        try:
            ledger.covered = parse_api_time(state.get("covered"))
            ledger.cutoff = parse_api_time(state.get("cutoff"))
            for status, ids in dict(state.get("open") or {}).items():
                for recording_id in ids:
                    ledger.open[str(recording_id)] = OpenEntry(str(status))
            for recording_id, seen in dict(state.get("seen") or {}).items():
                if str(recording_id) in ledger.open:
                    ledger.open[str(recording_id)].seen = {str(s) for s in seen}
            ledger.tail = {str(k): str(v) for k, v in dict(state.get("tail") or {}).items()}
            gap = state.get("gap")
            if isinstance(gap, list) and len(gap) == 2 and (end := parse_api_time(gap[1])) is not None:
                ledger.gap = Gap(parse_api_time(gap[0]), end)
        except (TypeError, ValueError, AttributeError):
            fresh = cls(frozenset(statuses), meeting_id)
            fresh.cutoff = datetime.now(UTC) - timedelta(seconds=lookback)
            return fresh
        ledger.started = ledger.covered is not None or ledger.gap is not None
        return ledger

    def state(self) -> dict[str, Any]:
        """A compact JSON value for the asset state store."""
        by_status: dict[str, list[str]] = {}
        for recording_id, entry in sorted(self.open.items()):
            by_status.setdefault(entry.status, []).append(recording_id)
        seen = {k: sorted(e.seen) for k, e in sorted(self.open.items()) if e.seen}
        out: dict[str, Any] = {"v": STATE_VERSION, "covered": _iso(self.covered), "open": by_status}
        if seen:
            out["seen"] = seen
        if self.tail:
            out["tail"] = dict(sorted(self.tail.items()))
        if self.gap is not None:
            out["gap"] = [_iso(self.gap.start), _iso(self.gap.end)]
            out["cutoff"] = _iso(self.cutoff)
        return out

    # -- judging -------------------------------------------------------------------------------------------

    def _matches(self, recording: Mapping[str, Any]) -> bool:
        return self.meeting_id is None or _meeting_of(recording) == self.meeting_id

    def _judge(self, recording: Recording, *, unknown_is_new: bool) -> Recording | None:
        """Record what the recording's view says; return it when it is an event."""
        if not self._matches(recording):
            return None
        recording_id, status = recording["id"], str(recording.get("status"))
        watched = status in self.statuses
        entry = self.open.get(recording_id)
        if entry is not None:
            report = watched and status not in entry.seen
            if status in FINAL_STATUSES:
                del self.open[recording_id]
                self.tail[recording_id] = str(recording.get("invoked_time") or "")
            else:
                entry.status = status
                if watched:
                    entry.seen.add(status)
            return recording if report else None
        if recording_id in self.tail or not unknown_is_new:
            return None
        moment = invoked(recording)
        report = watched and not (self.cutoff is not None and moment is not None and moment < self.cutoff)
        if status in FINAL_STATUSES:
            self.tail[recording_id] = str(recording.get("invoked_time") or "")
        else:
            self.open[recording_id] = OpenEntry(status, {status} if watched else set())
        return recording if report else None

    def _is_new(self, moment: datetime | None) -> bool:
        if moment is None or self.covered is None:
            return True
        if self.gap is not None and self.gap.holds(moment):
            return True
        return moment >= self.covered - VISIBILITY_MARGIN

    def apply(self, snapshot: Snapshot) -> list[Recording]:
        """Judge one complete snapshot; return the events. Afterwards ``gap`` and ``unresolved()`` say what
        the watcher must list or fetch on the side."""
        listed_from = snapshot.listed_from
        if not self.started:
            self.started = True
            if listed_from is not None and (self.cutoff is None or self.cutoff < listed_from):
                self.gap = Gap(self.cutoff, listed_from).merged(self.gap)
        elif (
            listed_from is not None
            and self.covered is not None
            and listed_from > self.covered - VISIBILITY_MARGIN
        ):
            self.gap = Gap(self.covered - VISIBILITY_MARGIN, listed_from).merged(self.gap)
        events = [
            event
            for recording in snapshot.recordings
            if (event := self._judge(recording, unknown_is_new=self._is_new(invoked(recording)))) is not None
        ]
        present = {r["id"] for r in snapshot.recordings}
        self._advance(r for r in snapshot.recordings if listed_from is None or _after(r, listed_from))
        if listed_from is not None and self.covered is None:
            self.covered = listed_from
        self.absent = {k for k in self.open if k not in present}
        return events

    def unresolved(self) -> set[str]:
        """Open recordings the last snapshot did not show (they finished while nobody watched them), not
        already being fetched."""
        return {k for k in self.absent if k in self.open} - self.resolving

    def apply_fetched(
        self, requested: Iterable[str], views: Mapping[str, Recording | None]
    ) -> list[Recording]:
        """Judge the views fetched by id; a recording the API no longer has is forgotten."""
        events: list[Recording] = []
        for recording_id in requested:
            self.resolving.discard(recording_id)
            view = views.get(recording_id)
            if view is None:
                self.open.pop(recording_id, None)
                continue
            if (event := self._judge(view, unknown_is_new=False)) is not None:
                events.append(event)
        return events

    def apply_gap(self, gap: Gap, views: Iterable[Recording]) -> list[Recording]:
        """Judge the listing of ``gap``; the part of the gap it covered is judged from then on."""
        events = [
            event
            for recording in views
            if (event := self._judge(recording, unknown_is_new=gap.holds(invoked(recording)))) is not None
        ]
        if (
            self.gap is not None
            and self.gap.end <= gap.end
            and (gap.start is None or (self.gap.start is not None and gap.start <= self.gap.start))
        ):
            self.gap = None
            self.cutoff = None
        self._prune()
        return events

    def _advance(self, listed: Iterable[Recording]) -> None:
        times = [t for r in listed if (t := invoked(r))]
        if times:
            newest = max(times)
            self.covered = newest if self.covered is None else max(self.covered, newest)
        self._prune()
        if self.gap is None:
            self.cutoff = None

    def _prune(self) -> None:
        if self.covered is None:
            return
        keep_from = self.covered - VISIBILITY_MARGIN
        for recording_id, moment_text in list(self.tail.items()):
            moment = parse_api_time(moment_text)
            if moment is None or moment >= keep_from:
                continue
            if self.gap is not None and self.gap.holds(moment):
                continue
            del self.tail[recording_id]


def _after(recording: Mapping[str, Any], moment: datetime) -> bool:
    at = invoked(recording)
    return at is not None and at >= moment


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso_time("moment", moment)


def _meeting_of(recording: Mapping[str, Any]) -> str | None:
    meeting = recording.get("meeting")
    if isinstance(meeting, Mapping) and isinstance(meeting.get("id"), str):
        return str(meeting["id"])
    value = recording.get("meeting_id")
    return value if isinstance(value, str) else None


def state_key(
    conn_id: str, account_id: str | None, app_id: str | None, statuses: Iterable[str], meeting_id: str | None
) -> str:
    """The asset-state-store key of one watcher configuration (several watchers may share an asset)."""
    identity = json.dumps(
        [conn_id, account_id, app_id, sorted(statuses), meeting_id], separators=(",", ":")
    ).encode()
    return f"{KEY_PREFIX}{hashlib.sha256(identity).hexdigest()[:16]}"


def asset_accessors(store: Any) -> list[tuple[str, Any]]:
    """``(asset label, accessor)`` for each asset the triggerer gave the trigger.

    Airflow gives a trigger that watches several assets (two assets with identical watcher arguments in one
    DAG file share one trigger) an ``AssetStateStoreAccessors`` whose direct methods refuse to choose an
    asset; its per-asset accessors are reached through its mappings. Any other object is used as the one
    accessor.
    """
    by_name = getattr(store, "_by_name", None)
    by_uri = getattr(store, "_by_uri", None)
    if isinstance(by_name, Mapping) and isinstance(by_uri, Mapping):
        return [(str(k), v) for k, v in by_name.items()] + [(str(k), v) for k, v in by_uri.items()]
    return [("", store)]


async def _aget(accessor: Any, key: str) -> Any:
    if hasattr(accessor, "aget"):
        return await accessor.aget(key, default=None)
    return await asyncio.to_thread(accessor.get, key, None)  # Airflow 3.3.0 / 3.3.1: blocking only


async def _aset(accessor: Any, key: str, value: Any) -> None:
    if hasattr(accessor, "aset"):
        await accessor.aset(key, value)
    else:
        await asyncio.to_thread(accessor.set, key, value)


async def _adelete(accessor: Any, key: str) -> None:
    if hasattr(accessor, "adelete"):
        await accessor.adelete(key)
    elif hasattr(accessor, "delete"):
        await asyncio.to_thread(accessor.delete, key)


class LedgerStore:
    """The watcher's ledger in Airflow 3.3's asset state store, when the triggerer provides one.

    With several watched assets the same value is written under each; on a start the least advanced of
    the saved values is used (at least once, never a miss). Saves lag one poll behind: the state saved when
    snapshot N arrives is the one after snapshot N-1, whose events the trigger yielded a poll interval
    earlier. The triggerer hands yielded events to its supervisor every second and the supervisor stores
    them, while a state write goes straight through, so saving at once could record as reported an event
    that a crash then loses.

    Each asset keeps an index of the watcher keys written to it and when their watcher last ran; keys not
    refreshed for ``STALE_AFTER`` (their watcher's arguments changed, or it is gone) are deleted.
    """

    def __init__(self, store: Any, key: str, name: str = "RealtimeKit watch") -> None:
        self._accessors = [] if store is None else asset_accessors(store)
        self._key = key
        self.name = name
        self._pending: dict[str, Any] | None = None
        self._saved: str | None = None
        self._indexed_at: datetime | None = None

    @property
    def available(self) -> bool:
        return bool(self._accessors)

    @property
    def assets(self) -> list[str]:
        return [label for label, _ in self._accessors if label]

    async def load(self) -> object:
        """The least advanced saved state over the watched assets, or None. Tidies the assets' keys."""
        await self._tidy()
        states: list[Mapping[str, Any]] = []
        for label, accessor in self._accessors:
            try:
                value = await _aget(accessor, self._key)
            except ValueError as exc:
                self._refuse(exc)
                return None
            except Exception as exc:
                log.warning(
                    "%s: could not read the saved state of asset %s (%s); not using it", self.name, label, exc
                )
                continue
            if isinstance(value, Mapping):
                states.append(value)
        if not states:
            return None
        chosen = min(states, key=_progress)
        self._saved = json.dumps(chosen, sort_keys=True) if len(states) == len(self._accessors) else None
        return chosen

    def _refuse(self, exc: BaseException) -> None:
        """The store has several assets and no per-asset accessors this code can reach: say so, loudly, with
        what to change, and keep the state in memory (a restart then repeats the last ``lookback``)."""
        log.error(
            "%s: the asset state store refused to choose among the watched assets (%s): the state is NOT "
            "saved. Give each asset's watcher distinct trigger arguments (e.g. another poll_interval) or "
            "declare the assets in separate DAG files, so each trigger watches one asset",
            self.name,
            exc,
        )
        self._accessors = []

    def stage(self, state: dict[str, Any]) -> None:
        """The state to save at the next ``flush``."""
        self._pending = state

    async def flush(self) -> None:
        state, self._pending = self._pending, None
        if state is None or not self._accessors:
            return
        await self._tidy()
        encoded = json.dumps(state, sort_keys=True)
        if encoded == self._saved:
            return
        failed = False
        for label, accessor in self._accessors:
            try:
                await _aset(accessor, self._key, state)
            except Exception as exc:
                log.warning(
                    "%s: could not save the state of asset %s (%s); will try again next poll",
                    self.name,
                    label,
                    exc,
                )
                failed = True
        if failed:
            self._pending = state
        else:
            self._saved = encoded

    async def _tidy(self) -> None:
        """Refresh this watcher's entry in each asset's index; delete keys whose watcher stopped running."""
        now = datetime.now(UTC)
        if self._indexed_at is not None and now - self._indexed_at < INDEX_REFRESH:
            return
        self._indexed_at = now
        for label, accessor in self._accessors:
            try:
                index = await _aget(accessor, INDEX_KEY)
                index = dict(index) if isinstance(index, Mapping) else {}
                for key, last in list(index.items()):
                    seen = parse_api_time(last)
                    if key != self._key and (seen is None or now - seen > STALE_AFTER):
                        await _adelete(accessor, str(key))
                        del index[key]
                        log.info("%s: deleted the unused state key %s of asset %s", self.name, key, label)
                index[self._key] = iso_time("now", now)
                await _aset(accessor, INDEX_KEY, index)
            except Exception as exc:
                log.warning("%s: could not tidy the state keys of asset %s (%s)", self.name, label, exc)


def _progress(state: Mapping[str, Any]) -> tuple[int, datetime]:
    """Order saved states from the least advanced: unreadable or pending a gap first, then by coverage."""
    covered = parse_api_time(state.get("covered"))
    if state.get("v") != STATE_VERSION or covered is None:
        return (0, datetime.min.replace(tzinfo=UTC))
    gap = state.get("gap")
    start = parse_api_time(gap[0]) if isinstance(gap, list) and gap else None
    return (1, min(covered, start) if start is not None else covered)
