"""The inputs an export is traced with, verified on and calibrated with (numpy only, no torch).

They come from the version's sample inputs (``job.sample_inputs_path``: a ``.npz`` of arrays named as the
inputs, batch first) or are drawn at random with ``numpy.random.default_rng(0)``: float inputs standard
normal, integer inputs in ``[0, 10)``, booleans fair coins. Sample arrays are cycled along the batch axis
to fill a batch.

Batch sizes (measured with torch 2.13: ``torch.export`` specialises a dynamic batch traced at 1, and the ONNX
exporter can silently fix the batch of a sequence model while labelling it dynamic): a dynamic-batch export
(ONNX, TorchScript with ``dynamic_batch``) is traced at ``max(2, batch)`` and verified at one more, so a
batch baked into the graph shows as a shape mismatch. A fixed-shape export is traced and verified at the
batch of the input shapes, ``-1`` meaning 1. Other ``-1`` dimensions take the sample's size, else 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelreg.export.failures import failure
from modelreg.export.job import ExportJob, InputSpec

SEED = 0
INT_HIGH = 10                 # random integer inputs are drawn from [0, INT_HIGH)
CALIBRATION_BATCHES = 8       # random batches for static INT8 calibration when the version has no samples
DYNAMIC_BATCH_FORMATS = frozenset({"onnx", "torchscript"})
RANDOM_ORIGIN = f"random, seed {SEED}"
SAMPLE_ORIGIN = "sample inputs of the version"


@dataclass(frozen=True)
class BatchPlan:
    export_batch: int
    verify_batch: int
    dynamic: bool             # the exported model takes any batch size


@dataclass
class ModelInputs:
    names: list[str]
    export: list[np.ndarray]               # one array per input, at plan.export_batch
    verify: list[np.ndarray]               # at plan.verify_batch
    calibration: list[list[np.ndarray]]    # batches for static INT8, at plan.export_batch
    origin: str                            # RANDOM_ORIGIN or SAMPLE_ORIGIN
    plan: BatchPlan


def plan_batches(job: ExportJob) -> BatchPlan:
    """The batch sizes to trace and to verify the export at."""
    batch = job.inputs[0].shape[0] if job.inputs and job.inputs[0].shape else -1
    if job.options.dynamic_batch and job.format in DYNAMIC_BATCH_FORMATS:
        export_batch = max(2, batch)
        return BatchPlan(export_batch=export_batch, verify_batch=export_batch + 1, dynamic=True)
    fixed = batch if batch > 0 else 1
    return BatchPlan(export_batch=fixed, verify_batch=fixed, dynamic=False)


def build_inputs(job: ExportJob, plan: BatchPlan | None = None) -> ModelInputs:
    """The export, verification and calibration inputs of ``job``."""
    plan = plan or plan_batches(job)
    names = [spec.name for spec in job.inputs]
    if not job.inputs:
        raise failure("export_failed", "the job names no inputs", hint="give input_shapes or a version signature")
    if job.sample_inputs_path:
        samples = load_samples(job.sample_inputs_path, job.inputs)
        rows = len(samples[0])
        calibration = [_take(samples, start, plan.export_batch)
                       for start in range(0, max(rows, plan.export_batch), plan.export_batch)][:64]
        return ModelInputs(names, _take(samples, 0, plan.export_batch), _take(samples, 0, plan.verify_batch),
                           calibration, SAMPLE_ORIGIN, plan)
    rng = np.random.default_rng(SEED)
    pool = random_inputs(job.inputs, max(plan.export_batch, plan.verify_batch), rng)
    calibration = [random_inputs(job.inputs, plan.export_batch, rng) for _ in range(CALIBRATION_BATCHES)]
    return ModelInputs(names, [a[:plan.export_batch] for a in pool], [a[:plan.verify_batch] for a in pool],
                       calibration, RANDOM_ORIGIN, plan)


def inputs_at_batch(job: ExportJob, batch: int) -> list[np.ndarray]:
    """Inputs at ``batch`` (benchmarks): the samples cycled, or random with seed 0."""
    if job.sample_inputs_path:
        return _take(load_samples(job.sample_inputs_path, job.inputs), 0, batch)
    return random_inputs(job.inputs, batch, np.random.default_rng(SEED))


def random_inputs(specs: list[InputSpec], batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One random array per input spec, batch ``batch``, other ``-1`` dimensions 2."""
    arrays: list[np.ndarray] = []
    for spec in specs:
        shape = (batch, *(d if d > 0 else 2 for d in spec.shape[1:]))
        dtype = _dtype(spec)
        if dtype.kind == "f":
            arrays.append(rng.standard_normal(shape).astype(dtype))
        elif dtype.kind in "iu":
            arrays.append(rng.integers(0, INT_HIGH, size=shape).astype(dtype))
        elif dtype.kind == "b":
            arrays.append(rng.random(shape) < 0.5)
        else:
            raise failure("export_failed", f"input {spec.name!r} has dtype {spec.dtype}, which cannot be drawn",
                          hint="register sample inputs (a .npz) for this version")
    return arrays


def load_samples(path: str, specs: list[InputSpec]) -> list[np.ndarray]:
    """The sample arrays in input order, each with a batch axis, cast to the inputs' dtypes."""
    try:
        with np.load(Path(path), allow_pickle=False) as archive:
            found = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as exc:
        raise failure("export_failed", f"cannot read the sample inputs {Path(path).name}: {exc}",
                      hint="sample inputs are a .npz of arrays named as the model's inputs") from exc
    arrays: list[np.ndarray] = []
    for i, spec in enumerate(specs):
        array = found.get(spec.name)
        if array is None and len(specs) == len(found) == 1:
            array = next(iter(found.values()))
        if array is None and f"arr_{i}" in found:
            array = found[f"arr_{i}"]
        if array is None:
            raise failure("export_failed", f"the sample inputs have no array {spec.name!r} (they have "
                          f"{sorted(found)})", hint="name the arrays as the model's inputs")
        if array.ndim == len(spec.shape) - 1:
            array = array[None]
        if array.ndim != len(spec.shape) or len(array) == 0:
            raise failure("export_failed", f"the sample input {spec.name!r} has shape {list(array.shape)}, the "
                          f"model takes {spec.shape}", hint="save the samples batch first, as the model takes them")
        arrays.append(array.astype(_dtype(spec), copy=False))
    if len({len(a) for a in arrays}) > 1:
        raise failure("export_failed", "the sample inputs have different batch sizes",
                      hint="save as many rows of every input")
    return arrays


def _take(arrays: list[np.ndarray], start: int, batch: int) -> list[np.ndarray]:
    """``batch`` rows from ``start``, cycling."""
    return [np.take(a, np.arange(start, start + batch) % len(a), axis=0) for a in arrays]


def _dtype(spec: InputSpec) -> np.dtype[np.generic]:
    try:
        return np.dtype(spec.dtype)
    except TypeError as exc:
        raise failure("export_failed", f"input {spec.name!r} has an unknown dtype {spec.dtype!r}",
                      hint="use a numpy dtype name: float32, float16, int64, int32, uint8, bool") from exc
