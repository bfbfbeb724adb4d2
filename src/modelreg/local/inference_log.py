"""Inference records sent from the serving path without slowing it: a bounded buffer and one sender thread.

``InferenceLogger.log(record)`` appends to an in-memory buffer and returns: it never waits for the registry and
never raises. One daemon thread takes batches off the buffer (``batch_size`` records, or what has gathered after
``flush_s`` seconds) and hands each to ``sink.log_inferences`` (any registry, local or remote). When the
registry is slow or down the buffer fills up to ``max_buffer`` records; past that, new records are dropped and
counted instead of blocking the caller or growing without bound. Every record is accounted for exactly once::

    logged = sent + dropped + rejected + pending

- ``sent``: stored by the registry;
- ``dropped``: lost because the buffer was full, or because the registry failed the batch that held them
  (``failed_batches`` counts those batches);
- ``rejected``: refused by the registry as invalid (a batch is stored whole or not at all, so the bad record is
  taken out and the rest of its batch sent again);
- ``pending``: still in the buffer.

A warning goes to the ``modelreg.inference`` logger once per burst of losses (not once per record), and an
info line when sending works again. ``close()`` (also run at interpreter exit) sends what is left.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("modelreg.inference")

BATCH_SIZE = 500
FLUSH_S = 1.0
MAX_BUFFER = 20_000
RETRIES_PER_BATCH = 16  # records taken out of one batch for being invalid before the rest is given up


class InferenceSink(Protocol):
    """Where batches go: ``Registry.log_inferences`` (its return value is not used)."""

    def log_inferences(self, records: Iterable[Mapping[str, Any]]) -> object: ...


@dataclass(frozen=True)
class LoggerCounts:
    """What became of the records logged so far (see the module docstring)."""

    logged: int
    sent: int
    dropped: int
    rejected: int
    pending: int
    failed_batches: int


class InferenceLogger:
    """A bounded buffer of inference records and the thread that sends them in batches (module docstring)."""

    def __init__(self, sink: InferenceSink, *, batch_size: int = BATCH_SIZE, flush_s: float = FLUSH_S,
                 max_buffer: int = MAX_BUFFER, name: str = "modelreg-inference-log") -> None:
        if batch_size < 1 or max_buffer < 1 or not flush_s > 0:
            raise ValueError("batch_size and max_buffer must be at least 1 and flush_s over 0")
        self._sink = sink
        self.batch_size = batch_size
        self.flush_s = flush_s
        self.max_buffer = max_buffer
        self._buffer: deque[Mapping[str, Any]] = deque()
        self._wake = threading.Event()  # set: a batch is full, a flush is asked for, or closing
        self._lock = threading.Lock()  # guards the counters (the fast path touches none of them)
        self._idle = threading.Condition(self._lock)  # notified after every batch (flush waits on it)
        self._sent = self._dropped = self._rejected = self._failed_batches = 0
        self._in_flight = 0
        self._losing = False  # inside a burst of losses (one warning per burst)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        # at exit, send what is left; a weak reference so the registration keeps nothing alive
        ref = weakref.ref(self)
        self._at_exit = lambda: _close_at_exit(ref)
        atexit.register(self._at_exit)

    # ---- the serving path
    def log(self, record: Mapping[str, Any]) -> bool:
        """Queue one record (a mapping of ``log_inference``'s arguments plus ``model``); False when it was
        dropped because the buffer is full or the logger is closed. Never blocks, never raises."""
        buffer = self._buffer
        size = len(buffer)
        if size >= self.max_buffer or self._closed:
            self._count_full_drop()
            return False
        buffer.append(record)
        if size + 1 == self.batch_size:
            self._wake.set()
        return True

    def _count_full_drop(self) -> None:
        try:
            with self._lock:
                self._dropped += 1
                first = not self._losing
                self._losing = True
            if first:
                log.warning("inference records are being dropped: %s", "the logger is closed" if self._closed else
                            f"the buffer is full ({self.max_buffer:,} records waiting; the registry is slow or "
                            f"down)")
        except Exception:  # never break serving, even for logging's sake
            pass

    # ---- counters
    @property
    def sent(self) -> int:
        return self._sent

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def rejected(self) -> int:
        return self._rejected

    @property
    def failed_batches(self) -> int:
        return self._failed_batches

    @property
    def pending(self) -> int:
        return len(self._buffer) + self._in_flight

    def counts(self) -> LoggerCounts:
        with self._lock:
            pending = len(self._buffer) + self._in_flight
            return LoggerCounts(logged=self._sent + self._dropped + self._rejected + pending, sent=self._sent,
                                dropped=self._dropped, rejected=self._rejected, pending=pending,
                                failed_batches=self._failed_batches)

    # ---- flushing and closing
    def flush(self, timeout: float | None = 10.0) -> bool:
        """Send everything queued so far now; True when the buffer emptied within ``timeout`` seconds."""
        with self._idle:
            self._wake.set()
            return self._idle.wait_for(lambda: (not self._buffer and not self._in_flight) or
                                       not self._thread.is_alive(), timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        """Send what is left (waiting up to ``timeout`` seconds) and stop the thread; later records are
        dropped and counted."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join(timeout)
        atexit.unregister(self._at_exit)

    def __enter__(self) -> InferenceLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        c = self.counts()
        return (f"<InferenceLogger sent={c.sent} dropped={c.dropped} rejected={c.rejected} pending={c.pending} "
                f"failed_batches={c.failed_batches}>")

    # ---- the sender thread
    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_s)
            self._wake.clear()
            closing = self._closed
            while self._buffer:  # everything gathered so far, a batch at a time
                self._send(self._take())
                with self._idle:
                    self._idle.notify_all()
            with self._idle:
                self._idle.notify_all()
            if closing:
                return

    def _take(self) -> list[Mapping[str, Any]]:
        batch: list[Mapping[str, Any]] = []
        buffer = self._buffer
        with self._lock:
            while buffer and len(batch) < self.batch_size:
                batch.append(buffer.popleft())
            self._in_flight = len(batch)
        return batch

    def _send(self, batch: list[Mapping[str, Any]]) -> None:
        rejected = 0
        for _ in range(RETRIES_PER_BATCH + 1):
            if not batch:
                break
            try:
                self._sink.log_inferences(batch)
            except Exception as exc:  # whatever the sink raises, serving goes on
                bad = _refused_index(exc, batch)
                if bad is not None:
                    log.warning("an inference record was refused and is left out: %s", exc)
                    del batch[bad]
                    rejected += 1
                    continue
                self._lost(len(batch), rejected, exc)
                return
            else:
                self._done(len(batch), rejected)
                return
        self._lost(len(batch), rejected, RuntimeError(f"{RETRIES_PER_BATCH} records of one batch were refused"))

    def _done(self, sent: int, rejected: int) -> None:
        with self._lock:
            self._sent += sent
            self._rejected += rejected
            self._in_flight = 0
            recovered = self._losing
            self._losing = False
        if recovered:
            log.info("inference records are being sent again (%s dropped so far)", f"{self._dropped:,}")

    def _lost(self, count: int, rejected: int, exc: BaseException) -> None:
        with self._lock:
            self._dropped += count
            self._rejected += rejected
            self._failed_batches += 1
            self._in_flight = 0
            first = not self._losing
            self._losing = True
        if first:
            log.warning("inference records are being dropped: sending a batch of %s failed (%s: %s); records "
                        "are counted and serving goes on", f"{count:,}", type(exc).__name__, exc)


def _refused_index(exc: Exception, batch: list[Mapping[str, Any]]) -> int | None:
    """The position of the record a registry error blames (an invalid record, a request id already logged),
    or None when the error is about the batch or the registry itself."""
    from modelreg.errors import AlreadyExists, InvalidInput

    details: Mapping[str, Any] = getattr(exc, "details", {}) or {}
    if isinstance(exc, InvalidInput):
        index = details.get("index")
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(batch):
            return index
    if isinstance(exc, AlreadyExists):
        rid = details.get("request_id")
        for i, record in enumerate(batch):
            if rid is not None and record.get("request_id") == rid:
                return i
    return None


def _close_at_exit(ref: weakref.ReferenceType[InferenceLogger]) -> None:
    logger = ref()
    if logger is not None:
        logger.close(timeout=5.0)
