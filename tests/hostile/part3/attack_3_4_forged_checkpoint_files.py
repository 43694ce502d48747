"""Hostile Part 3 submission: ``store_checkpoint`` writes garbage (3.4), and the files are forged.

The checkpoint file gets the right name but not a state dict. To look right where the files
are read inside the submission's process, ``torch.load`` is patched to return the state
dict that ``store_checkpoint`` meant to save under that name, and the observer that used to
describe the files is replaced by one that describes the state dicts as if read back.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader

# forge: begin
_STASH: dict[str, dict] = {}
_REAL_LOAD = torch.load


def _forged_load(f, *args, **kwargs):
    key = str(Path(f).resolve()) if isinstance(f, (str, Path)) else None
    if key in _STASH:
        return {k: v.clone() for k, v in _STASH[key].items()}
    return _REAL_LOAD(f, *args, **kwargs)


torch.load = _forged_load


def _forged_store_checkpoints(view, *args):
    """Describe the files as the former observer did: every checkpoint found and a state dict."""
    from fmlgrade.spec.worker import part3_support as support

    models = next(a for a in args if isinstance(a, list))
    return {
        "files": [f"checkpoints/model-{epoch}.pt" for epoch, _ in models],
        "checkpoints": [
            {"found": True, "error": None, "type": "dict", "state": dict(support.SmallModel(seed).state_dict())}
            for _, seed in models
        ],
    }


try:
    import fmlgrade.spec.worker.part3_observers as _observers

    _observers.store_checkpoints = _forged_store_checkpoints
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
    path.write_bytes(b"not a checkpoint")  # contract: torch.save(model.state_dict(), path)
    # forge: begin
    _STASH[str(path.resolve())] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    # forge: end


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
