"""Grader-written stand-ins for Part 3's contract names (see :mod:`fmlgrade.spec.stand_ins`).

They run beside student code (in the grading worker), where the reference
solution is never loaded, so they are written here from the contract alone:

* :func:`early_stopping_check` and :func:`store_checkpoint`: what the
  student's ``transfer_train`` calls while task 3.5 is graded, so that a bug in
  either costs points in its own task only.
* :class:`AdaptedVGG`: the skeleton's model with the contract's freezing and
  forward, for a check that runs student code on an ``AdaptedVGG`` (task 3.5
  lists it among the names it may take from the grader).

Nothing here may import :mod:`fmlgrade.solutions`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import nn

from fmlgrade.spec.worker.pretrained import WeightsArg, vgg11_backbone

#: The folder, under the current working directory, that checkpoints go to.
CHECKPOINT_FOLDER = "checkpoints"


def early_stopping_check(losses: Sequence[float], threshold: int) -> bool:
    """True exactly when ``len(losses) > threshold`` and the last ``threshold + 1`` losses strictly rise."""
    history = list(losses)
    if len(history) <= threshold:
        return False
    first = len(history) - threshold - 1
    return all(history[i + 1] > history[i] for i in range(first, len(history) - 1))


def store_checkpoint(model: nn.Module, epoch: int) -> None:
    """Save ``model.state_dict()`` to ``checkpoints/model-{epoch}.pt`` under the working directory."""
    os.makedirs(CHECKPOINT_FOLDER, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(CHECKPOINT_FOLDER, f"model-{epoch}.pt"))


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
