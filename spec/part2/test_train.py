"""Task 2.2: ``train(model, train_loader, val_loader, epochs, learn_rate, device)``.

``train`` is graded on the grader's SimpLeNet, never the student's, so a bug
in the student's model never costs 2.2. Two copies start from the same
weights; the student's ``train`` trains one in the worker, the standard loop
written below (the contract's: one ``Adam(model.parameters(), lr)``, one
``BCELoss``, per batch zero_grad, forward, loss, backward, step; then the
validation loss under ``torch.no_grad()``) trains the other here, on the same
unshuffled loaders of random images with a smaller last batch. After two
epochs the parameters copied out of the worker must be the standard loop's,
and the returned history must hold the epoch means of the batch losses that
the standard loop saw.

Every verdict rests on those values, which the grader recomputes itself;
what the worker reports about *how* ``train`` ran (which batches the model
saw, with or without gradients, on which device) words the messages only,
with one exception, the device (below). What the student's ``train`` gets is
the grader's SimpLeNet (the stand-in of :mod:`fmlgrade.spec.stand_ins.simplenet`,
holding weights the grader sends) inside
:class:`~fmlgrade.spec.worker.part2_observers.WatchedSimpLeNet`, and plain
``DataLoader`` objects.

"Validation runs without gradients" changes no parameter and no loss, so it
is made visible in a value: the watched model answers 0.5 for every image of
a validation batch it is called on with gradients on (read from the output
tensor's autograd state, not from ``torch.is_grad_enabled``), which turns that
epoch's validation loss into ln 2; the check compares the returned
``val_loss`` with the standard loop's and with ln 2. That evidence sits in the
worker, where a submission that knows the grader can go around it (see
docs/threat-model.md); "moves the model to device" can only be seen there,
and is vacuous on a CPU-only grader.

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
from fmlgrade.spec.part2 import contract as c
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
    """One forward call of the model during ``train``, as the worker noted it (for messages only)."""

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


def _by_shape(tensors: Any, what: str) -> dict[tuple[int, ...], torch.Tensor]:
    """``tensors`` keyed by shape; they must be the contract's six."""
    tensors = list(tensors) if isinstance(tensors, (list, tuple)) else []
    shapes = [tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__ for t in tensors]
    final = {tuple(t.shape): t for t in tensors if isinstance(t, torch.Tensor)}
    if sorted(final) != sorted(c.PARAMETER_ROLES) or len(tensors) != len(c.PARAMETER_ROLES):
        raise AssertionError(
            f"{what}: afterwards the model's parameters have shapes {shapes}, SimpLeNet's are "
            f"{sorted(c.PARAMETER_ROLES)}; train must train the model it is given"
        )
    return final


def _calls(records: Any) -> list[Call]:
    """The worker's notes on the model's forward calls, as far as they read as such (messages only)."""
    calls = []
    for record in records if isinstance(records, list) else []:
        try:
            changed = record.get("changed")
            calls.append(Call(
                str(record["batch"]), bool(record["grad_enabled"]), str(record["input_device"]),
                float(changed) if isinstance(changed, (int, float)) else None,
            ))
        except (AttributeError, KeyError, TypeError, ValueError):
            continue
    return calls


_REFERENCE_RUNS: dict[str, Run] = {}
_STUDENT_RUNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def reference_run(submission, device) -> tuple[Run, dict]:
    """The standard loop's run on the reference SimpLeNet (trusted and deterministic: once per device)."""
    if device not in _REFERENCE_RUNS:
        model = c.reference_model(submission, c.contract_weights(INIT_SEED))
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
                    obs.train_run, weights=c.contract_weights(INIT_SEED), epochs=EPOCHS,
                    learn_rate=LEARN_RATE, device=device, n_train=N_TRAIN, n_val=N_VAL, batch_size=BATCH,
                    train_seed=TRAIN_SEED, val_seed=VAL_SEED,
                )
            if not isinstance(seen, dict):
                raise AssertionError(f"{CALL} on {SETUP}: the grader could not read what the run left")
            run.calls = _calls(seen.get("calls"))
            devices = seen.get("devices")
            run.devices = {str(d) for d in devices} if isinstance(devices, list) else set()
            run.history = seen.get("history") if isinstance(seen.get("history"), dict) else {}
            run.final = _by_shape(seen.get("final"), f"{CALL} on {SETUP}")
        except Exception as exc:  # noqa: BLE001 - student code may raise anything
            run.error = exc
        runs[device] = run
    run = runs[device]
    if run.error is not None:
        raise run.error
    return run


