"""Task 3.6: ``evaluate_accuracy(model, test_loader, device)``.

The model is a stand-in that returns preset probabilities (one per sample,
found by the sample's index, whatever the batch), so the expected accuracy
is known exactly: the fraction of samples whose ``output > 0.5`` agrees with
``label == 1``. Outputs are drawn from values around the threshold, exactly
0.5 included (not a positive prediction: the contract says ``> 0.5``). The
loaders have an uneven last batch (an accuracy averaged over batches is then
wrong). The model and loader are built, and the student's function called,
by the observer :func:`fmlgrade.spec.worker.part3_observers.evaluate` beside the
student's code; the expected accuracy is computed here. Only the number the
student's function returned is judged.

"In eval mode, without gradients" is judged by that number too. The stand-in
is handed over in train mode and shows how it was run in its predictions, as
a model with dropout would: in train mode it flips the predictions of some
samples, and while autograd records operations it flips those of others
(asked of autograd through torch's C tensor type, not of a Python function
such as ``torch.is_grad_enabled`` that student code could replace). Each way
of running it gives its own accuracy, so the number returned says which way
it was run.
"""

from __future__ import annotations

import numbers

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fmlgrade.spec.worker import part3_observers as obs

pytestmark = pytest.mark.task("3.6")

#: Outputs around the 0.5 cut-off, 0.5 itself included.
_OUTPUTS = (0.0, 0.1, 0.3, 0.49, 0.5, 0.51, 0.8, 1.0)
#: The fraction is a ratio of counts; float32 arithmetic on the way is exact to ~1e-7.
ATOL = 1e-6


@st.composite
def accuracy_cases(draw) -> tuple[list[float], list[float], int]:
    """(outputs, labels, batch_size) with a smaller last batch."""
    batch_size = draw(st.integers(2, 7))
    full_batches = draw(st.integers(1, 4))
    rest = draw(st.integers(1, batch_size - 1))
    n = full_batches * batch_size + rest
    outputs = draw(st.lists(st.sampled_from(_OUTPUTS), min_size=n, max_size=n))
    labels = draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n))
    return outputs, labels, batch_size


def expected_accuracy(outputs: list[float], labels: list[float]) -> float:
    """The contract's accuracy: share of samples with (output > 0.5) == (label == 1)."""
    hits = [(o > 0.5) == (y == 1.0) for o, y in zip(outputs, labels, strict=True)]
    return sum(hits) / len(hits)


def _run(submission, device, outputs, labels, batch_size, *flips) -> tuple[dict, str]:
    seen = submission.observe(obs.evaluate, list(outputs), list(labels), batch_size, str(device), *flips)
    call = (
        f"evaluate_accuracy(model, test_loader, {str(device)!r}) with model outputs {outputs!r}, "
        f"labels {labels!r} and batch_size={batch_size}"
    )
    return seen, call


@given(case=accuracy_cases())
@example(case=([0.5, 0.9, 0.2], [1.0, 1.0, 0.0], 2))
@example(case=([0.9, 0.1, 0.8, 0.3, 0.7], [1.0, 0.0, 0.0, 0.0, 0.0], 4))
def test_fraction_of_correct_samples(submission, device, case):
    """The result is the fraction of samples with (output > 0.5) == (label == 1), over samples."""
    outputs, labels, batch_size = case
    seen, call = _run(submission, device, outputs, labels, batch_size)
    result = seen["value"]
    if isinstance(result, bool) or not isinstance(result, (numbers.Real, np.floating)):
        raise AssertionError(f"{call}: must return a float, got {seen['type']} {seen['repr']}")
    expected = expected_accuracy(outputs, labels)
    if not abs(float(result) - expected) <= ATOL:
        right = round(expected * len(labels))
        raise AssertionError(
            f"{call}: expected {expected:.6g} ({right} of {len(labels)} samples right; an output "
            f"of exactly 0.5 predicts 0), got {float(result):.6g}"
        )


#: The mode check: every prediction right when run as the contract says. In train mode the
#: first two flip, with gradients recorded the next three: 1.0, 0.8, 0.7 or 0.5.
MODE_OUTPUTS = [0.9, 0.2, 0.8, 0.1, 0.7, 0.3, 0.95, 0.05, 0.6, 0.4]
MODE_LABELS = [1.0 if o > 0.5 else 0.0 for o in MODE_OUTPUTS]
TRAIN_FLIPS, GRAD_FLIPS = [0, 1], [2, 3, 4]


def test_evaluates_in_eval_mode_without_gradients(submission, device):
    """The model is put in eval mode, and its forward runs without gradients (seen in the accuracy)."""
    seen, call = _run(submission, device, MODE_OUTPUTS, MODE_LABELS, 3, TRAIN_FLIPS, GRAD_FLIPS)
    result = seen["value"]
    if isinstance(result, bool) or not isinstance(result, (numbers.Real, np.floating)):
        raise AssertionError(f"{call}: must return a float, got {seen['type']} {seen['repr']}")
    n = len(MODE_OUTPUTS)
    ways = {
        1.0: None,
        1 - len(TRAIN_FLIPS) / n: "the model was still in train mode during evaluation; call model.eval() first",
        1 - len(GRAD_FLIPS) / n: "the forward passes ran with gradients enabled; evaluate inside torch.no_grad()",
        1 - (len(TRAIN_FLIPS) + len(GRAD_FLIPS)) / n: (
            "the model was still in train mode, and its forward passes ran with gradients enabled: "
            "call model.eval() first and evaluate inside torch.no_grad()"
        ),
    }
    for accuracy, problem in ways.items():
        if abs(float(result) - accuracy) <= ATOL:
            if problem is None:
                return
            raise AssertionError(
                f"evaluate_accuracy(model, test_loader, {str(device)!r}) with a model handed over in "
                f"train mode, which (like a model with dropout) predicts otherwise in train mode and "
                f"when gradients are recorded: {problem} (returned {float(result):.6g}; "
                f"{len(TRAIN_FLIPS)} predictions change in train mode, {len(GRAD_FLIPS)} with "
                f"gradients)"
            )
    raise AssertionError(
        f"evaluate_accuracy(model, test_loader, {str(device)!r}) with a model handed over in train "
        f"mode whose outputs {MODE_OUTPUTS} in eval mode without gradients all predict their labels: "
        f"expected 1.0, got {float(result):.6g}"
    )
