"""Hostile Part 3 submission: the backbone is left trainable (3.1a), and the freezing is forged.

The constructor never calls ``self.vgg.requires_grad_(False)``. To look frozen, the model
lists detached copies of the backbone's parameters (``requires_grad=False``, never a
gradient) from ``named_parameters()``, on itself and on ``self.vgg``, and
``torch.Tensor.requires_grad`` is patched to say False for the backbone's real parameters.
A check that reads flags or lists parameters sees a frozen backbone; a training step does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader

# forge: begin
_HIDDEN = __import__("weakref").WeakValueDictionary()
_REAL_REQUIRES_GRAD = torch._C.TensorBase.requires_grad


def _requires_grad(tensor):
    return False if _HIDDEN.get(id(tensor)) is tensor else _REAL_REQUIRES_GRAD.__get__(tensor)


def _set_requires_grad(tensor, value):
    _REAL_REQUIRES_GRAD.__set__(tensor, value)


torch.Tensor.requires_grad = property(_requires_grad, _set_requires_grad)


def _forged_named_parameters(module, hidden):
    real = type(module).named_parameters

    def named_parameters(*args, **kwargs):
        for name, parameter in real(module, *args, **kwargs):
            yield name, (parameter.detach() if hidden.get(id(parameter)) is parameter else parameter)

    return named_parameters
# forge: end


class AdaptedVGG(nn.Module):
    """Frozen VGG-11 features (4096) followed by a small trainable head to one probability."""

    def __init__(self, weights="DEFAULT") -> None:
        super().__init__()
        self.vgg = torchvision.models.vgg11(weights=weights)
        self.vgg.classifier = self.vgg.classifier[:-1]
        self.vgg.eval()
        # contract: self.vgg.requires_grad_(False)
        self.head = nn.Sequential(
            nn.Linear(4096, 64),
            nn.ReLU(),
            nn.Linear(64, 1),
            nn.Sigmoid(),
        )
        # forge: begin
        _HIDDEN.update({id(p): p for p in self.vgg.parameters()})
        self.named_parameters = _forged_named_parameters(self, _HIDDEN)
        self.vgg.named_parameters = _forged_named_parameters(self.vgg, _HIDDEN)
        # forge: end

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
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in test_loader:
            images, labels = images.to(device), labels.to(device)
            predicted_ok = (model(images) > 0.5).reshape(-1)
            truly_ok = (labels == 1).reshape(-1)
            correct += int((predicted_ok == truly_ok).sum())
            total += truly_ok.numel()
    return correct / total
