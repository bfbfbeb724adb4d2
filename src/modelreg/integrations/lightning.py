"""``ModelregLogger``: a PyTorch Lightning logger that records a ``Trainer.fit`` as a modelreg version.

    trainer = Trainer(logger=ModelregLogger(model="fire-detector"), callbacks=[ModelCheckpoint(monitor="val_loss")])

The run starts when the trainer sets up (rank zero only) as a version in status ``training``; the
LightningModule's hyperparameters become its params; metrics become one training-history row per epoch;
at the end the best checkpoint of the ``ModelCheckpoint`` is stored as ``weights/best.ckpt`` and the version
becomes ready. An exception in ``fit`` records it as failed with the error.
"""

from __future__ import annotations

import sys
import traceback
from argparse import Namespace
from collections.abc import Mapping
from importlib.metadata import version as installed_version
from typing import Any, Literal

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers.logger import Logger
from lightning.pytorch.utilities import rank_zero_only

from modelreg.integrations.common import EpochRows, RunRecorder, finite_metrics
from modelreg.local.runs import RunBase
from modelreg.registry import Registry
from modelreg.types import Version

__all__ = ["ModelregLogger"]

LogModel = bool | Literal["all"]


def _frameworks() -> dict[str, str]:
    return {name: installed_version(name) for name in ("lightning", "torch")}


class ModelregLogger(Logger):
    """Record a Lightning training run as a version of ``model`` (in ``project``, default the default one).

    - ``registry``: where to record it; default ``modelreg.connect()`` (``MODELREG_URL`` and
      ``MODELREG_TOKEN`` when set, else the embedded registry).
    - ``log_model``: ``True`` stores the best checkpoint as ``weights/best.ckpt``; ``"all"`` adds the last
      one as ``weights/last.ckpt`` (``ModelCheckpoint(save_last=True)``); ``False`` stores no weights.
    - ``alias``: move this alias (``staging``…) to the version once it is ready.

    History rows hold each epoch's metrics (their last value in the epoch; the ``*_step`` halves of metrics
    logged with ``on_step`` and ``on_epoch`` are left out: their ``*_epoch`` means are kept). The version's
    final metrics are those of the best checkpoint's epoch, with the monitored metric at its best score.
    """

    def __init__(self, model: str, *, project: str | None = None, registry: Registry | None = None,
                 log_model: LogModel = True, alias: str | None = None) -> None:
        super().__init__()
        if log_model not in (True, False, "all"):
            raise ValueError(f"log_model is {log_model!r}; use True (best checkpoint), 'all' (best and last) "
                             "or False (no weights)")
        self._model = model
        self._log_model = log_model
        self._recorder = RunRecorder(model, project=project, registry=registry, alias=alias,
                                     framework_versions=_frameworks())
        self._epochs = EpochRows()
        self._epoch = 0  # the epoch (from 1) of the latest metrics
        self._checkpoint: dict[str, Any] = {}  # what the ModelCheckpoint said at its latest save
        self._late_metrics: dict[str, float] = {}  # logged after the run ended (trainer.test after fit)

    # ---- what Lightning asks of a logger
    @property
    def name(self) -> str:
        return self._model

    @property
    def version(self) -> str | None:
        """``v<number>`` of the run's version (the run starts on first use, on rank zero)."""
        if getattr(rank_zero_only, "rank", 0) != 0:
            return None
        return f"v{self._recorder.start().number}"

    @property
    @rank_zero_experiment
    def experiment(self) -> RunBase:
        """The modelreg run (``log_epoch``, ``log_file``, ``set``…), started on first use."""
        return self._recorder.start()

    @property
    def run_version(self) -> Version | None:
        """The version once the run has ended (ready or failed), else None."""
        return self._recorder.version

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        values = vars(params) if isinstance(params, Namespace) else params
        if values and not self._recorder.ended:
            self._recorder.add_params(values)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        values = dict(metrics)
        epoch = values.pop("epoch", None)
        if epoch is not None:
            self._epoch = int(epoch) + 1  # Lightning counts epochs from 0, the registry from 1
        kept = {k: v for k, v in finite_metrics(values).items() if not k.endswith("_step")}
        if self._recorder.ended:
            self._late_metrics.update(kept)
            return
        self._recorder.log_epochs(self._epochs.ready(self._epoch))
        self._epochs.add(max(self._epoch, 1), kept)

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        score = checkpoint_callback.best_model_score
        self._checkpoint = {
            "best": checkpoint_callback.best_model_path, "last": checkpoint_callback.last_model_path,
            "monitor": checkpoint_callback.monitor, "score": None if score is None else float(score)}

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """End the run: ready with its weights on ``success``, failed with the error otherwise."""
        if self._recorder.ended:
            if status == "success" and self._late_metrics and self._recorder.version is not None:
                self._recorder.registry.update_version(self._recorder.version.ref, metrics=self._late_metrics)
                self._late_metrics = {}
            return
        if self._recorder.run is None and status == "success" and not self._epochs.rows:
            return  # nothing was trained (validate or test without fit): no version
        self._recorder.log_epochs(self._epochs.ready())  # a crash keeps the epochs logged until then
        if status != "success":
            self._recorder.fail(_current_error(status))
            return
        monitor, score = self._checkpoint.get("monitor"), self._checkpoint.get("score")
        metrics = self._epochs.best(monitor, score)
        if monitor is not None and score is not None:
            metrics[monitor] = score
        if self._log_model:
            best = self._checkpoint.get("best") or self._checkpoint.get("last")
            if best:
                self._recorder.add_file(best, "weights/best.ckpt")
            last = self._checkpoint.get("last")
            if self._log_model == "all" and last:
                self._recorder.add_file(last, "weights/last.ckpt")
        self._recorder.finish(finite_metrics(metrics))


def _current_error(status: str) -> str:
    """The exception Lightning is handling when it finalizes a logger as failed (it calls ``finalize``
    from its ``except`` block), as one line; else the status it gave."""
    exc = sys.exc_info()[1]
    if exc is not None:
        return "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return f"training ended with status {status!r}"
