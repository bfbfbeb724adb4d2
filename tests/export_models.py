"""Small PyTorch models the export tests build themselves (nothing is downloaded).

Importable as ``tests.export_models`` by the export worker (a child process started in the repository
root), so a state dict can name ``tests.export_models:make_classifier`` as its entry point and a pickled
module's class can be found again.
"""

from __future__ import annotations

import torch
from torch import nn


class Classifier(nn.Module):
    """A conv net with a 5-class head: what an image classifier looks like to an exporter."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).mean((2, 3)))  # type: ignore[no-any-return]


class Noisy(Classifier):
    """Adds noise at inference: its export can never match the eager outputs (a parity failure)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        return out + torch.rand_like(out) * 10


def make_classifier() -> nn.Module:
    """The entry point a state dict names (``tests.export_models:make_classifier``)."""
    return Classifier()


def classifier() -> Classifier:
    torch.manual_seed(0)
    return Classifier().eval()


class KthValue(Classifier):
    """Uses ``aten.kthvalue``, which the ONNX exporter of torch 2.13 cannot convert."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.kthvalue(self.conv(x).flatten(1), 2, dim=-1)[0]
