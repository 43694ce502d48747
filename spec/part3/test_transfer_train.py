"""Task 3.5: ``transfer_train``, the training loop with checkpoints and early stopping.

``transfer_train(model, train_loader, val_loader, epochs, learn_rate, threshold, device)``
is graded with the grader's ``early_stopping_check`` and ``store_checkpoint``
put in place of the student's (one bug costs one task): the stand-ins of
:mod:`fmlgrade.spec.part3.stand_ins`, written from the contract, since the
student's code runs where the reference solution is never loaded. It runs in
an empty working directory (checkpoints go to ``./checkpoints``), beside the
student's code: the observers of :mod:`fmlgrade.spec.worker.part3_observers` build
the model and loaders from seeds, run the loop and report the model's records,
the files written, the history and the weights it ended with. What they report
is judged here against the contract's rule, the designed losses and the
reference ``transfer_train`` run here from the same start.

Bookkeeping checks use :class:`~fmlgrade.spec.worker.part3_support.FrozenBackboneModel`,
a tiny AdaptedVGG look-alike (frozen backbone with a dropout, kept in eval
mode; trainable head) that records every forward. Its validation outputs are
preset per validation pass, so the validation losses are chosen by the check:
with the *real* reference ``early_stopping_check``, a history that keeps
rising must stop training at a known epoch. (Decision: the losses are
designed, not a recording ``early_stopping_check`` put in place of the
reference, so the student's loop meets the same function the contract
promises; the stand-in follows it.) From the records: the number of epochs run, a checkpoint per
epoch holding the weights of that epoch (numbered from 0 or from 1), train
mode during the training pass and eval mode during the validation pass, the
frozen parameters untouched, the history's values, and the weights after
training equal to those the reference ``transfer_train`` reaches from the
same start (zero_grad, BCELoss, Adam with the given learning rate, one step
per batch).

The convergence check trains on the synthetic casting dataset. Decision:
not with ``AdaptedVGG(weights=None)``: with random VGG weights the features
carry no usable signal (measured: the reference training ends at 50%
accuracy, chance, on the training and the test images for 5 of 5 seeds, and
it costs ~20 s of CPU per run). The stand-in
:class:`~fmlgrade.spec.worker.part3_support.PretrainedStandIn` keeps AdaptedVGG's
shape (frozen feature extractor in eval mode, the same head with 96 inputs)
with a fixed feature extractor that does help, and the student's
``transfer_train`` must reach the accuracy that the reference
``transfer_train`` reaches from the same start, within :data:`MARGIN`, on
the training images (where training makes a large difference: ~0.84 against
~0.5 untrained) and on the test images (where these features generalise
only to ~0.6, so that half is weak). The observer trains on the dataset folder
the check shares with it and returns the trained head only; the accuracy is
measured here, with the check's own copy of the stand-in holding that head.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from fmlgrade.spec.assertions import assert_close
from fmlgrade.spec.worker import part3_observers as obs
from fmlgrade.spec.worker import part3_support as h

pytestmark = pytest.mark.task("3.5")

#: Validation losses per epoch that fall, then keep rising: 4, 5 or 6 epochs run for
#: thresholds 1, 2 or 3.
RISING = (0.9, 0.7, 0.6, 0.65, 0.8, 1.0, 1.3, 1.7, 2.2)
#: Validation losses that never rise (a tie is not a rise): every epoch runs.
NOT_RISING = (0.9, 0.9, 0.8, 0.75)
LEARN_RATE = 0.01
#: Float32 BCE of a preset output agrees with -log(p) to ~1e-7 relative.
LOSS_RTOL = 1e-4
#: The same float32 Adam updates in the same order agree to rounding (~1e-7).
WEIGHT_RTOL, WEIGHT_ATOL = 1e-4, 1e-6


def expected_epochs(losses: Sequence[float], epochs: int, threshold: int) -> int:
    """How many epochs run: up to the first epoch after which the contract's rule says stop."""
    for n in range(1, epochs + 1):
        window = losses[max(0, n - threshold - 1) : n]
        if n > threshold and all(b > a for a, b in zip(window, window[1:], strict=False)):
            return n
    return epochs


