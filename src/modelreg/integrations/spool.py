"""The spool: training runs kept on disk while their registry cannot be reached, registered by ``modelreg sync``.

A trainer integration records its run live through ``SpoolingRun``: a version in training from the start, one
history epoch at a time, files and final metrics at the end. When a call to the registry fails (a server down,
a network cut, a refused request), it warns once and goes on in memory; at the end the whole run is written
to ``<spool>/<run id>/``: ``run.json`` (written last, so a folder without it is an unfinished write) and the
files under ``files/``. Training never stops for the registry.

``sync_spool`` (``modelreg sync``) registers each spooled run and removes its folder once it is in:

- a run whose version was started live and is still in training is resumed: the epochs the registry lacks are
  logged, its files stored, and it ends as the trainer ended it (ready, or failed with its error);
- otherwise it is registered anew: a ready version with its files, history and metrics, or a failed one.

Syncing is idempotent: the version a sync makes is written into ``run.json`` at once and carries
``extra.spool_run_id``, so a sync that stopped half-way finds it again instead of registering twice; files go
by content address, so what the registry has already is not sent again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelreg.blobs.base import sha256_file
from modelreg.errors import NotFound
from modelreg.local.runs import RunBase
from modelreg.refs import parse_ref, validate_artifact_path
from modelreg.registry import Registry
from modelreg.types import Version

log = logging.getLogger(__name__)

RECORD = "run.json"
FILES = "files"
FORMAT = 1
RUN_ID_KEY = "spool_run_id"  # the version's extra key naming the spooled run it came from


def spool_dir(home: Path) -> Path:
    """Where runs are spooled: ``$MODELREG_HOME/spool`` (``~/.modelreg/spool``)."""
    return home / "spool"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file, fsynced, then renamed over it)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class SpoolingRun:
    """One training run, recorded live in a registry and kept whole in memory; spooled when the registry
    cannot be reached. ``connect`` opens the registry when first needed."""

    def __init__(self, model: str, *, connect: Callable[[], Registry], spool: Path,
                 alias: str | None = None) -> None:
        parse_ref(model)
        self._connect = connect
        self._registry: Registry | None = None
        self.spool = spool
        self.run: RunBase | None = None
        self.offline = False  # the registry failed once: the rest of the run goes to the spool
        self.result: Version | Path | None = None  # the version, or the spool folder, once the run has ended
        self.record: dict[str, Any] = {
            "format": FORMAT, "run_id": uuid.uuid4().hex, "model": model, "alias": alias, "status": "training",
            "error": None, "version": None, "start": {}, "epochs": [], "finish": {}, "files": {},
            "started_at": _now(),
        }

    @property
    def ended(self) -> bool:
        return self.result is not None

    @property
    def version(self) -> Version | None:
        return self.result if isinstance(self.result, Version) else None

    def call(self, what: str, action: Callable[[Registry], Any]) -> Any:
        """Run ``action`` on the registry unless it has failed before; a failure (logged) switches the rest of
        the run to the spool and gives None."""
        if self.offline:
            return None
        try:
            if self._registry is None:
                self._registry = self._connect()
            return action(self._registry)
        except Exception as exc:
            self.offline = True
            log.warning("modelreg: %s failed (%s); the run goes on and will be kept in %s for `modelreg sync`",
                        what, _error_text(exc), self.spool)
            return None

    def start(self, **fields: Any) -> None:
        """Start the run: a version in training with ``fields`` (params, dataset, source, parent)."""
        self.record["start"] = {k: v for k, v in fields.items() if v is not None}
        self.run = self.call("starting the run in the registry",
                              lambda reg: reg.start_run(self.record["model"], **self.record["start"]))
        if self.run is not None:
            self.record["version"] = self.run.ref
            log.info("modelreg: recording the training run as %s", self.run.ref)

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Record one epoch's metrics (live when the registry answers)."""
        row = {"epoch": epoch, **metrics}
        self.record["epochs"].append(row)
        run = self.run
        if run is not None:
            self.call(f"logging epoch {epoch}", lambda _: run.log_epoch(epoch, **metrics))

    def finish(self, *, files: Mapping[str, Path], metrics: Mapping[str, float] | None = None,
               **fields: Any) -> Version | Path:
        """End the run as ready with ``files`` (artifact path → local file), final ``metrics`` and other fields
        (class_metrics, training…): the version, or the spool folder when the registry could not take it."""
        self.record.update(status="ready", finished_at=_now())
        self.record["finish"] = {"metrics": dict(metrics or {}), **{k: v for k, v in fields.items() if v is not None}}
        run = self.run
        if run is not None:
            def store(reg: Registry) -> Version:
                for name, path in files.items():
                    run.log_file(path, name=name)
                if metrics:
                    run.log_metrics(**metrics)
                if fields:
                    run.set(**{k: v for k, v in fields.items() if v is not None})
                return run.finish()

            version = self.call("storing the run's version", store)
            if version is not None:
                self.result = self._alias(version)
                return self.result
        self.result = self._write(files)
        return self.result

    def fail(self, error: str) -> Version | Path:
        """End the run as failed with ``error``: the failed version, or the spool folder."""
        self.record.update(status="failed", error=error, finished_at=_now())
        run = self.run
        if run is not None:
            version: Version | None = self.call("recording the failed run", lambda _: run.fail(error))
            if version is not None:
                self.result = version
                return version
        self.result = self._write({})
        return self.result

    def _alias(self, version: Version) -> Version:
        alias = self.record.get("alias")
        if not alias:
            return version
        try:
            assert self._registry is not None
            self._registry.set_alias(version.ref, alias)
            return self._registry.get_version(version.ref)
        except Exception as exc:  # the version is in; only the alias is missing
            log.warning("modelreg: %s is registered but %s could not be moved to it: %s", version.ref, alias,
                        _error_text(exc))
            return version

    def _write(self, files: Mapping[str, Path]) -> Path:
        """Write the run to the spool: its files copied under files/, then run.json."""
        folder: Path = self.spool / str(self.record["run_id"])
        folder.mkdir(parents=True, exist_ok=True)
        listed: dict[str, Any] = {}
        for name, path in files.items():
            name = validate_artifact_path(name)
            target = folder / FILES / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            listed[name] = {"file": f"{FILES}/{name}", "digest": sha256_file(target), "size": target.stat().st_size}
        self.record["files"] = listed
        self.record["spooled_at"] = _now()
        _write_json(folder / RECORD, self.record)
        log.warning("modelreg: the run of %s is kept in %s; register it with `modelreg sync`",
                    self.record["model"], folder)
        return folder


