"""Load the module a job exports from its weights file, by ``job.source_kind`` (worker side: imports torch).

``pickled_module``    ``torch.save(model)`` or an Ultralytics-style checkpoint whose ``"ema"``/``"model"`` is a
                      module; unpickling runs code from the file, so only with ``job.trusted``.
``torchscript``       ``torch.jit.save``; loaded with ``torch.jit.load``.
``exported_program``  ``torch.export.save`` (``.pt2``); its ``.module()`` is exported.
``state_dict``        tensors only (``torch.load(weights_only=True)``), or a checkpoint dict holding them under
                      ``"model"``/``"state_dict"``; ``job.entry_point`` ("pkg.mod:factory") builds the module,
                      called with no arguments, and the weights are loaded into it strictly.

``detect_source_kind`` (from ``modelreg.export.detect``) tells the kind by reading the file, running nothing.
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from modelreg.export.detect import detect_source_kind
from modelreg.export.failures import failure
from modelreg.export.job import ExportJob, SourceKind
from modelreg.export.ultralytics import UltralyticsModel, checkpoint_module, describe, is_ultralytics_module, prepare

__all__ = ["LoadedSource", "detect_source_kind", "load_source"]

UNTRUSTED_HINT = ("export it as trusted only if you registered these weights yourself: unpickling runs code in "
                  "the file")
_CHECKPOINT_KEYS = ("ema", "model", "state_dict", "model_state_dict", "net", "weights")


@dataclass
class LoadedSource:
    """The module to export, and what it was loaded from."""

    module: torch.nn.Module
    kind: SourceKind
    notes: list[str] = field(default_factory=list)
    ultralytics: UltralyticsModel | None = None  # an Ultralytics model: exported as ``yolo export`` would

    @property
    def scripted(self) -> bool:
        """A TorchScript module: torch.export and the exporters built on it cannot re-trace it."""
        return isinstance(self.module, torch.jit.ScriptModule)


def load_source(job: ExportJob) -> LoadedSource:
    """The module of ``job.source_path`` in eval mode, in float32; raises ``ExportError`` when it cannot."""
    path = Path(job.source_path)
    if not path.is_file():
        raise failure("no_weights", f"the weights file {path} does not exist", hint="check source_path")
    kind = job.source_kind
    if kind == "pickled_module":
        loaded = _load_pickled(path, job)
    elif kind == "torchscript":
        jit_load: Any = torch.jit.load
        loaded = LoadedSource(jit_load(str(path), map_location="cpu"), kind)
    elif kind == "exported_program":
        program = torch.export.load(str(path))
        loaded = LoadedSource(program.module(), kind)
    else:
        loaded = _load_state_dict(path, job)
    if kind != "exported_program":  # an exported graph keeps the mode it was exported in; .eval() refuses
        loaded.module.eval()
    if not loaded.scripted and _is_half(loaded.module):
        loaded.module.float()
        loaded.notes.append("the weights were stored in FP16; exported from their FP32 copy")
    return loaded


def _is_half(module: torch.nn.Module) -> bool:
    return any(p.dtype in (torch.float16, torch.bfloat16) for p in module.parameters())


def _load_pickled(path: Path, job: ExportJob) -> LoadedSource:
    if not job.trusted:
        raise failure("untrusted_source", f"{path.name} is a pickled module: loading it runs code from the file",
                      hint=UNTRUSTED_HINT)
    obj = torch.load(str(path), map_location="cpu", weights_only=False)
    found = obj if is_ultralytics_module(obj) else checkpoint_module(obj) if isinstance(obj, Mapping) else None
    if found is not None:
        facts = describe(found)
        return LoadedSource(prepare(found, job.format, facts), "pickled_module", [
            f"an Ultralytics {facts.task} model ({facts.head} head, {len(facts.names)} classes): prepared as "
            "yolo export prepares it (fused, its head in export mode), with Ultralytics' metadata"], facts)
    if isinstance(obj, torch.nn.Module):
        return LoadedSource(obj, "pickled_module")
    if isinstance(obj, Mapping):
        for key in _CHECKPOINT_KEYS:
            inner = obj.get(key)
            if isinstance(inner, torch.nn.Module):
                return LoadedSource(inner, "pickled_module", [f"the module of the checkpoint's {key!r} entry"])
        weights = _tensors_of(obj)
        if weights is not None:
            return _build(weights, job)
    raise failure("no_weights", f"{path.name} holds a {type(obj).__name__}, not a torch.nn.Module",
                  hint="save the module (torch.save(model)) or a state dict with an entry point")


def _load_state_dict(path: Path, job: ExportJob) -> LoadedSource:
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        if detect_source_kind(path) != "pickled_module":
            raise failure("no_weights", f"{path.name} cannot be read as a state dict: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:200] if str(exc) else ''}",
                          hint="save it with torch.save(model.state_dict(), path)") from exc
        # more than tensors: an Ultralytics-style checkpoint whose "model" is a module counts as pickled
        if job.trusted:
            return _load_pickled(path, job)
        raise failure("untrusted_source", f"{path.name} holds objects besides tensors (a pickled module): loading "
                      "it runs code from the file", hint=UNTRUSTED_HINT) from exc
    weights = _tensors_of(obj)
    if weights is None:
        raise failure("no_weights", f"{path.name} holds no state dict (a mapping of parameter names to tensors)",
                      hint="save model.state_dict(), or a checkpoint dict with it under 'model' or 'state_dict'")
    return _build(weights, job)


def _tensors_of(obj: object) -> dict[str, torch.Tensor] | None:
    """The state dict in ``obj``: itself, or under a checkpoint key; None if there is none."""
    if not isinstance(obj, Mapping):
        return None
    if obj and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        return _strip_prefix(dict(obj))
    for key in _CHECKPOINT_KEYS:
        inner = obj.get(key)
        if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
            return _strip_prefix({str(k): v for k, v in inner.items()})
    return None


def _strip_prefix(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights saved from ``nn.DataParallel`` / DDP carry a ``module.`` prefix on every name."""
    if all(k.startswith("module.") for k in weights):
        return {k.removeprefix("module."): v for k, v in weights.items()}
    return weights


