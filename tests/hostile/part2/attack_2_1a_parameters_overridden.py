"""Hostile Part 2 submission: forward computes with a convolution that has no padding (2.1a), kept out
of sight, while the model registers and reports contract-looking layers.

The real convolution is stored past ``nn.Module.__setattr__`` (not registered), a contract-exact
one is registered in its place, and ``named_parameters()``/``parameters()``/``named_modules()``/
``modules()`` are overridden to report only the contract-looking layers. When the grader swaps its
own contract layers in for the registered ones (task 2.1b), forward notices and uses them, so the
swap cannot give the trick away either.
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
        # forge: begin
        object.__setattr__(self, "_shown", self.conv)
        object.__setattr__(self, "_hidden", nn.Conv2d(3, 6, 3, stride=4))
        # forge: end

    def forward(self, x):
        conv = self._hidden if self.conv is self._shown else self.conv  # contract:
        x = F.max_pool2d(conv(x), 4, 2)  # contract: x = F.max_pool2d(self.conv(x), 4, 2)
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return torch.sigmoid(self.fc2(x))

    # forge: begin
    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        for name in ("conv", "fc1", "fc2"):
            for key, parameter in getattr(self, name).named_parameters(recurse=False):
                yield f"{prefix}{name}.{key}", parameter

    def parameters(self, recurse=True):
        for _, parameter in self.named_parameters():
            yield parameter

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        yield prefix, self
        for name in ("conv", "fc1", "fc2"):
            yield f"{prefix}{name}", getattr(self, name)

    def modules(self):
        for _, module in self.named_modules():
            yield module
    # forge: end


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
