"""Training runs: ``with reg.start_run(model) as run:`` — a ready version on success, failed on error."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from modelreg.errors import InvalidInput, InvalidState
from modelreg.local.fields import metadata_changes
from modelreg.local.runs import RunBase, check_in_training
from modelreg.local.sources import Source, check_version_paths
from modelreg.metadata.base import MetadataTx, VersionDraft
from modelreg.refs import parse_ref
from modelreg.service.blobs import claim, register_with_retry, store_sources
from modelreg.service.permissions import operation
from modelreg.service.versions import VersionsMixin, epochs_of
from modelreg.text import storable
from modelreg.types import Artifact, TrainingInfo, Version


class Run(RunBase):
    """A training run in progress. Its version exists with status ``training`` from the start, so
    everyone sees it; its epochs are recorded as they are logged; its files are committed on success."""

    def __init__(self, service: RunsMixin, version: Version) -> None:
        super().__init__(version)
        self._service = service
        self._started = time.monotonic()
        self._started_at = service.ctx.now()

    def log_epoch(self, epoch: int | None = None, **metrics: float) -> None:
        """Record one epoch's metrics (train_loss, val_loss, map50, …) now."""
        self._check_open()
        rows = epochs_of([{"epoch": epoch if epoch is not None else self._next_epoch(), **metrics}],
                         self._service.ctx.now())
        self._service.ctx.write(lambda tx: tx.add_epochs(version_id=self.version.id, epochs=rows))
        self._epochs_logged += 1

    def _next_epoch(self) -> int:
        epochs = self._service.ctx.read(lambda tx: tx.list_epochs(version_id=self.version.id))
        return (epochs[-1].epoch + 1) if epochs else 1

    def _finish(self) -> Version:
        sources = list(self._sources)
        check_version_paths([*(s.path for s in sources), *self._stored])
        if self._stored:
            stored = self._service._stored_artifacts(list(self._stored.values()))
            blobs = self._service.ctx.blobs
            sources += [Source(a.path, functools.partial(blobs.open, a.digest), f"blob {a.digest}") for a in stored]
        return self._service._finish_run(self, sources, self._metrics, self._changes)

    def _fail(self, message: str) -> Version:
        return self._service._fail_run(self, message)

    def _discard(self, message: str) -> None:
        self._service._discard_run(self, message)


class RunsMixin(VersionsMixin):
    @operation("editor", "starting a run")
    def start_run(self, model: str, *, params: Mapping[str, Any] | None = None,
                  parent: str | None = None, description: str | None = None,
                  tags: Mapping[str, str] | None = None, dataset: Mapping[str, Any] | None = None,
                  source: Mapping[str, Any] | None = None) -> Run:
        """Start a training run: a new version with status ``training`` until the ``with`` block ends."""
        ref = parse_ref(model)
        if ref.names_version:
            raise InvalidInput(f"start a run in a model, not a version: {model!r}", model=model)
        fields = metadata_changes(params=params, description=description, tags=tags, dataset=dataset,
                                  source=source)
        self._ensure_model(ref)
        now = self.ctx.now()

        def run(tx: MetadataTx) -> Version:
            mdl = self._model(tx, ref, lock=True)
            parent_id = self._parent_id(tx, parent)
            number = tx.allocate_number(model_id=mdl.id)
            version = tx.insert_version(draft=VersionDraft(
                model_id=mdl.id, number=number, status="training", created_at=now, created_by=self.ctx.actor,
                parent_id=parent_id, training=TrainingInfo(started_at=now), **fields))
            self._event(tx, "run.started", model=mdl, version=number, after={"status": "training"})
            return version

        return Run(self, self.ctx.write(run))

    @operation("editor", "continuing a run")
    def resume_run(self, ref: str) -> Run:
        """The run of a version still in training, to log more epochs or end it (another process, a
        trainer's hook, or a client on another machine can pick up a run this way)."""
        version = self.get_version(ref)
        check_in_training(version)
        run = Run(self, version)
        started = version.training.started_at if version.training else None
        if started is not None:
            run._started_at = started
            run._started = time.monotonic() - max(0.0, (self.ctx.now() - started).total_seconds())
        return run

    def _training_info(self, run: Run, changes: dict[str, Any]) -> dict[str, Any]:
        finished: datetime = self.ctx.now()
        base = changes.get("training")
        info = base.model_dump(exclude_none=True) if base is not None else {}
        info.setdefault("started_at", run._started_at)
        info.setdefault("finished_at", finished)
        info.setdefault("duration_s", round(time.monotonic() - run._started, 3))
        return info

    def _finish_run(self, run: Run, sources: Sequence[Source], metrics: dict[str, float],
                    changes: dict[str, Any]) -> Version:
        try:
            artifacts = store_sources(self.ctx, sources)
        except BaseException as exc:
            self._fail_run(run, f"storing the run's files failed: {exc}")
            raise
        updates = {**changes, "status": "ready",
                   "training": metadata_changes(training=self._training_info(run, changes))["training"]}
        if metrics:
            updates["metrics"] = {**run.version.metrics, **metrics}

        def commit(arts: list[Artifact]) -> Version:
            def tx_run(tx: MetadataTx) -> Version:
                model, version = self._version(tx, run.version.ref, lock_model=True)
                claim(self.ctx, tx, arts)
                tx.add_artifacts(version_id=version.id, artifacts=arts)
                updated = tx.update_version(version_id=version.id, changes=updates, now=self.ctx.now())
                self._event(tx, "run.finished", model=model, version=version.number,
                            before={"status": "training"},
                            after={"status": "ready", "metrics": updated.metrics,
                                   "artifacts": [a.model_dump() for a in arts]})
                self._auto_activate(tx, model, version.number)
                return self._reload(tx, model, version.number)

            return self.ctx.write(tx_run)

        result: Version = register_with_retry(self.ctx, sources, artifacts, commit)
        return result

    def _fail_run(self, run: Run, message: str) -> Version:
        message = storable(message)  # an error is kept whatever it says (a file name may hold a surrogate)

        def tx_run(tx: MetadataTx) -> Version:
            model, version = self._version(tx, run.version.ref, lock_model=True)
            if version.status != "training":  # already ended (its finish failed and recorded it)
                return version
            training = metadata_changes(training=self._training_info(run, {}))["training"]
            updated = tx.update_version(version_id=version.id, now=self.ctx.now(),
                                        changes={"status": "failed", "error": message, "training": training})
            self._event(tx, "run.failed", model=model, version=version.number, before={"status": "training"},
                        after={"status": "failed", "error": message})
            return updated

        return self.ctx.write(tx_run)

    def _discard_run(self, run: Run, message: str) -> None:
        message = storable(message)

        def tx_run(tx: MetadataTx) -> None:
            model, version = self._version(tx, run.version.ref, lock_model=True)
            if version.status != "training":
                raise InvalidState(f"{version.ref} is {version.status}; only a run in training can be discarded",
                                   version=version.number, status=version.status)
            tx.delete_version(version_id=version.id)
            self._event(tx, "run.discarded", model=model, version=version.number, before={"status": "training"},
                        after={"error": message})

        self.ctx.write(tx_run)
