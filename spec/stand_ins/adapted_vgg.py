"""Stand-in for ``AdaptedVGG``: the skeleton's model with the contract's freezing and forward."""

from __future__ import annotations

import torch
from torch import nn

from fmlgrade.spec.worker.pretrained import WeightsArg, vgg11_backbone

__all__ = ["AdaptedVGG"]


class AdaptedVGG(nn.Module):
    """VGG-11 without its last Linear, frozen and always in eval mode, then a trainable head to (B, 1)."""

    def __init__(self, weights: WeightsArg = "DEFAULT") -> None:
        super().__init__()
        self.vgg = vgg11_backbone(weights)
        for parameter in self.vgg.parameters():
            parameter.requires_grad = False
        self.vgg.train(False)
        self.head = nn.Sequential(nn.Linear(4096, 64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())

    def train(self, mode: bool = True) -> AdaptedVGG:
        """Switch the head; the backbone stays in eval mode (its dropout never fires)."""
        super().train(mode)
        self.vgg.train(False)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` images to ``(B, 1)`` probabilities."""
        features = self.vgg(x)
        return self.head(features)
