"""Realistic student mistakes in Part 2, as patches on ``solutions/reference/part2.py``.

Every unit task (2.1a, 2.1b, 2.2) has at least two. The reference builds its
layers in one ``nn.Sequential``, so most 2.1b mistakes (a missing activation,
the wrong pooling, the wrong order) are edits of the constructor's text: the
grader still charges them to 2.1b, because 2.1a judges only the Conv2d and
Linear layers and the parameter count, and 2.1b judges what ``forward``
computes (with contract-exact Conv2d/Linear layers put in place of the
student's, so that a wrong hyperparameter costs 2.1a only).

**No mutant for 2.3, by design.** 2.3 trains the *reference* SimpLeNet with
the student's ``train`` only when 2.2 passed, and 2.2 demands that ``train``
leave the standard loop's parameters to within 1e-5 after two epochs on
loaders of the same kind (``DataLoader`` objects yielding ``(B, 3, 224, 224)``
float32 images and ``(B, 1)`` float32 labels, with a smaller last batch). A
``train`` that passes 2.2 therefore trains exactly like the reference on the
real loaders too; the only freedom left is how it iterates the loaders
(peeking at a batch moves the shuffling), which 2.3's margin is there to
accept. A mistake that costs points in 2.3 alone would have to behave
differently on a shuffled ``Subset`` of JPEG files than on a ``TensorDataset``
(reading ``loader.dataset.tensors``, say) or only from the third epoch on:
not mistakes students make. :data:`EQUIVALENTS` lists correct variants
instead, which must keep full marks (including the peeking one 2.3's margin
is for).
"""

from __future__ import annotations

from . import Mutant

__all__ = ["EQUIVALENTS", "MUTANTS", "by_id"]

_CONV = "            nn.Conv2d(3, 6, kernel_size=3, padding=1, stride=4),\n"
_POOL = "            nn.MaxPool2d(kernel_size=4, stride=2),\n"
_LINEAR1 = "            nn.Linear(4374, 10),\n"
_RELU = "            nn.ReLU(),\n"
_LINEAR2 = "            nn.Linear(10, 1),\n"
_SIGMOID = "            nn.Sigmoid(),\n"

_TRAIN_STEP = (
    "            optimizer.zero_grad()\n"
    "            outputs = model(images)\n"
    "            loss = loss_fn(outputs, labels)\n"
    "            loss.backward()\n"
    "            optimizer.step()\n"
)
_VALIDATION = (
    "        with torch.no_grad():\n"
    "            for images, labels in val_loader:\n"
    "                images, labels = images.to(device), labels.to(device)\n"
    "                val_losses.append(loss_fn(model(images), labels).item())\n"
)
_OPTIMIZER = "    optimizer = torch.optim.Adam(model.parameters(), lr=learn_rate)\n"

