"""A pure-torch ``torchvision::nms`` (and ``qnms``) operator, defined when torchvision is first imported.

Why: on these machines torch is the CPU build 2.13.0, and PyPI's torchvision (pulled in by the ``ultralytics``
extra) is a CUDA build whose compiled operators (``torchvision/_C.so``) do not load beside it. ``import
torchvision`` then fails at once ("operator torchvision::nms does not exist": its ``_meta_registrations``
registers a fake kernel for ``nms``), and with it every library that imports torchvision when it is installed:
Ultralytics at validation, Lightning and Transformers at import. Tests only: users with a torchvision that
matches their torch need nothing of this, and where torchvision's own operators load it does nothing.

``install()`` (called by conftest.py) only adds an import hook, so a test run that never imports torchvision
does not pay for torch. On the first ``import torchvision`` the hook defines the two operators with the kernel
below, lets torchvision import, then tells ``torchvision.extension``'s check that its operators are there, as
``nms`` now is (roi_align and the other compiled operators are not: nothing here uses them).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

_LIBRARIES: list[Any] = []  # the torch.library.Library holding the definitions, kept alive


def _nms(boxes: Any, scores: Any, iou_threshold: float) -> Any:
    """Greedy non-maximum suppression, as torchvision's: indices of the kept boxes, by score descending."""
    import torch

    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    keep: list[int] = []
    suppressed = torch.zeros(boxes.shape[0], dtype=torch.bool, device=boxes.device)
    for index in scores.argsort(descending=True).tolist():
        if suppressed[index]:
            continue
        keep.append(index)
        w = (torch.minimum(x2[index], x2) - torch.maximum(x1[index], x1)).clamp(min=0)
        h = (torch.minimum(y2[index], y2) - torch.maximum(y1[index], y1)).clamp(min=0)
        inter = w * h
        suppressed |= inter / (areas[index] + areas - inter) > iou_threshold
    return torch.tensor(keep, dtype=torch.long, device=boxes.device)


def _own_operators_load(package: Path) -> bool:
    """Whether torchvision's compiled operators load beside this torch (loading them, as its import would)."""
    import torch

    for library in sorted(package.glob("_C*.so")):
        try:
            torch.ops.load_library(str(library))
        except OSError:
            return False
        return True
    return False


def _define_operators() -> None:
    import torch

    library = torch.library.Library("torchvision", "DEF")
    for name in ("nms", "qnms"):
        library.define(f"{name}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        library.impl(name, _nms, "CompositeExplicitAutograd")
    _LIBRARIES.append(library)


class _BeforeTorchvision(importlib.abc.MetaPathFinder):
    """Finds torchvision the usual way, once, and prepares its operators around its import."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> Any:
        if fullname != "torchvision":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None or spec.loader is None:
            return spec
        if _own_operators_load(Path(spec.origin).parent):
            return spec
        _define_operators()
        loader = spec.loader
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            module.extension._has_ops = lambda: True

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Prepare torchvision's operators for when it is first imported (nothing when it is imported already)."""
    if "torchvision" in sys.modules or any(isinstance(f, _BeforeTorchvision) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _BeforeTorchvision())