def _val_outputs(losses: Sequence[float]) -> list[float]:
    """The stand-in's validation output per pass, so that pass k's BCE loss is ``losses[k]``."""
    return [math.exp(-loss) for loss in losses]


@dataclass
class Run:
    """A student's run as the observer reported it (see observers.transfer_train_run)."""

    history: object
    #: (pass, model.training, batch size) per forward.
    events: list
    #: The state dict at the first forward of each validation pass.
    snapshots: list
    #: The model's output per training batch.
    train_outputs: list
    #: The state dict and requires_grad flags after training.
    state: dict
    requires_grad: dict
    #: {"files": names in checkpoints/, "states": {name: what observers._read_state saw}}.
    checkpoints: dict
    call: str
    #: The stand-in before training, rebuilt here from the same seed.
    initial: dict[str, torch.Tensor] = field(default_factory=dict)
    initial_requires_grad: dict[str, bool] = field(default_factory=dict)


def _run(submission, device, folder: Path, losses, epochs, threshold) -> Run:
    """Run the student's ``transfer_train`` on a fresh stand-in, beside the student's code."""
    with h.working_directory(folder), \
            submission.with_reference("early_stopping_check", "store_checkpoint"):
        seen = submission.observe(
            obs.transfer_train_run, _val_outputs(losses), epochs, threshold, LEARN_RATE, str(device)
        )
    call = (
        f"transfer_train(model, train_loader, val_loader, epochs={epochs}, "
        f"learn_rate={LEARN_RATE}, threshold={threshold}, device={str(device)!r})"
    )
    initial, _, _ = h.bookkeeping_setup(_val_outputs(losses))
    return Run(
        history=seen["history"],
        events=list(seen["events"]),
        snapshots=list(seen["snapshots"]),
        train_outputs=list(seen["train_outputs"]),
        state=dict(seen["state"]),
        requires_grad=dict(seen["requires_grad"]),
        checkpoints=seen["checkpoints"],
        call=call,
        initial={k: v.detach().clone() for k, v in initial.state_dict().items()},
        initial_requires_grad={n: p.requires_grad for n, p in initial.named_parameters()},
    )


def _reference_run(
    submission, device, folder: Path, losses, epochs, threshold
) -> tuple[int, dict[str, torch.Tensor]]:
    """The reference ``transfer_train`` from the same start, here: epochs run and the final state dict."""
    transfer_train = submission.reference_object("transfer_train")
    model, train_loader, val_loader = h.bookkeeping_setup(_val_outputs(losses))
    with h.working_directory(folder), h.torch_threads(1), h.seeded(h.RUN_SEED):
        transfer_train(model, train_loader, val_loader, epochs, LEARN_RATE, threshold, device)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return model.validation_passes(), state


def _epochs_run(run: Run) -> int:
    return len(run.snapshots)


@pytest.mark.parametrize("threshold", [1, 2, 3])
def test_stops_when_the_validation_loss_keeps_rising(submission, device, tmp_path, threshold):
    """Training stops after the epoch at which early_stopping_check(val_losses, threshold) holds."""
    epochs = len(RISING)
    run = _run(submission, device, tmp_path, RISING, epochs, threshold)
    expected = expected_epochs(RISING, epochs, threshold)
    ran = _epochs_run(run)
    if ran != expected:
        raise AssertionError(
            f"{run.call}: with validation losses {list(RISING[:expected + 1])} ... per epoch, "
            f"early_stopping_check(val_losses, {threshold}) is first True after epoch "
            f"{expected} (counting from 1), so {expected} epochs must run; {ran} ran. Append "
            f"the epoch's validation loss first, then check, then stop"
        )


def test_runs_every_epoch_while_the_validation_loss_does_not_rise(submission, device, tmp_path):
    """Without a rise in validation loss, all epochs run."""
    epochs = len(NOT_RISING)
    run = _run(submission, device, tmp_path, NOT_RISING, epochs, threshold=1)
    ran = _epochs_run(run)
    if ran != epochs:
        raise AssertionError(
            f"{run.call}: with validation losses {list(NOT_RISING)} (never rising), all "
            f"{epochs} epochs must run; {ran} ran"
        )


