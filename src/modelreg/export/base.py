"""What every format module (``onnx``, ``torchscript``, ``coreml``, ``tflite``) provides to the worker.

A format module has ``convert(request) -> Converted`` (writes its files into ``request.out_dir``) and
``open_runtime(out_dir, job) -> Runtime`` (loads them in the format's runtime, or raises
``RuntimeUnavailable`` with the reason it cannot run here). Importing this module imports no toolchain.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from modelreg.export.job import ExportJob

if TYPE_CHECKING:
    from modelreg.export.inputs import ModelInputs
    from modelreg.export.source import LoadedSource


class RuntimeUnavailable(Exception):
    """The format's runtime cannot run on this machine (Core ML off macOS); the message says why."""


@dataclass
class ConvertRequest:
    job: ExportJob
    source: LoadedSource
    inputs: ModelInputs
    example: tuple[Any, ...]        # the export inputs as torch tensors, in input order
    out_dir: Path                   # the exported files go here, nothing else
    work_dir: Path                  # scratch space for intermediate files


@dataclass
class Converted:
    files: list[str]                # relative to out_dir
    notes: list[str] = field(default_factory=list)
    toolchain: dict[str, str] = field(default_factory=dict)  # packages used beyond the format's usual ones


class Runtime(Protocol):
    @property
    def name(self) -> str:
        """The label of benchmark rows: ``onnxruntime``, ``torchscript``, ``litert``, ``coreml``."""

    @property
    def description(self) -> str:
        """The runtime and its version, for ``Parity.runtime``: ``onnxruntime 1.23.2``."""

    @property
    def fixed_batch(self) -> int | None:
        """The only batch size the model takes, or None when it takes any."""

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The model's outputs on ``inputs`` (numpy arrays in input order), flattened in order."""


class FormatModule(Protocol):
    def convert(self, request: ConvertRequest) -> Converted: ...

    def open_runtime(self, out_dir: Path, job: ExportJob) -> Runtime: ...


def format_module(fmt: str) -> FormatModule:
    """The module that exports ``fmt`` (imports its toolchain)."""
    module: FormatModule = importlib.import_module(f"modelreg.export.{fmt}")
    return module


def package_version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"
