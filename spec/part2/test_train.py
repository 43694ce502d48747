"""Task 2.2: ``train(model, train_loader, val_loader, epochs, learn_rate, device)``.

``train`` is graded on the grader's SimpLeNet, never the student's, so a bug
in the student's model never costs 2.2. Two copies start from the same seeded
weights; the student's ``train`` trains one, the standard loop written below (the
contract's: one ``Adam(model.parameters(), lr)``, one ``BCELoss``, per batch
zero_grad, forward, loss, backward, step; then the validation loss under
``torch.no_grad()``) trains the other, on the same unshuffled loaders of
random images with a smaller last batch. After two epochs the parameters must
agree, and the returned history must hold the epoch means of the batch losses.

What the student's ``train`` gets is the grader's SimpLeNet (the stand-in of
:mod:`fmlgrade.spec.part2.stand_ins`, since the student's code runs where the
reference solution is not loaded) and plain ``DataLoader`` objects; the
observer :func:`fmlgrade.spec.worker.part2_observers.train_run` watches it only
through a forward pre-hook on the model (which batch, with or without
gradients, on which device) and returns what it saw, the final parameters and
the returned history as plain data. The standard loop runs here, on the
reference SimpLeNet; both models start from the same seeded weights
(``contract_layers(INIT_SEED)``, copied in by shape), and parameters are
compared by shape (SimpLeNet's six tensors all have different shapes).

Tolerances. On the CPU the student's loop, if it does the contract's
operations, gives bit-identical parameters (``foreach=False`` Adam too); the
fused Adam kernel moves them by 1.5e-8. The mistakes in the mutant catalogue
move some parameter by 7e-3 to 1.6e-2 after these six steps of size ~3e-3, and
even ``amsgrad=True`` moves one by 9e-6 (``betas=(0.9, 0.99)``: 9e-5). The
elementwise bound ``atol=1e-6`` plus ``rtol=1e-5`` sits between the two. On
CUDA both loops run with deterministic cuDNN kernels. History values are
compared with ``rtol=1e-5, atol=1e-6``: float32 batch losses averaged in
float64 differ by ~1e-8 between correct loops, while the two accepted means
(plain and weighted by batch size) differ by ~1e-2 here.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from fmlgrade.spec.assertions import assert_close, show
from fmlgrade.spec.worker import part2_observers as obs
from fmlgrade.spec.worker import part2_support as h

pytestmark = pytest.mark.task("2.2")

EPOCHS = 2
#: Not Adam's default (1e-3), so a loop that ignores ``learn_rate`` ends elsewhere.
LEARN_RATE = 0.003
#: 20 training images in batches of 8, 8 and 4; 12 validation images in batches of 8 and 4.
N_TRAIN, N_VAL, BATCH = 20, 12, 8
TRAIN_SEED, VAL_SEED, INIT_SEED = 101, 202, 7
PARAM_RTOL, PARAM_ATOL = 1e-5, 1e-6
LOSS_RTOL, LOSS_ATOL = 1e-5, 1e-6

CALL = (
    f"train(model, train_loader, val_loader, epochs={EPOCHS}, learn_rate={LEARN_RATE}, device)"
)
SETUP = (
    f"a SimpLeNet, {N_TRAIN} random training images in unshuffled batches of 8, 8 and 4, "
    f"{N_VAL} validation images in batches of 8 and 4"
)


# ------------------------------------------------------------------ the standard loop
def standard_loop(model, train_loader, val_loader, epochs, learn_rate, device):
    """The contract's loop; returns each epoch's (loss, batch size) pairs, training then validation."""
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=learn_rate)
    loss_fn = nn.BCELoss()
    batches: dict[str, list[list[tuple[float, int]]]] = {"train_loss": [], "val_loss": []}
    for _ in range(epochs):
        seen = []
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = loss_fn(model(images), labels)
            loss.backward()
            optimizer.step()
            seen.append((loss.item(), len(images)))
        batches["train_loss"].append(seen)
        seen = []
        with torch.no_grad():
            for images, labels in val_loader:
                images, labels = images.to(device), labels.to(device)
                seen.append((loss_fn(model(images), labels).item(), len(images)))
        batches["val_loss"].append(seen)
    return batches


# ------------------------------------------------------------------ running and watching
@dataclass
class Call:
    """One forward call of the model during ``train``."""

    batch: str  # "train 2", "validation 0", or "another input"
    grad_enabled: bool
    input_device: str
    #: Validation calls: the largest change of a parameter from this call to the end of train.
    changed: float | None = None


@dataclass
class Run:
    """What one training run did."""

    #: The parameters after training, by shape.
    final: dict[tuple[int, ...], torch.Tensor] = field(default_factory=dict)
    devices: set[str] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)
    #: The reference run: the batch losses; a student's run: the observer's description of the history.
    history: Any = None
    error: BaseException | None = None


def _by_shape(tensors: list[torch.Tensor], what: str) -> dict[tuple[int, ...], torch.Tensor]:
    """``tensors`` keyed by shape; they must be the contract's six."""
    final = {tuple(t.shape): t for t in tensors}
    if sorted(final) != sorted(h.PARAMETER_ROLES) or len(tensors) != len(h.PARAMETER_ROLES):
        raise AssertionError(
            f"{what}: afterwards the model's parameters have shapes "
            f"{[tuple(t.shape) for t in tensors]}, SimpLeNet's are {sorted(h.PARAMETER_ROLES)}; "
            "train must train the model it is given"
        )
    return final


