"""Shared hypothesis strategies for the checks of Part 1.

Values are *constructed* to meet a check's needs (never filtered with
``assume``), arrays stay small (at most a few dozen elements, so an example
takes well under a millisecond and a shrunk counterexample is readable), and
shapes are drawn independently, so that ``n_in != n_out`` and ``B != n``
happen in most examples: a transposition or a summation over the wrong axis is
only visible then.

Every array is float64 and every element is drawn on its own (``fill`` is
switched off), so an upstream gradient is practically never constant; a
gradient of ones would hide transposition and summation bugs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# --------------------------------------------------------------------------------------
# Sizes and numbers (tasks 1.1 - 1.3)
# --------------------------------------------------------------------------------------

#: Largest batch drawn. Small, but large enough that a mean and a sum over the batch differ.
MAX_BATCH = 4
#: Largest layer width drawn (n_in, n_out, n_hidden).
MAX_WIDTH = 4
#: Bound on the magnitude of inputs x; weights, biases and gradients stay within WEIGHT_MAX.
INPUT_MAX = 10.0
WEIGHT_MAX = 3.0
#: ReLU inputs drawn away from the kink have at least this magnitude (far above the
#: finite-difference step of the oracles, so x +- h never crosses 0).
KINK_MARGIN = 1e-3


def batch_sizes(min_size: int = 1, max_size: int = MAX_BATCH) -> st.SearchStrategy[int]:
    """Batch sizes B (the length of axis 0), 1 included."""
    return st.integers(min_size, max_size)


def layer_sizes(min_size: int = 1, max_size: int = MAX_WIDTH) -> st.SearchStrategy[int]:
    """Layer widths: n_in, n_out or n_hidden."""
    return st.integers(min_size, max_size)


def layer_shapes() -> st.SearchStrategy[tuple[int, int]]:
    """``(n_in, n_out)`` pairs, drawn independently, so they differ in most examples."""
    return st.tuples(layer_sizes(), layer_sizes())


def finite_floats(max_abs: float) -> st.SearchStrategy[float]:
    """Finite float64 numbers in ``[-max_abs, max_abs]`` (0 included, no subnormals)."""
    return st.floats(
        -max_abs, max_abs, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64
    )


def away_from_zero(low: float, high: float) -> st.SearchStrategy[float]:
    """Numbers ``sign * m`` with ``m`` in ``[low, high]``: never 0, never closer to 0 than ``low``."""
    return st.builds(
        lambda sign, magnitude: sign * magnitude,
        st.sampled_from([1.0, -1.0]),
        st.floats(low, high, allow_nan=False, allow_infinity=False, width=64),
    )


def float_arrays(shape: tuple[int, ...], elements: st.SearchStrategy[float]) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of ``shape`` whose elements are all drawn from ``elements``, one by one."""
    return hnp.arrays(np.float64, shape, elements=elements, fill=st.nothing())


def input_batches(batch: int, width: int) -> st.SearchStrategy[np.ndarray]:
    """Input batches x ``(batch, width)`` with elements in [-INPUT_MAX, INPUT_MAX]."""
    return float_arrays((batch, width), finite_floats(INPUT_MAX))


def weights(n_in: int, n_out: int) -> st.SearchStrategy[np.ndarray]:
    """Weight matrices w ``(n_in, n_out)`` with elements in [-WEIGHT_MAX, WEIGHT_MAX]."""
    return float_arrays((n_in, n_out), finite_floats(WEIGHT_MAX))


def biases(n_out: int) -> st.SearchStrategy[np.ndarray]:
    """Bias vectors b ``(n_out,)`` with elements in [-WEIGHT_MAX, WEIGHT_MAX]."""
    return float_arrays((n_out,), finite_floats(WEIGHT_MAX))


def upstream_gradients(batch: int, width: int) -> st.SearchStrategy[np.ndarray]:
    """Upstream gradients dL/d(output) ``(batch, width)``: random elements, never all ones by design."""
    return float_arrays((batch, width), finite_floats(WEIGHT_MAX))


def nonzero_gradients(batch: int, width: int) -> st.SearchStrategy[np.ndarray]:
    """Upstream gradients without zeros (magnitudes in [0.1, WEIGHT_MAX]), for ratio checks."""
    return float_arrays((batch, width), away_from_zero(0.1, WEIGHT_MAX))


def relu_inputs(batch: int, width: int) -> st.SearchStrategy[np.ndarray]:
    """ReLU inputs away from the kink: ``sign * m``, ``m`` in [KINK_MARGIN, INPUT_MAX]."""
    return float_arrays((batch, width), away_from_zero(KINK_MARGIN, INPUT_MAX))


@st.composite
def relu_inputs_with_zeros(draw, batch: int, width: int) -> np.ndarray:
    """ReLU inputs with at least one exact 0; the other elements stay away from the kink."""
    x = draw(relu_inputs(batch, width))
    zeros = draw(hnp.arrays(np.bool_, (batch, width), elements=st.booleans(), fill=st.nothing()))
    first = draw(st.integers(0, batch * width - 1))
    zeros.flat[first] = True
    x[zeros] = 0.0
    return x