MUTANTS: tuple[Mutant, ...] = (
    # ---------------------------------------------------------------- 2.1a
    Mutant(
        id="conv-stride-2",
        task="2.1a",
        description="the convolution has stride 2 instead of 4",
        old=_CONV,
        new="            nn.Conv2d(3, 6, kernel_size=3, padding=1, stride=2),\n",
    ),
    Mutant(
        id="conv-no-padding",
        task="2.1a",
        description="the convolution has no padding (still 56 x 56 out, so nothing crashes)",
        old=_CONV,
        new="            nn.Conv2d(3, 6, kernel_size=3, stride=4),\n",
    ),
    Mutant(
        id="conv-kernel-5",
        task="2.1a",
        description="the convolution has a 5 x 5 kernel",
        old=_CONV,
        new="            nn.Conv2d(3, 6, kernel_size=5, padding=1, stride=4),\n",
    ),
    Mutant(
        id="linear-in-features-28x28",
        task="2.1a",
        description="the first Linear takes 6 * 28 * 28 inputs (pooling output computed as 28)",
        old=_LINEAR1,
        new="            nn.Linear(6 * 28 * 28, 10),\n",
    ),
    Mutant(
        id="linear-no-bias",
        task="2.1a",
        description="the output layer has no bias: nn.Linear(10, 1, bias=False)",
        old=_LINEAR2,
        new="            nn.Linear(10, 1, bias=False),\n",
    ),
    Mutant(
        id="conv-channels-swapped",
        task="2.1a",
        description="in and out channels swapped: nn.Conv2d(6, 3, ...)",
        old=_CONV,
        new="            nn.Conv2d(6, 3, kernel_size=3, padding=1, stride=4),\n",
    ),
    Mutant(
        id="linear-lazy",
        task="2.1a",
        description="the first Linear layer is nn.LazyLinear(10): its size is only fixed by the first forward",
        old=_LINEAR1,
        new="            nn.LazyLinear(10),\n",
    ),
    Mutant(
        id="conv-frozen",
        task="2.1a",
        description="the convolution is frozen (requires_grad_(False), as Part 3 does to VGG)",
        old=_CONV,
        new="            nn.Conv2d(3, 6, kernel_size=3, padding=1, stride=4).requires_grad_(False),\n",
    ),
    # ---------------------------------------------------------------- 2.1b
    Mutant(
        id="forward-missing-relu",
        task="2.1b",
        description="no ReLU between the two Linear layers",
        old=_LINEAR1 + _RELU,
        new=_LINEAR1,
    ),
    Mutant(
        id="forward-missing-sigmoid",
        task="2.1b",
        description="no sigmoid at the end (raw logits)",
        old=_LINEAR2 + _SIGMOID,
        new=_LINEAR2,
    ),
    Mutant(
        id="forward-softmax-output",
        task="2.1b",
        description="softmax over the one output instead of a sigmoid (always 1.0)",
        old=_SIGMOID,
        new="            nn.Softmax(dim=1),\n",
    ),
    Mutant(
        id="forward-average-pooling",
        task="2.1b",
        description="average pooling instead of max pooling",
        old=_POOL,
        new="            nn.AvgPool2d(kernel_size=4, stride=2),\n",
    ),
    Mutant(
        id="forward-pool-kernel-3",
        task="2.1b",
        description="max-pooling with kernel 3 (27 x 27 still, so the shapes fit)",
        old=_POOL,
        new="            nn.MaxPool2d(kernel_size=3, stride=2),\n",
    ),
    Mutant(
        id="forward-pool-before-conv",
        task="2.1b",
        description="pools the image before the convolution",
        old=_CONV + _POOL,
        new=_POOL + _CONV,
    ),
    Mutant(
        id="forward-relu-after-conv",
        task="2.1b",
        description="the ReLU sits after the convolution instead of after the first Linear",
        old=_CONV + _POOL + "            nn.Flatten(),\n" + _LINEAR1 + _RELU,
        new=_CONV + _RELU + _POOL + "            nn.Flatten(),\n" + _LINEAR1,
    ),
    Mutant(
        id="forward-adds-dropout",
        task="2.1b",
        description="adds nn.Dropout(0.5) after the ReLU (outputs vary in train mode)",
        old=_RELU + _LINEAR2,
        new=_RELU + "            nn.Dropout(0.5),\n" + _LINEAR2,
    ),
    # ---------------------------------------------------------------- 2.2
    Mutant(
        id="train-optimizer-per-epoch",
        task="2.2",
        description="creates a new Adam optimizer every epoch (its moments restart)",
        old=_OPTIMIZER + "    loss_fn = nn.BCELoss()\n"
        '    history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}\n\n'
        "    for _ in range(epochs):\n",
        new="    loss_fn = nn.BCELoss()\n"
        '    history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}\n\n'
        "    for _ in range(epochs):\n    " + _OPTIMIZER,
    ),
    Mutant(
        id="train-no-zero-grad",
        task="2.2",
        description="never calls optimizer.zero_grad(): gradients accumulate over batches",
        old=_TRAIN_STEP,
        new=_TRAIN_STEP.replace("            optimizer.zero_grad()\n", ""),
    ),
    Mutant(
        id="train-zero-grad-after-backward",
        task="2.2",
        description="zero_grad between backward and step: every step uses zero gradients",
        old=_TRAIN_STEP,
        new=(
            "            outputs = model(images)\n"
            "            loss = loss_fn(outputs, labels)\n"
            "            loss.backward()\n"
            "            optimizer.zero_grad()\n"
            "            optimizer.step()\n"
        ),
    ),
    Mutant(
        id="train-step-once-per-epoch",
        task="2.2",
        description="optimizer.step() after the batch loop, once per epoch",
        old=(
            "            optimizer.step()\n"
            "            batch_losses.append(loss.item())\n"
        ),
        new=(
            "            batch_losses.append(loss.item())\n"
            "        optimizer.step()\n"
        ),
    ),
    Mutant(
        id="train-mse-loss",
        task="2.2",
        description="nn.MSELoss instead of nn.BCELoss",
        old="    loss_fn = nn.BCELoss()\n",
        new="    loss_fn = nn.MSELoss()\n",
    ),
    Mutant(
        id="train-default-learning-rate",
        task="2.2",
        description="ignores learn_rate: Adam(model.parameters()) with its default lr",
        old=_OPTIMIZER,
        new="    optimizer = torch.optim.Adam(model.parameters())\n",
    ),
    Mutant(
        id="train-validation-steps",
        task="2.2",
        description="validation also backpropagates and steps the optimizer",
        old=_VALIDATION,
        new=(
            "        for images, labels in val_loader:\n"
            "            images, labels = images.to(device), labels.to(device)\n"
            "            optimizer.zero_grad()\n"
            "            val_loss = loss_fn(model(images), labels)\n"
            "            val_loss.backward()\n"
            "            optimizer.step()\n"
            "            val_losses.append(val_loss.item())\n"
        ),
    ),
    Mutant(
        id="train-validation-with-grad",
        task="2.2",
        description="validation without torch.no_grad() (builds graphs it never uses)",
        old=_VALIDATION,
        new=(
            "        for images, labels in val_loader:\n"
            "            images, labels = images.to(device), labels.to(device)\n"
            "            val_losses.append(loss_fn(model(images), labels).item())\n"
        ),
    ),
    Mutant(
        id="train-history-sums",
        task="2.2",
        description="logs the sum of the batch losses instead of their mean",
        old="    return float(sum(values) / len(values)) if values else float(\"nan\")\n",
        new="    return float(sum(values)) if values else float(\"nan\")\n",
    ),
    Mutant(
        id="train-history-last-batch",
        task="2.2",
        description="logs the last batch's training loss instead of the epoch mean",
        old='        history["train_loss"].append(_mean(batch_losses))\n',
        new='        history["train_loss"].append(batch_losses[-1])\n',
    ),
    Mutant(
        id="train-validation-on-train-loader",
        task="2.2",
        description="computes the validation loss on train_loader",
        old="            for images, labels in val_loader:\n",
        new="            for images, labels in train_loader:\n",
    ),
)

