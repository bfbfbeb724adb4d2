"""The child side of an export: ``python -m modelreg.export.worker COMMAND JOB.json RESULT.json``.

``convert``  load the source, build the inputs, run the source eagerly for the reference outputs (saved with
             the inputs to ``--reference``, by default ``reference.npz`` next to RESULT.json), convert into
             ``job.out_dir``; RESULT.json is an ``ExportOutcome`` (status "unverified" until verified, or
             "failed" with the failure).
``verify``   run the exported files in their runtime on the reference inputs and compare; RESULT.json is a
             ``Parity``. Run apart from ``convert`` so a runtime that crashes takes only this process down.
``bench``    ``--batch 1,16 --runs N``: latency of the exported model in its runtime and of PyTorch eager,
             per batch; RESULT.json is a ``BenchOutcome``.

The worker writes RESULT.json and exits 0 whenever it could decide; the runner reads a non-zero exit or a
signal as a crash. ``MODELREG_EXPORT_TEST_CRASH=1`` makes ``verify`` kill itself with SIGSEGV (a test seam).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from modelreg.export.base import ConvertRequest, Runtime, RuntimeUnavailable, format_module
from modelreg.export.failures import ExportError, classify, failure, first_line
from modelreg.export.inputs import ModelInputs, build_inputs, inputs_at_batch
from modelreg.export.job import BenchOutcome, BenchRow, ExportFailure, ExportJob, ExportOutcome, Parity
from modelreg.export.parity import compare, precision_of, thresholds_for
from modelreg.export.runner import QUIET_ENV

CRASH_ENV = "MODELREG_EXPORT_TEST_CRASH"
DETECTOR_TASKS = ("detect", "segment")  # Ultralytics tasks whose output0 is boxes and class scores per anchor
WARMUP_S = 0.2
WARMUP_MAX_CALLS = 50
_INPUT_KEY = "input_{}"
_OUTPUT_KEY = "output_{}"


# ---- the reference: inputs at the verification batch and the source's outputs on them

def save_reference(path: Path, inputs: ModelInputs, outputs: Sequence[tuple[str, np.ndarray]],
                   detector_classes: int | None = None, box_scale: float = 1.0) -> None:
    """``detector_classes``: the source is a YOLO detector of that many classes (parity by its detections),
    whose boxes are ``box_scale`` pixels per unit."""
    meta = {"input_names": inputs.names, "output_names": [name for name, _ in outputs],
            "export_batch": inputs.plan.export_batch, "verify_batch": inputs.plan.verify_batch,
            "origin": inputs.origin, "detector_classes": detector_classes, "box_scale": box_scale}
    arrays: dict[str, Any] = {_INPUT_KEY.format(i): a for i, a in enumerate(inputs.verify)}
    arrays |= {_OUTPUT_KEY.format(i): a for i, (_, a) in enumerate(outputs)}
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)


class Reference:
    def __init__(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            self.inputs = [archive[_INPUT_KEY.format(i)] for i in range(len(meta["input_names"]))]
            self.outputs = [(name, archive[_OUTPUT_KEY.format(i)]) for i, name in enumerate(meta["output_names"])]
        self.verify_batch: int = meta["verify_batch"]
        self.export_batch: int = meta["export_batch"]
        self.origin: str = meta["origin"]
        self.detector_classes: int | None = meta.get("detector_classes")
        self.box_scale: float = meta.get("box_scale", 1.0)


# ---- convert

def convert(job: ExportJob, reference: Path) -> ExportOutcome:
    from modelreg.export.eager import run_module, to_tensors
    from modelreg.export.source import load_source

    notes: list[str] = []
    stage = "loading the weights"
    try:
        source = load_source(job)
        notes += source.notes
        stage = "building the inputs"
        inputs = build_inputs(job)
        stage = "running the source model"
        outputs, inputs = _reference_outputs(source.module, inputs, run_module, notes)
        yolo = source.ultralytics
        detector = yolo is not None and yolo.task in DETECTOR_TASKS
        save_reference(reference, inputs, outputs, len(yolo.names) if yolo is not None and detector else None,
                       box_scale=float(inputs.export[0].shape[-1]) if detector and job.format == "tflite" else 1.0)
        stage = f"loading the {job.format} toolchain"
        module = format_module(job.format)
        stage = f"the {job.format} export"
        out_dir = Path(job.out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="modelreg-export-work-") as work:
            started = time.perf_counter()
            converted = module.convert(ConvertRequest(job=job, source=source, inputs=inputs,
                                                      example=to_tensors(inputs.export), out_dir=out_dir,
                                                      work_dir=Path(work)))
            duration = time.perf_counter() - started
    except (Exception, MemoryError) as exc:
        error = classify(exc, job.format, stage)
        if stage == "loading the weights" and error.code == "export_failed":  # a damaged or foreign file
            error = error.model_copy(update={"code": "no_weights", "hint": f"check that {Path(job.source_path).name} "
                                             f"is a {job.source_kind.replace('_', ' ')} saved by PyTorch"})
        return ExportOutcome(status="failed", error=error, notes=notes)
    return ExportOutcome(status="unverified", files=converted.files, toolchain=converted.toolchain,
                         duration_s=round(duration, 3), notes=notes + converted.notes)


def _reference_outputs(module: Any, inputs: ModelInputs, run: Callable[..., list[tuple[str, np.ndarray]]],
                       notes: list[str]) -> tuple[list[tuple[str, np.ndarray]], ModelInputs]:
    """The source's outputs at the verification batch (at the export batch when it takes only that one)."""
    try:
        outputs = run(module, inputs.verify)
    except Exception as exc:
        if inputs.plan.verify_batch == inputs.plan.export_batch:
            raise _source_failed(exc, inputs) from exc
        try:
            outputs = run(module, inputs.export)
        except Exception as again:
            raise _source_failed(again, inputs) from again
        notes.append(f"the source model does not run at batch {inputs.plan.verify_batch} "
                     f"({first_line(str(exc))[:160]}); verified at the export batch {inputs.plan.export_batch}")
        return outputs, replace(inputs, verify=inputs.export,
                                plan=replace(inputs.plan, verify_batch=inputs.plan.export_batch))
    if not outputs:
        raise failure("export_failed", "the source model returns no tensors", hint="forward() must return tensors")
    return outputs, inputs


