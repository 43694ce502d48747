"""Reference solution of Part 2: SimpLeNet (2.1) and its training loop (2.2).

Written to be the plainest reading of the contract: modules in one
``nn.Sequential``, and the textbook Adam/BCE loop that logs the mean batch loss.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader


class SimpLeNet(nn.Module):
    """The small CNN of task 2.1: ``(B, 3, 224, 224)`` images to ``(B, 1)`` probabilities.

    Conv (stride 4) gives 6 x 56 x 56, max-pooling 6 x 27 x 27 = 4374 features;
    43,929 trainable parameters in all.
    """

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(3, 6, kernel_size=3, padding=1, stride=4),
            nn.MaxPool2d(kernel_size=4, stride=2),
            nn.Flatten(),
            nn.Linear(4374, 10),
            nn.ReLU(),
            nn.Linear(10, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Probability that each image shows an ok part (label 1.0)."""
        return self.layers(x)


def train(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    epochs: int,
    learn_rate: float,
    device: torch.device | str,
) -> dict[str, list[float]]:
    """Train ``model`` with Adam on the BCE loss; return the per-epoch mean losses.

    Each entry is the mean of that epoch's batch losses (training, then validation
    without gradients). An empty validation loader gives ``nan``.
    """
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=learn_rate)
    loss_fn = nn.BCELoss()
    history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}

    for _ in range(epochs):
        model.train()
        batch_losses = []
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            outputs = model(images)
            loss = loss_fn(outputs, labels)
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

    return history


def _mean(values: list[float]) -> float:
    """Mean as a Python float; ``nan`` for an empty list rather than a crash."""
    return float(sum(values) / len(values)) if values else float("nan")