def _calls_text(calls: list[Call], limit: int = 24) -> str:
    """The forward calls the worker noted, for messages: 'train 0, train 1, ..., validation 0 (no grad)'."""
    if not calls:
        return "no forward calls of the model were noted"
    parts = [f"{call.batch}{'' if call.grad_enabled else ' (no grad)'}" for call in calls[:limit]]
    more = f", ... ({len(calls) - limit} more)" if len(calls) > limit else ""
    return "the model's forward calls, in order: " + ", ".join(parts) + more


def _changed_during_validation(calls: list[Call]) -> str:
    """A hint for messages: parameters the worker saw change after the last training batch."""
    last_training = max(
        (i for i, call in enumerate(calls) if call.batch.startswith("train") and call.grad_enabled), default=-1
    )
    for call in calls[last_training + 1:]:
        if call.changed is not None and call.changed > 0:
            return (
                f" The parameters changed (by up to {call.changed:.3g}) after the last training batch, "
                f"during or after validation ({call.batch}): validation must not call backward() or "
                f"optimizer.step()."
            )
    return ""


# ------------------------------------------------------------------ the checks
def test_parameters_match_the_standard_loop(submission, device):
    """train runs one Adam(lr) + BCELoss loop (zero_grad, forward, loss, backward, step per batch).

    From the same initial weights and the same unshuffled loaders, two epochs of
    the student's train leave the same parameters as the standard loop, which
    the grader runs itself; validation must change none of them.
    """
    run = student_run(submission, device)
    expected, _ = reference_run(submission, device)
    for shape, value in expected.final.items():
        actual = run.final[shape]
        difference = c.largest_difference(actual, value)
        within = (actual.double() - value.double()).abs() <= PARAM_ATOL + PARAM_RTOL * value.double().abs()
        if not bool(within.all()):  # NaN counts as a difference
            raise AssertionError(
                f"{CALL} on {SETUP}: the parameters after training differ from those of the "
                f"standard loop ({c.parameter_role(shape)} by up to {difference:.3g}). The loop must "
                f"create one torch.optim.Adam(model.parameters(), lr=learn_rate) and one "
                f"nn.BCELoss() before the epochs, and for every batch in order call "
                f"optimizer.zero_grad(), compute the output and the loss, loss.backward(), "
                f"optimizer.step(); validation must not change the parameters."
                f"{_changed_during_validation(run.calls)}\n"
                f"Seen: {_calls_text(run.calls)}"
            )


def _expected_means(batches: list[list[tuple[float, int]]]) -> tuple[np.ndarray, np.ndarray]:
    plain = np.array([np.mean([loss for loss, _ in epoch]) for epoch in batches])
    weighted = np.array(
        [sum(loss * n for loss, n in epoch) / sum(n for _, n in epoch) for epoch in batches]
    )
    return plain, weighted


def _history_values(history: dict, key: str, what: str) -> np.ndarray:
    """``history[key]`` (as the observer described it) as EPOCHS numbers; fail with the reason otherwise."""
    if history.get("keys") is None:
        raise AssertionError(
            f"{what}: must return a dict {{'train_loss': [...], 'val_loss': [...]}}, "
            f"got {history.get('type')}"
        )
    entries = history.get("entries") if isinstance(history.get("entries"), dict) else {}
    if key not in entries or not isinstance(entries[key], dict):
        raise AssertionError(
            f"{what}: the returned dict lacks {key!r}; its keys are {history.get('keys')}"
        )
    values = entries[key]
    if values.get("length") is None:
        raise AssertionError(
            f"{what}: history[{key!r}] must be a list with one float per epoch, got {values.get('type')}"
        )
    numbers = values.get("numbers") if isinstance(values.get("numbers"), list) else []
    if values["length"] != EPOCHS or len(numbers) != EPOCHS:
        raise AssertionError(
            f"{what}: history[{key!r}] must hold one value per epoch ({EPOCHS}), "
            f"got {values['length']}: {values.get('repr')}"
        )
    for number in numbers:
        if isinstance(number, str):  # why that entry is not a number
            raise AssertionError(f"{what}: {number}")
    if any(np.shape(number) != () for number in numbers):
        raise AssertionError(
            f"{what}: every entry of history[{key!r}] must be one number, got {values.get('repr')}"
        )
    return np.array([float(number) for number in numbers])