def any_relu_inputs(batch: int, width: int) -> st.SearchStrategy[np.ndarray]:
    """ReLU inputs of every kind: positive, negative and exact zeros."""
    elements = st.one_of(st.just(0.0), away_from_zero(KINK_MARGIN, INPUT_MAX), finite_floats(INPUT_MAX))
    return float_arrays((batch, width), elements)


def targets(batch: int) -> st.SearchStrategy[np.ndarray]:
    """Regression targets y ``(batch, 1)``."""
    return float_arrays((batch, 1), finite_floats(INPUT_MAX))


def learning_rates() -> st.SearchStrategy[float]:
    """Learning rates in [0.01, 1] (large enough that a wrong step is far above rounding)."""
    return st.floats(0.01, 1.0, allow_nan=False, allow_infinity=False, width=64)


# --------------------------------------------------------------------------------------
# Whole examples (tasks 1.1 - 1.3)
# --------------------------------------------------------------------------------------


class LinearCase(NamedTuple):
    """One linear-layer example: input x ``(B, n_in)``, w ``(n_in, n_out)``, b ``(n_out,)``,
    upstream gradient ``(B, n_out)`` and a learning rate."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    gradient: np.ndarray
    learn_rate: float


@st.composite
def linear_cases(draw, batch: st.SearchStrategy[int] | None = None) -> LinearCase:
    """A :class:`LinearCase` with independently drawn B, n_in and n_out."""
    B = draw(batch if batch is not None else batch_sizes())
    n_in, n_out = draw(layer_shapes())
    return LinearCase(
        x=draw(input_batches(B, n_in)),
        w=draw(weights(n_in, n_out)),
        b=draw(biases(n_out)),
        gradient=draw(upstream_gradients(B, n_out)),
        learn_rate=draw(learning_rates()),
    )


@st.composite
def linear_case_pairs(draw) -> tuple[LinearCase, LinearCase]:
    """Two linear cases for the same layer (same n_in and n_out, own B, x, gradient and rate)."""
    first = draw(linear_cases())
    n_in, n_out = first.w.shape
    B = draw(batch_sizes())
    second = LinearCase(
        x=draw(input_batches(B, n_in)),
        w=first.w,
        b=first.b,
        gradient=draw(upstream_gradients(B, n_out)),
        learn_rate=draw(learning_rates()),
    )
    return first, second


class ReluCase(NamedTuple):
    """One ReLU example: input x ``(B, n)`` and upstream gradient ``(B, n)``."""

    x: np.ndarray
    gradient: np.ndarray


@st.composite
def relu_cases(draw, kind: str = "away") -> ReluCase:
    """A :class:`ReluCase`. ``kind``: ``"away"`` (no x within KINK_MARGIN of 0), ``"zeros"``
    (at least one exact 0 and a gradient without zeros) or ``"any"`` (zeros, negatives, positives)."""
    B = draw(batch_sizes())
    n = draw(layer_sizes())
    if kind == "away":
        return ReluCase(draw(relu_inputs(B, n)), draw(upstream_gradients(B, n)))
    if kind == "zeros":
        return ReluCase(draw(relu_inputs_with_zeros(B, n)), draw(nonzero_gradients(B, n)))
    if kind == "any":
        return ReluCase(draw(any_relu_inputs(B, n)), draw(upstream_gradients(B, n)))
    raise ValueError(f"kind must be 'away', 'zeros' or 'any', not {kind!r}")


class NetCase(NamedTuple):
    """One network example: x and y ``(B, 1)``, the two linear layers' parameters
    (w1 ``(1, H)``, b1 ``(H,)``, w2 ``(H, 1)``, b2 ``(1,)``) and a learning rate."""

    x: np.ndarray
    y: np.ndarray
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    learn_rate: float


@st.composite
def net_cases(draw) -> NetCase:
    """A :class:`NetCase` with a hidden width H from 1 to MAX_WIDTH."""
    B = draw(batch_sizes())
    H = draw(layer_sizes())
    return NetCase(
        x=draw(input_batches(B, 1)),
        y=draw(targets(B)),
        w1=draw(weights(1, H)),
        b1=draw(biases(H)),
        w2=draw(weights(H, 1)),
        b2=draw(biases(1)),
        learn_rate=draw(learning_rates()),
    )


# --- images and kernels (tasks 1.6-1.8) ---


def image_batches(nonzero=False):
    """Image batches ``(B, h, w, F)``; ``nonzero=True`` keeps every pixel in [0.5, 5]."""
    elements = st.floats(0.5, 5) if nonzero else st.floats(-5, 5, allow_subnormal=False)
    shapes = st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6), st.integers(1, 3))
    return shapes.flatmap(lambda sh: hnp.arrays(np.float64, sh, elements=elements))
