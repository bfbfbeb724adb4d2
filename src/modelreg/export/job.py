"""What the registry asks of an exporter and what it gets back: plain data, no torch.

The service builds an ``ExportJob`` and calls ``modelreg.export.runner.run_export(job)``; the runner
converts in a child process (``python -m modelreg.export.worker``) and verifies the result in another one,
so a toolchain that crashes (ONNX Runtime segfaults on some FP16 graphs) or runs out of memory becomes a
failed ``ExportOutcome``, never a dead server. ``run_bench(job, ...)`` measures latency the same way.
Both sides exchange these types as JSON files.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Format = Literal["onnx", "torchscript", "coreml", "tflite"]
FORMATS: tuple[str, ...] = ("onnx", "torchscript", "coreml", "tflite")
# The file kinds a version's weights can come in (see modelreg.export.source).
SourceKind = Literal["pickled_module", "torchscript", "exported_program", "state_dict"]
Int8Mode = Literal["dynamic", "static"]
# ok: converted and verified within its thresholds; failed-parity: converted, but the exported model's
# outputs differ from the source's beyond them (or its runtime crashed); unverified: converted, but its
# runtime cannot run here (CoreML off macOS), with the reason; failed: no file was produced.
ExportStatus = Literal["ok", "failed-parity", "unverified", "failed"]


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class InputSpec(_Data):
    """One input of the model: ``shape`` includes the batch dimension; ``-1`` is dynamic."""

    name: str
    dtype: str = "float32"
    shape: list[int]


class ExportOptions(_Data):
    """The options a user passes; the defaults are what ``modelreg export`` does with no flags.

    ``input_shapes``: one shape per input, batch dimension first (from the version's signature when
    None; an image model's ``imgsz`` fills ``[1, 3, imgsz, imgsz]``). ``dynamic_batch``: the exported
    model accepts any batch size (ONNX and TorchScript; LiteRT and CoreML need fixed shapes).
    ``opset``: ONNX opset (None: the exporter's default). ``half``: FP16 weights and activations.
    ``int8``: INT8 quantization (ONNX Runtime dynamic or static QDQ; LiteRT dynamic range).
    ``simplify``: run the toolchain's graph simplifier where it has one.
    """

    input_shapes: list[list[int]] | None = None
    dynamic_batch: bool = False
    opset: int | None = None
    half: bool = False
    int8: Int8Mode | None = None
    simplify: bool = False


class ExportJob(_Data):
    format: Format
    options: ExportOptions = Field(default_factory=ExportOptions)
    source_path: str               # the weights file, already verified and on local disk
    source_kind: SourceKind
    entry_point: str | None = None  # "package.module:factory" that builds the module for a state dict
    inputs: list[InputSpec]         # resolved shapes (options, then signature); batch included
    sample_inputs_path: str | None = None  # a .npz of the version's sample inputs, arrays named as inputs
    task: str = "other"             # classification/detection heads also get argmax agreement
    trusted: bool = False           # allows unpickling (runs code in the file)
    out_dir: str                    # the worker writes the exported files here, nothing else
    timeout_s: float = 1800.0
    memory_limit_bytes: int | None = None  # of each child process (None: half the machine, see export.limits)


class ExportFailure(_Data):
    """Why an export or its verification failed, in the words of the error tree (``modelreg.errors``)."""

    code: str                       # e.g. "unsupported_operator", "export_failed", "out_of_memory"
    message: str
    hint: str | None = None
    operator: str | None = None     # the operator the exporter could not convert, when it says
    # toolchain_missing: the distributions that are not installed, the extra that installs them, the command
    missing: list[str] | None = None
    extra: str | None = None
    install: str | None = None


class OutputParity(_Data):
    name: str
    max_abs_diff: float
    mean_abs_diff: float
    argmax_agreement: float | None = None  # share of rows whose argmax over the last axis agree


class Thresholds(_Data):
    max_abs_diff: float
    mean_abs_diff: float
    argmax_agreement: float | None = None


class DetectionThresholds(_Data):
    """Absolute bounds, applied exactly as written (see ``modelreg.export.detection_parity``)."""

    conf: float             # a detection scores at least this
    matched: float          # lower bounds on the matching, when the source detects anything
    mean_iou: float
    class_agreement: float
    map50: float
    box_max_diff: float     # upper bounds in pixels and in score, when it detects nothing
    score_max_diff: float


class DetectionParity(_Data):
    """What an exported detector finds against what its source finds on the same inputs (the source's
    detections as the ground truth), and how far its boxes and scores are; see
    ``modelreg.export.detection_parity``."""

    source_detections: int
    export_detections: int
    matched: float                      # share of the source's detections found (same class, IoU >= 0.5)
    mean_iou: float | None = None       # of the matched ones
    class_agreement: float | None = None
    map50: float                        # the export's mAP50 against the source's detections
    box_max_diff: float                 # pixels, over the anchors either model scores at least 0.001
    score_max_diff: float               # class scores, over the same anchors
    thresholds: DetectionThresholds


class Parity(_Data):
    status: Literal["passed", "failed", "unverified"]
    reason: str | None = None       # why it failed or could not run
    runtime: str | None = None      # "onnxruntime 1.23.2", "torch.jit", "ai-edge-litert 2.3.0"
    batch_size: int | None = None   # verified at a batch size other than the export's where it can
    inputs: str = ""                # "sample inputs of the version" or "random, seed 0"
    thresholds: Thresholds | None = None
    outputs: list[OutputParity] = Field(default_factory=list)
    detections: DetectionParity | None = None  # a detector's: it decides, the raw differences are diagnostics


class ExportOutcome(_Data):
    status: ExportStatus
    files: list[str] = Field(default_factory=list)   # relative to job.out_dir, e.g. model.onnx, model.onnx.data
    toolchain: dict[str, str] = Field(default_factory=dict)  # package -> version
    duration_s: float = 0.0         # conversion time
    parity: Parity | None = None
    error: ExportFailure | None = None
    notes: list[str] = Field(default_factory=list)  # what the exporter decided: an ignored option, a fallback


class BenchRow(_Data):
    runtime: str                    # "pytorch-eager", "onnxruntime", "torchscript", "litert"
    device: str = "cpu"
    batch: int
    p50_ms: float
    p90_ms: float
    throughput_per_s: float         # samples per second at p50
    runs: int


class BenchOutcome(_Data):
    rows: list[BenchRow] = Field(default_factory=list)
    machine: dict[str, str] = Field(default_factory=dict)  # cpu, cores, gpu when present
    error: ExportFailure | None = None
