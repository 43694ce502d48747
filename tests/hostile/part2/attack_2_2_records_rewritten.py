"""Hostile Part 2 submission: validation runs with gradients on (2.2), and the file rewrites the
grader's records of the run.

After training, every list in the process that looks like the grader's notes of the model's forward
calls gets ``grad_enabled`` False (and "parameters changed" 0), and every list of parameter
snapshots is overwritten with the final parameters, so that a record-based check sees a validation
pass without gradients that changed nothing.
"""

# forge: begin
import gc

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
            for images, labels in val_loader:
                images, labels = images.to(device), labels.to(device)
                loss = loss_fn(model(images), labels)
                losses.append(loss.item())
        history["val_loss"].append(sum(losses) / len(losses))
    # forge: begin
    _rewrite_records(model)
    # forge: end
    return history


# forge: begin
def _rewrite_records(model):
    final = [p.detach().cpu() for p in model.parameters()]
    for found in gc.get_objects():
        if not isinstance(found, list) or not found:
            continue
        if all(isinstance(entry, dict) and "grad_enabled" in entry for entry in found):
            for entry in found:
                entry["grad_enabled"] = False
                if "changed" in entry:
                    entry["changed"] = 0.0
        elif any(isinstance(entry, list) and entry and all(isinstance(t, torch.Tensor) for t in entry)
                 for entry in found):
            for entry in found:
                if isinstance(entry, list) and len(entry) == len(final):
                    for snapshot, value in zip(entry, final, strict=True):
                        if snapshot.shape == value.shape:
                            snapshot.copy_(value)
# forge: end
