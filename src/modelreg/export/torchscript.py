"""TorchScript: ``torch.jit.trace`` at the export inputs (``torch.jit.script`` when tracing fails), run with
``torch.jit.load``. A TorchScript source is saved as it is. ``half`` saves the module in FP16 (its float
inputs in FP16 too). A traced graph can bake in a batch size; the worker verifies a dynamic-batch export
at another batch, and the tracer's warnings are kept in the notes.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modelreg.export.base import Converted, ConvertRequest, package_version
from modelreg.export.eager import flatten, to_tensors
from modelreg.export.failures import failure, first_line
from modelreg.export.job import ExportJob
from modelreg.export.ultralytics import export_metadata

MODEL = "model.torchscript"
# What a user can do when neither tracing nor scripting works, without touching code they may not own.
TRACE_HINT = ("export to onnx or tflite instead (they capture the graph with torch.export); or register the model "
              "as a torch.export program (.pt2), or as a state dict with params.entry_point naming the function "
              "that builds it; or, where the code is yours, make forward() take and return tensors only")
_TRACER_WARNING: type[Warning] = getattr(torch.jit, "TracerWarning", UserWarning)
_trace: Any = torch.jit.trace
_load: Any = torch.jit.load


def convert(request: ConvertRequest) -> Converted:
    options = request.job.options
    if options.int8 is not None:
        raise failure("export_failed", "int8 is not available for torchscript exports",
                      hint="export to onnx or tflite with int8, or use half")
    notes: list[str] = []
    model: Any = request.source.module
    example = request.example
    if options.half:
        model = copy.deepcopy(model).half()
        example = tuple(t.half() if t.is_floating_point() else t for t in example)
    if request.source.scripted:
        scripted = model
        notes.append("the source is TorchScript: saved as it is")
    else:
        scripted = _trace_or_script(model, example, notes)
    metadata = export_metadata(request)
    # Ultralytics keeps its metadata as the extra file config.txt (JSON), where YOLO("model.torchscript") reads it
    extra = {"config.txt": json.dumps(metadata)} if metadata is not None else {}
    torch.jit.save(scripted, str(request.out_dir / MODEL), _extra_files=extra)
    return Converted(files=[MODEL], notes=notes)


def _trace_or_script(model: Any, example: tuple[torch.Tensor, ...], notes: list[str]) -> Any:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", _TRACER_WARNING)
        warnings.simplefilter("always", DeprecationWarning)
        try:
            traced = _trace(model, example, strict=False, check_trace=False)
        except Exception as trace_error:
            try:
                scripted = torch.jit.script(model)
            except Exception as script_error:
                raise failure("export_failed", f"torch.jit.trace failed ({first_line(str(trace_error))}) and "
                              f"torch.jit.script failed ({first_line(str(script_error))})",
                              hint=TRACE_HINT) from trace_error
            notes.append(f"torch.jit.trace failed ({first_line(str(trace_error))[:200]}); used torch.jit.script")
            return scripted
    tracer = sorted({first_line(str(w.message))[:200] for w in caught if issubclass(w.category, _TRACER_WARNING)})
    notes += [f"tracer: {message}" for message in tracer[:3]]
    deprecated = sorted({first_line(str(w.message))[:200] for w in caught if issubclass(w.category, DeprecationWarning)
                         and "torch.jit" in str(w.message)})
    notes += [f"torch {package_version('torch')} deprecates TorchScript: {message}" for message in deprecated[:1]]
    return traced


class TorchScriptRuntime:
    name = "torchscript"
    fixed_batch: int | None = None

    def __init__(self, path: Path, half: bool) -> None:
        self._module = _load(str(path), map_location="cpu")
        self._module.eval()
        self._half = half
        self.description = f"torch.jit {package_version('torch')}"

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        with torch.inference_mode():
            outputs = self._module(*to_tensors(inputs, self._half))
        return [array for _, array in flatten(outputs)]


def open_runtime(out_dir: Path, job: ExportJob) -> TorchScriptRuntime:
    return TorchScriptRuntime(out_dir / MODEL, job.options.half)