def test_stores_a_checkpoint_after_every_epoch(submission, device, tmp_path):
    """After each epoch's validation, store_checkpoint(model, epoch) saves that epoch's weights."""
    epochs = len(RISING)
    run = _run(submission, device, tmp_path, RISING, epochs, threshold=2)
    n = _epochs_run(run)
    found = sorted(run.checkpoints["files"])
    numbering = None
    for first in (0, 1):
        if found == sorted(f"model-{e}.pt" for e in range(first, first + n)):
            numbering = first
    if numbering is None:
        raise AssertionError(
            f"{run.call} ran {n} epochs: expected one checkpoint per epoch, "
            f"checkpoints/model-0.pt ... model-{n - 1}.pt (or model-1.pt ... model-{n}.pt), "
            f"written by store_checkpoint(model, epoch) after each epoch's validation; found "
            f"{found or 'no checkpoints'}"
        )
    for k in range(n):
        epoch = numbering + k
        saved = run.checkpoints["states"].get(f"model-{epoch}.pt", {}).get("state") or {}
        expected = run.snapshots[k]
        for key, value in expected.items():
            got = saved.get(key)
            if not isinstance(got, torch.Tensor) or not torch.equal(got.cpu(), value):
                raise AssertionError(
                    f"{run.call}: checkpoints/model-{epoch}.pt does not hold the weights of "
                    f"epoch {k + 1} ({key!r} differs); store the checkpoint once per epoch, "
                    f"after that epoch's training pass"
                )


def test_trains_in_train_mode_and_validates_in_eval_mode(submission, device, tmp_path):
    """model.train() before each epoch's training pass, model.eval() before its validation pass."""
    run = _run(submission, device, tmp_path, RISING, len(RISING), threshold=2)
    if not run.events:
        raise AssertionError(f"{run.call}: the model was never called")
    for phase, training, _ in run.events:
        if phase == "train" and not training:
            raise AssertionError(
                f"{run.call}: a training batch went through the model in eval mode; call "
                f"model.train() at the start of every epoch (validation switched it to eval)"
            )
        if phase == "val" and training:
            raise AssertionError(
                f"{run.call}: a validation batch went through the model in train mode; call "
                f"model.eval() before the validation pass"
            )


def test_changes_only_the_trainable_parameters(submission, device, tmp_path):
    """Frozen parameters stay exactly as they were; the head's parameters change."""
    run = _run(submission, device, tmp_path, NOT_RISING, len(NOT_RISING), threshold=1)
    flags = run.requires_grad
    if flags != run.initial_requires_grad:
        changed = [n for n in flags if flags[n] != run.initial_requires_grad.get(n)]
        raise AssertionError(
            f"{run.call}: changed requires_grad of {h.frozen_names(changed)}; train the model as "
            f"it is given (its backbone frozen)"
        )

    def moved(name: str) -> bool:
        after = run.state.get(name)
        return not isinstance(after, torch.Tensor) or not torch.equal(after, run.initial[name])

    frozen = [n for n, trainable in run.initial_requires_grad.items() if not trainable]
    moved_frozen = [n for n in frozen if moved(n)]
    if moved_frozen:
        raise AssertionError(
            f"{run.call}: frozen parameters changed ({h.frozen_names(moved_frozen)}); only the "
            f"parameters with requires_grad=True may be trained"
        )
    trained = [n for n, trainable in run.initial_requires_grad.items() if trainable and moved(n)]
    if not trained:
        raise AssertionError(
            f"{run.call}: no trainable parameter changed; each training batch needs "
            f"optimizer.zero_grad(), loss.backward() and optimizer.step() with "
            f"torch.optim.Adam over the trainable parameters"
        )


def _as_float(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating)):
        raise AssertionError(
            f"{what} must be a float, got {type(value).__name__} {value!r} (use loss.item())"
        )
    return float(value)


