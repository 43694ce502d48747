"""Stand-in for ``store_checkpoint``: what the student's ``transfer_train`` calls while 3.5 is graded."""

from __future__ import annotations

import os

import torch
from torch import nn

__all__ = ["store_checkpoint"]

#: The folder, under the current working directory, that checkpoints go to.
CHECKPOINT_FOLDER = "checkpoints"


def store_checkpoint(model: nn.Module, epoch: int) -> None:
    """Save ``model.state_dict()`` to ``checkpoints/model-{epoch}.pt`` under the working directory."""
    os.makedirs(CHECKPOINT_FOLDER, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(CHECKPOINT_FOLDER, f"model-{epoch}.pt"))
