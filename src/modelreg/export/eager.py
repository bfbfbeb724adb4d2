"""PyTorch eager on numpy inputs: the reference outputs and the eager benchmark (worker side: imports torch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from modelreg.export.parity import flatten_outputs


def to_tensors(arrays: Sequence[np.ndarray], half: bool = False) -> tuple[torch.Tensor, ...]:
    """The arrays as CPU tensors; float ones in FP16 when ``half``."""
    tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]
    return tuple(t.half() if half and t.is_floating_point() else t for t in tensors)


def _leaf(obj: object) -> np.ndarray | None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu()
        if t.dtype in (torch.float16, torch.bfloat16):
            t = t.float()
        return t.numpy()
    if isinstance(obj, np.ndarray):
        return obj
    return None


def flatten(obj: object) -> list[tuple[str, np.ndarray]]:
    """The tensor leaves of a model's output, named by path, as numpy arrays (FP16 → FP32)."""
    return flatten_outputs(obj, _leaf)


def run_module(module: Any, arrays: Sequence[np.ndarray], half: bool = False) -> list[tuple[str, np.ndarray]]:
    """``module(*inputs)`` without autograd, flattened."""
    with torch.inference_mode():
        return flatten(module(*to_tensors(arrays, half)))
