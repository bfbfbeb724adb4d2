"""Watching an alias: the long poll a live model handle waits on to learn, cheaply, that its alias moved.

``watch_alias`` reads the alias once, then, while it still names ``known``, re-reads it only when the metadata
store's change token says something was committed (SQLite: ``PRAGMA data_version``, which any commit by any
process changes; microseconds to read), or every ``FALLBACK_S`` where the store offers no token (PostgreSQL).
``ChangePacer`` holds that rule once, for this blocking loop and for the REST route's ``async`` one (which
sleeps on the event loop between checks instead of holding a thread per waiting client).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from modelreg.local.live import LOCAL_WATCH_S, LiveModel, LiveSource, check_wait
from modelreg.metadata.base import MetadataStore, MetadataTx
from modelreg.refs import validate_alias
from modelreg.service.base import ServiceBase
from modelreg.service.permissions import operation

TOKEN_STEP_S = 0.05  # how often the change token is read while waiting
FALLBACK_S = 0.5  # how often the alias is re-read where the store has no change token


class ChangePacer:
    """When a waiting watch should read its alias again: the store's change token moved, or (no token)
    ``FALLBACK_S`` passed since the last read. ``step`` is how long to sleep between asking."""

    def __init__(self, meta: MetadataStore) -> None:
        self._meta = meta
        self._token = meta.change_token()
        self._read_at = time.monotonic()
        self.step = TOKEN_STEP_S if self._token is not None else FALLBACK_S

    def due(self) -> bool:
        """Whether to read the alias again now (call ``read`` after doing so)."""
        token = self._meta.change_token()
        if token is None:
            return time.monotonic() - self._read_at >= FALLBACK_S - 1e-3
        return token != self._token

    def read(self) -> None:
        """Note that the alias was just read (call it before the read: a commit during it is seen next time)."""
        self._token = self._meta.change_token()
        self._read_at = time.monotonic()


class WatchMixin(ServiceBase):
    @operation("viewer", "watching an alias")
    def watch_alias(self, model: str, alias: str = "production", *, known: int | None = None,
                    timeout: float = 30.0) -> int | None:
        """The version number ``alias`` points at (None: no version), waiting up to ``timeout`` seconds for it
        to differ from ``known`` (a long poll: the answer comes as soon as the alias moves)."""
        alias = validate_alias(alias)
        deadline = time.monotonic() + check_wait(timeout)
        pacer = ChangePacer(self.ctx.meta)
        current = self._alias_number(model, alias)
        while current == known:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(pacer.step, left))
            if pacer.due():
                pacer.read()
                current = self._alias_number(model, alias)
        return current

    @operation("viewer", "serving a live model handle",
               extra="recording its calls (log=True) needs editor, checked as records are sent")
    def live(self, model: str, *, loader: Callable[[Path], Any], alias: str | None = None,
             path: str | None = None, log: bool = False, sample: float = 1.0,
             outputs: Callable[[Any], Any] | None = None, retry_s: float = 5.0) -> LiveModel:
        """A handle that serves the version ``alias`` names and follows it when it moves (``LiveModel``)."""
        return LiveModel(cast(LiveSource, self), model, loader=loader, alias=alias,
                         environment=self.ctx.settings.model_environment, path=path, log=log, sample=sample,
                         outputs=outputs, retry_s=retry_s, watch_s=LOCAL_WATCH_S)

    def _alias_number(self, model: str, alias: str) -> int | None:
        def run(tx: MetadataTx) -> int | None:
            info = tx.get_alias(model_id=self._model(tx, model).id, alias=alias)
            return None if info is None else info.number

        return self.ctx.read(run)
