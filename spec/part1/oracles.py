"""What correct layers compute, in float64, three ways, and the tolerances to compare with.

* NumPy formulas straight from the contract (``x @ w + b``, ``gradient @ w.T``, ...);
* central finite differences, in float64, of the contract's *forward* formulas
  (they know nothing about how a backward pass is written);
* ``torch.autograd`` (and one ``torch.optim.SGD`` step) on the same float64
  numbers, where torch is installed; torch is imported only when called.

The gradient-checking core (tolerances, comparisons, central differences, the
torch.autograd VJP) is :mod:`fmlgrade.spec.gradients`, the public API for
checking any layer; this module adds what is particular to the assignment.

Each oracle that returns an expected value has a ``*_scale`` companion giving,
elementwise, the magnitude of the terms summed to produce it (``|x| @ |w| + |b|``
for ``x @ w + b``). Tolerances are relative to that magnitude, not to the
possibly cancelled result, because that is how rounding errors behave: an
implementation computing in float32 errs by about 1e-7 times the terms it adds.

The module also has :class:`EarlierSteps`, the way the checks run steps that
another task grades (``forward`` before ``backward``) without blaming this task
for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fmlgrade.spec.gradients import (  # noqa: F401 - the checks use them through this module
    ABS_FLOOR,
    ATOL,
    FD_STEP,
    RTOL,
    allowed_error,
    assert_matches,
    assert_step,
    central_differences_vjp,
    torch_available,
    torch_vjp,
)
from fmlgrade.spec.worker.outcomes import NotAttempted, PrerequisiteFailed, prerequisite

# --------------------------------------------------------------------------------------
# Tolerances and comparisons: the gradient-checking core of fmlgrade.spec.gradients
# --------------------------------------------------------------------------------------

# RTOL (gradcheck's 1e-3), ATOL (gradcheck's 1e-5 per unit of term magnitude), ABS_FLOOR
# and FD_STEP (gradcheck's eps, 1e-6) are defined, with their general justification, in
# fmlgrade.spec.gradients; allowed_error, assert_matches and assert_step compare with them.
# Why they suffice for the examples of Part 1:
# * float32 internals (allowed: the alternative solution casts to float32): rounding each
#   operand to float32 (2**-24 ~ 6e-8 relative) and accumulating at most MAX_WIDTH + 1 = 8
#   products and a bias in float32 errs by at most ~(8 + 2) * 6e-8 = 6e-7 times the sum of
#   |terms| (worst case; typically sqrt(8) * 6e-8 ~ 2e-7), 15 to 50 times below ATOL;
# * a float32 copy of a parameter kept after ``update`` errs by 6e-8 of its size, below
#   ATOL * |w| by a factor 150;
# * central differences in float64: each f(x +- h) rounds by ~n * 1.1e-16 of its terms
#   T (with the strategies' bounds T <= 7 * 10 * 3 + 3 = 213), so the quotient errs by
#   ~n * 1.1e-16 * T / h ~ 2e-7 per output for h = 1e-6, times sum |gradient| after the
#   contraction; measured, the largest error is a few 1e-9, far below the floor 1e-5;
# * the functions differenced here are affine or ReLU with inputs at least KINK_MARGIN =
#   1e-3 from the kink, so there is no truncation error and x +- h never crosses the kink.
# Measured over 3000 examples of the strategies: finite differences use at most 0.04 % of
# the allowed error, the float32 alternative solution at most 0.5 %; every bug tried
# (missing transpose, bias or 1/B, mean for sum, wrong sign, wrong ReLU mask) exceeds it.


# --------------------------------------------------------------------------------------
# NumPy formulas of the contract (float64)
# --------------------------------------------------------------------------------------


def _f64(array: Any) -> np.ndarray:
    return np.asarray(array, dtype=np.float64)


def linear_forward(x, w, b) -> np.ndarray:
    """``x @ w + b``: ``(B, n_in)`` to ``(B, n_out)``."""
    return _f64(x) @ _f64(w) + _f64(b)


def linear_forward_scale(x, w, b) -> np.ndarray:
    """Magnitude of the terms of :func:`linear_forward`: ``|x| @ |w| + |b|``."""
    return np.abs(_f64(x)) @ np.abs(_f64(w)) + np.abs(_f64(b))


def linear_input_gradient(w, gradient) -> np.ndarray:
    """dL/dx of a linear layer: ``gradient @ w.T``, ``(B, n_in)``."""
    return _f64(gradient) @ _f64(w).T


def linear_input_gradient_scale(w, gradient) -> np.ndarray:
    """Magnitude of the terms of :func:`linear_input_gradient`: ``|gradient| @ |w|.T``."""
    return np.abs(_f64(gradient)) @ np.abs(_f64(w)).T


def linear_parameter_gradients(x, gradient) -> tuple[np.ndarray, np.ndarray]:
    """dL/dw ``x.T @ gradient`` ``(n_in, n_out)`` and dL/db ``gradient.sum(0)`` ``(n_out,)``."""
    return _f64(x).T @ _f64(gradient), _f64(gradient).sum(axis=0)


def linear_parameter_gradient_scales(x, gradient) -> tuple[np.ndarray, np.ndarray]:
    """Magnitudes of the terms of :func:`linear_parameter_gradients`."""
    return np.abs(_f64(x)).T @ np.abs(_f64(gradient)), np.abs(_f64(gradient)).sum(axis=0)


def relu_forward(x) -> np.ndarray:
    """``max(0, x)`` elementwise."""
    return np.maximum(0.0, _f64(x))


def relu_backward(x, gradient) -> np.ndarray:
    """``gradient * 1[x > 0]`` (the subgradient 0 at x == 0, one of those allowed)."""
    return _f64(gradient) * (_f64(x) > 0)


def net_forward(x, w1, b1, w2, b2) -> np.ndarray:
    """Linear(1, H) -> ReLU -> Linear(H, 1): ``(B, 1)`` to ``(B, 1)``."""
    return linear_forward(relu_forward(linear_forward(x, w1, b1)), w2, b2)


def net_forward_scale(x, w1, b1, w2, b2) -> np.ndarray:
    """Magnitude of the terms of :func:`net_forward` (|ReLU(z)| <= |z| <= the first scale)."""
    hidden = linear_forward_scale(x, w1, b1)
    return hidden @ np.abs(_f64(w2)) + np.abs(_f64(b2))


# --------------------------------------------------------------------------------------
# Central finite differences (float64), by fmlgrade.spec.gradients.central_differences_vjp
# --------------------------------------------------------------------------------------


def fd_linear_input_gradient(x, w, b, gradient) -> np.ndarray:
    """dL/dx of ``L = sum(gradient * (x @ w + b))`` by central differences."""
    return central_differences_vjp(lambda x_: linear_forward(x_, w, b), x, gradient)


def fd_linear_parameter_gradients(x, w, b, gradient) -> tuple[np.ndarray, np.ndarray]:
    """dL/dw and dL/db of ``L = sum(gradient * (x @ w + b))`` by central differences."""
    grad_w = central_differences_vjp(lambda w_: linear_forward(x, w_, b), w, gradient)
    grad_b = central_differences_vjp(lambda b_: linear_forward(x, w, b_), b, gradient)
    return grad_w, grad_b


def fd_relu_input_gradient(x, gradient) -> np.ndarray:
    """dL/dx of ``L = sum(gradient * max(0, x))`` by central differences (x away from 0)."""
    return central_differences_vjp(relu_forward, x, gradient)


# --------------------------------------------------------------------------------------
# torch.autograd (float64), imported lazily
# --------------------------------------------------------------------------------------


def _tensor(array: Any, *, grad: bool = False):
    import torch

    return torch.tensor(_f64(array), dtype=torch.float64, requires_grad=grad)


def torch_linear_gradients(x, w, b, gradient) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dL/dx, dL/dw, dL/db of ``L = sum(gradient * (x @ w + b))`` by torch.autograd."""
    grads, _ = torch_vjp(lambda x, w, b: x @ w + b, {"x": x, "w": w, "b": b}, gradient)
    return grads["x"], grads["w"], grads["b"]