def _matches(actual: np.ndarray, candidates: tuple[np.ndarray, ...]) -> bool:
    return any(np.allclose(actual, candidate, rtol=LOSS_RTOL, atol=LOSS_ATOL) for candidate in candidates)


def _trapped_epochs(actual: np.ndarray, plain: np.ndarray) -> list[int]:
    """The epochs whose validation loss is ln 2, what the grader's model gives with gradients on."""
    return [
        epoch for epoch in range(EPOCHS)
        if math.isclose(actual[epoch], math.log(2), rel_tol=LOSS_RTOL)
        and not math.isclose(plain[epoch], math.log(2), rel_tol=LOSS_RTOL)
    ]


def test_history_holds_the_mean_loss_of_each_epoch(submission, device):
    """train returns {"train_loss": [...], "val_loss": [...]}, one mean loss per epoch.

    Each value is that epoch's mean batch loss (plain, or weighted by batch
    size), as the standard loop run by the grader saw them.
    """
    run = student_run(submission, device)
    _, batches = reference_run(submission, device)
    what = f"{CALL} on {SETUP}"
    for key in ("train_loss", "val_loss"):
        actual = _history_values(run.history, key, what)
        plain, weighted = _expected_means(batches[key])
        if not _matches(actual, (plain, weighted)):
            if key == "val_loss" and _trapped_epochs(actual, plain):
                raise AssertionError(
                    f"{what}: history['val_loss'] is {show(actual)}, what the grader's SimpLeNet gives "
                    f"for validation batches evaluated with gradients on (see the check of the validation "
                    f"pass); the epochs' mean validation losses are {show(plain)}"
                )
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
    """train moves the model to device and feeds it batches there.

    Seen only inside the worker (where the parameters ended, where the inputs
    were): vacuous on a CPU-only grader, and best effort on a CUDA one.
    """
    run = student_run(submission, device)
    what = f"{CALL} with device={device!r}"
    wanted = torch.device(device).type
    if run.devices != {wanted}:
        raise AssertionError(
            f"{what}: afterwards the model's parameters must be on {wanted}, found them on "
            f"{', '.join(sorted(run.devices)) or 'no device'}; call model.to(device)"
        )
    elsewhere = sorted(
        {call.input_device for call in run.calls if not call.input_device.startswith(wanted)}
    )
    if elsewhere:
        raise AssertionError(
            f"{what}: the model was called with inputs on {', '.join(elsewhere)}; move every "
            "batch to device (images.to(device), labels.to(device))"
        )


def test_validation_runs_without_gradients_and_changes_nothing(submission, device):
    """Each epoch ends with the mean loss on val_loader under torch.no_grad(), changing no parameter.

    The returned val_loss must be the standard loop's; the grader's model
    answers 0.5 (a loss of ln 2) for a validation batch evaluated with
    gradients on, so a validation pass without torch.no_grad() shows there.
    That validation changes no parameter is part of
    :func:`test_parameters_match_the_standard_loop`.
    """
    run = student_run(submission, device)
    _, batches = reference_run(submission, device)
    what = f"{CALL} on {SETUP}"
    actual = _history_values(run.history, "val_loss", f"{what}: the validation losses are read from the history;")
    plain, weighted = _expected_means(batches["val_loss"])
    trapped = _trapped_epochs(actual, plain)
    if trapped:
        raise AssertionError(
            f"{what}: the validation batches of epoch(s) {', '.join(map(str, trapped))} were evaluated "
            f"with gradients on (history['val_loss'] is {show(actual)}: the grader's SimpLeNet answers "
            f"0.5, a loss of ln 2 = 0.693, for a validation batch it is called on with gradients on); "
            f"wrap the validation pass in `with torch.no_grad():`.\nSeen: {_calls_text(run.calls)}"
        )
    if not _matches(actual, (plain, weighted)):
        raise AssertionError(
            f"{what}: history['val_loss'] is {show(actual)}, not each epoch's mean validation loss "
            f"(see the check of the history), so the validation pass cannot be shown to run on "
            f"val_loader without gradients.\nSeen: {_calls_text(run.calls)}"
        )
    if math.isnan(float(sum(float(p.sum()) for p in run.final.values()))):
        raise AssertionError(f"{what}: the parameters became NaN")
