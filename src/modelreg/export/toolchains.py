"""Which packages each export format needs: the one table, and the facts a missing one is reported with.

``TOOLCHAINS`` declares, per format, the distributions that export it and run its result, each with its
import name and the version range ``pyproject.toml`` pins. Each format is an extra of the same name
(``pip install "modelreg[onnx]"``) and ``modelreg[export]`` is all of them; a test keeps pyproject's
extras equal to this table. torch is pinned exactly everywhere: a looser range makes pip pull a CUDA build.

``missing_packages(fmt)`` probes what is not importable (``find_spec``, nothing is imported), and
``toolchain_missing(fmt, missing)`` turns that into an ``ExportFailure`` whose facts (format, missing
packages, extra, install command) let each edge say where to install them: the CLI prints the local
command, the HTTP client says the *server* needs them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from modelreg.export.job import ExportFailure

__all__ = ["ALL_FORMATS_EXTRA", "NUMPY", "TOOLCHAINS", "TORCH", "ULTRALYTICS_EXTRA", "ULTRALYTICS_INSTALL", "Probe",
           "Requirement", "extra_of", "install_command", "install_hint", "missing_packages", "requirement_of_module",
           "toolchain_missing", "ultralytics_missing"]


@dataclass(frozen=True)
class Requirement:
    """One distribution a format needs: its pip name, the module it is imported as, its version range."""

    distribution: str   # "onnxruntime", "litert-torch"
    module: str         # "onnxruntime", "litert_torch"
    pin: str            # "==2.13.0", ">=1.20"

    @property
    def spec(self) -> str:
        """The requirement as pip and pyproject write it: ``torch==2.13.0``."""
        return f"{self.distribution}{self.pin}"


TORCH = Requirement("torch", "torch", "==2.13.0")
NUMPY = Requirement("numpy", "numpy", ">=1.26")

TOOLCHAINS: dict[str, tuple[Requirement, ...]] = {
    "onnx": (TORCH, NUMPY, Requirement("onnx", "onnx", ">=1.17"), Requirement("onnxscript", "onnxscript", ">=0.2"),
             Requirement("onnxruntime", "onnxruntime", ">=1.20")),
    "torchscript": (TORCH, NUMPY),
    "coreml": (TORCH, NUMPY, Requirement("coremltools", "coremltools", "==9.0")),
    "tflite": (TORCH, NUMPY, Requirement("litert-torch", "litert_torch", "==0.10.0"),
               Requirement("ai-edge-litert", "ai_edge_litert", "==2.3.0")),
}
# The extra that installs every format's toolchain.
ALL_FORMATS_EXTRA = "export"
# Loading an Ultralytics checkpoint (any format) needs its package: the training integration's extra.
ULTRALYTICS_EXTRA = "ultralytics"
ULTRALYTICS_INSTALL = f'pip install "modelreg[{ULTRALYTICS_EXTRA}]" (it pins {TORCH.spec})'

Probe = Callable[[str], bool]


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def extra_of(fmt: str) -> str:
    """The extra that installs ``fmt``'s toolchain (the format's own name)."""
    return fmt if fmt in TOOLCHAINS else ALL_FORMATS_EXTRA


def install_command(fmt: str) -> str:
    """The pip command that installs ``fmt``'s toolchain, torch pinned by the extra."""
    return f'pip install "modelreg[{extra_of(fmt)}]"'


def install_hint(fmt: str) -> str:
    """The install command with what it pins, for a person reading an error here."""
    return f"{install_command(fmt)} (it pins {TORCH.spec}; in a checkout add -c constraints.txt)"


def missing_packages(fmt: str, *, probe: Probe = _importable) -> list[str]:
    """The distributions of ``fmt``'s toolchain that cannot be imported here, in the table's order."""
    return [r.distribution for r in TOOLCHAINS.get(fmt, ()) if not probe(r.module)]


def requirement_of_module(module: str) -> Requirement | None:
    """The declared requirement an import name (``onnxruntime.quantization``) belongs to, if any."""
    top = module.split(".", 1)[0]
    return next((r for reqs in TOOLCHAINS.values() for r in reqs if r.module == top), None)


def _listed(names: Iterable[str]) -> str:
    items = list(names)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def toolchain_missing(fmt: str, missing: list[str]) -> ExportFailure:
    """The failure of an export whose packages are ``missing`` (distribution names) where it runs."""
    what = f"{_listed(missing)} {'is' if len(missing) == 1 else 'are'}" if missing else "a package it needs is"
    return ExportFailure(code="toolchain_missing",
                         message=f"this registry cannot export to {fmt}: {what} not installed in the Python "
                                 "environment it runs in",
                         hint=install_hint(fmt), missing=missing or None, extra=extra_of(fmt),
                         install=install_command(fmt))


def ultralytics_missing(fmt: str) -> ExportFailure:
    """The failure of an export of an Ultralytics checkpoint where the ``ultralytics`` package is not installed:
    its model classes live there, so the checkpoint cannot be loaded, whatever the format."""
    return ExportFailure(code="toolchain_missing",
                         message=f"this registry cannot load an Ultralytics checkpoint to export it to {fmt}: "
                                 "ultralytics is not installed in the Python environment it runs in (the "
                                 "checkpoint's model classes live there)",
                         hint=ULTRALYTICS_INSTALL, missing=["ultralytics"], extra=ULTRALYTICS_EXTRA,
                         install=f'pip install "modelreg[{ULTRALYTICS_EXTRA}]"')
