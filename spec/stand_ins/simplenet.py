"""Stand-in for ``SimpLeNet``: the contract's layers in one ``nn.Sequential``.

Task 2.2 hands it to the student's ``train`` and 2.3 trains it; the checks load
the same seeded weights into it and into the grader's reference (by shape), so
both sides compute the same function.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SimpLeNet"]


class SimpLeNet(nn.Module):
    """SimpLeNet of the contract: Conv2d(3, 6, 3, padding 1, stride 4), MaxPool2d(4, 2), flatten,
    Linear(4374, 10), ReLU, Linear(10, 1), sigmoid."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels=3, out_channels=6, kernel_size=3, padding=1, stride=4),
            nn.MaxPool2d(kernel_size=4, stride=2),
            nn.Flatten(start_dim=1),
            nn.Linear(6 * 27 * 27, 10),
            nn.ReLU(),
            nn.Linear(10, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 224, 224)`` images to ``(B, 1)`` probabilities."""
        return self.layers(x)