def test_returns_the_history_of_mean_losses(submission, device, tmp_path):
    """Returns {"train_loss": [...], "val_loss": [...]}, each epoch's mean loss as a float."""
    epochs = len(RISING)
    run = _run(submission, device, tmp_path, RISING, epochs, threshold=2)
    n = _epochs_run(run)
    history = run.history
    if not isinstance(history, dict) or set(history) != {"train_loss", "val_loss"}:
        shown = sorted(map(str, history)) if isinstance(history, dict) else type(history).__name__
        if isinstance(history, str):  # an object the observer could only describe
            shown = history
        raise AssertionError(
            f"{run.call}: must return a dict with the keys 'train_loss' and 'val_loss', got {shown}"
        )
    for key in ("train_loss", "val_loss"):
        values = history[key]
        if not isinstance(values, list) or len(values) != n:
            length = len(values) if hasattr(values, "__len__") else "?"
            raise AssertionError(
                f"{run.call}: history[{key!r}] must be a list with one loss per epoch run "
                f"({n}), got {type(values).__name__} of length {length}"
            )
    val = [
        _as_float(v, f"{run.call}: history['val_loss'][{i}]")
        for i, v in enumerate(history["val_loss"])
    ]
    assert_close(
        val, list(RISING[:n]),
        what=f"{run.call}: history['val_loss'] (the validation outputs were chosen so that each "
        f"epoch's mean BCE loss is known)",
        rtol=LOSS_RTOL, atol=0.0,
    )
    train = [
        _as_float(v, f"{run.call}: history['train_loss'][{i}]")
        for i, v in enumerate(history["train_loss"])
    ]
    by_batch, by_sample = _expected_train_losses(run, n)
    for epoch, value in enumerate(train):
        options = (by_batch[epoch], by_sample[epoch])
        if not any(abs(value - o) <= LOSS_RTOL * abs(o) for o in options):
            raise AssertionError(
                f"{run.call}: history['train_loss'][{epoch}] is {value:.6g}; the mean BCE loss of "
                f"that epoch's training batches is {options[0]:.6g} (or {options[1]:.6g} "
                f"weighted by batch size)"
            )


def _expected_train_losses(run: Run, n: int) -> tuple[list[float], list[float]]:
    """Per epoch: the mean of the batch losses, and the batch-size-weighted mean."""
    train_loader = h.tagged_loader(h.TRAIN_N, h.TRAIN_BATCH, tag=0, seed=h.TRAIN_SEED)
    labels = [y for _, y in train_loader]
    per_epoch = len(labels)
    outputs = run.train_outputs
    if len(outputs) != per_epoch * n:
        raise AssertionError(
            f"{run.call}: {len(outputs)} training batches went through the model in {n} epochs; "
            f"expected {per_epoch} per epoch (one pass over train_loader)"
        )
    by_batch, by_sample = [], []
    for epoch in range(n):
        losses, sizes = [], []
        for b in range(per_epoch):
            out = outputs[epoch * per_epoch + b].double()
            losses.append(float(torch.nn.functional.binary_cross_entropy(out, labels[b].double())))
            sizes.append(len(labels[b]))
        by_batch.append(sum(losses) / len(losses))
        by_sample.append(sum(v * s for v, s in zip(losses, sizes, strict=True)) / sum(sizes))
    return by_batch, by_sample


def test_updates_match_the_reference_training(submission, device, tmp_path):
    """Per batch zero_grad, BCELoss, backward, an Adam step: the weights end as the reference's."""
    epochs = len(NOT_RISING)
    run = _run(submission, device, tmp_path / "student", NOT_RISING, epochs, threshold=1)
    reference_epochs, reference_state = _reference_run(
        submission, device, tmp_path / "reference", NOT_RISING, epochs, threshold=1
    )
    if _epochs_run(run) != reference_epochs:
        raise AssertionError(
            f"{run.call}: ran {_epochs_run(run)} epochs, expected {reference_epochs}"
        )
    for key, expected in reference_state.items():
        got = run.state.get(key)
        if not isinstance(got, torch.Tensor):
            raise AssertionError(f"{run.call}: the model has no {key} after training")
        assert_close(
            got, expected.numpy(),
            what=f"{run.call}: {key} after training (the reference transfer_train, from the "
            f"same start: per batch optimizer.zero_grad(), nn.BCELoss(), backward(), "
            f"optimizer.step() with torch.optim.Adam(trainable parameters, lr=learn_rate))",
            rtol=WEIGHT_RTOL, atol=WEIGHT_ATOL,
        )


