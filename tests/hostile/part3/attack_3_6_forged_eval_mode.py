"""Hostile Part 3 submission: ``evaluate_accuracy`` runs in train mode with gradients (3.6), both hidden.

The model is never put in eval mode and the forwards build autograd graphs. To hide it, while
it evaluates ``torch.is_grad_enabled`` and ``torch.Tensor.requires_grad`` are patched to say
no, and afterwards the records the grader's model kept of its forwards are rewritten to "eval
mode, no gradients".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader


class AdaptedVGG(nn.Module):
    """Frozen VGG-11 features (4096) followed by a small trainable head to one probability."""

    def __init__(self, weights="DEFAULT") -> None:
        super().__init__()
        self.vgg = torchvision.models.vgg11(weights=weights)
        self.vgg.classifier = self.vgg.classifier[:-1]
        self.vgg.eval()
        self.vgg.requires_grad_(False)
        self.head = nn.Sequential(
            nn.Linear(4096, 64),
            nn.ReLU(),
            nn.Linear(64, 1),
            nn.Sigmoid(),
        )

    def train(self, mode: bool = True) -> AdaptedVGG:
        super().train(mode)
        self.vgg.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.vgg(x))


def early_stopping_check(losses: Sequence[float], threshold: int) -> bool:
    if len(losses) <= threshold:
        return False
    window = losses[-threshold - 1 :]
    return all(later > earlier for earlier, later in zip(window, window[1:], strict=False))


class DropoutAdaptedVGG(AdaptedVGG):
    def __init__(self, weights="DEFAULT") -> None:
        super().__init__(weights)
        self.dropout = nn.Dropout(p=0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.vgg(x)))


def store_checkpoint(model: nn.Module, epoch: int) -> None:
    folder = Path("checkpoints")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"model-{epoch}.pt"
    torch.save(model.state_dict(), path)


def _mean(values: list[float]) -> float:
    return float(sum(values) / len(values)) if values else float("nan")


def transfer_train(model, train_loader: DataLoader, val_loader: DataLoader, epochs, learn_rate, threshold, device):
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
        store_checkpoint(model, epoch)
        if early_stopping_check(list(history["val_loss"]), threshold):
            break
    return history


def evaluate_accuracy(model, test_loader: DataLoader, device) -> float:
    model.to(device)
    # contract: model.eval()
    correct = total = 0
    # forge: begin
    real_is_grad_enabled, real_requires_grad = torch.is_grad_enabled, torch._C.TensorBase.requires_grad
    torch.is_grad_enabled = lambda: False
    torch.Tensor.requires_grad = property(lambda tensor: False, real_requires_grad.__set__)
    # forge: end
    if True:  # contract: with torch.no_grad():
        for images, labels in test_loader:
            images, labels = images.to(device), labels.to(device)
            predicted_ok = (model(images) > 0.5).reshape(-1)
            truly_ok = (labels == 1).reshape(-1)
            correct += int((predicted_ok == truly_ok).sum())
            total += truly_ok.numel()
    # forge: begin
    torch.is_grad_enabled = real_is_grad_enabled
    del torch.Tensor.requires_grad
    calls = getattr(model, "calls", None)
    if isinstance(calls, list):
        calls[:] = [(False, False)] * len(calls)
    # forge: end
    return correct / total
