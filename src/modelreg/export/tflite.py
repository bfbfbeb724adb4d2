"""TFLite (LiteRT): ``litert_torch.convert(module, example).export(path)``, no TensorFlow needed, run with
``ai_edge_litert``'s interpreter.

LiteRT models have fixed input shapes: ``dynamic_batch`` is ignored (the batch is the export's). int64
inputs and outputs become int32. ``int8="dynamic"``: dynamic-range quantization with ai-edge-quantizer
(INT8 channelwise weights, activations quantized at run time; litert-torch's ``full_dynamic_recipe``).
``int8="static"``: PT2E static quantization (litert-torch's ``PT2EQuantizer``, per channel) calibrated on
the sample inputs or random batches; the model then takes and returns INT8, which the runtime here
quantizes and dequantizes (inputs and outputs quantized too: accuracy depends on the calibration data, and
it fails on embeddings with litert-torch 0.10). ``half``: FP16 weights (``full_fp16_recipe``); inputs and
outputs stay FP32.
A TorchScript source cannot be converted (litert-torch re-exports with ``torch.export``).
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelreg.export.base import Converted, ConvertRequest, package_version
from modelreg.export.failures import failure
from modelreg.export.job import ExportJob
from modelreg.export.ultralytics import export_metadata

MODEL = "model.tflite"
_INDEX = re.compile(r"(\d+)$")


def convert(request: ConvertRequest) -> Converted:
    import litert_torch
    import torch

    options = request.job.options
    if request.source.scripted:
        raise failure("export_failed", "litert-torch cannot convert a TorchScript module (it needs torch.export)",
                      hint="register the model as a pickled module or a state dict with an entry point")
    if options.half and options.int8:
        raise failure("export_failed", "half and int8 cannot be combined", hint="choose one precision: half or int8")
    notes: list[str] = []
    toolchain: dict[str, str] = {}
    if options.dynamic_batch:
        notes.append(f"dynamic_batch ignored: LiteRT models have fixed input shapes (batch fixed at "
                     f"{request.inputs.plan.export_batch})")
    if any(t.dtype == torch.int64 for t in request.example):
        notes.append("int64 inputs become int32 in LiteRT")
    module: Any = request.source.module
    example = request.example
    quant_config: Any = None
    if options.int8 == "dynamic" or options.half:
        from litert_torch.generative.quantize import quant_recipes

        quant_config = quant_recipes.full_fp16_recipe() if options.half else quant_recipes.full_dynamic_recipe()
        toolchain["ai-edge-quantizer"] = package_version("ai-edge-quantizer")
        notes.append("FP16 weights (full_fp16_recipe); inputs and outputs stay FP32" if options.half else
                     "INT8 dynamic range (ai-edge-quantizer full_dynamic_recipe: INT8 channelwise weights)")
    elif options.int8 == "static":
        module, quant_config = _pt2e_static(request)
        notes.append(f"INT8 static (PT2E, per channel), calibrated on {len(request.inputs.calibration)} batches of "
                     f"{request.inputs.origin}; the model takes and returns INT8")
    edge = litert_torch.convert(module, example, quant_config=quant_config)
    edge.export(str(request.out_dir / MODEL))
    metadata = export_metadata(request)
    if metadata is not None:
        # as Ultralytics' LiteRT export: metadata.json in a zip appended to the flatbuffer, which runtimes ignore
        with zipfile.ZipFile(request.out_dir / MODEL, "a", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("metadata.json", json.dumps(metadata))
    return Converted(files=[MODEL], notes=notes, toolchain=toolchain)


def _pt2e_static(request: ConvertRequest) -> tuple[Any, Any]:
    import torch
    from litert_torch.quantize import pt2e_quantizer, quant_config
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))
    graph = torch.export.export(request.source.module, request.example).module()
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for batch in request.inputs.calibration:
            prepared(*(torch.from_numpy(np.ascontiguousarray(a)) for a in batch))
    return convert_pt2e(prepared, fold_quantize=False), quant_config.QuantConfig(pt2e_quantizer=quantizer)


def _by_index(names: Sequence[str]) -> list[str]:
    """``args_0, args_1, …, args_10`` in numeric order."""
    def key(name: str) -> tuple[int, str]:
        found = _INDEX.search(name)
        return (int(found.group(1)) if found else 1 << 30, name)

    return sorted(names, key=key)


class LiteRTRuntime:
    name = "litert"

    def __init__(self, path: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=str(path))
        self._runner = self._interpreter.get_signature_runner()
        details: dict[str, Any] = self._runner.get_input_details()
        self._inputs = [(name, details[name]) for name in _by_index(list(details))]
        self._outputs_details: dict[str, Any] = self._runner.get_output_details()
        self._outputs = _by_index(list(self._outputs_details))
        shape = self._inputs[0][1]["shape"] if self._inputs else []
        self.fixed_batch: int | None = int(shape[0]) if len(shape) else None
        self.description = f"ai-edge-litert {package_version('ai-edge-litert')}"

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        if len(inputs) != len(self._inputs):
            raise ValueError(f"the LiteRT model takes {len(self._inputs)} inputs, {len(inputs)} were given")
        feed = {name: _quantize(a, detail) for (name, detail), a in zip(self._inputs, inputs, strict=True)}
        result = self._runner(**feed)
        return [_dequantize(np.asarray(result[name]), self._outputs_details[name]) for name in self._outputs]


def _quantize(array: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if dtype.kind in "iu" and array.dtype.kind == "f" and scale:
        info = np.iinfo(dtype)
        quantized: np.ndarray = np.clip(np.round(array / scale + zero_point), info.min, info.max).astype(dtype)
        return quantized
    return np.ascontiguousarray(array.astype(dtype, copy=False))


def _dequantize(array: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if array.dtype.kind in "iu" and scale:
        real: np.ndarray = ((array.astype(np.float32) - zero_point) * scale).astype(np.float32)
        return real
    return array


def open_runtime(out_dir: Path, job: ExportJob) -> LiteRTRuntime:
    return LiteRTRuntime(out_dir / MODEL)
