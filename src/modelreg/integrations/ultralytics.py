"""Record an Ultralytics training run as a modelreg version.

    from ultralytics import YOLO
    from modelreg.integrations.ultralytics import add_modelreg_callbacks

    model = YOLO("yolov8n.pt")
    add_modelreg_callbacks(model, "fire-detector")
    model.train(data="fire.yaml", epochs=100)

On rank 0 only: when the trainer is set up, a run starts (a version in status ``training``) with the trainer's
args as params and the dataset YAML as its dataset reference (name, SHA-256, class names, image counts); each
epoch's ``results.csv`` row is logged as it ends (losses, mAP50, mAP50-95, precision, recall, learning rates),
so ``modelreg history`` follows the run; at the end the version gets ``weights/best.pt``, ``weights/last.pt``,
``args.yaml``, ``results.csv``, the final validation's metrics, per-class AP, precision, recall and instance
counts, training time and hardware, and becomes ready. Starting weights that are a registered version's file
make that version the ``parent``. A crash or Ctrl-C records the run as failed with its error. A registry that
cannot be reached never stops training: the run is kept in the spool for ``modelreg sync``.

From the command line, ``MODELREG_ULTRALYTICS_MODEL`` makes a plain ``yolo train`` record its runs (through the
``modelreg-ultralytics.pth`` line a wheel install puts in site-packages, see ``ultralytics_startup``); the same
command through this module does it without that file (editable installs):

    MODELREG_ULTRALYTICS_MODEL=fire-detector python -m modelreg.integrations.ultralytics train data=fire.yaml \\
        model=modelreg://fire-detector@production epochs=100
"""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from ultralytics.utils import RANK

from modelreg.blobs.base import sha256_file
from modelreg.config import Settings
from modelreg.integrations.common import jsonable, model_ref
from modelreg.integrations.spool import SpoolingRun, spool_dir
from modelreg.integrations.ultralytics_results import (
    DEFAULT_WEIGHTS,
    RUN_FILES,
    best_row,
    class_names,
    dataset_ref,
    epoch_metrics,
    version_with_file,
    weights_ref,
)
from modelreg.registry import Registry
from modelreg.types import Version

__all__ = ["ENV_ALIAS", "ENV_MODEL", "ENV_PROJECT", "ModelregCallbacks", "add_modelreg_callbacks",
           "enable_for_command", "main"]

log = logging.getLogger(__name__)

ENV_MODEL = "MODELREG_ULTRALYTICS_MODEL"  # the model runs of `python -m modelreg.integrations.ultralytics` go to
ENV_PROJECT = "MODELREG_ULTRALYTICS_PROJECT"  # its project (default: the default project)
ENV_ALIAS = "MODELREG_ULTRALYTICS_ALIAS"  # an alias moved to each new version (staging…)
Trainer = Any  # ultralytics.engine.trainer.BaseTrainer (untyped)


def _frameworks() -> dict[str, str]:
    return {name: installed_version(name) for name in ("ultralytics", "torch")}


def _main_process() -> bool:
    """Rank 0 of a DDP run, or a run without DDP (Ultralytics reads RANK from the environment)."""
    return RANK in (-1, 0)


