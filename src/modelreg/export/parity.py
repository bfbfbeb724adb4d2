"""Compare an exported model's outputs with the source's (numpy only, no torch).

Outputs are flattened in a fixed order (the order ``torch.utils._pytree`` and so the exporters use: tuple
and list items in order, dict values in insertion order), each named by its path: ``output`` for a lone
tensor, ``output.0``, ``output.boxes``, ``output.1.0`` … For each one: the maximum and mean absolute
difference, and for classification and detection heads the share of rows whose argmax over the last axis
agree.

Thresholds (``THRESHOLDS``), chosen from real exports of small nets with torch 2.13 (FP32 differences are
~1e-7, FP16 ~3e-4, INT8 ~4e-3 to 4e-2): an output passes when

    max_abs_diff  <= thresholds.max_abs_diff  * max(1, max |reference|)
    mean_abs_diff <= thresholds.mean_abs_diff * max(1, mean |reference|)
    argmax_agreement >= thresholds.argmax_agreement     (classification and detection only)

so outputs in pixels (boxes) are held to the same relative precision as scores in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np

from modelreg.export.detection_parity import compare_detections, detection_problems
from modelreg.export.job import ExportOptions, OutputParity, Parity, Thresholds

Precision = Literal["fp32", "fp16", "int8"]
THRESHOLDS: dict[Precision, Thresholds] = {
    "fp32": Thresholds(max_abs_diff=1e-3, mean_abs_diff=1e-4, argmax_agreement=0.99),
    "fp16": Thresholds(max_abs_diff=1e-2, mean_abs_diff=5e-3, argmax_agreement=0.98),
    "int8": Thresholds(max_abs_diff=0.25, mean_abs_diff=0.05, argmax_agreement=0.90),
}
ARGMAX_TASKS = frozenset({"classification", "detection"})


def precision_of(options: ExportOptions) -> Precision:
    if options.int8 is not None:
        return "int8"
    return "fp16" if options.half else "fp32"


def thresholds_for(precision: Precision, task: str) -> Thresholds:
    """The thresholds of ``precision``; argmax agreement only counts for classification and detection."""
    base = THRESHOLDS[precision]
    return base if task in ARGMAX_TASKS else base.model_copy(update={"argmax_agreement": None})


def flatten_outputs(obj: object, to_array: Callable[[object], np.ndarray | None],
                    prefix: str = "output") -> list[tuple[str, np.ndarray]]:
    """The array leaves of nested tuples, lists and dicts, named by path; ``to_array`` returns None for
    leaves that are not arrays (they are left out, as the exporters leave them out)."""
    if isinstance(obj, Mapping):
        found: list[tuple[str, np.ndarray]] = []
        for key, value in obj.items():
            found += flatten_outputs(value, to_array, f"{prefix}.{key}")
        return found
    if isinstance(obj, list | tuple):
        found = []
        for i, value in enumerate(obj):
            found += flatten_outputs(value, to_array, f"{prefix}.{i}")
        return found
    array = to_array(obj)
    return [] if array is None else [(prefix, array)]


def compare(reference: Sequence[tuple[str, np.ndarray]], actual: Sequence[np.ndarray], *, precision: Precision,
            task: str, runtime: str, batch_size: int, inputs: str, detector_classes: int | None = None,
            box_scale: float = 1.0) -> Parity:
    """The parity of ``actual`` (the runtime's outputs, in order) against ``reference`` (the source's).

    ``detector_classes``: the first output is a YOLO head's with this many classes (``box_scale`` pixels per
    box unit), judged by ``modelreg.export.detection_parity`` instead of the thresholds below, which are then
    diagnostics (a shape that differs still fails)."""
    thresholds = thresholds_for(precision, task)
    common = {"runtime": runtime, "batch_size": batch_size, "inputs": inputs, "thresholds": thresholds}
    if len(actual) != len(reference):
        return Parity(status="failed", reason=f"the exported model returns {len(actual)} outputs, the source "
                      f"{len(reference)}", **common)
    outputs, problems, shapes = _compare_outputs(reference, actual, thresholds, runtime)
    detections = None
    if detector_classes is not None and reference:
        ref0, out0 = reference[0][1], actual[0]
        if ref0.ndim == 3 and ref0.shape == out0.shape and ref0.shape[1] >= 4 + detector_classes:
            detections = compare_detections(ref0, out0, detector_classes, precision, box_scale=box_scale)
            problems = detection_problems(detections) + shapes
    status: Literal["passed", "failed"] = "failed" if problems else "passed"
    return Parity(status=status, reason="; ".join(problems) or None, outputs=outputs, detections=detections,
                  **common)


def _compare_outputs(reference: Sequence[tuple[str, np.ndarray]], actual: Sequence[np.ndarray],
                     thresholds: Thresholds, runtime: str) -> tuple[list[OutputParity], list[str], list[str]]:
    """Each output's figures, every problem in output order, and the shape problems among them."""
    outputs: list[OutputParity] = []
    problems: list[str] = []
    shapes: list[str] = []
    for (name, ref), out in zip(reference, actual, strict=True):
        if tuple(out.shape) != tuple(ref.shape):
            shapes.append(f"{name} has shape {list(out.shape)} in {runtime}, {list(ref.shape)} in PyTorch"
                          + (" (the batch is fixed in the exported graph)" if out.shape[:1] != ref.shape[:1]
                             and out.shape[1:] == ref.shape[1:] else ""))
            problems.append(shapes[-1])
            continue
        parity, problem = _compare_one(name, ref, out, thresholds)
        outputs.append(parity)
        if problem:
            problems.append(problem)
    return outputs, problems, shapes


def _compare_one(name: str, ref: np.ndarray, out: np.ndarray,
                 thresholds: Thresholds) -> tuple[OutputParity, str | None]:
    r = ref.astype(np.float64)
    o = out.astype(np.float64)
    if r.size == 0:
        return OutputParity(name=name, max_abs_diff=0.0, mean_abs_diff=0.0), None
    finite = np.isfinite(r)
    both = finite & np.isfinite(o)
    mismatched = int(np.count_nonzero(finite != np.isfinite(o)))
    diff = np.abs(r[both] - o[both])
    max_abs = float(diff.max()) if diff.size else 0.0
    mean_abs = float(diff.mean()) if diff.size else 0.0
    agreement: float | None = None
    if thresholds.argmax_agreement is not None and r.ndim >= 2 and r.shape[-1] > 1 and ref.dtype.kind == "f":
        agreement = float(np.mean(np.argmax(r, axis=-1) == np.argmax(o, axis=-1)))
    parity = OutputParity(name=name, max_abs_diff=max_abs, mean_abs_diff=mean_abs, argmax_agreement=agreement)
    magnitude = np.abs(r[finite])
    max_limit = thresholds.max_abs_diff * max(1.0, float(magnitude.max()) if magnitude.size else 1.0)
    mean_limit = thresholds.mean_abs_diff * max(1.0, float(magnitude.mean()) if magnitude.size else 1.0)
    problems = []
    if mismatched:
        problems.append(f"{mismatched} values are not finite in one and finite in the other")
    if max_abs > max_limit:
        problems.append(f"max |diff| {max_abs:.3g} > {max_limit:.3g}")
    if mean_abs > mean_limit:
        problems.append(f"mean |diff| {mean_abs:.3g} > {mean_limit:.3g}")
    if agreement is not None and thresholds.argmax_agreement is not None and agreement < thresholds.argmax_agreement:
        problems.append(f"argmax agrees on {agreement:.1%} of rows < {thresholds.argmax_agreement:.0%}")
    return parity, (f"{name}: " + ", ".join(problems)) if problems else None
