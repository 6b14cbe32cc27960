"""Sending: one keep-alive ``requests`` session and the retry policy, for every request of a hook.

Sync calls send on the caller's thread; async calls send the same way in a worker thread
(``asyncio.to_thread``), so an event loop never blocks on the network and there is one HTTP stack.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import requests

from airflow_provider_rtk._core.connection import USER_AGENT, ConnectionSettings
from airflow_provider_rtk._core.errors import with_hint
from airflow_provider_rtk._core.retry import RetryPolicy
from airflow_provider_rtk._core.wire import (
    ApiRequest,
    DownloadRequest,
    build_error,
    no_response_errors,
    parse_response,
)
from airflow_provider_rtk.exceptions import RealtimeKitApiError

__all__ = ["Transport", "Unwrap"]

T = TypeVar("T")

#: Unwraps a parsed 2xx envelope into what a call returns: ``read_recording``, ``read_page``...
Unwrap = Callable[[Any, ApiRequest], T]


class Transport:
    """One keep-alive session and the retry policy: every request of a hook goes through here.

    Async callers run the same sending code in a worker thread (``asyncio.to_thread``), so the event loop
    never blocks on the network; the triggers coalesce their polls, so that costs about one thread hop per
    poll interval, not one per waiting task.

    :param timeout: seconds to wait for a response (connect and read).
    :param retry_policy: what is resent, how often and after how long.
    :param pool_size: connections kept alive (the async paths send a few requests at once).
    """

    def __init__(self, *, timeout: float, retry_policy: RetryPolicy, pool_size: int = 20) -> None:
        self.timeout = timeout
        self.retry_policy = retry_policy
        self._pool_size = pool_size
        self._session: requests.Session | None = None

    @property
    def session(self) -> requests.Session:
        """The session, created on first use (closed by ``close``)."""
        if self._session is None:
            session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
            adapter = requests.adapters.HTTPAdapter(
                pool_connections=self._pool_size, pool_maxsize=self._pool_size
            )
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            self._session = session
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def send(self, settings: ConnectionSettings, request: ApiRequest, read: Unwrap[T]) -> T:
        """One attempt: send ``request`` and unwrap its answer, or raise the provider's error (a 401, 403
        or 404 with what to check first, as every caller of the hook should see it)."""
        with no_response_errors(request, timeout=self.timeout, peer=settings.base_url):
            response = self.session.request(**request.send_args(settings), timeout=self.timeout)
        try:
            return read(parse_response(response, request), request)
        except RealtimeKitApiError as exc:
            hinted = with_hint(exc, account_id=settings.account_id, app_id=settings.app_id)
            if hinted is exc:
                raise
            raise hinted from exc

    def call(self, settings: ConnectionSettings, request: ApiRequest, read: Unwrap[T]) -> T:
        """``send`` under the retry policy (``send`` alone is the single attempt a wait makes)."""
        result: T = self.retry_policy.retrying(request)(self.send, settings, request, read)
        return result

    async def acall(self, settings: ConnectionSettings, request: ApiRequest, read: Unwrap[T]) -> T:
        """``call`` for async callers: each attempt in a worker thread, each wait an ``asyncio.sleep``."""
        retrying = self.retry_policy.async_retrying(request)
        result: T = await retrying(asyncio.to_thread, self.send, settings, request, read)
        return result

    @contextmanager
    def open_download(self, url: str, *, offset: int = 0) -> Iterator[requests.Response]:
        """Stream a presigned URL from byte ``offset``; errors name the URL's host and path only."""
        request = DownloadRequest(url, offset)
        with no_response_errors(request, timeout=self.timeout):
            response = self.session.get(
                request.url, headers=request.headers, stream=True, timeout=self.timeout
            )
        try:
            if response.status_code >= 400:
                raise build_error(response, request)
            yield response
        finally:
            response.close()
