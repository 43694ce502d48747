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

from functools import cache
from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fmlgrade.spec import gradients
from fmlgrade.spec.gradients import float_arrays  # noqa: F401 - part of this module's vocabulary

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
KINK_MARGIN = gradients.KINK_MARGIN


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
    return gradients.finite_floats(-max_abs, max_abs)


def away_from_zero(low: float, high: float) -> st.SearchStrategy[float]:
    """Numbers ``sign * m`` with ``m`` in ``[low, high]``: never 0, never closer to 0 than ``low``
    (the kink strategy of :mod:`fmlgrade.spec.gradients` with the one kink 0)."""
    return gradients.away_from_kinks((0.0,), low, -high, high)


# Element strategies, built once: building strategies anew for every example is a
# large part of the cost of an example.
_INPUTS = finite_floats(INPUT_MAX)
_WEIGHTS = finite_floats(WEIGHT_MAX)
_NONZERO_GRADIENTS = away_from_zero(0.1, WEIGHT_MAX)
_AWAY_FROM_KINK = away_from_zero(KINK_MARGIN, INPUT_MAX)
_ANY_RELU_INPUT = st.one_of(st.just(0.0), _AWAY_FROM_KINK, _INPUTS)


def input_batches(batch: int, width: int) -> st.SearchStrategy[np.ndarray]:
    """Input batches x ``(batch, width)`` with elements in [-INPUT_MAX, INPUT_MAX]."""
    return float_arrays((batch, width), _INPUTS)


def weights(n_in: int, n_out: int) -> st.SearchStrategy[np.ndarray]:
    """Weight matrices w ``(n_in, n_out)`` with elements in [-WEIGHT_MAX, WEIGHT_MAX]."""
    return float_arrays((n_in, n_out), _WEIGHTS)


def biases(n_out: int) -> st.SearchStrategy[np.ndarray]:
    """Bias vectors b ``(n_out,)`` with elements in [-WEIGHT_MAX, WEIGHT_MAX]."""
    return float_arrays((n_out,), _WEIGHTS)


def upstream_gradients(batch: int, width: int) -> st.SearchStrategy[np.ndarray]:
    """Upstream gradients dL/d(output) ``(batch, width)``, elements drawn one by one
    from [-WEIGHT_MAX, WEIGHT_MAX] (random, not ones: ones hide transposition bugs)."""
    return float_arrays((batch, width), _WEIGHTS)


def nonzero_gradients(batch: int, width: int) -> st.SearchStrategy[np.ndarray]:
    """Upstream gradients without zeros (magnitudes in [0.1, WEIGHT_MAX]), for ratio checks."""
    return float_arrays((batch, width), _NONZERO_GRADIENTS)


def relu_inputs(batch: int, width: int) -> st.SearchStrategy[np.ndarray]:
    """ReLU inputs away from the kink: ``sign * m``, ``m`` in [KINK_MARGIN, INPUT_MAX]."""
    return float_arrays((batch, width), _AWAY_FROM_KINK)


@cache
def _masks(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.bool_, shape, elements=st.booleans(), fill=st.nothing())


@st.composite
def relu_inputs_with_zeros(draw, batch: int, width: int) -> np.ndarray:
    """ReLU inputs with at least one exact 0; the other elements stay away from the kink."""
    x = draw(relu_inputs(batch, width))
    zeros = draw(_masks((batch, width)))
    first = draw(st.integers(0, batch * width - 1))
    zeros.flat[first] = True
    x[zeros] = 0.0
    return x


def any_relu_inputs(batch: int, width: int) -> st.SearchStrategy[np.ndarray]:
    """ReLU inputs of every kind: positive, negative and exact zeros."""
    return float_arrays((batch, width), _ANY_RELU_INPUT)


def targets(batch: int) -> st.SearchStrategy[np.ndarray]:
    """Regression targets y ``(batch, 1)``."""
    return float_arrays((batch, 1), _INPUTS)


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

# Sizes stay small on purpose: an example costs about a millisecond even for a convolution
# written with Python loops, and a shrunk counterexample fits on a screen. They also stay
# far below the 60 x 51 example image of 1.8, so a solution that only works for small
# images (a fixed-size buffer, say) is caught by 1.8 alone.

#: Largest number of images in a batch (B).
MAX_IMAGES = 2
#: Largest number of filters (channels) F, F_in and F_out; drawn independently, so that
#: F_in != F_out in two examples of three (a swap of the channel axes shows only then).
MAX_FILTERS = 3
#: Largest image side (h and w, drawn independently) given to add_padding.
MAX_SIDE = 6
#: Largest padding P drawn (the padded side is then at most MAX_SIDE + 2 * 3 = 12).
MAX_PADDING = 3
#: Largest kernel size K and stride S of convolve.
MAX_KERNEL = 4
MAX_STRIDE = 3
#: Largest side H, W of an (already padded) image given to convolve: K <= H, W <= this, so
#: an output side (H - K) // S + 1 is at most 8.
MAX_PADDED_SIDE = 8
#: Bound on the magnitude of pixels and kernel entries.
PIXEL_MAX = 5.0

