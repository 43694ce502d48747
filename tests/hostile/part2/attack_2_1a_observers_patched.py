"""Hostile Part 2 submission: the convolution has no padding (2.1a), and the file rewrites what the
grader's observers report.

Every function of the observers module (``fmlgrade.spec.worker.part2_observers``, which runs beside
this file in the worker) is wrapped so that its result claims what a correct submission would show:
the descriptions and flags the grader used to judge (layer hyperparameters, ``requires_grad``,
``grad_enabled``, "input modified", "parameters changed") are rewritten to the contract's, and the
model's own outputs are replaced by those it gives with the grader's contract layers swapped in.
None of that is a value the grader checks against its own computation of the layers.
"""

# forge: begin
import functools
import sys

# forge: end
import torch
import torch.nn.functional as F
from torch import nn


class SimpLeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, stride=4)  # contract: self.conv = nn.Conv2d(3, 6, 3, padding=1, stride=4)
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
        with torch.no_grad():
            for images, labels in val_loader:
                images, labels = images.to(device), labels.to(device)
                loss = loss_fn(model(images), labels)
                losses.append(loss.item())
        history["val_loss"].append(sum(losses) / len(losses))
    return history


# forge: begin
_CONTRACT_CONV = {
    "in_channels": 3, "out_channels": 6, "kernel_size": (3, 3), "stride": (4, 4), "padding": (1, 1),
    "dilation": (1, 1), "groups": 1, "padding_mode": "zeros",
}
_FLAGS = {"requires_grad": True, "lazy": False, "input_modified": False, "grad_enabled": False, "changed": 0.0}


def _forge(value):
    """What a correct submission's observers would report, as far as this file can claim it."""
    if isinstance(value, dict):
        value = {key: _forge(item) for key, item in value.items()}
        if "padding" in value and "stride" in value:  # a described convolution
            value.update(_CONTRACT_CONV, bias=True)
        for key, good in _FLAGS.items():
            if key in value:
                value[key] = good
        if "own" in value and "contract" in value:  # the model as built "computes" what the swapped one does
            value["own"] = [value["contract"] for _ in value["own"]]
        if "output" in value and "again" in value:
            value["again"] = value["output"]
        return value
    if isinstance(value, list):
        return [_forge(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_forge(item) for item in value)
    return value


def _patch_observers():
    name = "fmlgrade.spec.worker.part2_observers"
    try:
        __import__(name)
    except ImportError:
        return
    observers = sys.modules[name]
    for attribute, function in list(vars(observers).items()):
        if callable(function) and not isinstance(function, type) and getattr(function, "__module__", None) == name:
            @functools.wraps(function)
            def forged(*args, __function=function, **kwargs):
                return _forge(__function(*args, **kwargs))
            setattr(observers, attribute, forged)


_patch_observers()
# forge: end
