"""Core ML: ``coremltools.convert`` to an ML program (``.mlpackage``), stored as one file,
``model.mlpackage.zip`` (the package is a directory; unzip it to use it).

The module is traced with ``torch.jit.trace`` and converted; when coremltools cannot convert the traced
graph (coremltools 9.0 with numpy 2.4 fails on shape arithmetic such as ``view(n, …)``) it converts the
``torch.export`` graph instead. Some LSTM/GRU and transformer graphs convert by neither route: the failure
says so. Shapes are fixed (Core ML needs them): ``dynamic_batch`` is ignored. Precision is FP32 unless
``half`` (coremltools' own default is FP16); ``int8`` quantizes the weights to INT8 (``linear_quantize_weights``).
Deployment target: iOS 16 / macOS 13. Core ML models only run on macOS: elsewhere the export is unverified.
"""

from __future__ import annotations

import platform
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelreg.export.base import Converted, ConvertRequest, RuntimeUnavailable, package_version
from modelreg.export.failures import failure, first_line, parse_operator
from modelreg.export.job import ExportJob
from modelreg.export.ultralytics import export_metadata

MODEL = "model.mlpackage.zip"
PACKAGE = "model.mlpackage"
TARGET = "iOS16"


def convert(request: ConvertRequest) -> Converted:
    import coremltools as ct
    import torch

    options = request.job.options
    notes = [f"minimum deployment target {TARGET}"]
    if options.dynamic_batch:
        notes.append(f"dynamic_batch ignored: Core ML models here have fixed shapes (batch {len(request.example[0])})")
    precision = ct.precision.FLOAT16 if options.half else ct.precision.FLOAT32
    common: dict[str, Any] = {"convert_to": "mlprogram", "minimum_deployment_target": getattr(ct.target, TARGET),
                              "compute_precision": precision}
    module = request.source.module
    try:
        trace: Any = torch.jit.trace
        graph = module if request.source.scripted else trace(module, request.example, check_trace=False)
        inputs = [ct.TensorType(name=name, shape=tuple(t.shape), dtype=_ct_dtype(t))
                  for name, t in zip(request.inputs.names, request.example, strict=True)]
        mlmodel = ct.convert(graph, inputs=inputs, **common)
    except Exception as traced_error:
        if request.source.scripted:
            raise
        try:
            program = torch.export.export(module, request.example).run_decompositions({})
            mlmodel = ct.convert(program, **common)
        except Exception as export_error:
            raise _both_failed(traced_error, export_error) from export_error
        notes.append(f"converted from the torch.export graph (the traced one failed: "
                     f"{first_line(str(traced_error))[:160]})")
    if options.int8 is not None:
        config = ct.optimize.coreml.OptimizationConfig(
            global_config=ct.optimize.coreml.OpLinearQuantizerConfig(mode="linear_symmetric"))
        mlmodel = ct.optimize.coreml.linear_quantize_weights(mlmodel, config=config)
        notes.append("INT8 weights (coremltools linear_quantize_weights, symmetric); activations stay float")
    metadata = export_metadata(request)
    if metadata is not None:  # where Ultralytics' Core ML export keeps it, each value as a string
        mlmodel.user_defined_metadata.update({key: str(value) for key, value in metadata.items()})
    package = request.work_dir / PACKAGE
    mlmodel.save(str(package))
    _zip_dir(package, request.out_dir / MODEL)
    return Converted(files=[MODEL], notes=notes)


def _ct_dtype(tensor: Any) -> type[np.generic]:
    import torch

    if tensor.is_floating_point():
        return np.float16 if tensor.dtype == torch.float16 else np.float32
    return np.bool_ if tensor.dtype == torch.bool else np.int32


def _both_failed(traced: Exception, exported: Exception) -> Exception:
    text = f"{traced}\n{exported}"
    operator = parse_operator(text)
    hint = ("coremltools does not convert every graph (some LSTM/GRU and transformer graphs); export to onnx or "
            "tflite instead")
    message = (f"coremltools {package_version('coremltools')} could not convert the traced graph "
               f"({type(traced).__name__}: {first_line(str(traced))[:200]}) nor the torch.export graph "
               f"({type(exported).__name__}: {first_line(str(exported))[:200]})")
    if operator is not None:
        return failure("unsupported_operator", message, hint=hint, operator=operator)
    return failure("export_failed", message, hint=hint)


def _zip_dir(folder: Path, target: Path) -> None:
    """``folder`` as a zip whose entries start with the folder's name, in sorted order."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            archive.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")


def unavailable_reason() -> str:
    return (f"Core ML models can only be run on macOS; converted on {platform.system()} with coremltools "
            f"{package_version('coremltools')}")


class CoreMLRuntime:
    name = "coreml"

    def __init__(self, archive: Path) -> None:
        import coremltools as ct

        self._dir = Path(tempfile.mkdtemp(prefix="modelreg-coreml-"))
        with zipfile.ZipFile(archive) as z:
            z.extractall(self._dir)
        self._model = ct.models.MLModel(str(self._dir / PACKAGE))
        spec = self._model.get_spec()
        self._inputs = [i.name for i in spec.description.input]
        self._outputs = [o.name for o in spec.description.output]
        shape = list(spec.description.input[0].type.multiArrayType.shape) if self._inputs else []
        self.fixed_batch: int | None = int(shape[0]) if shape else None
        self.description = f"coremltools {package_version('coremltools')} (Core ML)"

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        feed = {name: (a.astype(np.int32) if a.dtype == np.int64 else a) for name, a in zip(self._inputs, inputs,
                                                                                              strict=True)}
        result = self._model.predict(feed)
        return [np.asarray(result[name]) for name in self._outputs]

    def __del__(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


def open_runtime(out_dir: Path, job: ExportJob) -> CoreMLRuntime:
    if platform.system() != "Darwin":
        raise RuntimeUnavailable(unavailable_reason())
    return CoreMLRuntime(out_dir / MODEL)
