"""Realistic student mistakes in Part 3, as patches on ``solutions/reference/part3.py``.

Every task of Part 3 (3.1a to 3.6) has at least two. ``DropoutAdaptedVGG``
subclasses ``AdaptedVGG`` in the reference, so a freezing mistake (3.1a) is
inherited by it; 3.3 checks only the dropout, and must still pass.

Not here, because no check can see it: Adam given *all* parameters,
``torch.optim.Adam(model.parameters(), ...)``. Frozen parameters never get a
gradient, so Adam leaves them alone and the training is the same.
"""

from __future__ import annotations

from . import Mutant

__all__ = ["MUTANTS", "by_id"]

_HEAD = (
    "        self.head = nn.Sequential(\n"
    "            nn.Linear(4096, 64),\n"
    "            nn.ReLU(),\n"
    "            nn.Linear(64, 1),\n"
    "            nn.Sigmoid(),\n"
    "        )\n"
)
_FORWARD_HEAD = '        """3.1b: ``(B, 3, H, W)`` to ``(B, 1)``."""\n'
_FORWARD = _FORWARD_HEAD + "        return self.head(self.vgg(x))\n"
_DROPOUT_FORWARD = "        return self.head(self.dropout(self.vgg(x)))\n"
_STOP = (
    '        history["val_loss"].append(_mean(val_losses))\n'
    "\n"
    "        # Global names on purpose: the grader substitutes these two.\n"
    "        store_checkpoint(model, epoch)\n"
    '        if early_stopping_check(list(history["val_loss"]), threshold):\n'
    "            break\n"
)
_COUNT = (
    "            predicted_ok = (model(images) > 0.5).reshape(-1)\n"
    "            truly_ok = (labels == 1).reshape(-1)\n"
    "            correct += int((predicted_ok == truly_ok).sum())\n"
    "            total += truly_ok.numel()\n"
)

