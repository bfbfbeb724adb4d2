"""Pages of a walk read ahead: while one page of versions travels to a client, the next is already being read.

A client that walks every page (the SDK's ``iter_versions``) says so with ``READ_AHEAD_HEADER``. After serving
its page, the server reads the next one in a thread of its own, for the same principal and the same search, so
that the client's next request finds it ready (the walk then costs about the client's own decoding, not the
sum of both sides' work). A page read ahead is served only if nothing was committed since it was read: the
store's ``change_token`` (SQLite's ``data_version``) must be the one taken before reading it, so the page is
what reading it now would give. A store without a change token (PostgreSQL) is never read ahead. At most
``MAX_ENTRIES`` pages wait, each at most ``MAX_AGE_S``; a page nobody asks for is dropped.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from modelreg.types import PageJson

MAX_ENTRIES = 8
MAX_AGE_S = 30.0


@dataclass(frozen=True)
class _Ahead:
    token: object
    page: Future[PageJson]
    made: float


class PageReadAhead:
    """The pages read ahead of the server's walks (one per server process; thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[Hashable, str], _Ahead] = OrderedDict()
        self._pool: ThreadPoolExecutor | None = None

    def page(self, walk: Hashable, cursor: str | None, token: object | None,
             read: Callable[[str | None], PageJson]) -> PageJson:
        """The page at ``cursor`` of ``walk`` (the principal and the search, without the cursor): the one read
        ahead if the store's ``token`` (taken now) is the one it was read under, else ``read(cursor)``. Then
        the next page is read ahead."""
        found = self._take(walk, cursor, token)
        page = self._result(found) if found is not None else None
        if page is None:
            page = read(cursor)
        if page.next_cursor is not None and token is not None:
            self._ahead(walk, page.next_cursor, token, read)
        return page

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            self._entries.clear()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _take(self, walk: Hashable, cursor: str | None, token: object | None) -> _Ahead | None:
        if cursor is None or token is None:
            return None
        with self._lock:
            found = self._entries.pop((walk, cursor), None)
        if found is None:
            return None
        if found.token != token or time.monotonic() - found.made > MAX_AGE_S:
            found.page.cancel()  # if it has not started: no use reading it any more
            return None
        return found

    @staticmethod
    def _result(found: _Ahead) -> PageJson | None:
        """The page read ahead; None when reading it failed (it is then read again, and fails in the open) or
        has not started (waiting behind other walks' pages: reading it here is sooner)."""
        if found.page.cancel():
            return None
        try:
            return found.page.result(timeout=MAX_AGE_S)
        except Exception:
            return None

    def _ahead(self, walk: Hashable, cursor: str, token: object,
               read: Callable[[str | None], PageJson]) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelreg-read-ahead")
            future = self._pool.submit(read, cursor)
            self._entries[(walk, cursor)] = _Ahead(token, future, time.monotonic())
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)