# ---------------------------------------------------------------- convergence
#: The synthetic dataset: images per class, 64 x 64 pixels (written at that size).
DATA = {"n_train": 100, "n_test": 50, "size": 64, "seed": 0}
EPOCHS, LR, BATCH, MODEL_SEED = 10, 1e-3, 16, 0
#: Measured with the reference over model/shuffle seeds 0-7 (fixtures/casting.py of
#: 2026-11-26): accuracy on the 160 training images 0.79-0.84 (0.84 for MODEL_SEED),
#: untrained 0.46-0.56, SGD instead of Adam 0.45-0.53; on the 100 test images
#: 0.59-0.63 (0.62), untrained 0.39-0.67. A loop that trains as the contract says
#: gives the reference's numbers (same start, same batches), or lands within the
#: seed-to-seed spread (0.05) when it draws random numbers differently.
MARGIN = 0.08

_REFERENCE: dict[str, tuple[float, float]] = {}


def _accuracies(model: torch.nn.Module, device) -> tuple[float, float]:
    """Accuracy of ``model`` on the training and the test images, measured here."""
    (xtr, ytr), _, (xte, yte) = h.casting_tensors(**DATA)
    model.to(device).eval()
    accuracies = []
    with torch.no_grad():
        for x, y in ((xtr, ytr), (xte, yte)):
            predicted = model(x.to(device)).cpu() > 0.5
            accuracies.append(float((predicted == (y == 1)).float().mean()))
    return accuracies[0], accuracies[1]


def _fresh_model() -> h.PretrainedStandIn:
    train, validation, _ = h.casting_tensors(**DATA)
    model, _, _ = h.casting_setup(train, validation, batch_size=BATCH, seed=MODEL_SEED)
    return model


def _reference_on_casting(submission, device, folder: Path) -> tuple[float, float]:
    """Train a fresh stand-in with the reference ``transfer_train`` here; its accuracies."""
    train, validation, _ = h.casting_tensors(**DATA)
    model, train_loader, val_loader = h.casting_setup(
        train, validation, batch_size=BATCH, seed=MODEL_SEED
    )
    transfer_train = submission.reference_object("transfer_train")
    with h.working_directory(folder), h.torch_threads(1), h.seeded(MODEL_SEED):
        transfer_train(model, train_loader, val_loader, EPOCHS, LR, EPOCHS, device)
    return _accuracies(model, device)


def test_reaches_the_reference_accuracy_on_the_casting_data(submission, device, tmp_path):
    """Trained on the synthetic casting images, the model gets as accurate as the reference's."""
    key = str(torch.device(device))
    call = (
        f"transfer_train(model, train_loader, val_loader, epochs={EPOCHS}, learn_rate={LR}, "
        f"threshold={EPOCHS}, device={key!r}) on the synthetic casting images "
        f"({DATA['size']} x {DATA['size']}; a frozen feature extractor and AdaptedVGG's head)"
    )
    root = submission.share(h.casting_root(**DATA))
    with h.working_directory(tmp_path / "student"), \
            submission.with_reference("early_stopping_check", "store_checkpoint"):
        head = submission.observe(
            obs.transfer_train_on_casting, root, DATA["size"], DATA["seed"], EPOCHS, LR, BATCH,
            MODEL_SEED, key,
        )
    model = _fresh_model()
    try:
        model.head.load_state_dict(head)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise AssertionError(
            f"{call}: the trained head cannot be read back ({exc}); train the model as it is "
            f"given"
        ) from None
    got = _accuracies(model, device)
    if key not in _REFERENCE:
        _REFERENCE[key] = _reference_on_casting(submission, device, tmp_path / "reference")
    for split, accuracy, reference in zip(("training", "test"), got, _REFERENCE[key], strict=True):
        if accuracy < reference - MARGIN:
            raise AssertionError(
                f"{call}: accuracy on the {split} images {accuracy:.3f}, but the reference "
                f"training reaches {reference:.3f} from the same start (at least "
                f"{reference - MARGIN:.3f} required)"
            )
