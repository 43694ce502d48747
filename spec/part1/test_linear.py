"""Tasks 1.1a-c: ``MyLinearLayer`` forward, backward and update.

Every check builds the student's layer (with the global RNG seeded, since the
constructor may draw weights), then assigns ``w`` and ``b`` drawn by hypothesis
(the contract allows it). Backward and update are judged against the input
that was passed to ``forward`` and the gradient passed to ``backward``, never
against what the student's ``forward`` or ``backward`` returned, so a forward
bug costs 1.1a only. The parameter gradients are observed through ``update``:
where a solution stores them, and under which names, is its own business.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from fmlgrade.spec.assertions import as_float_array, assert_shape, show
from fmlgrade.spec.part1 import oracles as o
from fmlgrade.spec.part1 import strategies as s

SEED = 1234
FORWARD = "MyLinearLayer.forward"
BACKWARD = "MyLinearLayer.backward"


def _layer(submission, case: s.LinearCase):
    """The student's layer with the example's ``w`` and ``b`` (fresh copies) assigned."""
    MyLinearLayer = submission.require("MyLinearLayer")
    n_in, n_out = case.w.shape
    submission.seed(SEED)
    layer = MyLinearLayer(n_in, n_out)
    layer.w = case.w.copy()
    layer.b = case.b.copy()
    return layer


def _inputs(case: s.LinearCase, *names: str) -> dict:
    return {name: getattr(case, name) for name in names}


# --------------------------------------------------------------------------------------
# 1.1a forward
# --------------------------------------------------------------------------------------


@pytest.mark.task("1.1a")
@given(case=s.linear_cases())
def test_forward_shape(submission, case):
    """forward maps x of shape (B, n_in) to an array of shape (B, n_out)."""
    layer = _layer(submission, case)
    (B, n_in), n_out = case.x.shape, case.w.shape[1]
    assert_shape(
        layer.forward(case.x.copy()), (B, n_out),
        what=f"MyLinearLayer({n_in}, {n_out}).forward(x of shape {case.x.shape})",
    )


@pytest.mark.task("1.1a")
@given(case=s.linear_cases())
def test_forward_values(submission, case):
    """forward returns x @ w + b for the layer's current w and b."""
    layer = _layer(submission, case)
    o.assert_matches(
        layer.forward(case.x.copy()),
        o.linear_forward(case.x, case.w, case.b),
        o.linear_forward_scale(case.x, case.w, case.b),
        what="MyLinearLayer.forward(x), expected x @ w + b",
        inputs=_inputs(case, "x", "w", "b"),
    )


@pytest.mark.task("1.1a")
@given(case=s.linear_cases(batch=s.batch_sizes(1, 1)))
def test_forward_single_sample(submission, case):
    """forward works for a batch of one sample: x of shape (1, n_in) gives x @ w + b, (1, n_out)."""
    layer = _layer(submission, case)
    o.assert_matches(
        layer.forward(case.x.copy()),
        o.linear_forward(case.x, case.w, case.b),
        o.linear_forward_scale(case.x, case.w, case.b),
        what="MyLinearLayer.forward(x) for a single sample, expected x @ w + b",
        inputs=_inputs(case, "x", "w", "b"),
    )


@pytest.mark.task("1.1a")
@given(case=s.linear_cases())
def test_forward_leaves_input_unchanged(submission, case):
    """forward does not modify the array x it is given."""
    layer = _layer(submission, case)
    x = case.x.copy()
    layer.forward(x)
    if not np.array_equal(x, case.x):
        raise AssertionError(
            "MyLinearLayer.forward(x) changed the array x it was given; compute a new array instead"
            f"\nx before:\n{show(case.x)}\nx after:\n{show(x)}"
        )


# --------------------------------------------------------------------------------------
# 1.1b backward
# --------------------------------------------------------------------------------------


def _check_backward(submission, case: s.LinearCase, expected: np.ndarray, oracle: str) -> None:
    layer = _layer(submission, case)
    with o.EarlierSteps() as earlier:
        earlier.run(FORWARD, layer.forward, case.x.copy())
        o.assert_matches(
            layer.backward(case.gradient.copy()),
            expected,
            o.linear_input_gradient_scale(case.w, case.gradient),
            what=f"MyLinearLayer.backward(gradient) after forward(x), expected gradient @ w.T ({oracle})",
            inputs=_inputs(case, "x", "w", "b", "gradient"),
        )