MUTANTS: tuple[Mutant, ...] = (
    # ---------------------------------------------------------------- 3.1a
    Mutant(
        id="vgg-not-frozen",
        task="3.1a",
        description="forgets to freeze the backbone: every VGG parameter stays trainable",
        old="        self.vgg.requires_grad_(False)\n",
        new="",
    ),
    Mutant(
        id="vgg-requires-grad-attribute",
        task="3.1a",
        description=(
            "writes self.vgg.requires_grad = False, which only sets an attribute on the module "
            "and freezes nothing"
        ),
        old="        self.vgg.requires_grad_(False)\n",
        new="        self.vgg.requires_grad = False\n",
    ),
    Mutant(
        id="vgg-features-only-frozen",
        task="3.1a",
        description="freezes only vgg.features: the classifier's two Linear layers stay trainable",
        old="        self.vgg.requires_grad_(False)\n",
        new="        self.vgg.features.requires_grad_(False)\n",
    ),
    Mutant(
        id="head-frozen-too",
        task="3.1a",
        description="freezes the whole model after building the head: the head cannot learn",
        old=_HEAD,
        new=_HEAD + "        self.requires_grad_(False)\n",
    ),
    # ---------------------------------------------------------------- 3.1b
    Mutant(
        id="forward-squeezes",
        task="3.1b",
        description="squeezes the output to shape (B,) instead of (B, 1)",
        old=_FORWARD,
        new=_FORWARD_HEAD + "        return self.head(self.vgg(x)).squeeze()\n",
    ),
    Mutant(
        id="forward-extra-sigmoid",
        task="3.1b",
        description="applies a sigmoid on top of the head, which already ends with one",
        old=_FORWARD,
        new=_FORWARD_HEAD + "        return torch.sigmoid(self.head(self.vgg(x)))\n",
    ),
    Mutant(
        id="forward-skips-sigmoid",
        task="3.1b",
        description="returns the head's logits (drops its final Sigmoid) for BCEWithLogitsLoss",
        old=_FORWARD,
        new=_FORWARD_HEAD + "        return self.head[:-1](self.vgg(x))\n",
    ),
    Mutant(
        id="forward-no-grad",
        task="3.1b",
        description="runs the whole forward in torch.no_grad(), so the head gets no gradient",
        old=_FORWARD,
        new=(
            _FORWARD_HEAD
            + "        with torch.no_grad():\n            return self.head(self.vgg(x))\n"
        ),
    ),
    # ---------------------------------------------------------------- 3.2
    Mutant(
        id="stop-on-ties",
        task="3.2",
        description="non-strict comparison: a loss equal to the previous one counts as a rise",
        old="        if not window[i] > window[i - 1]:\n",
        new="        if not window[i] >= window[i - 1]:\n",
    ),
    Mutant(
        id="stop-window-one-short",
        task="3.2",
        description=(
            "looks at the last threshold losses (threshold - 1 rises) instead of threshold + 1"
        ),
        old="    window = losses[-threshold - 1 :]\n",
        new="    window = losses[-threshold:]\n",
    ),
    Mutant(
        id="stop-short-history",
        task="3.2",
        description=(
            "checks len(losses) < threshold: a history of exactly threshold losses can stop"
        ),
        old="    if len(losses) <= threshold:\n",
        new="    if len(losses) < threshold:\n",
    ),
    Mutant(
        id="stop-counts-rises-anywhere",
        task="3.2",
        description="stops once threshold rises happened anywhere in the history, not in a row",
        old="    window = losses[-threshold - 1 :]\n",
        new=(
            "    rises = sum(b > a for a, b in zip(losses, losses[1:]))\n"
            "    return rises >= threshold\n"
            "    window = losses[-threshold - 1 :]\n"
        ),
    ),
    # ---------------------------------------------------------------- 3.3
    Mutant(
        id="dropout-default-p",
        task="3.3",
        description="nn.Dropout() with its default p = 0.5 instead of 0.2",
        old="        self.dropout = nn.Dropout(p=0.2)\n",
        new="        self.dropout = nn.Dropout()\n",
    ),
    Mutant(
        id="dropout-keep-probability",
        task="3.3",
        description="passes the keep probability: nn.Dropout(p=0.8)",
        old="        self.dropout = nn.Dropout(p=0.2)\n",
        new="        self.dropout = nn.Dropout(p=0.8)\n",
    ),
    Mutant(
        id="dropout-after-head",
        task="3.3",
        description="applies the dropout to the head's output instead of the VGG features",
        old=_DROPOUT_FORWARD,
        new="        return self.dropout(self.head(self.vgg(x)))\n",
    ),
    Mutant(
        id="dropout-always-on",
        task="3.3",
        description="functional dropout with training=True: still dropping in eval mode",
        old=_DROPOUT_FORWARD,
        new="        return self.head(nn.functional.dropout(self.vgg(x), p=0.2, training=True))\n",
    ),
    Mutant(
        id="dropout-on-images",
        task="3.3",
        description="drops input pixels (before VGG) instead of the VGG features",
        old=_DROPOUT_FORWARD,
        new="        return self.head(self.vgg(self.dropout(x)))\n",
    ),
    # ---------------------------------------------------------------- 3.4
    Mutant(
        id="checkpoint-underscore-name",
        task="3.4",
        description="names the file model_{epoch}.pt instead of model-{epoch}.pt",
        old='    torch.save(model.state_dict(), folder / f"model-{epoch}.pt")\n',
        new='    torch.save(model.state_dict(), folder / f"model_{epoch}.pt")\n',
    ),
    Mutant(
        id="checkpoint-whole-model",
        task="3.4",
        description="pickles the whole model instead of its state dict",
        old='    torch.save(model.state_dict(), folder / f"model-{epoch}.pt")\n',
        new='    torch.save(model, folder / f"model-{epoch}.pt")\n',
    ),
    Mutant(
        id="checkpoint-no-makedirs",
        task="3.4",
        description="never creates the checkpoints folder",
        old="    folder.mkdir(parents=True, exist_ok=True)\n",
        new="",
    ),
    Mutant(
        id="checkpoint-mkdir-every-time",
        task="3.4",
        description="creates the folder without exist_ok: the second checkpoint fails",
        old="    folder.mkdir(parents=True, exist_ok=True)\n",
        new="    folder.mkdir()\n",
    ),
    Mutant(
        id="checkpoint-next-to-source",
        task="3.4",
        description="writes next to the source file instead of under the working directory",
        old='    folder = Path("checkpoints")\n',
        new='    folder = Path(__file__).parent / "checkpoints"\n',
    ),
    # ---------------------------------------------------------------- 3.5
    Mutant(
        id="train-no-eval-for-validation",
        task="3.5",
        description="validates in train mode: no model.eval() before the validation pass",
        old="        model.eval()\n        val_losses = []\n",
        new="        val_losses = []\n",
    ),
    Mutant(
        id="train-mode-set-once",
        task="3.5",
        description="calls model.train() once before the loop: after the first validation, "
        "training runs in eval mode",
        old="    for epoch in range(epochs):\n        model.train()\n",
        new="    model.train()\n    for epoch in range(epochs):\n",
    ),
    Mutant(
        id="train-check-before-append",
        task="3.5",
        description="checks for early stopping before appending the epoch's validation loss",
        old=_STOP,
        new=(
            "        # Global names on purpose: the grader substitutes these two.\n"
            "        store_checkpoint(model, epoch)\n"
            '        if early_stopping_check(list(history["val_loss"]), threshold):\n'
            '            history["val_loss"].append(_mean(val_losses))\n'
            "            break\n"
            '        history["val_loss"].append(_mean(val_losses))\n'
        ),
    ),
    Mutant(
        id="train-no-checkpoint",
        task="3.5",
        description="never calls store_checkpoint",
        old="        store_checkpoint(model, epoch)\n",
        new="",
    ),
    Mutant(
        id="train-break-before-checkpoint",
        task="3.5",
        description="breaks out before storing the last epoch's checkpoint",
        old=_STOP,
        new=(
            '        history["val_loss"].append(_mean(val_losses))\n'
            '        if early_stopping_check(list(history["val_loss"]), threshold):\n'
            "            break\n"
            "        store_checkpoint(model, epoch)\n"
        ),
    ),
    Mutant(
        id="train-no-zero-grad",
        task="3.5",
        description="never calls optimizer.zero_grad(): gradients pile up over the batches",
        old="            optimizer.zero_grad()\n",
        new="",
    ),
    Mutant(
        id="train-sgd",
        task="3.5",
        description="uses torch.optim.SGD instead of Adam",
        old="    optimizer = torch.optim.Adam(",
        new="    optimizer = torch.optim.SGD(",
    ),
    Mutant(
        id="train-val-loss-summed",
        task="3.5",
        description="records the sum of the validation batch losses instead of their mean",
        old='        history["val_loss"].append(_mean(val_losses))\n',
        new='        history["val_loss"].append(float(sum(val_losses)))\n',
    ),
    # ---------------------------------------------------------------- 3.6
    Mutant(
        id="accuracy-mean-of-batches",
        task="3.6",
        description="averages the per-batch accuracies (wrong when the last batch is smaller)",
        old=_COUNT,
        new=(
            "            predicted_ok = (model(images) > 0.5).reshape(-1)\n"
            "            truly_ok = (labels == 1).reshape(-1)\n"
            "            correct += float((predicted_ok == truly_ok).float().mean())\n"
            "            total += 1\n"
        ),
    ),
    Mutant(
        id="accuracy-threshold-inclusive",
        task="3.6",
        description="predicts ok for output >= 0.5 instead of > 0.5",
        old="            predicted_ok = (model(images) > 0.5).reshape(-1)\n",
        new="            predicted_ok = (model(images) >= 0.5).reshape(-1)\n",
    ),
    Mutant(
        id="accuracy-broadcast",
        task="3.6",
        description=(
            "compares predictions of shape (B,) with labels of shape (B, 1): broadcasting "
            "compares every prediction with every label"
        ),
        old="            truly_ok = (labels == 1).reshape(-1)\n",
        new="            truly_ok = labels == 1\n",
    ),
    Mutant(
        id="accuracy-train-mode",
        task="3.6",
        description="evaluates without model.eval() (dropout would stay on)",
        old="    model.eval()\n    correct = 0\n",
        new="    correct = 0\n",
    ),
    Mutant(
        id="accuracy-with-gradients",
        task="3.6",
        description="evaluates without torch.no_grad()",
        old="    with torch.no_grad():\n        for images, labels in test_loader:\n",
        new="    if True:\n        for images, labels in test_loader:\n",
    ),
)

_BY_ID = {mutant.id: mutant for mutant in MUTANTS}


def by_id(mutant_id: str) -> Mutant:
    """The mutant with this id."""
    return _BY_ID[mutant_id]