_REFERENCE_RUNS: dict[str, Run] = {}
_STUDENT_RUNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def reference_run(submission, device) -> tuple[Run, dict]:
    """The standard loop's run on the reference SimpLeNet (trusted and deterministic: once per device)."""
    if device not in _REFERENCE_RUNS:
        model = submission.reference_object("SimpLeNet")()
        h.load_contract_weights(model, INIT_SEED)
        train_loader = h.fake_loader(N_TRAIN, BATCH, TRAIN_SEED)
        val_loader = h.fake_loader(N_VAL, BATCH, VAL_SEED)
        run = Run()
        with h.torch_threads(1), h.deterministic(device), h.seeded(0):
            run.history = standard_loop(
                model, train_loader, val_loader, EPOCHS, LEARN_RATE, device
            )
        run.final = {tuple(p.shape): p.detach().cpu().clone() for p in model.parameters()}
        run.devices = {p.device.type for p in model.parameters()}
        _REFERENCE_RUNS[device] = run
    return _REFERENCE_RUNS[device], _REFERENCE_RUNS[device].history


def student_run(submission, device) -> Run:
    """The student's ``train`` on the same setup (run once per submission and device)."""
    runs = _STUDENT_RUNS.setdefault(submission, {})
    if device not in runs:
        run = Run()
        try:
            with submission.with_reference("SimpLeNet"):
                seen = submission.observe(
                    obs.train_run, epochs=EPOCHS, learn_rate=LEARN_RATE, device=device,
                    n_train=N_TRAIN, n_val=N_VAL, batch_size=BATCH,
                    train_seed=TRAIN_SEED, val_seed=VAL_SEED, init_seed=INIT_SEED,
                )
        except Exception as exc:  # noqa: BLE001 - student code may raise anything
            run.error = exc
        else:
            run.calls = [
                Call(c["batch"], bool(c["grad_enabled"]), str(c["input_device"]), c["changed"])
                for c in seen["calls"]
            ]
            run.devices = set(seen["devices"])
            run.history = seen["history"]
            try:
                run.final = _by_shape(list(seen["final"]), f"{CALL} on {SETUP}")
            except AssertionError as exc:
                run.error = exc
        runs[device] = run
    run = runs[device]
    if run.error is not None:
        raise run.error
    return run


def _calls_text(calls: list[Call], limit: int = 24) -> str:
    """The forward calls seen, for messages: 'train 0, train 1, ... | validation 0 (no_grad)'."""
    if not calls:
        return "no forward calls of the model at all"
    parts = [f"{c.batch}{'' if c.grad_enabled else ' (no grad)'}" for c in calls[:limit]]
    more = f", ... ({len(calls) - limit} more)" if len(calls) > limit else ""
    return "the model's forward calls, in order: " + ", ".join(parts) + more


# ------------------------------------------------------------------ the checks
def test_parameters_match_the_standard_loop(submission, device):
    """train runs one Adam(lr) + BCELoss loop (zero_grad, forward, loss, backward, step per batch).

    From the same initial weights and the same unshuffled loaders, two epochs of
    the student's train leave the same parameters as the standard loop.
    """
    run = student_run(submission, device)
    expected, _ = reference_run(submission, device)
    for shape, value in expected.final.items():
        actual = run.final[shape]
        difference = float((actual - value).abs().max())
        within = (actual - value).abs() <= PARAM_ATOL + PARAM_RTOL * value.abs()
        if not bool(within.all()):  # NaN counts as a difference
            raise AssertionError(
                f"{CALL} on {SETUP}: the parameters after training differ from those of the "
                f"standard loop ({h.parameter_role(shape)} by up to {difference:.3g}). The loop must "
                f"create one torch.optim.Adam(model.parameters(), lr=learn_rate) and one "
                f"nn.BCELoss() before the epochs, and for every batch in order call "
                f"optimizer.zero_grad(), compute the output and the loss, loss.backward(), "
                f"optimizer.step(); validation must not change the parameters.\n"
                f"Seen: {_calls_text(run.calls)}"
            )


def _expected_means(batches: list[list[tuple[float, int]]]) -> tuple[np.ndarray, np.ndarray]:
    plain = np.array([np.mean([loss for loss, _ in epoch]) for epoch in batches])
    weighted = np.array(
        [sum(loss * n for loss, n in epoch) / sum(n for _, n in epoch) for epoch in batches]
    )
    return plain, weighted


