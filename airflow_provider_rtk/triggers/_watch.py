"""The loops behind ``RealtimeKitRecordingEventTrigger``: the poll loop, and a watcher's side requests.

``poll_forever`` drives an ``_window.AppPoller`` (the producer of Airflow 3.3 shared streams, or of one
trigger's own ``run()``). ``SideRequests`` is a watcher's own, rare, HTTP work: listing a gap before the
shared window (after a restart, or a ``lookback``) and fetching recordings it saw open that finished while
it was away. It runs in a task beside the watcher, so the watcher never stops taking snapshots from its
queue, however long the API fails: Airflow fails a shared-stream subscriber whose queue fills up.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from airflow_provider_rtk._core.errors import is_transient
from airflow_provider_rtk._core.pacing import Backoff, Pacing
from airflow_provider_rtk.exceptions import RealtimeKitApiError, RealtimeKitConfigError
from airflow_provider_rtk.triggers._ledger import Gap
from airflow_provider_rtk.triggers._window import AppPoller, Snapshot
from airflow_provider_rtk.types import Recording

__all__ = ["SideRequests", "hint", "poll_forever", "retry_until_done"]

log = logging.getLogger(__name__)


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
    poller: AppPoller, interval: float, max_backoff: float, name: str
) -> AsyncIterator[Snapshot]:
    """Poll every ``interval`` seconds for ever, yielding each snapshot.

    Transient errors back off (``Backoff``: up to ``max_backoff``, honouring Retry-After). Any other
    error is logged as an error with what to check, at the same widening cadence, and polled again every
    ``max_backoff`` seconds: Airflow restarts an event trigger that dies within seconds, so dying would only
    turn a bad token into a tight loop of tracebacks and requests.
    """
    backoff = Backoff(Pacing(interval, max_backoff))
    while True:
        try:
            snapshot = await poller.poll()
        except Exception as exc:
            await asyncio.sleep(await _failed(backoff, exc, poller, max_backoff, name, "polls"))
            continue
        failed_for = backoff.success()
        if failed_for is not None:
            log.warning("%s: polling recovered after failing for %.0f s", name, failed_for)
        yield snapshot
        await asyncio.sleep(interval)


async def _failed(
    backoff: Backoff, exc: BaseException, poller: AppPoller, max_backoff: float, name: str, what: str
) -> float:
    """Log a failure at the widening cadence; return the delay before the next try."""
    delay = backoff.failure(exc)
    if is_transient(exc):
        if backoff.should_warn():
            log.warning(
                "%s: %s failing for %.0f s, %d in a row (transient; next try in %.0f s): %s",
                name,
                what,
                backoff.failing_for,
                backoff.failures,
                delay,
                exc,
            )
        return delay
    if backoff.should_warn():
        log.error(
            "%s: %s failed %d time(s) in a row for %.0f s: %s; %s. Retrying every %.0f s",
            name,
            what,
            backoff.failures,
            backoff.failing_for,
            exc,
            hint(exc),
            max_backoff,
        )
    await poller.reset()
    return max_backoff


async def retry_until_done(
    call: Callable[[], Awaitable[Any]],
    poller: AppPoller,
    interval: float,
    max_backoff: float,
    name: str,
    what: str,
) -> Any:
    """Await ``call()`` until it succeeds, with ``poll_forever``'s error handling."""
    backoff = Backoff(Pacing(interval, max_backoff))
    while True:
        try:
            result = await call()
        except Exception as exc:
            await asyncio.sleep(await _failed(backoff, exc, poller, max_backoff, name, what))
            continue
        failed_for = backoff.success()
        if failed_for is not None:
            log.warning("%s: %s recovered after failing for %.0f s", name, what, failed_for)
        return result


class SideRequests:
    """A watcher's own requests, made in a task beside it; results are collected with ``take``.

    :param poller_factory: builds the poller used for these requests (its own client).
    :param fetch_errored: fetch each ERRORED recording a gap listing finds, for its ``stop_reason``.
    """

    def __init__(
        self,
        poller_factory: Callable[[], AppPoller],
        *,
        interval: float,
        max_backoff: float,
        name: str,
        fetch_errored: bool,
    ) -> None:
        self._poller_factory = poller_factory
        self._interval = interval
        self._max_backoff = max_backoff
        self._name = name
        self._fetch_errored = fetch_errored
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._done: list[tuple[str, Any, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self.gap_in_flight: Gap | None = None

    def list_gap(self, gap: Gap) -> None:
        """List ``gap`` (every status), unless a listing of it is already on its way."""
        if self.gap_in_flight == gap:
            return
        self.gap_in_flight = gap
        self._submit("gap", gap)

    def fetch(self, recording_ids: set[str]) -> None:
        """Fetch these recordings by id."""
        if recording_ids:
            self._submit("ids", sorted(recording_ids))

    def take(self) -> list[tuple[str, Any, Any]]:
        """The finished requests since the last call: ``("gap", Gap, views)`` or ``("ids", ids, views)``."""
        done, self._done = self._done, []
        if any(kind == "gap" and argument == self.gap_in_flight for kind, argument, _ in done):
            self.gap_in_flight = None  # judged now: a gap still open after it is asked for again
        return done

    def _submit(self, kind: str, argument: Any) -> None:
        self._queue.put_nowait((kind, argument))
        if self._task is None:
            self._task = asyncio.create_task(self._serve(), name=f"{self._name}: side requests")

    async def _serve(self) -> None:
        poller = self._poller_factory()
        try:
            while True:
                kind, argument = await self._queue.get()
                views: Any
                if kind == "gap":
                    gap: Gap = argument
                    views = await retry_until_done(
                        functools.partial(self._list, poller, gap),
                        poller,
                        self._interval,
                        self._max_backoff,
                        self._name,
                        "catching up",
                    )
                else:
                    ids: list[str] = argument
                    views = await retry_until_done(
                        functools.partial(_fetch_all, poller, ids),
                        poller,
                        self._interval,
                        self._max_backoff,
                        self._name,
                        "fetching finished recordings",
                    )
                self._done.append((kind, argument, views))
        finally:
            await poller.aclose()

    async def _list(self, poller: AppPoller, gap: Gap) -> list[Recording]:
        log.info(
            "%s: listing the recordings invoked from %s to %s, before the shared window",
            self._name,
            "the first" if gap.start is None else gap.start.isoformat(),
            gap.end.isoformat(),
        )
        views = await poller.list_range(gap.start, gap.end)
        if not self._fetch_errored:
            return views
        out: list[Recording] = []
        for view in views:
            if view.get("status") == "ERRORED" and (fetched := await poller.fetch(view["id"])) is not None:
                merged: dict[str, Any] = dict(view)
                merged.update(fetched)
                view = merged  # type: ignore[assignment]
            out.append(view)
        return out

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            except Exception as exc:  # the task only ends by cancellation; report anything else
                log.warning("%s: side requests ended with %r", self._name, exc)


async def _fetch_all(poller: AppPoller, recording_ids: list[str]) -> dict[str, Recording | None]:
    return {recording_id: await poller.fetch(recording_id) for recording_id in recording_ids}
