"""Walking every page of a listing from a server, the next page asked for while this one is decoded.

A thread asks for each page as soon as the reply before it came (the reply's ``NEXT_CURSOR_HEADER`` names the
next page), while the caller's thread decodes the one it has: a long walk costs about the slower of the
server and the decoding instead of their sum. Decoding a large page holds the interpreter's lock for
milliseconds, and a request whose writing needs the lock would wait for it, and the server with it: so the
walk decodes a page only once the request for the next one is written (``on_written``, an httpcore trace
hook), or after ``SEND_WAIT_S``. At most two replies wait. A walk stopped early (``close``, an error, Ctrl-C)
does not wait for the thread: it asks for nothing more and ends after the request under way. A server that
sends no header is walked page by page.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from modelreg.filters import NEXT_CURSOR_HEADER

SEND_WAIT_S = 0.25  # the longest a walk waits for its next request to be written before it decodes anyway
THREAD_NAME = "modelreg-pages"

Request = Callable[[str | None, Callable[[], None]], httpx.Response]  # (cursor, written) -> the reply


def pages_ahead(request: Request, decode: Callable[[bytes], Any]) -> Iterator[Any]:
    """The items of every page: ``request(cursor, written)`` asks for one (calling ``written()`` once the
    request is written), ``decode(body)`` makes the page (with ``items`` and ``next_cursor``)."""
    replies: queue.Queue[tuple[httpx.Response, threading.Event | None] | BaseException] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def offer(item: tuple[httpx.Response, threading.Event | None] | BaseException) -> bool:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                replies.put(item, timeout=0.1)
                return True
        return False

    def fetch() -> None:
        cursor: str | None = None
        written = threading.Event()
        try:
            while not stop.is_set():
                response = request(cursor, written.set)
                written.set()  # a transport without trace events: the reply came, so the request was written
                cursor = response.headers.get(NEXT_CURSOR_HEADER)
                written = threading.Event()  # the next request's
                if not offer((response, written if cursor is not None else None)) or cursor is None:
                    return
        except BaseException as exc:  # handed to the walk, which raises it
            written.set()
            offer(exc)

    fetcher = threading.Thread(target=fetch, name=THREAD_NAME, daemon=True)
    fetcher.start()
    page: Any = None
    try:
        while True:
            got = replies.get()
            if isinstance(got, BaseException):
                raise got
            response, next_written = got
            if next_written is not None:
                next_written.wait(SEND_WAIT_S)
            page = decode(response.content)
            yield from page.items
            if next_written is None:
                break
        cursor = page.next_cursor
        while cursor is not None:  # a server that does not name the next page in a header
            page = decode(request(cursor, _nothing).content)
            yield from page.items
            cursor = page.next_cursor
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:  # free a reply waiting for room
                replies.get_nowait()


def on_written(written: Callable[[], None]) -> Callable[[str, dict[str, Any]], None]:
    """An httpcore ``trace`` hook that calls ``written`` once a request's body is written."""
    def trace(event: str, info: dict[str, Any]) -> None:
        if event.endswith("send_request_body.complete"):
            written()

    return trace


def _nothing() -> None:
    pass
