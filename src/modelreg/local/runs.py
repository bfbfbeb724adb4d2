"""What a training run does on either side of the wire: ``RunBase`` collects files, final metrics and
metadata while the ``with`` block runs, then finishes (success) or fails (an exception) exactly once.

The embedded registry's ``Run`` and the HTTP client's ``RemoteRun`` say how a run logs an epoch and how it
finishes, fails or is discarded; everything else is here, checked here, so a bad file or value fails at
the call that gave it whichever registry is behind.
"""

from __future__ import annotations

import logging
import os
import traceback
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import Any, Self, Unpack

from modelreg.blobs.base import check_digest
from modelreg.errors import BlobNotFound, InvalidInput, InvalidState
from modelreg.local.fields import metadata_changes
from modelreg.local.sources import Source, collect_sources, media_type
from modelreg.refs import validate_artifact_path
from modelreg.types import Artifact, Version, VersionFields, check_metrics

log = logging.getLogger(__name__)
MAX_ERROR = 4000  # characters of a failed run's error that are kept


def check_in_training(version: Version) -> None:
    """Only a run whose version is still in training can go on (log epochs) or end."""
    if version.status != "training":
        raise InvalidState(f"{version.ref} is {version.status}; only a run in training can go on or end",
                           hint="start a new run", version=version.number, status=version.status)


class RunBase(ABC):
    """What a run does on either side of the wire: collect files, final metrics and metadata while the
    ``with`` block runs, then finish (success) or fail (an exception) exactly once."""

    def __init__(self, version: Version) -> None:
        self.version = version
        self._sources: list[Source] = []
        self._stored: dict[str, Artifact] = {}  # files already in the blob store, by artifact path
        self._epochs_logged = 0
        self._metrics: dict[str, float] = {}
        self._changes: dict[str, Any] = {}
        self._done = False

    @property
    def ref(self) -> str:
        return self.version.ref

    @property
    def number(self) -> int:
        return self.version.number

    @abstractmethod
    def log_epoch(self, epoch: int | None = None, **metrics: float) -> None:
        """Record one epoch's metrics (train_loss, val_loss, map50, …) now."""

    @abstractmethod
    def _finish(self) -> Version:
        """Store the files and make the version ready."""

    @abstractmethod
    def _fail(self, message: str) -> Version:
        """Record the version as failed with ``message``."""

    @abstractmethod
    def _discard(self, message: str) -> None:
        """Remove the run's version (recorded in the events log with ``message``)."""

    def log_metrics(self, **metrics: float) -> None:
        """Final metrics of the version (merged; committed with the version)."""
        self._check_open()
        self._metrics.update(check_metrics(metrics))

    def log_file(self, path: str | os.PathLike[str], name: str | None = None) -> None:
        """Add a file (or a whole folder) to the version; it is stored when the run succeeds."""
        self._check_open()
        local = Path(path)
        if name is not None:
            validate_artifact_path(name)
        if local.is_file():
            sources = collect_sources({name or local.name: local})
        elif name is not None:  # the folder's files under the given name instead of its own
            sources = [Source(f"{name}/{s.path}", s.open, s.origin) for s in collect_sources(f"{local}/")]
        else:
            sources = collect_sources(path)
        taken = {s.path for s in self._sources}
        for s in sources:
            if s.path in taken:
                raise InvalidInput(f"the run already has a file at {s.path!r}", path=s.path)
        self._sources.extend(sources)

    def log_blob(self, path: str, digest: str, size: int) -> None:
        """Add a file that is already in the blob store (uploaded by digest) at ``path``."""
        self._check_open()
        path = validate_artifact_path(path)
        if path in self._stored or any(s.path == path for s in self._sources):
            raise InvalidInput(f"the run already has a file at {path!r}", path=path)
        self._stored[path] = Artifact(path=path, digest=check_digest(digest), size=size,
                                      media_type=media_type(path))

    def set(self, **metadata: Unpack[VersionFields]) -> None:
        """Set other metadata of the version (class_metrics, dataset, notes, signature, …)."""
        self._check_open()
        self._changes.update(metadata_changes(**metadata))

    def _check_open(self) -> None:
        if self._done:
            raise InvalidState(f"the run of {self.ref} has ended", version=self.number)

    def __enter__(self) -> Self:
        return self

    def finish(self) -> Version:
        """End the run successfully: store its files and make the version ready (what leaving the ``with``
        block does; for trainers whose hooks cannot hold a ``with`` block open). If that fails (files
        refused, a store down), the run is recorded as failed with the reason, and the error is raised;
        files named by digest that are not stored yet (BlobNotFound) leave it in training, to upload them
        and finish again."""
        self._check_open()
        self._done = True
        try:
            self.version = self._finish()
        except BlobNotFound:  # files a client has yet to upload: it sends them and finishes again
            raise
        except Exception as exc:
            self._record_failure(f"finishing the run failed: {exc}")
            raise
        return self.version

    def _record_failure(self, message: str) -> None:
        """Mark the run failed after its finish failed; a failure to do so is logged, not raised over it."""
        try:
            self.version = self._fail(message[:MAX_ERROR])
        except InvalidState:  # the registry ended it already (a server records its own failures)
            pass
        except Exception:
            log.warning("could not record the run of %s as failed", self.ref, exc_info=True)

    def fail(self, error: str) -> Version:
        """End the run as failed with ``error`` (what an exception leaving the ``with`` block does)."""
        self._check_open()
        self._done = True
        self.version = self._fail(str(error)[:MAX_ERROR])
        return self.version

    def discard(self, error: str = "") -> None:
        """End the run and remove its version, as if it had not started (the number stays used)."""
        self._check_open()
        self._done = True
        self._discard(str(error)[:MAX_ERROR])

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Leaving the block ends the run: ready on success, failed on an exception. A registry error from
        a bad argument (``InvalidInput``) before any epoch was logged discards the run instead, so a typo
        leaves an error and no failed version behind."""
        if self._done:  # finished or failed explicitly inside the block
            return
        if exc is None:
            self.finish()
            return
        message = "".join(traceback.format_exception_only(exc_type, exc)).strip()
        if isinstance(exc, InvalidInput) and not self._epochs_logged:
            self.discard(message)
        else:
            self.fail(message)