#: Correct variants: each must keep full marks on Part 2 (tests/test_mutants_part2.py).
EQUIVALENTS: tuple[Mutant, ...] = (
    Mutant(
        id="simplenet-reversed-attributes-functional",
        task="2.1b",
        description=(
            "layers registered in reverse order under other names; pooling, flattening and "
            "activations as functional calls"
        ),
        old=(
            "        self.layers = nn.Sequential(\n"
            + _CONV + _POOL + "            nn.Flatten(),\n" + _LINEAR1 + _RELU + _LINEAR2
            + _SIGMOID + "        )\n"
        ),
        new=(
            "        self.out = nn.Linear(10, 1)\n"
            "        self.fc = nn.Linear(4374, 10)\n"
            "        self.features = nn.ModuleList([nn.Conv2d(3, 6, 3, 4, 1)])\n"
            "\n"
            "    def layers(self, x):\n"
            "        x = torch.nn.functional.max_pool2d(self.features[0](x), 4, 2)\n"
            "        x = torch.relu(self.fc(x.view(x.size(0), -1)))\n"
            "        return 1 / (1 + torch.exp(-self.out(x)))\n"
        ),
    ),
    Mutant(
        id="train-loop-variations",
        task="2.2",
        description="peeks at one training batch first; model = model.to(device)",
        old="    model.to(device)\n" + _OPTIMIZER,
        new="    next(iter(train_loader))\n    model = model.to(device)\n" + _OPTIMIZER,
    ),
    Mutant(
        id="train-validation-inference-mode",
        task="2.2",
        description="validation under torch.inference_mode() instead of torch.no_grad()",
        old="        with torch.no_grad():\n",
        new="        with torch.inference_mode():\n",
    ),
    Mutant(
        id="train-step-order-variation",
        task="2.2",
        description="zero_grad after step (gradients start as None), functional BCE on (B,)",
        old=_TRAIN_STEP,
        new=(
            "            outputs = model(images)\n"
            "            loss = torch.nn.functional.binary_cross_entropy(\n"
            "                outputs.squeeze(1), labels.squeeze(1)\n"
            "            )\n"
            "            loss.backward()\n"
            "            optimizer.step()\n"
            "            model.zero_grad()\n"
        ),
    ),
)

_BY_ID = {m.id: m for m in MUTANTS + EQUIVALENTS}


def by_id(mutant_id: str) -> Mutant:
    """The mutant (or equivalent variant) called ``mutant_id``."""
    return _BY_ID[mutant_id]
