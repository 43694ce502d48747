"""Tasks 1.2a-b: ``MyReLU`` forward and backward.

Gradient checks draw inputs at least 1e-3 away from the kink (built as
``sign * m``, not filtered), so finite differences and autograd agree with
every correct solution; the kink itself is checked on its own, where any
subgradient in [0, 1] is accepted. Backward is judged against the input that
was passed to ``forward``, so a forward bug costs 1.2a only.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from fmlgrade.spec.assertions import as_float_array, show
from fmlgrade.spec.part1 import oracles as o
from fmlgrade.spec.part1 import strategies as s

FORWARD = "MyReLU.forward"


def _relu(submission):
    MyReLU = submission.require("MyReLU")
    submission.seed(0)
    return MyReLU()


def _inputs(case: s.ReluCase) -> dict:
    return {"x": case.x, "gradient": case.gradient}


# --------------------------------------------------------------------------------------
# 1.2a forward
# --------------------------------------------------------------------------------------


@pytest.mark.task("1.2a")
@given(case=s.relu_cases(kind="any"))
def test_forward_values(submission, case):
    """forward returns max(0, x) element-wise, with the shape of x (negatives and zeros give 0)."""
    relu = _relu(submission)
    o.assert_matches(
        relu.forward(case.x.copy()),
        o.relu_forward(case.x),
        np.abs(case.x),
        what="MyReLU.forward(x), expected max(0, x)",
        inputs={"x": case.x},
    )


@pytest.mark.task("1.2a")
@given(case=s.relu_cases(kind="any"))
def test_forward_leaves_input_unchanged(submission, case):
    """forward does not modify the array x it is given."""
    relu = _relu(submission)
    x = case.x.copy()
    relu.forward(x)
    if not np.array_equal(x, case.x):
        raise AssertionError(
            "MyReLU.forward(x) changed the array x it was given (for example by setting its "
            "negative entries to 0 in place); compute a new array instead"
            f"\nx before:\n{show(case.x)}\nx after:\n{show(x)}"
        )


# --------------------------------------------------------------------------------------
# 1.2b backward
# --------------------------------------------------------------------------------------


def _check_backward(submission, case: s.ReluCase, expected: np.ndarray, oracle: str) -> None:
    relu = _relu(submission)
    with o.EarlierSteps() as earlier:
        earlier.run(FORWARD, relu.forward, case.x.copy())
        o.assert_matches(
            relu.backward(case.gradient.copy()),
            expected,
            np.abs(case.gradient),
            what=f"MyReLU.backward(gradient) after forward(x), expected gradient * (x > 0) ({oracle})",
            inputs=_inputs(case),
        )


@pytest.mark.task("1.2b")
@given(case=s.relu_cases(kind="away"))
def test_backward_matches_finite_differences(submission, case):
    """backward returns gradient * 1[x > 0] for the x of the last forward (checked by finite differences)."""
    expected = o.fd_relu_input_gradient(case.x, case.gradient)
    _check_backward(submission, case, expected, "central finite differences")


@pytest.mark.task("1.2b")
@given(case=s.relu_cases(kind="away"))
def test_backward_matches_autograd(submission, case):
    """backward returns gradient * 1[x > 0] for the x of the last forward, as torch.autograd does."""
    pytest.importorskip("torch", reason="torch is not installed; the finite-difference check still runs")
    expected = o.torch_relu_input_gradient(case.x, case.gradient)
    _check_backward(submission, case, expected, "torch.autograd")


@pytest.mark.task("1.2b")
@given(case=s.relu_cases(kind="zeros"))
def test_backward_at_zero_is_a_subgradient(submission, case):
    """At exactly x == 0, backward returns t * gradient for some t in [0, 1] (any subgradient)."""
    relu = _relu(submission)
    what = "MyReLU.backward(gradient) after forward(x)"
    with o.EarlierSteps() as earlier:
        earlier.run(FORWARD, relu.forward, case.x.copy())
        result = as_float_array(relu.backward(case.gradient.copy()), what=what)
        if result.shape != case.x.shape:
            raise AssertionError(f"{what}: expected shape {case.x.shape}, got {result.shape}")
        at_zero = case.x == 0
        # Away from 0 the usual rule; at 0 the ratio to the (nonzero) gradient must lie in [0, 1].
        o.assert_matches(
            np.where(at_zero, 0.0, result), o.relu_backward(case.x, case.gradient),
            np.abs(case.gradient),
            what=f"{what} where x != 0, expected gradient * (x > 0)", inputs=_inputs(case),
        )
        ratio = result[at_zero] / case.gradient[at_zero]  # the gradient has no zeros
        slack = o.allowed_error(1.0, 0.0)  # the relative tolerance of a factor of about 1
        bad = ~((ratio >= -slack) & (ratio <= 1 + slack))
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(at_zero)[int(np.argmax(bad))])
            raise AssertionError(
                f"{what}: where x == 0 the result must be t * gradient with t in [0, 1] (any "
                f"subgradient of max(0, x) at 0); at index {index} the gradient is "
                f"{case.gradient[index]:.6g} but the result is {result[index]:.6g} "
                f"(t = {result[index] / case.gradient[index]:.6g})"
                f"\nx:\n{show(case.x)}\ngradient:\n{show(case.gradient)}\ngot:\n{show(result)}"
            )