def torch_sgd_step(x, w, b, gradient, learn_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """``w`` and ``b`` after one ``torch.optim.SGD(lr=learn_rate)`` step on
    ``L = sum(gradient * (x @ w + b))``."""
    import torch

    w_t, b_t = _tensor(w, grad=True), _tensor(b, grad=True)
    (_tensor(x) @ w_t + b_t).backward(_tensor(gradient))
    try:
        # The function SGD.step runs, called directly: constructing a torch.optim.SGD
        # object imports torch._dynamo (about a second), for the same arithmetic.
        from torch.optim.sgd import sgd

        with torch.no_grad():
            sgd(
                [w_t, b_t], [w_t.grad, b_t.grad], [None, None], foreach=False,
                weight_decay=0.0, momentum=0.0, lr=learn_rate, dampening=0.0,
                nesterov=False, maximize=False,
            )
    except (ImportError, TypeError):  # another torch version: the optimizer itself
        torch.optim.SGD([w_t, b_t], lr=learn_rate).step()
    return w_t.detach().numpy().copy(), b_t.detach().numpy().copy()


def torch_relu_input_gradient(x, gradient) -> np.ndarray:
    """dL/dx of ``L = sum(gradient * relu(x))`` by torch.autograd."""
    return torch_vjp(lambda x: x.relu(), {"x": x}, gradient)[0]["x"]


# --------------------------------------------------------------------------------------
# Steps graded by other tasks
# --------------------------------------------------------------------------------------


class EarlierSteps:
    """Runs steps that other tasks grade (``forward`` before ``backward``) to set up a check.

    Use ``with EarlierSteps() as earlier:`` around the check, and
    ``earlier.run("MyLinearLayer.forward", layer.forward, x)`` for each such step. A
    step that raises does not end the check: if the graded call then works and gives
    the right result anyway, the check passes (the step's own task reports the bug);
    if it does not, the check ends with :class:`PrerequisiteFailed` for the first
    failed step ("this part can only be checked once it runs"), not with this task's
    failure. A ``NotImplementedError`` of the graded call stays "not attempted".
    """

    def __init__(self) -> None:
        self.failure: PrerequisiteFailed | None = None

    def run(self, step: str, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)``, or ``None`` if it raised (the failure is remembered)."""
        try:
            with prerequisite(step):
                return function(*args)
        except PrerequisiteFailed as exc:
            if self.failure is None:
                self.failure = exc
            return None

    def __enter__(self) -> EarlierSteps:
        return self

    def __exit__(self, exc_type, exc, traceback) -> bool:
        if exc is None or self.failure is None:
            return False
        if isinstance(exc, (NotImplementedError, NotAttempted, PrerequisiteFailed)):
            return False
        if not isinstance(exc, Exception):
            return False  # KeyboardInterrupt, hypothesis' own control flow, ...
        raise self.failure from exc