def test_history_holds_the_mean_loss_of_each_epoch(submission, device):
    """train returns {"train_loss": [...], "val_loss": [...]}, one mean loss per epoch.

    Each value is that epoch's mean batch loss (plain, or weighted by batch size).
    """
    run = student_run(submission, device)
    _, batches = reference_run(submission, device)
    history = run.history  # described by the observer: see observers.train_run
    what = f"{CALL} on {SETUP}"
    if history["keys"] is None:
        raise AssertionError(
            f"{what}: must return a dict {{'train_loss': [...], 'val_loss': [...]}}, "
            f"got {history['type']}"
        )
    missing = [key for key in ("train_loss", "val_loss") if key not in history["entries"]]
    if missing:
        raise AssertionError(
            f"{what}: the returned dict lacks {', '.join(map(repr, missing))}; "
            f"its keys are {history['keys']}"
        )
    for key in ("train_loss", "val_loss"):
        values = history["entries"][key]
        if values["length"] is None:
            raise AssertionError(
                f"{what}: history[{key!r}] must be a list with one float per epoch, "
                f"got {values['type']}"
            )
        if values["length"] != EPOCHS:
            raise AssertionError(
                f"{what}: history[{key!r}] must hold one value per epoch ({EPOCHS}), "
                f"got {values['length']}: {values['repr']}"
            )
        for number in values["numbers"]:
            if isinstance(number, str):  # why that entry is not a number
                raise AssertionError(f"{what}: {number}")
        if any(np.shape(number) != () for number in values["numbers"]):
            raise AssertionError(
                f"{what}: every entry of history[{key!r}] must be one number, got {values['repr']}"
            )
        actual = np.array([float(number) for number in values["numbers"]])
        plain, weighted = _expected_means(batches[key])
        close = [
            np.allclose(actual, candidate, rtol=LOSS_RTOL, atol=LOSS_ATOL)
            for candidate in (plain, weighted)
        ]
        if not any(close):
            pass_name = "training" if key == "train_loss" else "validation"
            batch_losses = [[round(loss, 6) for loss, _ in epoch] for epoch in batches[key]]
            assert_close(
                actual, plain, rtol=LOSS_RTOL, atol=LOSS_ATOL,
                what=(
                    f"{what}: history[{key!r}] must hold each epoch's mean {pass_name} loss "
                    f"(mean of the batch losses {show(plain)}, or weighted by batch size "
                    f"{show(weighted)}; the batch losses were {batch_losses})"
                ),
            )


def test_model_ends_up_on_device(submission, device):
    """train moves the model to device and feeds it batches there."""
    run = student_run(submission, device)
    what = f"{CALL} with device={device!r}"
    wanted = torch.device(device).type
    if run.devices != {wanted}:
        raise AssertionError(
            f"{what}: afterwards the model's parameters must be on {wanted}, found them on "
            f"{', '.join(sorted(run.devices))}; call model.to(device)"
        )
    elsewhere = sorted(
        {c.input_device for c in run.calls if torch.device(c.input_device).type != wanted}
    )
    if elsewhere:
        raise AssertionError(
            f"{what}: the model was called with inputs on {', '.join(elsewhere)}; move every "
            "batch to device (images.to(device), labels.to(device))"
        )


def test_validation_runs_without_gradients_and_changes_nothing(submission, device):
    """Validation runs under torch.no_grad() and leaves the parameters unchanged."""
    run = student_run(submission, device)
    what = f"{CALL} on {SETUP}"
    validation = [c for c in run.calls if c.batch.startswith("validation")]
    if not validation:
        raise AssertionError(
            f"{what}: the model never saw a validation batch; every epoch must compute the "
            f"validation loss on val_loader.\nSeen: {_calls_text(run.calls)}"
        )
    with_grad = [c.batch for c in validation if c.grad_enabled]
    if with_grad:
        raise AssertionError(
            f"{what}: the validation batches ({', '.join(with_grad)}) were evaluated with "
            f"gradients on; wrap the validation pass in `with torch.no_grad():`.\n"
            f"Seen: {_calls_text(run.calls)}"
        )
    last_training = max(
        (i for i, c in enumerate(run.calls) if c.batch.startswith("train") and c.grad_enabled),
        default=-1,
    )
    for call in run.calls[last_training + 1:]:
        if call.changed is None:
            continue
        if call.changed > 0:
            raise AssertionError(
                f"{what}: the parameters changed (by up to {call.changed:.3g}) after the last "
                f"training batch, during or after validation ({call.batch}); validation must "
                f"not call backward() or optimizer.step()"
            )
    if math.isnan(float(sum(float(p.sum()) for p in run.final.values()))):
        raise AssertionError(f"{what}: the parameters became NaN")
