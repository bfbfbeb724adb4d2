"""Ultralytics checkpoints (``best.pt`` of a YOLO run): the module prepared as ``yolo export`` prepares it, and
the metadata Ultralytics' own exports carry, so an exported file is a drop-in for Ultralytics' own: the same
single ``output0`` (``output1``, the mask prototypes, for segmentation), read by ``YOLO("model.onnx")`` with the
class names, stride, image size and task it needs. Worker side: imports torch and, for an Ultralytics
checkpoint only, ``ultralytics`` (the module's classes live there).

What ``prepare`` does is what Ultralytics' ``Exporter`` does before converting: FP32, eval, BatchNorm fused
into the convolutions, the head in export mode (one tensor out, boxes decoded, no NMS), ``C2f`` blocks
split the way that gives a cleaner graph; for LiteRT, the coordinates divided by the image size, as Ultralytics'
LiteRT export does (its LiteRT backend multiplies them back).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import torch

from modelreg.export.base import package_version
from modelreg.export.failures import failure
from modelreg.export.toolchains import ULTRALYTICS_INSTALL

if TYPE_CHECKING:
    from modelreg.export.base import ConvertRequest

# Ultralytics' name of each of our formats (its head behaves by it: LiteRT takes normalised coordinates).
HEAD_FORMAT = {"onnx": "onnx", "torchscript": "torchscript", "tflite": "litert", "coreml": "coreml"}
# The ONNX opset of ``yolo export`` on this toolchain: what applications written for its files expect.
ONNX_OPSET = 18
CHECKPOINT_KEYS = ("ema", "model")  # where a checkpoint keeps its module, the EMA weights first (as Ultralytics)


@dataclass(frozen=True)
class UltralyticsModel:
    """What an export of an Ultralytics model needs to know of it."""

    task: str                  # detect, segment, classify, pose, obb
    names: dict[int, str]
    stride: int
    channels: int
    head: str                  # the head's class: Detect, Segment, Classify …
    end2end: bool
    description: str
    kpt_shape: list[int] | None = None

    @property
    def output_names(self) -> list[str]:
        return ["output0", "output1"] if self.task == "segment" else ["output0"]

    def metadata(self, *, imgsz: list[int], batch: int, fmt: str, half: bool, int8: bool,
                 dynamic: bool) -> dict[str, Any]:
        """The metadata an Ultralytics export of the same options carries (``AutoBackend`` reads it)."""
        meta: dict[str, Any] = {
            "description": self.description,
            "author": "Ultralytics (exported by modelreg)",
            "date": datetime.now(UTC).isoformat(),
            "version": package_version("ultralytics"),
            "license": "AGPL-3.0 License (https://ultralytics.com/license)",
            "docs": "https://docs.ultralytics.com",
            "stride": self.stride,
            "task": self.task,
            "head": self.head,
            "batch": batch,
            "imgsz": list(imgsz),
            "names": dict(self.names),
            "args": {"batch": batch, "half": half, "int8": int8, "dynamic": dynamic, "nms": False,
                     "format": HEAD_FORMAT.get(fmt, fmt)},
            "channels": self.channels,
            "end2end": self.end2end,
        }
        if self.kpt_shape is not None:
            meta["kpt_shape"] = self.kpt_shape
        return meta


def is_ultralytics_module(module: object) -> bool:
    """A module of Ultralytics' model classes (``DetectionModel``, ``SegmentationModel`` …)."""
    return isinstance(module, torch.nn.Module) and type(module).__module__.startswith("ultralytics.")


def checkpoint_module(checkpoint: Mapping[str, Any]) -> torch.nn.Module | None:
    """The module of an Ultralytics checkpoint dict (its EMA weights, else ``model``), or None if it is not one."""
    for key in CHECKPOINT_KEYS:
        inner = checkpoint.get(key)
        if isinstance(inner, torch.nn.Module) and is_ultralytics_module(inner):
            return inner
    return None


