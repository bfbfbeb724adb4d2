"""``ModelregCallback``: record a Hugging Face ``Trainer`` run as a modelreg version.

    callback = ModelregCallback(model="intent-classifier")
    with callback:  # an exception in train() records the run as failed
        Trainer(model=net, args=args, train_dataset=train, eval_dataset=val, callbacks=[callback]).train()

On the main process only: the run starts at ``on_train_begin`` with the ``TrainingArguments`` and the model's
config as params; logs and evaluations become one training-history row per epoch; at the end the best
checkpoint's files (``state.best_model_checkpoint``, else the last saved) are stored under ``weights/``,
the final metrics are the best epoch's, and the version becomes ready.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from importlib.metadata import version as installed_version
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from modelreg.integrations.common import EpochRows, RunRecorder, finite_metrics
from modelreg.registry import Registry
from modelreg.types import Version

__all__ = ["ModelregCallback"]

# the summary the Trainer logs once at the end of train(), not an epoch's metrics
SUMMARY_KEYS = frozenset({"train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos",
                          "train_loss"})


def _frameworks() -> dict[str, str]:
    return {name: installed_version(name) for name in ("transformers", "torch")}


def _epoch(state: TrainerState) -> int:
    """The epoch (from 1) a log belongs to: ``state.epoch`` is fractional while an epoch runs, whole at its end."""
    return max(1, math.ceil(round(state.epoch or 0.0, 6)))


class ModelregCallback(TrainerCallback):
    """Record a ``Trainer`` run as a version of ``model`` (in ``project``, default the default one).

    - ``registry``: where to record it; default ``modelreg.connect()`` (``MODELREG_URL`` and
      ``MODELREG_TOKEN`` when set, else the embedded registry).
    - ``log_model``: store the best checkpoint's files under ``weights/`` (default), or no weights.
    - ``alias``: move this alias (``staging``…) to the version once it is ready.

    The Trainer calls no callback when training raises: use the callback as a context manager around
    ``train()`` (or call ``fail(error)``) to record the run as failed.
    """

    def __init__(self, model: str, *, project: str | None = None, registry: Registry | None = None,
                 log_model: bool = True, alias: str | None = None) -> None:
        self._log_model = log_model
        self._recorder = RunRecorder(model, project=project, registry=registry, alias=alias,
                                     framework_versions=_frameworks())
        self._epochs = EpochRows()
        self._last_checkpoint: Path | None = None
        self._runtime: float | None = None

    @property
    def run_version(self) -> Version | None:
        """The version once the run has ended (ready or failed), else None."""
        return self._recorder.version

    # ---- Trainer events
    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> None:
        if not state.is_world_process_zero or self._recorder.run is not None:
            return
        to_dict: Callable[[], dict[str, Any]] = args.to_dict  # JSON-safe: enums as values, tokens masked
        params: dict[str, Any] = dict(to_dict())
        config = getattr(kwargs.get("model"), "config", None)
        if config is not None and hasattr(config, "to_dict"):
            params["model_config"] = config.to_dict()
        self._recorder.add_params(params)
        self._recorder.start()

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or self._recorder.run is None or self._recorder.ended or not logs:
            return
        if "train_runtime" in logs:
            self._runtime = float(logs["train_runtime"])
        metrics = finite_metrics({k: v for k, v in logs.items() if k not in SUMMARY_KEYS and k != "epoch"})
        epoch = _epoch(state)
        self._recorder.log_epochs(self._epochs.ready(epoch))
        self._epochs.add(epoch, metrics)

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    metrics: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if state.is_world_process_zero and self._recorder.run is not None and not self._recorder.ended:
            self._epochs.add(_epoch(state), finite_metrics({k: v for k, v in (metrics or {}).items()
                                                            if k != "epoch"}))

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self._last_checkpoint = Path(args.output_dir or ".") / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     **kwargs: Any) -> None:
        if not state.is_world_process_zero or self._recorder.run is None or self._recorder.ended:
            return
        self._recorder.log_epochs(self._epochs.ready())
        name = args.metric_for_best_model
        if name is not None and not name.startswith("eval_"):
            name = f"eval_{name}"
        best = state.best_metric if name is not None else None
        metrics = self._epochs.best(name, best)
        if name is not None and best is not None:
            metrics[name] = best
        if self._log_model:
            folder = Path(state.best_model_checkpoint) if state.best_model_checkpoint else self._last_checkpoint
            if folder is not None and folder.is_dir():
                self._recorder.add_file(folder, "weights")
        self._recorder.finish(finite_metrics(metrics), duration_s=self._runtime)

    # ---- failure: the Trainer has no hook for it
    def fail(self, error: str) -> Version | None:
        """Record the run as failed with ``error`` (nothing when no run is open)."""
        if self._recorder.run is None or self._recorder.ended:
            return None
        self._recorder.log_epochs(self._epochs.ready())  # the epochs logged until the crash are kept
        return self._recorder.fail(error)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None:
            self.fail("".join(traceback.format_exception_only(type(exc), exc)).strip())
        elif self._recorder.run is not None and not self._recorder.ended:
            self.fail("training ended without the Trainer's on_train_end")
