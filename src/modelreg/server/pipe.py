"""A request body handed from the event loop to a blocking reader thread, a bounded amount at a time.

The route's async task ``offer``s each chunk the ASGI server delivers (and waits on the event loop while
the buffer is full, so it never holds a worker thread the readers need); ``BlobStore.put`` reads the
other end as a plain binary stream on its own thread. Memory stays under ``max_buffered`` plus one chunk
whatever the upload's size. An upload cut off midway ends the stream with an error, so the blob store
discards its temporary file.
"""

from __future__ import annotations

import io
import threading
from collections import deque
from typing import Any


class BodyPipe(io.RawIOBase):
    def __init__(self, max_buffered: int = 8 * 1024 * 1024, declared_size: int | None = None) -> None:
        super().__init__()
        self.declared_size = declared_size  # the request's Content-Length: lets the blob store size its buffers
        self._cond = threading.Condition()
        self._chunks: deque[memoryview] = deque()
        self._buffered = 0
        self._max = max_buffered
        self._eof = False
        self._error: BaseException | None = None
        self._abandoned = False

    # ---- the writing side (the event loop, or a worker thread when the buffer is full)
    def offer(self, data: bytes) -> bool:
        """Queue ``data`` if it fits now (or the buffer is empty); False when the writer must wait."""
        with self._cond:
            if self._abandoned:
                return True
            if self._buffered and self._buffered + len(data) > self._max:
                return False
            self._append(data)
            return True

    def _append(self, data: bytes) -> None:
        self._chunks.append(memoryview(data))
        self._buffered += len(data)
        self._cond.notify_all()

    def finish(self, error: BaseException | None = None) -> None:
        """The body ended (``error``: it was cut off, or could not be read)."""
        with self._cond:
            self._eof = True
            self._error = error
            self._cond.notify_all()

    @property
    def abandoned(self) -> bool:
        return self._abandoned

    # ---- the reading side (the blob store's thread)
    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any, /) -> int:
        view = memoryview(buffer).cast("B")
        with self._cond:
            while not self._chunks and not self._eof:
                self._cond.wait()
            if not self._chunks:
                if self._error is not None:
                    raise self._error
                return 0
            chunk = self._chunks[0]
            n = min(len(view), len(chunk))
            view[:n] = chunk[:n]
            if n == len(chunk):
                self._chunks.popleft()
            else:
                self._chunks[0] = chunk[n:]
            self._buffered -= n
            self._cond.notify_all()
            return n

    def abandon(self) -> None:
        """The reader is done (stored or failed): drop what is queued and release a waiting writer."""
        with self._cond:
            self._abandoned = True
            self._chunks.clear()
            self._buffered = 0
            self._cond.notify_all()