def _source_failed(exc: Exception, inputs: ModelInputs) -> ExportError:
    if isinstance(exc, ExportError):
        return exc
    shapes = ", ".join(f"{n} {list(a.shape)} {a.dtype}" for n, a in zip(inputs.names, inputs.export, strict=True))
    return failure("export_failed", f"the source model fails on inputs {shapes}: {type(exc).__name__}: "
                   f"{first_line(str(exc))}", hint="check the input shapes and dtypes (input_shapes, or the "
                   "version's signature)")


# ---- verify

def verify(job: ExportJob, reference: Path) -> Parity:
    ref = Reference(reference)
    precision = precision_of(job.options)
    common: dict[str, Any] = {"batch_size": ref.verify_batch, "inputs": ref.origin,
                              "thresholds": thresholds_for(precision, job.task)}
    try:
        runtime = format_module(job.format).open_runtime(Path(job.out_dir), job)
    except RuntimeUnavailable as exc:
        return Parity(status="unverified", reason=str(exc), **common)
    except (Exception, MemoryError) as exc:
        return Parity(status="failed", reason=f"the runtime could not load the exported model: "
                      f"{type(exc).__name__}: {first_line(str(exc))}", **common)
    if os.environ.get(CRASH_ENV) == "1":
        os.kill(os.getpid(), signal.SIGSEGV)
    try:
        actual = runtime.run(ref.inputs)
    except (Exception, MemoryError) as exc:
        return Parity(status="failed", runtime=runtime.description,
                      reason=f"{runtime.description} failed on the inputs (batch {ref.verify_batch}): "
                             f"{type(exc).__name__}: {first_line(str(exc))}", **common)
    return compare(ref.outputs, actual, precision=precision, task=job.task, runtime=runtime.description,
                   batch_size=ref.verify_batch, inputs=ref.origin, detector_classes=ref.detector_classes,
                   box_scale=ref.box_scale)


# ---- bench