# ---- syncing


@dataclass
class SpooledRun:
    """A run in the spool: its folder and what ``run.json`` says."""

    folder: Path
    record: dict[str, Any]

    @property
    def model(self) -> str:
        return str(self.record["model"])

    @property
    def status(self) -> str:
        return str(self.record.get("status"))

    def files(self) -> dict[str, Path]:
        return {name: self.folder / info["file"] for name, info in (self.record.get("files") or {}).items()}

    def mark(self, ref: str) -> None:
        """Note the version a sync made for this run, before anything else happens to it."""
        self.record["synced"] = ref
        _write_json(self.folder / RECORD, self.record)


@dataclass
class SyncItem:
    """What syncing one spooled run did: the version it is now, or why it stays in the spool."""

    folder: str
    model: str
    status: str
    version: str | None = None
    error: str | None = None


def spooled_runs(spool: Path) -> list[SpooledRun]:
    """The complete runs in ``spool`` (folders with a run.json), oldest first."""
    runs: list[SpooledRun] = []
    if not spool.is_dir():
        return runs
    for folder in sorted(spool.iterdir()):
        record_path = folder / RECORD
        if not record_path.is_file():
            continue
        with open(record_path, encoding="utf-8") as f:
            record = json.load(f)
        if isinstance(record, dict) and record.get("format") == FORMAT:
            runs.append(SpooledRun(folder, record))
    runs.sort(key=lambda r: str(r.record.get("spooled_at", "")))
    return runs


def sync_spool(registry: Registry, spool: Path, *, dry_run: bool = False) -> list[SyncItem]:
    """Register every spooled run in ``registry`` and remove the folders that are in; a run that fails to
    sync stays, with the error in its item."""
    items: list[SyncItem] = []
    for spooled in spooled_runs(spool):
        item = SyncItem(folder=str(spooled.folder), model=spooled.model, status=spooled.status)
        if dry_run:
            items.append(item)
            continue
        try:
            version = sync_run(registry, spooled)
        except Exception as exc:
            item.error = _error_text(exc)
        else:
            item.version, item.status = version.ref, version.status
            shutil.rmtree(spooled.folder, ignore_errors=True)
        items.append(item)
    return items


def sync_run(registry: Registry, spooled: SpooledRun) -> Version:
    """Register one spooled run (see the module docstring); the version it is."""
    record = spooled.record
    for ref, made_by_sync in ((record.get("synced"), True), (record.get("version"), False)):
        if not ref:
            continue
        try:
            version = registry.get_version(ref)
        except NotFound:
            continue
        if version.status == "training":
            return _complete(registry, spooled, registry.resume_run(version.ref))
        if made_by_sync:  # an earlier sync ended it already
            return version
    found = _registered_before(registry, spooled)
    if found is not None:
        return found
    start = dict(record.get("start") or {})
    if spooled.status == "ready":
        finish = dict(record.get("finish") or {})
        version = registry.register_version(
            spooled.model, files=spooled.files() or None, read_metadata=False, epochs=record.get("epochs") or None,
            **start, **finish, extra={RUN_ID_KEY: record["run_id"]})
        spooled.mark(version.ref)
        return _alias(registry, spooled, version)
    run = registry.start_run(spooled.model, **start)
    spooled.mark(run.ref)
    return _complete(registry, spooled, run)


def _registered_before(registry: Registry, spooled: SpooledRun) -> Version | None:
    run_id = spooled.record["run_id"]
    try:
        for version in registry.iter_versions(model=spooled.model):
            if version.extra.get(RUN_ID_KEY) == run_id:
                return version
    except NotFound:
        return None
    return None


def _complete(registry: Registry, spooled: SpooledRun, run: RunBase) -> Version:
    """Log the epochs the run's version lacks, then end it as the trainer ended it."""
    record = spooled.record
    logged = {e.epoch for e in registry.history(run.ref)}
    rows: Sequence[Mapping[str, Any]] = record.get("epochs") or []
    for row in rows:
        if row["epoch"] not in logged:
            run.log_epoch(row["epoch"], **{k: v for k, v in row.items() if k != "epoch"})
    if spooled.status != "ready":
        return run.fail(str(record.get("error") or "training failed"))
    finish = dict(record.get("finish") or {})
    for name, path in spooled.files().items():
        run.log_file(path, name=name)
    metrics = finish.pop("metrics", None)
    if metrics:
        run.log_metrics(**metrics)
    run.set(**finish, extra={RUN_ID_KEY: record["run_id"]})
    return _alias(registry, spooled, run.finish())


def _alias(registry: Registry, spooled: SpooledRun, version: Version) -> Version:
    alias = spooled.record.get("alias")
    if not alias:
        return version
    registry.set_alias(version.ref, alias)
    return registry.get_version(version.ref)