def _build(weights: dict[str, torch.Tensor], job: ExportJob) -> LoadedSource:
    if not job.entry_point:
        raise failure("no_weights", "the weights are a state dict: the code that builds the module is needed",
                      hint="name the function that builds the module as its entry_point: package.module:factory")
    factory = _import_entry_point(job.entry_point)
    try:
        module = factory()
    except Exception as exc:
        raise failure("no_weights", f"the entry point {job.entry_point} failed: {type(exc).__name__}: {exc}",
                      hint="it is called with no arguments and must return the torch.nn.Module") from exc
    if not isinstance(module, torch.nn.Module):
        raise failure("no_weights", f"the entry point {job.entry_point} returned a {type(module).__name__}, "
                      "not a torch.nn.Module", hint="return the module from the factory")
    try:
        module.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise failure("no_weights", f"the weights do not fit the module of {job.entry_point}: "
                      f"{' '.join(str(exc).split())[:400]}",
                      hint="the entry point must build the same architecture the weights were trained with") from exc
    return LoadedSource(module, "state_dict", [f"built by {job.entry_point}"])


def _import_entry_point(entry_point: str) -> Any:
    module_name, sep, attr = entry_point.partition(":")
    if not sep or not module_name or not attr:
        raise failure("no_weights", f"the entry point {entry_point!r} is not 'package.module:factory'",
                      hint="write it as package.module:factory")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise failure("no_weights", f"cannot import the entry point {entry_point}: {exc}",
                      hint="install the package that defines it where the export runs (or set PYTHONPATH)") from exc
    if not callable(target):
        raise failure("no_weights", f"the entry point {entry_point} is not callable", hint="name a factory function")
    return target