def bench(job: ExportJob, batches: Sequence[int], runs: int) -> BenchOutcome:
    from modelreg.export.eager import to_tensors
    from modelreg.export.source import load_source

    try:
        source = load_source(job)
    except (Exception, MemoryError) as exc:
        return BenchOutcome(machine=machine(), error=classify(exc, job.format, "loading the weights"))
    import torch

    problems: list[str] = []
    rows: list[BenchRow] = []
    inputs = {batch: inputs_at_batch(job, batch) for batch in batches}
    # eager first, before the runtime exists: ONNX Runtime's idle threads spin and would slow torch down
    for batch, arrays in inputs.items():
        try:
            with torch.inference_mode():
                rows.append(_time("pytorch-eager", partial(source.module, *to_tensors(arrays)), batch, runs))
        except Exception as exc:
            problems.append(f"PyTorch eager failed at batch {batch}: {first_line(str(exc))}")
    if torch.cuda.is_available():  # the GPU too, where this machine has one (eager; runtimes here are CPU builds)
        rows += _eager_on_gpu(source.module, inputs, runs, problems)
    code = "export_failed"
    try:
        runtime: Runtime | None = format_module(job.format).open_runtime(Path(job.out_dir), job)
    except RuntimeUnavailable as exc:
        runtime, code = None, "platform_unsupported"
        problems.append(str(exc))
    except (Exception, MemoryError) as exc:
        runtime = None
        problems.append(f"the runtime could not load the exported model: {first_line(str(exc))}")
    for batch, arrays in inputs.items():
        if runtime is None:
            break
        if runtime.fixed_batch is not None and runtime.fixed_batch != batch:
            problems.append(f"{runtime.name}: the exported model takes only batch {runtime.fixed_batch}; "
                            f"batch {batch} skipped")
            continue
        try:
            rows.append(_time(runtime.name, partial(runtime.run, arrays), batch, runs))
        except Exception as exc:
            problems.append(f"{runtime.name} failed at batch {batch}: {first_line(str(exc))}")
    error = ExportFailure(code=code, message="; ".join(problems)) if problems else None
    return BenchOutcome(rows=rows, machine=machine(), error=error)


def _eager_on_gpu(module: Any, inputs: dict[int, list[Any]], runs: int, problems: list[str]) -> list[BenchRow]:
    import torch

    from modelreg.export.eager import to_tensors

    rows: list[BenchRow] = []
    try:
        gpu = module.to("cuda")
    except Exception as exc:
        problems.append(f"PyTorch eager could not move to the GPU: {first_line(str(exc))}")
        return rows
    for batch, arrays in inputs.items():
        tensors = tuple(t.to("cuda") for t in to_tensors(arrays))

        def call(tensors: tuple[Any, ...] = tensors) -> None:
            with torch.inference_mode():
                gpu(*tensors)
            torch.cuda.synchronize()

        try:
            row = _time("pytorch-eager", call, batch, runs)
            rows.append(row.model_copy(update={"device": f"cuda ({torch.cuda.get_device_name(0)})"}))
        except Exception as exc:
            problems.append(f"PyTorch eager failed on the GPU at batch {batch}: {first_line(str(exc))}")
    module.to("cpu")
    return rows


def _time(runtime: str, call: Callable[[], object], batch: int, runs: int) -> BenchRow:
    """p50/p90 of ``runs`` calls after a warm-up of 5 calls and at least WARMUP_S (JIT executors and
    thread pools settle in the first calls)."""
    started = time.perf_counter()
    for i in range(WARMUP_MAX_CALLS):
        call()
        if i >= 4 and time.perf_counter() - started >= WARMUP_S:
            break
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    p50, p90 = (float(np.percentile(times, q)) * 1000.0 for q in (50, 90))
    return BenchRow(runtime=runtime, batch=batch, p50_ms=round(p50, 4), p90_ms=round(p90, 4),
                    throughput_per_s=round(batch / (p50 / 1000.0), 2) if p50 > 0 else 0.0, runs=runs)


def machine() -> dict[str, str]:
    found = {"cpu": _cpu_name(), "cores": str(os.cpu_count() or 0), "platform": platform.platform()}
    try:
        import torch

        found["torch_threads"] = str(torch.get_num_threads())
        if torch.cuda.is_available():
            found["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return found


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ---- the command line

def _write(path: Path, data: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(data)
    os.replace(tmp, path)


def _batches(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: batch sizes are positive whole numbers, comma separated")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(prog="python -m modelreg.export.worker")
    parser.add_argument("command", choices=["convert", "verify", "bench"])
    parser.add_argument("job", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--reference", type=Path, default=None, help="default: reference.npz next to RESULT")
    parser.add_argument("--batch", type=_batches, default=[1, 16])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    job = ExportJob.model_validate_json(args.job.read_text())
    reference: Path = args.reference or args.result.with_name("reference.npz")
    if args.command == "convert":
        _write(args.result, convert(job, reference).model_dump_json())
    elif args.command == "verify":
        _write(args.result, verify(job, reference).model_dump_json())
    else:
        _write(args.result, bench(job, args.batch, max(1, args.runs)).model_dump_json())
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
