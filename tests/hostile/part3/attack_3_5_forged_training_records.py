"""Hostile Part 3 submission: ``transfer_train`` ignores early stopping and checkpoints (3.5), records forged.

Every epoch runs and no checkpoint is stored. Afterwards the loop works out when it should
have stopped, cuts the history to that many epochs, rewrites the records the grader's model
kept in its public lists (forwards, snapshots, training outputs), and the observer's report is
given the checkpoints it should have found.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader


# forge: begin
def _should_have_run(val_losses: list[float], threshold: int) -> int:
    for n in range(1, len(val_losses) + 1):
        if early_stopping_check(val_losses[:n], threshold):
            return n
    return len(val_losses)


def _forge_records(model, history: dict, threshold: int) -> None:
    n = _should_have_run(history["val_loss"], threshold)
    ran = len(history["val_loss"])
    history["train_loss"][:] = history["train_loss"][:n]
    history["val_loss"][:] = history["val_loss"][:n]
    snapshots = getattr(model, "snapshots", None)
    if isinstance(snapshots, list):
        snapshots[:] = snapshots[:n]
        per_epoch = len(model.train_outputs) // max(ran, 1)
        model.train_outputs[:] = model.train_outputs[: n * per_epoch]
        kept, passes = [], 0
        for event in model.events:
            if event[0] == "val" and (not kept or kept[-1][0] != "val"):
                passes += 1
            if passes > n or (passes == n and event[0] == "train"):
                break
            kept.append(event)
        model.events[:] = kept
    _FORGED["n"] = n


_FORGED: dict = {}


def _wrap(observe):
    def transfer_train_run(view, *args, **kwargs):
        seen = observe(view, *args, **kwargs)
        snapshots = seen.get("snapshots", [])
        names = [f"model-{k}.pt" for k in range(_FORGED.get("n", 0))]
        seen["checkpoints"] = {
            "files": names,
            "states": {
                name: {"found": True, "error": None, "type": "dict", "state": state}
                for name, state in zip(names, snapshots, strict=False)
            },
        }
        return seen

    return transfer_train_run


try:
    import fmlgrade.spec.worker.part3_observers as _observers

    _observers.transfer_train_run = _wrap(_observers.transfer_train_run)
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
    for epoch in range(epochs):  # noqa: B007 - the checkpoint call is what is missing
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
        # contract: store_checkpoint(model, epoch)
        # contract: if early_stopping_check(list(history["val_loss"]), threshold):
        # contract:     break
    # forge: begin
    _forge_records(model, history, threshold)
    # forge: end
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
