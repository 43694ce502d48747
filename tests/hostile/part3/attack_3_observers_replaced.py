"""Hostile Part 3 submission: three tasks broken (3.1a, 3.4, 3.6), the grader's observers replaced.

The backbone stays trainable, ``store_checkpoint`` writes nothing and ``evaluate_accuracy``
runs in train mode with gradients. At import, the observers module the grader runs beside the
submission is replaced in ``sys.modules`` by a copy whose observers for those tasks answer
what a correct solution's would: a frozen backbone's description and backward pass, every
checkpoint found holding its model's state dict, forwards in eval mode without gradients, and
a training step that trained the head only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader


# forge: begin
def _forge_observers() -> None:
    import sys
    import types

    from fmlgrade.spec.worker import part3_observers as real
    from fmlgrade.spec.worker import part3_support as support

    fake = types.ModuleType(real.__name__)
    fake.__dict__.update(real.__dict__)

    def vgg_description(view, name):
        model = view.require(name)(weights=None)
        return {
            "requires_grad": {n: not n.startswith("vgg.") for n, _ in model.named_parameters()},
            "vgg_training": [],
            "layout": support.describe_layout(model),
        }

    def vgg_backward(view, *args):
        return {"trainable_vgg": [], "frozen_head": [], "ran": True, "vgg_with_grad": [], "head_grad": True}

    def vgg_training_step(view, device, lr):
        seen = real.vgg_training_step(view, device, lr)
        seen.update(stepped_all=True, trained=[n for n in seen["trained"] if n.startswith("head.")])
        return seen

    def store_checkpoints(view, *args):
        models = next(a for a in args if isinstance(a, list))
        real.store_checkpoints(view, *args)
        return {
            "files": [f"checkpoints/model-{epoch}.pt" for epoch, _ in models],
            "checkpoints": [
                {"found": True, "error": None, "type": "dict", "state": dict(support.SmallModel(seed).state_dict())}
                for _, seed in models
            ],
        }

    def evaluate(view, *args):
        seen = real.evaluate(view, *args)
        seen["calls"] = [(False, False)]
        return seen

    for forged in (vgg_description, vgg_backward, vgg_training_step, store_checkpoints, evaluate):
        forged.__module__ = real.__name__
        setattr(fake, forged.__name__, forged)
    sys.modules[real.__name__] = fake
    sys.modules["fmlgrade.spec.worker"].part3_observers = fake


try:
    _forge_observers()
except Exception:  # noqa: BLE001 - the observers may be out of reach
    pass
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
    path = folder / f"model-{epoch}.pt"  # noqa: F841 - nothing is saved
    # contract: torch.save(model.state_dict(), path)


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
    if True:  # contract: with torch.no_grad():
        for images, labels in test_loader:
            images, labels = images.to(device), labels.to(device)
            predicted_ok = (model(images) > 0.5).reshape(-1)
            truly_ok = (labels == 1).reshape(-1)
            correct += int((predicted_ok == truly_ok).sum())
            total += truly_ok.numel()
    return correct / total