class ModelregCallbacks:
    """The callbacks that record each training run of a trainer as a version of ``model``.

    - ``registry``: where to record it; default ``modelreg.connect()`` (``MODELREG_URL`` and ``MODELREG_TOKEN``
      when set, else the embedded registry). DDP workers always use ``modelreg.connect()``.
    - ``alias``: move this alias (``staging``…) to the version once it is ready.
    - ``parent``: the version the run starts from, when the starting weights are not a registered file.
    - ``spool``: where runs wait when the registry cannot be reached (default ``$MODELREG_HOME/spool``).
    """

    EVENTS = ("on_pretrain_routine_start", "on_pretrain_routine_end", "on_train_epoch_end", "on_fit_epoch_end",
              "on_train_end", "teardown")

    def __init__(self, model: str, *, project: str | None = None, alias: str | None = None,
                 registry: Registry | None = None, parent: str | None = None, spool: Path | None = None) -> None:
        self.ref = model_ref(model, project)
        self.alias = alias
        self.parent = parent
        self.spool = spool if spool is not None else spool_dir(Settings.from_env(os.environ).home)
        self._registry = registry
        self._opened: Registry | None = None  # a registry these callbacks connected to (closed after each run)
        self.recording: SpoolingRun | None = None
        self._pending_epoch: int | None = None  # the epoch whose validation on_fit_epoch_end reports next
        self._final: dict[str, float] = {}  # the final validation of best.pt

    def __getstate__(self) -> dict[str, Any]:
        """What a DDP worker gets (Ultralytics pickles the callbacks): the settings, no connection, no run."""
        return {**self.__dict__, "_registry": None, "_opened": None, "recording": None}

    @property
    def result(self) -> Version | Path | None:
        """The last run's version, or its spool folder when the registry could not be reached."""
        return self.recording.result if self.recording is not None else None

    def hooks(self) -> dict[str, Callable[[Trainer], None]]:
        """Each event's callback: a plain function (a bound method would be deep-copied by Ultralytics'
        ``get_default_callbacks``, state and all)."""
        def hook(method: Callable[[Trainer], None]) -> Callable[[Trainer], None]:
            def run(trainer: Trainer) -> None:
                method(trainer)

            return run

        return {event: hook(getattr(self, event)) for event in self.EVENTS}

    def _connect(self) -> Registry:
        if self._registry is not None:
            return self._registry
        import modelreg

        self._opened = modelreg.connect()
        return self._opened

    def _guard(self, what: str, action: Callable[[], None]) -> None:
        """Run ``action``; an error of modelreg's own is logged, never raised into the training loop."""
        try:
            action()
        except Exception:
            log.warning("modelreg: %s failed; training goes on", what, exc_info=True)

    # ---- Ultralytics events
    def on_pretrain_routine_start(self, trainer: Trainer) -> None:
        if _main_process():
            self.recording, self._pending_epoch, self._final = None, None, {}

    def on_pretrain_routine_end(self, trainer: Trainer) -> None:
        if _main_process():
            self._guard("starting the run", lambda: self._start(trainer))

    def on_train_epoch_end(self, trainer: Trainer) -> None:
        if _main_process():
            self._pending_epoch = int(trainer.epoch) + 1

    def on_fit_epoch_end(self, trainer: Trainer) -> None:
        if _main_process() and self.recording is not None and not self.recording.ended:
            self._guard("logging the epoch", lambda: self._epoch(trainer))

    def on_train_end(self, trainer: Trainer) -> None:
        if _main_process() and self.recording is not None and not self.recording.ended:
            self._guard("registering the version", lambda: self._finish(trainer))

    def teardown(self, trainer: Trainer) -> None:
        """Runs in the trainer's ``finally``: a run still open here did not reach ``on_train_end``."""
        if _main_process() and self.recording is not None and not self.recording.ended:
            exc = sys.exc_info()[1]
            error = ("".join(traceback.format_exception_only(type(exc), exc)).strip() if exc is not None
                     else "training ended before on_train_end")
            self._guard("recording the failed run", lambda: self._end(lambda r: r.fail(error)))
        self._close()

    # ---- what each event does
    def _start(self, trainer: Trainer) -> None:
        recording = SpoolingRun(self.ref, connect=self._connect, spool=self.spool, alias=self.alias)
        self.recording = recording
        data = trainer.data if isinstance(trainer.data, Mapping) else {}
        dataset = dataset_ref(data.get("yaml_file") or getattr(trainer.args, "data", None), names=data.get("names"),
                              train_count=_size(getattr(trainer, "train_loader", None)),
                              val_count=_size(getattr(trainer, "test_loader", None)))
        recording.start(params=jsonable(vars(trainer.args)), dataset=dataset,
                        source={"framework_versions": _frameworks()}, parent=self._parent(trainer, recording))

    def _parent(self, trainer: Trainer, recording: SpoolingRun) -> str | None:
        """The version the starting weights come from: ``parent``, ``modelreg://…``, or a registered file."""
        if self.parent:
            return self.parent
        start = str(getattr(trainer.args, "model", "") or "")
        named = weights_ref(start)
        if named is not None:
            return named
        path = Path(start)
        if not start or path.suffix != ".pt" or not path.is_file():
            return None
        digest = sha256_file(path)
        found: str | None = recording.call("looking up the starting weights",
                                            lambda reg: version_with_file(reg, self.ref, digest))
        return found

    def _epoch(self, trainer: Trainer) -> None:
        assert self.recording is not None
        epoch = int(trainer.epoch) + 1
        if self._pending_epoch != epoch:  # the final validation of best.pt after the last epoch
            self._final = epoch_metrics(trainer.metrics or {})
            return
        self._pending_epoch = None
        row = {**trainer.label_loss_items(trainer.tloss, prefix="train"), **(trainer.metrics or {}),
               **(getattr(trainer, "lr", None) or {})}
        metrics = epoch_metrics(row)
        start = getattr(trainer, "train_time_start", None)
        if start:
            metrics["time_s"] = round(time.time() - start, 3)
        self.recording.log_epoch(epoch, metrics)

    def _finish(self, trainer: Trainer) -> None:
        save_dir = Path(trainer.save_dir)
        files = {name: save_dir / name for name in RUN_FILES if (save_dir / name).is_file()}
        metrics = self._final or best_row(self.recording.record["epochs"] if self.recording else [])
        start = getattr(trainer, "train_time_start", None)
        training: dict[str, Any] = {"hardware": _hardware(trainer)}
        if start:
            training["duration_s"] = round(time.time() - start, 3)
        class_metrics = _class_metrics(trainer)
        self._end(lambda r: r.finish(files=files, metrics=metrics, class_metrics=class_metrics or None,
                                     training=training))

    def _end(self, ending: Callable[[SpoolingRun], Version | Path]) -> None:
        assert self.recording is not None
        result = ending(self.recording)
        if isinstance(result, Version):
            log.info("modelreg: the run is %s (%s)", result.ref, result.status)

    def _close(self) -> None:
        if self._opened is not None:
            self._opened.close()
            self._opened = None


