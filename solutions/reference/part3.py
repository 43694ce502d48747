"""Reference solution of Part 3: transfer learning on a frozen VGG-11 (3.1-3.6).

``transfer_train`` calls ``store_checkpoint`` and ``early_stopping_check`` by
their module-global names, because the grader swaps those globals for the
reference versions when it grades a student's ``transfer_train``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from fmlgrade.spec.worker.pretrained import WeightsArg, vgg11_backbone


class AdaptedVGG(nn.Module):
    """Frozen VGG-11 features (4096) followed by a small trainable head to one probability.

    The backbone stays in eval mode even after ``model.train()``, so its own
    dropout never fires and the model is deterministic in both modes.
    """

    def __init__(self, weights: WeightsArg = "DEFAULT") -> None:
        super().__init__()
        self.vgg = vgg11_backbone(weights)
        self.vgg.eval()
        # 3.1a: no gradients for the backbone; only the head learns.
        self.vgg.requires_grad_(False)
        self.head = nn.Sequential(
            nn.Linear(4096, 64),
            nn.ReLU(),
            nn.Linear(64, 1),
            nn.Sigmoid(),
        )

    def train(self, mode: bool = True) -> AdaptedVGG:
        """Switch the head's mode but keep the backbone in eval mode."""
        super().train(mode)
        self.vgg.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """3.1b: ``(B, 3, H, W)`` to ``(B, 1)``."""
        return self.head(self.vgg(x))


def early_stopping_check(losses: Sequence[float], threshold: int) -> bool:
    """3.2: stop once the last ``threshold`` losses each rose above the one before.

    True exactly when ``len(losses) > threshold`` and ``losses[-threshold-1:]``
    is strictly increasing.
    """
    if len(losses) <= threshold:
        return False
    window = losses[-threshold - 1 :]
    for i in range(1, len(window)):
        if not window[i] > window[i - 1]:
            return False
    return True


class DropoutAdaptedVGG(AdaptedVGG):
    """3.3: ``AdaptedVGG`` with dropout (p = 0.2) on the VGG features, active in train mode only.

    The dropout is a separate module, so the head's parameter names (and thus
    checkpoints) are the same as ``AdaptedVGG``'s.
    """

    def __init__(self, weights: WeightsArg = "DEFAULT") -> None:
        super().__init__(weights)
        self.dropout = nn.Dropout(p=0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone, dropout, head."""
        return self.head(self.dropout(self.vgg(x)))


def store_checkpoint(model: nn.Module, epoch: int) -> None:
    """3.4: save ``model.state_dict()`` to ``checkpoints/model-{epoch}.pt`` under the cwd."""
    folder = Path("checkpoints")
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / f"model-{epoch}.pt")


def transfer_train(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    epochs: int,
    learn_rate: float,
    threshold: int,
    device: torch.device | str,
) -> dict[str, list[float]]:
    """3.5: train the trainable parameters of ``model`` with early stopping and checkpoints.

    Per epoch (counted from 0): training pass in train mode, mean validation loss
    in eval mode, ``store_checkpoint(model, epoch)``, then stop if
    ``early_stopping_check(val_loss history, threshold)``. Returns the history.
    """
    model.to(device)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=learn_rate)
    loss_fn = nn.BCELoss()
    history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}

    for epoch in range(epochs):
        model.train()
        batch_losses = []
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(images), labels)
            loss.backward()
            optimizer.step()
            batch_losses.append(loss.item())
        history["train_loss"].append(_mean(batch_losses))

        model.eval()
        val_losses = []
        with torch.no_grad():
            for images, labels in val_loader:
                images, labels = images.to(device), labels.to(device)
                val_losses.append(loss_fn(model(images), labels).item())
        history["val_loss"].append(_mean(val_losses))

        # Global names on purpose: the grader substitutes these two.
        store_checkpoint(model, epoch)
        if early_stopping_check(list(history["val_loss"]), threshold):
            break

    return history


def evaluate_accuracy(
    model: nn.Module, test_loader: DataLoader, device: torch.device | str
) -> float:
    """3.6: fraction of test samples where ``output > 0.5`` agrees with ``label == 1``.

    Counted over samples, not batches, in eval mode without gradients.
    """
    model.to(device)
    model.eval()
    correct = 0
    total = 0
    with torch.no_grad():
        for images, labels in test_loader:
            images, labels = images.to(device), labels.to(device)
            predicted_ok = (model(images) > 0.5).reshape(-1)
            truly_ok = (labels == 1).reshape(-1)
            correct += int((predicted_ok == truly_ok).sum())
            total += truly_ok.numel()
    if total == 0:
        raise ValueError("evaluate_accuracy needs a non-empty test loader")
    return correct / total


def _mean(values: list[float]) -> float:
    """Mean as a Python float; ``nan`` for an empty list rather than a crash."""
    return float(sum(values) / len(values)) if values else float("nan")