@pytest.mark.task("1.1b")
@given(case=s.linear_cases())
def test_backward_matches_finite_differences(submission, case):
    """backward returns dL/dx = gradient @ w.T, matching central finite differences of x @ w + b."""
    expected = o.fd_linear_input_gradient(case.x, case.w, case.b, case.gradient)
    _check_backward(submission, case, expected, "central finite differences")


@pytest.mark.task("1.1b")
@given(case=s.linear_cases())
def test_backward_matches_autograd(submission, case):
    """backward returns dL/dx = gradient @ w.T, matching torch.autograd."""
    pytest.importorskip("torch", reason="torch is not installed; the finite-difference check still runs")
    expected, _, _ = o.torch_linear_gradients(case.x, case.w, case.b, case.gradient)
    _check_backward(submission, case, expected, "torch.autograd")


# --------------------------------------------------------------------------------------
# 1.1c update
# --------------------------------------------------------------------------------------


def _check_update(layer, case: s.LinearCase, grad_w, grad_b, oracle: str) -> None:
    """forward(x), backward(gradient) as earlier steps, then update(learn_rate) moves w and b
    by -learn_rate times (grad_w, grad_b)."""
    w_before = as_float_array(layer.w, what="MyLinearLayer.w before update")
    b_before = as_float_array(layer.b, what="MyLinearLayer.b before update")
    scale_w, scale_b = o.linear_parameter_gradient_scales(case.x, case.gradient)
    inputs = {**_inputs(case, "x", "w", "b", "gradient"), "learn_rate": case.learn_rate}
    inputs["w"], inputs["b"] = w_before, b_before
    with o.EarlierSteps() as earlier:
        earlier.run(FORWARD, layer.forward, case.x.copy())
        earlier.run(BACKWARD, layer.backward, case.gradient.copy())
        layer.update(case.learn_rate)
        call = f"after forward(x), backward(gradient), update(learn_rate) ({oracle})"
        o.assert_step(
            w_before, layer.w, case.learn_rate, grad_w, scale_w,
            what=f"MyLinearLayer.w {call}: expected w - learn_rate * x.T @ gradient",
            inputs=inputs,
        )
        o.assert_step(
            b_before, layer.b, case.learn_rate, grad_b, scale_b,
            what=f"MyLinearLayer.b {call}: expected b - learn_rate * gradient.sum(axis=0)",
            inputs=inputs,
        )


@pytest.mark.task("1.1c")
@given(case=s.linear_cases())
def test_update_matches_finite_differences(submission, case):
    """update takes one gradient-descent step: w -= lr * x.T @ gradient, b -= lr * gradient summed over the batch.

    The expected gradients are central finite differences of sum(gradient * (x @ w + b)).
    """
    grad_w, grad_b = o.fd_linear_parameter_gradients(case.x, case.w, case.b, case.gradient)
    _check_update(_layer(submission, case), case, grad_w, grad_b, "central finite differences")


@pytest.mark.task("1.1c")
@given(case=s.linear_cases())
def test_update_matches_torch_sgd(submission, case):
    """update takes the same step as torch.optim.SGD on the gradients of the last forward/backward."""
    pytest.importorskip("torch", reason="torch is not installed; the finite-difference check still runs")
    w_new, b_new = o.torch_sgd_step(case.x, case.w, case.b, case.gradient, case.learn_rate)
    # The gradients implied by torch's step; the step itself is compared with assert_step.
    grad_w = (case.w - w_new) / case.learn_rate
    grad_b = (case.b - b_new) / case.learn_rate
    _check_update(_layer(submission, case), case, grad_w, grad_b, "torch.optim.SGD")


@pytest.mark.task("1.1c")
@given(cases=s.linear_case_pairs())
def test_update_uses_the_latest_forward_and_backward(submission, cases):
    """update uses the input of the latest forward and the gradient of the latest backward."""
    first, second = cases
    layer = _layer(submission, first)
    for case in (first, second):
        grad_w, grad_b = o.linear_parameter_gradients(case.x, case.gradient)
        round_name = "first round" if case is first else "second round on the same layer"
        _check_update(layer, case, grad_w, grad_b, round_name)