_PIXELS = finite_floats(PIXEL_MAX)
_NONZERO_PIXELS = away_from_zero(0.5, PIXEL_MAX)


def image_shapes(max_side: int = MAX_SIDE) -> st.SearchStrategy[tuple[int, int, int, int]]:
    """``(B, h, w, F)`` with every size drawn on its own (so h != w in most examples)."""
    return st.tuples(
        st.integers(1, MAX_IMAGES),
        st.integers(1, max_side),
        st.integers(1, max_side),
        st.integers(1, MAX_FILTERS),
    )


def image_batches(nonzero: bool = False) -> st.SearchStrategy[np.ndarray]:
    """Image batches ``(B, h, w, F)``, float64, pixels in [-PIXEL_MAX, PIXEL_MAX].

    ``nonzero=True`` keeps every pixel at least 0.5 away from 0 (either sign), so that a
    zero in a padded result can only come from the padding.
    """
    elements = _NONZERO_PIXELS if nonzero else _PIXELS
    return image_shapes().flatmap(lambda shape: float_arrays(shape, elements))


def paddings(min_padding: int = 0) -> st.SearchStrategy[int]:
    """Paddings P from ``min_padding`` to MAX_PADDING."""
    return st.integers(min_padding, MAX_PADDING)


class ConvCase(NamedTuple):
    """One convolution example: ``kernels`` ``(K, K, F_in, F_out)``, already padded
    ``images`` ``(B, H, W, F_in)`` with ``K <= H, W``, and an integer ``stride`` >= 1."""

    kernels: np.ndarray
    images: np.ndarray
    stride: int


@st.composite
def convolution_cases(draw) -> ConvCase:
    """A :class:`ConvCase`; every size is drawn on its own.

    K from 1 to MAX_KERNEL, S from 1 to MAX_STRIDE, then H and W from K to
    MAX_PADDED_SIDE: ``H - K`` ranges over 0..7 while S <= 3, so S fails to divide
    ``H - K`` in about half the examples (where floor and ceil of ``(H - K) / S`` differ),
    and ``S > H - K`` (a single output row) happens often too.
    """
    K = draw(st.integers(1, MAX_KERNEL))
    stride = draw(st.integers(1, MAX_STRIDE))
    B = draw(st.integers(1, MAX_IMAGES))
    H = draw(st.integers(K, MAX_PADDED_SIDE))
    W = draw(st.integers(K, MAX_PADDED_SIDE))
    F_in = draw(st.integers(1, MAX_FILTERS))
    F_out = draw(st.integers(1, MAX_FILTERS))
    return ConvCase(
        kernels=draw(float_arrays((K, K, F_in, F_out), _PIXELS)),
        images=draw(float_arrays((B, H, W, F_in), _PIXELS)),
        stride=stride,
    )


# --- training schedules (task 1.4) ---

#: Largest number of training points N for the bookkeeping checks of train_myneuralnet.
MAX_TRAINING_POINTS = 24
#: Largest number of epochs drawn.
MAX_EPOCHS = 3


class TrainingSchedule(NamedTuple):
    """Arguments of ``train_myneuralnet(net, epochs, batch_size, learn_rate, N)`` (without net)."""

    epochs: int
    batch_size: int
    learn_rate: float
    N: int


@st.composite
def training_schedules(draw) -> TrainingSchedule:
    """A small :class:`TrainingSchedule`: N from 1 to MAX_TRAINING_POINTS, epochs from 1 to
    MAX_EPOCHS, and a batch size from 1 to N + 2, so that it fails to divide N in most
    examples (a last, smaller batch) and sometimes exceeds N (one batch of all points).
    The learning rate is in [0.001, 0.05], never the 0.01 of the handout's schedule, so
    that a hard-coded handout value is visible.
    """
    N = draw(st.integers(1, MAX_TRAINING_POINTS))
    batch_size = draw(st.integers(1, N + 2))
    epochs = draw(st.integers(1, MAX_EPOCHS))
    learn_rate = draw(
        st.one_of(
            st.floats(0.001, 0.009, allow_nan=False, allow_infinity=False, width=64),
            st.floats(0.011, 0.05, allow_nan=False, allow_infinity=False, width=64),
        )
    )
    return TrainingSchedule(epochs=epochs, batch_size=batch_size, learn_rate=learn_rate, N=N)
