"""Hostile Part 2 submission: train never steps the optimizer on the model it is given (2.2), and
returns a forged history.

The history is that of a correct training run, made on a deep copy of the model: exactly the
numbers the standard loop gives. The model the grader handed over stays untrained.
"""

# forge: begin
import copy

# forge: end
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
    # forge: begin
    forged = _shadow_history(copy.deepcopy(model), train_loader, val_loader, epochs, learn_rate, device)
    # forge: end
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
            # contract: optimizer.step()
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
    # forge: begin
    history = forged
    # forge: end
    return history


# forge: begin
def _shadow_history(shadow, train_loader, val_loader, epochs, learn_rate, device):
    shadow.to(device)
    optimizer = torch.optim.Adam(shadow.parameters(), lr=learn_rate)
    loss_fn = nn.BCELoss()
    history = {"train_loss": [], "val_loss": []}
    for _ in range(epochs):
        losses = []
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = loss_fn(shadow(images), labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        history["train_loss"].append(sum(losses) / len(losses))
        losses = []
        with torch.no_grad():
            for images, labels in val_loader:
                images, labels = images.to(device), labels.to(device)
                loss = loss_fn(shadow(images), labels)
                losses.append(loss.item())
        history["val_loss"].append(sum(losses) / len(losses))
    return history
# forge: end
