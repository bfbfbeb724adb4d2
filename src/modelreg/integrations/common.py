"""What the trainer integrations share: a run started on demand, epoch rows grouped from a trainer's logs,
hyperparameters made JSON-safe, and the ending of a run (ready, then an optional alias; or failed)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.local.runs import RunBase
from modelreg.registry import Registry
from modelreg.types import Version

log = logging.getLogger(__name__)


def jsonable(value: Any, *, depth: int = 0) -> Any:
    """``value`` as JSON the registry stores as params: numbers, text, lists and mappings kept; NaN and
    infinite floats, paths, enums, dtypes, modules and anything else become their text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth > 20:
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, depth=depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, depth=depth + 1) for v in value]
    item = getattr(value, "item", None)  # a one-element tensor or numpy scalar
    if callable(item) and getattr(value, "ndim", None) == 0:
        try:
            return jsonable(item(), depth=depth + 1)
        except (TypeError, ValueError, RuntimeError):
            pass
    enum_value = getattr(value, "value", None)
    if isinstance(enum_value, (str, int)) and type(value).__module__ != "builtins":
        return enum_value
    return str(value)


def finite_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numeric, finite entries of a trainer's metrics (the registry refuses NaN and infinity)."""
    out: dict[str, float] = {}
    for name, value in metrics.items():
        if isinstance(value, bool):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out[str(name)] = number
    return out


def model_ref(model: str, project: str | None) -> str:
    """The reference a run starts in: ``project/model``, or the model alone (default project)."""
    return f"{project}/{model}" if project else model


@dataclass
class EpochRows:
    """Metrics a trainer logs many times an epoch, grouped into one row per epoch (the last value of each
    metric wins). A row is written when the next epoch's first metrics arrive, or at the end."""

    rows: dict[int, dict[str, float]] = field(default_factory=dict)
    written: set[int] = field(default_factory=set)

    def add(self, epoch: int, metrics: Mapping[str, float]) -> None:
        if metrics:
            self.rows.setdefault(epoch, {}).update(metrics)

    def ready(self, current: int | None = None) -> list[tuple[int, dict[str, float]]]:
        """Rows not written yet, oldest first: those before ``current``, or all of them (``None``)."""
        out = [(e, m) for e, m in sorted(self.rows.items())
               if e not in self.written and (current is None or e < current)]
        self.written.update(e for e, _ in out)
        return out

    def best(self, metric: str | None, score: float | None) -> dict[str, float]:
        """The row whose ``metric`` was ``score`` (the epoch of the best checkpoint), else the last row."""
        if metric is not None and score is not None:
            for _, row in sorted(self.rows.items(), reverse=True):
                if metric in row and math.isclose(row[metric], score, rel_tol=1e-6, abs_tol=1e-12):
                    return dict(row)
        return dict(self.rows[max(self.rows)]) if self.rows else {}


class RunRecorder:
    """One training run of a trainer integration: started on demand, ended exactly once."""

    def __init__(self, model: str, *, project: str | None, registry: Registry | None, alias: str | None,
                 framework_versions: Mapping[str, str]) -> None:
        self.ref = model_ref(model, project)
        self.alias = alias
        self._registry = registry
        self._framework_versions = dict(framework_versions)
        self.params: dict[str, Any] = {}
        self.run: RunBase | None = None
        self.version: Version | None = None  # the version once the run has ended
        self._started = 0.0

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            import modelreg

            self._registry = modelreg.connect()  # MODELREG_URL / MODELREG_TOKEN, or the embedded registry
        return self._registry

    @property
    def ended(self) -> bool:
        return self.version is not None

    def start(self) -> RunBase:
        """The run, started now if it has not been (a version in status training)."""
        if self.run is None:
            self.run = self.registry.start_run(self.ref, params=self.params or None,
                                               source={"framework_versions": self._framework_versions})
            self._started = time.monotonic()
            log.info("modelreg: recording the training run as %s", self.run.ref)
        return self.run

    def add_params(self, params: Mapping[str, Any]) -> None:
        """Merge hyperparameters; a run already started gets them when it finishes."""
        self.params.update(jsonable(dict(params)))
        if self.run is not None and not self.ended:
            self.run.set(params=self.params)

    def log_epochs(self, rows: list[tuple[int, dict[str, float]]]) -> None:
        run = self.start()
        for epoch, metrics in rows:
            run.log_epoch(epoch, **metrics)

    def add_file(self, path: str | Path, name: str) -> None:
        """Attach a file (a checkpoint) or a folder's files under ``name``; a link is followed."""
        self.start().log_file(Path(path).resolve(), name=name)

    def finish(self, metrics: Mapping[str, float], *, duration_s: float | None = None) -> Version:
        """Make the version ready with its final metrics and training time, then move ``alias`` to it."""
        run = self.start()
        if metrics:
            run.log_metrics(**metrics)
        elapsed = duration_s if duration_s is not None else time.monotonic() - self._started
        run.set(training={"duration_s": round(elapsed, 3)})
        self.version = run.finish()
        if self.alias:
            self.registry.set_alias(self.version.ref, self.alias)
            self.version = self.registry.get_version(self.version.ref)
        return self.version

    def fail(self, error: str) -> Version:
        """Record the run as failed with ``error`` (a version in status failed, kept for inspection)."""
        self.version = self.start().fail(error)
        return self.version
