"""ONNX: ``torch.onnx.export`` (the dynamo exporter; the TorchScript-based one for TorchScript sources), run
in ONNX Runtime on the CPU.

Options: ``opset`` (None: the exporter's default), ``dynamic_batch`` (a symbolic first dimension on every
input), ``half`` (the module and its float inputs in FP16 before export; the ONNX model takes and returns
FP16), ``int8="dynamic"`` (``onnxruntime.quantization.quantize_dynamic``: INT8 weights, activations
quantized at run time; it made conv nets ~5x slower on CPU, so ``static`` is usually the one to deploy),
``int8="static"`` (``quantize_static``, QDQ, per channel, calibrated on the sample inputs or random batches;
~3x faster on CPU), ``simplify`` (onnxslim, else onnxsim, when installed; otherwise onnxscript's optimizer,
which the exporter has already run). The exporter may write ``model.onnx`` and ``model.onnx.data``
(weights over 2 GB); both are listed.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modelreg.export.base import Converted, ConvertRequest, package_version
from modelreg.export.failures import failure
from modelreg.export.job import ExportJob
from modelreg.export.ultralytics import ONNX_OPSET, export_metadata

if TYPE_CHECKING:
    import torch

MODEL = "model.onnx"
_ORT_TYPES: dict[str, type[np.generic]] = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int16)": np.int16, "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_,
}


def convert(request: ConvertRequest) -> Converted:
    options = request.job.options
    if options.half and options.int8:
        raise failure("export_failed", "half and int8 cannot be combined", hint="choose one precision: half or int8")
    notes: list[str] = []
    toolchain: dict[str, str] = {}
    model: Any = request.source.module
    example = request.example
    if options.half:
        model = copy.deepcopy(model).half()
        example = tuple(t.half() if t.is_floating_point() else t for t in example)
    quantize = options.int8 is not None
    exported = request.work_dir / "fp.onnx" if quantize else request.out_dir / MODEL
    _export(request, model, example, exported, notes)
    if options.simplify:
        _simplify(exported, notes, toolchain)
    if options.int8 == "dynamic":
        _quantize_dynamic(request, exported, notes)
    elif options.int8 == "static":
        _quantize_static(request, exported, notes)
    files = [MODEL] + [p.name for p in sorted(request.out_dir.glob(MODEL + ".data"))]
    if not (request.out_dir / MODEL).is_file():
        raise failure("export_failed", "torch.onnx.export wrote no model file", hint="run again with logging on")
    metadata = export_metadata(request)
    if metadata is not None:
        _set_metadata(request.out_dir / MODEL, metadata)
    return Converted(files=files, notes=notes, toolchain=toolchain)


def _set_metadata(path: Path, metadata: dict[str, Any]) -> None:
    """Ultralytics' metadata as the model's metadata properties, each value as Ultralytics writes it (``str``)."""
    import onnx as onnx_lib

    model = onnx_lib.load(str(path), load_external_data=False)
    del model.metadata_props[:]
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=str(value))
    onnx_lib.save(model, str(path))


def _export(request: ConvertRequest, model: Any, example: tuple[torch.Tensor, ...], path: Path,
            notes: list[str]) -> None:
    import torch

    names = request.inputs.names
    opset = request.job.options.opset
    dynamic = request.inputs.plan.dynamic
    yolo = request.source.ultralytics
    if yolo is not None:
        # as yolo export: the TorchScript-based exporter, its output names and opset, a dynamic batch on both ends
        outputs = yolo.output_names
        torch.onnx.export(model, example, str(path), dynamo=False, input_names=names, output_names=outputs,
                          opset_version=opset or ONNX_OPSET,
                          dynamic_axes={n: {0: "batch"} for n in [*names, *outputs]} if dynamic else None)
        notes.append(f"exported as yolo export does: outputs {', '.join(outputs)}, opset {opset or ONNX_OPSET}")
        return
    if request.source.scripted:
        # torch.export cannot trace a ScriptModule; the TorchScript-based exporter can
        notes.append("exported with the TorchScript-based ONNX exporter (the source is TorchScript)")
        torch.onnx.export(model, example, str(path), dynamo=False, input_names=names, opset_version=opset,
                          dynamic_axes={n: {0: "batch"} for n in names} if dynamic else None)
        return
    batch = torch.export.Dim("batch")
    program = torch.onnx.export(model, example, dynamo=True, input_names=names, opset_version=opset,
                                dynamic_shapes=tuple({0: batch} for _ in names) if dynamic else None,
                                verbose=False, optimize=True)
    if program is None:
        raise failure("export_failed", "torch.onnx.export returned no program", hint="run again with logging on")
    program.save(str(path))


def _simplify(path: Path, notes: list[str], toolchain: dict[str, str]) -> None:
    import onnx as onnx_lib

    if importlib.util.find_spec("onnxslim") is not None:
        import onnxslim

        onnxslim.slim(str(path), str(path))
        notes.append("simplified with onnxslim")
        toolchain["onnxslim"] = package_version("onnxslim")
        return
    if importlib.util.find_spec("onnxsim") is not None:
        import onnxsim

        simplified, ok = onnxsim.simplify(onnx_lib.load(str(path)))
        if ok:
            onnx_lib.save(simplified, str(path))
            notes.append("simplified with onnxsim")
            toolchain["onnxsim"] = package_version("onnxsim")
        else:
            notes.append("simplify: onnxsim could not check the simplified model; kept the exported one")
        return
    import onnxscript.optimizer

    optimized = onnxscript.optimizer.optimize(onnx_lib.load(str(path)))
    onnx_lib.save(optimized, str(path))
    notes.append("simplify: onnxslim and onnxsim are not available (pip install onnxslim); ran onnxscript's "
                 "optimizer, which the exporter had already run")


def _preprocess(source: Path, work: Path, notes: list[str]) -> Path:
    """Shape inference and graph cleanup that ONNX Runtime's quantizer recommends; skipped when it fails."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    target = work / "pre.onnx"
    try:
        # its symbolic shape inference writes a temporary model (and its weights) into the current folder
        with contextlib.chdir(work):
            quant_pre_process(str(source), str(target))
        return target
    except Exception as exc:
        notes.append(f"quantization pre-processing failed ({type(exc).__name__}); quantized the exported graph")
        return source