def add_modelreg_callbacks(model: Any, name: str, project: str | None = None, alias: str | None = None,
                           registry: Registry | None = None, *, parent: str | None = None,
                           spool: Path | None = None) -> ModelregCallbacks:
    """Record every ``model.train()`` of an Ultralytics ``model`` (``YOLO(...)``, or a trainer: anything
    with ``add_callback``) as a version of ``name``; see ``ModelregCallbacks`` for the options."""
    callbacks = ModelregCallbacks(name, project=project, alias=alias, registry=registry, parent=parent, spool=spool)
    for event, hook in callbacks.hooks().items():
        model.add_callback(event, hook)
    return callbacks


# ---- what a trainer knows, read defensively (the attributes vary across Ultralytics tasks and releases)


def _size(loader: Any) -> int | None:
    try:
        return len(loader.dataset)
    except (AttributeError, TypeError):
        return None


def _fraction(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if 0.0 <= number <= 1.0 else None


def _training_counts(trainer: Trainer, classes: int) -> list[int] | None:
    """Instances of each class in the training set (from the loader's labels), or None when not readable."""
    labels = getattr(getattr(getattr(trainer, "train_loader", None), "dataset", None), "labels", None)
    if not isinstance(labels, list):
        return None
    counts = [0] * classes
    for label in labels:
        cls = label.get("cls") if isinstance(label, Mapping) else None
        if cls is None:
            continue
        for c in cls.reshape(-1).tolist():
            if 0 <= int(c) < classes:
                counts[int(c)] += 1
    return counts


def _class_metrics(trainer: Trainer) -> list[dict[str, Any]]:
    """One row per class from the final validation: AP at IoU 0.5 (``ap``), precision, recall, the instances
    in the validation and training sets, and AP at IoU 0.5:0.95 under ``metrics.ap50_95``."""
    metrics = getattr(getattr(trainer, "validator", None), "metrics", None)
    box = getattr(metrics, "box", None)
    data = trainer.data if isinstance(trainer.data, Mapping) else {}
    names = class_names(data.get("names") or getattr(metrics, "names", None))
    if box is None or not names:
        return []
    index = [int(c) for c in getattr(box, "ap_class_index", [])]
    val_counts = getattr(metrics, "nt_per_class", None)
    train_counts = _training_counts(trainer, len(names))
    masks = getattr(metrics, "seg", None)
    rows: list[dict[str, Any]] = []
    for c, name in enumerate(names):
        row: dict[str, Any] = {"class_name": name, "annotation_type": "mask" if masks is not None else "bbox"}
        if c in index:
            i = index.index(c)
            row.update(ap=_fraction(box.ap50[i]), precision=_fraction(box.p[i]), recall=_fraction(box.r[i]))
            extra = {"ap50_95": _fraction(box.ap[i])}
            if masks is not None and i < len(masks.ap50):
                extra.update(ap50_mask=_fraction(masks.ap50[i]), ap50_95_mask=_fraction(masks.ap[i]))
            row["metrics"] = {k: v for k, v in extra.items() if v is not None}
        if val_counts is not None and c < len(val_counts):
            row["validation_count"] = int(val_counts[c])
        if train_counts is not None:
            row["training_count"] = train_counts[c]
        rows.append({k: v for k, v in row.items() if v is not None})
    return rows


def _hardware(trainer: Trainer) -> dict[str, Any]:
    device = getattr(trainer, "device", None)
    info: dict[str, Any] = {"device": str(device)}
    if getattr(device, "type", None) == "cuda":
        import torch

        info["gpu"] = torch.cuda.get_device_name(device)
        info["gpus"] = max(1, int(getattr(trainer, "world_size", 1) or 1))
    else:
        info["cpu"] = platform.processor() or platform.machine()
        info["cpu_count"] = os.cpu_count()
    return info


# ---- the command line: `python -m modelreg.integrations.ultralytics train …`


def enable_for_command(args: Sequence[str], env: Mapping[str, str]) -> list[str] | None:
    """Add the modelreg callbacks to every trainer this process makes, for a ``yolo``-style command ``args``
    (``train data=… model=…``), when ``MODELREG_ULTRALYTICS_MODEL`` in ``env`` names the model; None when it
    does not. Returns the arguments to run: ``model=modelreg://REF`` becomes that version's weights/best.pt
    (fetched into the cache), and that version the runs' parent."""
    name = env.get(ENV_MODEL, "").strip()
    if not name:
        return None
    out, parent = list(args), None
    for i, arg in enumerate(out):
        key, _, value = arg.partition("=")
        ref = weights_ref(value) if key == "model" else None
        if ref is not None:
            import modelreg

            with modelreg.connect() as reg:
                parent = reg.get_version(ref).ref
                out[i] = f"model={reg.resolve(parent, DEFAULT_WEIGHTS)}"
    callbacks = ModelregCallbacks(name, project=env.get(ENV_PROJECT, "").strip() or None,
                                  alias=env.get(ENV_ALIAS, "").strip() or None, parent=parent)
    from ultralytics.utils.callbacks import base

    for event, hook in callbacks.hooks().items():  # every trainer this process makes starts with them
        base.default_callbacks.setdefault(event, []).append(hook)
    return out


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run an Ultralytics command (``train data=… model=…``, as ``yolo`` takes it) with the modelreg callbacks
    on every trainer when ``MODELREG_ULTRALYTICS_MODEL`` names the model (see ``enable_for_command``)."""
    env = os.environ if environ is None else environ
    args = enable_for_command(list(sys.argv[1:] if argv is None else argv), env)
    if args is None:
        print(f"modelreg: {ENV_MODEL} is not set; set it to the model the runs are versions of "
              f"(e.g. {ENV_MODEL}=fire-detector)", file=sys.stderr)
        return 2
    sys.argv[:] = ["yolo", *args]  # Ultralytics reads its arguments from this very list
    from ultralytics.cfg import entrypoint

    entrypoint()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
