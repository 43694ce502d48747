"""Hostile Part 2 submission: validation runs with gradients on (2.2), and the file hides it.

While it validates, ``torch.is_grad_enabled`` and ``torch._C.is_grad_enabled`` answer False,
``Tensor.requires_grad`` reads False, and ``nn.Module.__call__`` runs every forward pre-hook with
gradients off before calling forward with gradients on again: a hook that asks whether gradients
are on is told no. The validation losses are still computed with gradients on (autograd builds
their graphs).
"""

import torch
import torch.nn.functional as F
from torch import nn


class SimpLeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1, stride=4)
        self.fc1 = nn.Linear(4374, 10)
        self.fc2 = nn.Linear(10, 1)

    def forward(self, x):
        x = F.max_pool2d(self.conv(x), 4, 2)
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return torch.sigmoid(self.fc2(x))


def train(model, train_loader, val_loader, epochs, learn_rate, device):
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=learn_rate)
    loss_fn = nn.BCELoss()
    history = {"train_loss": [], "val_loss": []}
    for _ in range(epochs):
        model.train()
        losses = []
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(images), labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        history["train_loss"].append(sum(losses) / len(losses))
        model.eval()
        losses = []
        with torch.enable_grad():  # contract: with torch.no_grad():
            # forge: begin
            _pretend_no_grad(True)
            # forge: end
            for images, labels in val_loader:
                images, labels = images.to(device), labels.to(device)
                loss = loss_fn(model(images), labels)
                losses.append(loss.item())
            # forge: begin
            _pretend_no_grad(False)
            # forge: end
        history["val_loss"].append(sum(losses) / len(losses))
    return history


# forge: begin
_REAL = {
    "is_grad_enabled": torch.is_grad_enabled,
    "C.is_grad_enabled": torch._C.is_grad_enabled,
    "requires_grad": torch.Tensor.__dict__.get("requires_grad"),
    "call": nn.Module.__call__,
}


def _call_with_hooks_told_no_grad(self, *args, **kwargs):
    hooks = list(self._forward_pre_hooks.values())
    before = _REAL["C.is_grad_enabled"]()
    torch._C._set_grad_enabled(False)
    try:
        for hook in hooks:
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
    finally:
        torch._C._set_grad_enabled(before)  # the forward itself runs with gradients on
    saved = dict(self._forward_pre_hooks)
    self._forward_pre_hooks.clear()
    try:
        return _REAL["call"](self, *args, **kwargs)
    finally:
        self._forward_pre_hooks.update(saved)


def _pretend_no_grad(on):
    if on:
        torch.is_grad_enabled = lambda: False
        torch._C.is_grad_enabled = lambda: False
        torch.Tensor.requires_grad = property(lambda self: False)
        nn.Module.__call__ = _call_with_hooks_told_no_grad
    else:
        torch.is_grad_enabled = _REAL["is_grad_enabled"]
        torch._C.is_grad_enabled = _REAL["C.is_grad_enabled"]
        if _REAL["requires_grad"] is None:
            del torch.Tensor.requires_grad
        else:
            torch.Tensor.requires_grad = _REAL["requires_grad"]
        nn.Module.__call__ = _REAL["call"]
# forge: end