def _quantize_dynamic(request: ConvertRequest, exported: Path, notes: list[str]) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = _preprocess(exported, request.work_dir, notes)
    quantize_dynamic(str(source), str(request.out_dir / MODEL), weight_type=QuantType.QInt8)
    notes.append("INT8 dynamic (onnxruntime quantize_dynamic): INT8 weights, activations quantized at run time; "
                 "conv nets can run slower than FP32 on CPU, int8='static' is usually faster")


def _quantize_static(request: ConvertRequest, exported: Path, notes: list[str]) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    names = request.inputs.names
    batches = [dict(zip(names, arrays, strict=True)) for arrays in request.inputs.calibration]

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._batches = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    source = _preprocess(exported, request.work_dir, notes)
    quantize_static(str(source), str(request.out_dir / MODEL), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    notes.append(f"INT8 static (onnxruntime quantize_static, QDQ, per channel), calibrated on {len(batches)} "
                 f"batches of {request.inputs.origin}")


class OnnxRuntime:
    name = "onnxruntime"

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = self._session.get_inputs()
        self.description = f"onnxruntime {package_version('onnxruntime')}"
        first = self._inputs[0].shape[0] if self._inputs and self._inputs[0].shape else None
        self.fixed_batch: int | None = first if isinstance(first, int) else None

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        if len(inputs) != len(self._inputs):
            raise ValueError(f"the ONNX model takes {len(self._inputs)} inputs, {len(inputs)} were given")
        feed = {spec.name: np.ascontiguousarray(a.astype(_ORT_TYPES.get(spec.type, a.dtype.type), copy=False))
                for spec, a in zip(self._inputs, inputs, strict=True)}
        outputs = self._session.run(None, feed)
        return [np.asarray(o) for o in outputs]


def open_runtime(out_dir: Path, job: ExportJob) -> OnnxRuntime:
    return OnnxRuntime(out_dir / MODEL)
