"""Alternative Part 3 solution, written independently of the reference.

Differences from the reference that the contract allows: the backbone is built
with torchvision directly (only pretrained weights go through the no-download
helper), dropout is functional, and checkpoints are numbered from 1.
``transfer_train`` still calls ``store_checkpoint`` and ``early_stopping_check``
through this module's globals, which the grader may replace.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.utils.data import DataLoader

from fmlgrade.spec.worker.pretrained import vgg11_backbone


class AdaptedVGG(nn.Module):
    """Frozen VGG-11 (4096 features out) plus a trainable 4096-64-1 head."""

    def __init__(self, weights: str | torchvision.models.VGG11_Weights | None = "DEFAULT") -> None:
        super().__init__()
        if weights is None:
            backbone = torchvision.models.vgg11(weights=weights)
            backbone.classifier = backbone.classifier[:-1]
        else:
            # Pretrained weights: read from torch's cache only, never downloaded.
            backbone = vgg11_backbone(weights)
        for parameter in backbone.parameters():
            parameter.requires_grad = False
        self.vgg = backbone.eval()
        head_layers = [nn.Linear(4096, 64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid()]
        self.head = nn.Sequential(*head_layers)

    def train(self, mode: bool = True) -> nn.Module:
        """Set the mode everywhere, then force the backbone back to eval."""
        result = super().train(mode)
        self.vgg.train(False)
        return result

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Head applied to the backbone features."""
        return self.head(self.vgg(x))


def early_stopping_check(losses: Iterable[float], threshold: int) -> bool:
    """True once the last ``threshold`` epochs each increased the loss."""
    history = list(losses)
    if len(history) < threshold + 1:
        return False
    recent = history[len(history) - threshold - 1 :]
    return all(a < b for a, b in zip(recent, recent[1:], strict=False))


class DropoutAdaptedVGG(AdaptedVGG):
    """AdaptedVGG with functional dropout (p = 0.2) between backbone and head."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Dropout acts only while ``self.training`` is set.

        Uses only ``self.vgg`` and ``self.head`` (the contract's names), so it also
        works on top of another ``AdaptedVGG``.
        """
        features = F.dropout(self.vgg(x), p=0.2, training=self.training)
        return self.head(features)


def store_checkpoint(model: nn.Module, epoch: int) -> None:
    """Write the state dict to ``./checkpoints/model-<epoch>.pt``."""
    os.makedirs("checkpoints", exist_ok=True)
    target = os.path.join("checkpoints", f"model-{epoch}.pt")
    torch.save(model.state_dict(), target)


def transfer_train(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    epochs: int,
    learn_rate: float,
    threshold: int,
    device: torch.device | str,
) -> dict[str, list[float]]:
    """Train the unfrozen parameters; checkpoint each epoch (numbered from 1); stop early."""
    model = model.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=learn_rate)
    criterion = nn.BCELoss()
    result: dict[str, list[float]] = {"train_loss": [], "val_loss": []}

    epoch = 1
    while epoch <= epochs:
        model.train()
        total, count = 0.0, 0
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(x)
            count += len(x)
        result["train_loss"].append(total / count if count else float("nan"))

        model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for x, y in val_loader:
                x, y = x.to(device), y.to(device)
                total += criterion(model(x), y).item() * len(x)
                count += len(x)
        result["val_loss"].append(total / count if count else float("nan"))

        store_checkpoint(model, epoch)
        if early_stopping_check(result["val_loss"], threshold):
            break
        epoch += 1
    return result


def evaluate_accuracy(
    model: nn.Module, test_loader: DataLoader, device: torch.device | str
) -> float:
    """Share of samples classified correctly at the 0.5 cut-off."""
    model = model.to(device)
    model.eval()
    n_correct = 0
    n_samples = 0
    with torch.no_grad():
        for x, y in test_loader:
            prediction = model(x.to(device)).flatten() > 0.5
            target = y.to(device).flatten() == 1
            n_correct += (prediction == target).sum().item()
            n_samples += target.shape[0]
    return n_correct / max(n_samples, 1)