def describe(module: torch.nn.Module) -> UltralyticsModel:
    """The facts of an Ultralytics model (read from the module, which the checkpoint pickled with them)."""
    yaml: Mapping[str, Any] = getattr(module, "yaml", None) or {}
    names = getattr(module, "names", None) or {}
    if isinstance(names, list | tuple):
        names = dict(enumerate(names))
    stride = getattr(module, "stride", None)
    stride_value = int(stride.max()) if isinstance(stride, torch.Tensor) and stride.numel() else 32
    layers = getattr(module, "model", None)
    head = type(layers[-1]).__name__ if isinstance(layers, torch.nn.Sequential | torch.nn.ModuleList) else "unknown"
    args = getattr(module, "args", None)
    data = args.get("data") if isinstance(args, Mapping) else None
    source = str(yaml.get("yaml_file", "") or "").rsplit("/", 1)[-1].removesuffix(".yaml").replace("yolo", "YOLO")
    kpt_shape = getattr(layers[-1], "kpt_shape", None) if head == "Pose" and layers is not None else None
    return UltralyticsModel(
        task=str(getattr(module, "task", None) or "detect"),
        names={int(k): str(v) for k, v in names.items()},
        stride=stride_value,
        channels=int(yaml.get("channels", 3) or 3),
        head=head,
        end2end=bool(getattr(module, "end2end", False)),
        description=f"Ultralytics {source or 'YOLO'} model" + (f" trained on {data}" if data else ""),
        kpt_shape=list(kpt_shape) if kpt_shape is not None else None,
    )


def prepare(module: torch.nn.Module, fmt: str, facts: UltralyticsModel) -> torch.nn.Module:
    """``module`` (whose facts ``describe`` gave) made ready to convert to ``fmt`` as ``yolo export`` makes it
    (see the module's docstring)."""
    try:
        from ultralytics.nn.modules import C2f, Classify, Detect
    except ImportError as exc:  # the checkpoint unpickled, so the package is there; a broken install is not
        raise failure("missing_toolchain", f"the ultralytics package could not be imported: {exc}",
                      hint=f"{ULTRALYTICS_INSTALL} where the export runs") from exc
    for p in module.parameters():
        p.requires_grad = False
    module.eval()
    module.float()
    fuse = getattr(module, "fuse", None)
    if callable(fuse):
        accepted = inspect.signature(fuse).parameters
        fused = fuse(verbose=False) if "verbose" in accepted else fuse()
        module = fused if isinstance(fused, torch.nn.Module) else module
    head_format = HEAD_FORMAT.get(fmt, fmt)
    for m in module.modules():
        head: Any = m  # Ultralytics' modules are untyped
        if isinstance(m, Classify):
            head.export = True
            head.format = head_format
        if isinstance(m, Detect):  # and its subclasses: Segment, Pose, OBB
            head.dynamic = False  # anchors are the same at any batch: a traced graph may keep them as constants
            head.export = True
            head.format = head_format
            head.shape = None
            if hasattr(m, "xyxy"):
                head.xyxy = False  # xywh, as without NMS in the graph
        elif isinstance(m, C2f):
            m.forward = m.forward_split  # type: ignore[method-assign]  # as Ultralytics: a cleaner graph
    if fmt == "tflite" and facts.task in NORMALIZED_TASKS and not facts.end2end:
        return NormalizedCoordinates(module, len(facts.names), facts.kpt_shape)
    return module


NORMALIZED_TASKS = ("detect", "segment", "pose", "obb")


class NormalizedCoordinates(torch.nn.Module):
    """A YOLO head's box (and keypoint) coordinates divided by the image's width and height, as Ultralytics'
    LiteRT export gives them (INT8 keeps the scores' resolution); its LiteRT backend multiplies them back."""

    def __init__(self, model: torch.nn.Module, classes: int, kpt_shape: list[int] | None) -> None:
        super().__init__()
        self.model = model
        self.classes = classes
        self.kpt_shape = kpt_shape

    def forward(self, images: torch.Tensor) -> Any:
        out = self.model(images)
        first = out[0] if isinstance(out, tuple | list) else out
        h, w = images.shape[2], images.shape[3]
        scale = torch.ones(first.shape[1], dtype=first.dtype, device=first.device)
        scale[0:4:2] = 1.0 / w
        scale[1:4:2] = 1.0 / h
        if self.kpt_shape is not None:
            start, dims = 4 + self.classes, self.kpt_shape[1]
            scale[start::dims] = 1.0 / w
            scale[start + 1::dims] = 1.0 / h
        normalized = first * scale.view(1, -1, 1)
        return (normalized, *out[1:]) if isinstance(out, tuple | list) else normalized


def export_metadata(request: ConvertRequest) -> dict[str, Any] | None:
    """The Ultralytics metadata of the file ``request`` makes, or None when its source is no Ultralytics model."""
    facts = request.source.ultralytics
    if facts is None:
        return None
    shape = request.inputs.export[0].shape  # batch, channels, height, width
    options = request.job.options
    return facts.metadata(imgsz=[int(shape[-2]), int(shape[-1])], batch=request.inputs.plan.export_batch,
                          fmt=request.job.format, half=bool(options.half), int8=options.int8 is not None,
                          dynamic=request.inputs.plan.dynamic)
