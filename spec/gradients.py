"""Property-based gradient verification for hand-written backward passes.

Checks a layer that follows the handout's ``Layer`` protocol (``forward(x)``,
``backward(gradient)``, and ``update(learn_rate)`` if it has parameters), or a
plain function with a hand-written vector-Jacobian product (VJP), against

* float64 central differences of its own forward pass (or of a NumPy
  ``reference`` you give), always, and
* ``torch.autograd`` of a torch expression you give, where torch is installed
  (torch is imported only then, never by importing this module).

Hypothesis draws the examples: shapes (batch sizes from 1 up), inputs kept
away from the kinks you declare, parameters, a random upstream gradient (never
ones: ones hide transposed and mis-summed gradients) and a learning rate.
A parameter's gradient is not part of the protocol, so it is *observed*: the
checked layer takes one ``update(learn_rate)`` step and the gradient it used
is ``(before - after) / learn_rate``. A failure names the call, the expected
and returned gradient, the index where they differ most, and hypothesis
shrinks the example to a small one.

Three ways in, from least to most control::

    check_layer(MyTanh)                                  # one call, e.g. in a pytest test
    check_vjp(softmax_ce, softmax_ce_vjp, inputs={"logits": ("batch", "classes")},
              sizes={"classes": st.integers(2, 5)}, constants={"labels": labels_for})

    @given(example=layer_examples(MyLinear, sizes={"n_in": SIZES, "n_out": SIZES}, input_shape=("n_in",)))
    def test_linear(example):                            # your own property
        assert_layer_gradients(example, torch_forward=lambda x, w, b: x @ w + b)

Tolerances are the grader's: an element may differ from the expected value by
``ATOL * (scale + ABS_FLOOR) + RTOL * |expected|``, where ``scale`` is the
magnitude of the terms summed to produce it (``sum_j |g_j| |J_ji|`` for a VJP),
with torch.autograd.gradcheck's defaults as the base. The Part 1 checks of the
assignment use the same tolerances, central differences and comparisons.
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Union

import numpy as np
from hypothesis import given
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp

from fmlgrade.spec.assertions import as_float_array, assert_close, show

__all__ = [
    "ABS_FLOOR", "ATOL", "FD_STEP", "KINK_MARGIN", "RTOL", "CheckSummary", "FunctionExample",
    "GradientCheckFailure", "InvalidArgument", "LayerExample", "NumericalVJP", "UncheckableExample",
    "allowed_error", "assert_layer_gradients", "assert_matches", "assert_step", "assert_vjp", "away_from_kinks",
    "central_differences_vjp", "check_layer", "check_vjp", "finite_floats", "float_arrays", "function_examples",
    "layer_examples", "numerical_vjp", "torch_available", "torch_vjp",
]

# --------------------------------------------------------------------------------------
# Tolerances
# --------------------------------------------------------------------------------------

#: Relative tolerance: torch.autograd.gradcheck's default rtol. It grants 0.1 % of the
#: expected value; the usual bugs (a transposed gradient, a missing 1/B, a sign, the
#: derivative taken at the wrong point) are off by O(100 %) in some element.
RTOL = 1e-3

#: Absolute tolerance per unit of magnitude of the terms summed (gradcheck's default atol,
#: 1e-5, applied per unit of term size instead of once). A computation in float32 rounds
#: each operand by 2**-24 ~ 6e-8 of its size and errs by about n * 6e-8 times the sum of
#: |terms| for n terms: well below ATOL for the few dozen terms of a small example. A
#: parameter kept in float32 after ``update`` errs by 6e-8 of its size, below ATOL * |w|.
ATOL = 1e-5

#: Absolute floor, in units of ATOL, added to every scale (so the floor is gradcheck's atol
#: itself, 1e-5). It covers what does not scale with the terms: the rounding of central
#: differences, ~eps * |f| / FD_STEP ~ 1e-10 |f| per output, and float32's flushing of
#: magnitudes below ~1e-38 to zero.
ABS_FLOOR = 1.0

#: Central-difference step (gradcheck's eps). With float64 and smooth functions the
#: truncation error, ~FD_STEP**2 * |f'''| / 6, is far below the tolerance; kinks are kept
#: at least KINK_MARGIN away, so x +- FD_STEP never crosses one.
FD_STEP = 1e-6

#: Below float64, a correct computation can be off by more than ATOL per unit of its terms
#: where it cancels large intermediate values (a batch norm of close inputs, say), which no
#: oracle sees. So the tolerance of a float32 check also allows NOISE_FACTOR times the
#: code's own rounding noise, estimated as stochastic arithmetic does: the largest change of
#: its results over NOISE_RUNS reruns with every input and parameter moved by one float32
#: unit in the last place, up or down at random. A wrong formula's error does not move with
#: such a nudge, so it is not excused; measured on batch norms of clustered inputs, the
#: worst error beyond the base tolerance was 0.9 times the noise.
NOISE_FACTOR = 4.0
NOISE_RUNS = 3

#: Default least distance of a drawn input from a declared kink (1000 steps of FD_STEP).
KINK_MARGIN = 1e-3

#: Default ranges of drawn values (the Part 1 checks draw from the same ones).
INPUT_RANGE = (-10.0, 10.0)
PARAMETER_RANGE = (-3.0, 3.0)
GRADIENT_RANGE = (-3.0, 3.0)
LEARN_RATE_RANGE = (0.01, 1.0)
#: Default largest batch, and the range of the default size ``features``.
MAX_BATCH = 4
MAX_WIDTH = 4


def allowed_error(expected: Any, scale: Any) -> np.ndarray:
    """Elementwise allowed ``|actual - expected|``: ``ATOL * (scale + ABS_FLOOR) + RTOL * |expected|``.

    ``scale`` is the magnitude of the terms summed to produce ``expected`` (``|x| @ |w|``
    for ``x @ w``): rounding errors grow with the terms, not with a cancelled result.
    """
    expected = np.asarray(expected, dtype=np.float64)
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), expected.shape)
    return ATOL * (scale + ABS_FLOOR) + RTOL * np.abs(expected)


class GradientCheckFailure(AssertionError):
    """A returned value (an output or a gradient) differs from the expected one, or a call
    changed an array it was given. ``expected`` and ``actual`` hold the two arrays where
    there are two."""

    def __init__(self, message: str, *, expected: Any = None, actual: Any = None) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class UncheckableExample(Exception):
    """The example cannot be checked at all: the forward pass raised (shapes that do not fit,
    say), returned NaN or infinity, or an oracle could not run. The message is one line that
    names the problem and the way out."""


def assert_matches(
    actual: Any, expected: Any, scale: Any, *, what: str, inputs: Mapping[str, Any] | None = None,
    extra: Any = 0.0,
) -> np.ndarray:
    """Check shape, then values within :func:`allowed_error` (plus ``extra``); return ``actual``
    as float64. Raises :class:`GradientCheckFailure` naming ``what``, the largest error and
    its index, both arrays and ``inputs``."""
    expected = np.asarray(expected, dtype=np.float64)
    try:
        assert_close(actual, expected, what=what, rtol=0.0, atol=allowed_error(expected, scale) + extra,
                     inputs=inputs)
    except GradientCheckFailure:
        raise
    except AssertionError as exc:
        raise GradientCheckFailure(str(exc), expected=expected, actual=actual) from None
    return as_float_array(actual, what=what)


def _step_allowance(before: np.ndarray) -> np.ndarray:
    """What a parameter kept in a lower precision may lose in one step: ATOL * |before|."""
    return ATOL * np.abs(before)


def assert_step(
    before: np.ndarray, after: Any, learn_rate: float, gradient: np.ndarray, gradient_scale: np.ndarray,
    *, what: str, inputs: Mapping[str, Any] | None = None,
) -> None:
    """Check that a parameter went from ``before`` to ``before - learn_rate * gradient``.

    Allowed error: the learning rate times the gradient's tolerance, plus ATOL * |before|
    for a parameter kept in float32.
    """
    expected = before - learn_rate * gradient
    allowed = learn_rate * allowed_error(gradient, gradient_scale) + _step_allowance(before)
    try:
        assert_close(after, expected, what=what, rtol=0.0, atol=allowed, inputs=inputs)
    except AssertionError as exc:
        raise GradientCheckFailure(str(exc), expected=expected, actual=after) from None


# --------------------------------------------------------------------------------------
# Oracles: central differences (float64) and torch.autograd (imported lazily)
# --------------------------------------------------------------------------------------


def _f64(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


def _first_bad(array: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])


def _finite(value: Any, what: str, moved: str = "") -> np.ndarray:
    """``value`` as float64, or :class:`UncheckableExample` if it is not numeric or not finite
    (``moved`` says where a central difference had moved the input to)."""
    try:
        array = as_float_array(value, what=what)
    except AssertionError as exc:
        raise UncheckableExample(str(exc)) from None
    if not np.isfinite(array).all():
        index = _first_bad(array)
        near = f" for {moved}, a central-difference step from the example" if moved else ""
        raise UncheckableExample(
            f"{what} returned {array[index]} at index {index}{near}; gradients can only be checked where "
            "the function is finite: draw inputs inside its domain, away from its edges (input_range=, kinks=)"
        )
    return array


@dataclass(frozen=True)
class NumericalVJP:
    """Central differences of ``sum(gradient * f)`` at one point.

    ``gradients[name]`` is d/d(name) of ``sum(gradient * f)``; ``scales[name]`` the
    magnitude of the terms of that sum, ``sum_j |gradient_j| |df_j / d(name)_i|`` (the
    ``scale`` of :func:`allowed_error`); ``output`` is ``f`` at the point and
    ``output_scale`` the magnitude of its first-order terms, ``sum_i |df / dz_i| |z_i|``
    over every differenced element ``z_i``.
    """

    gradients: dict[str, np.ndarray]
    scales: dict[str, np.ndarray]
    output: np.ndarray
    output_scale: np.ndarray


def numerical_vjp(
    function: Callable[..., Any],
    at: Mapping[str, Any],
    gradient: Any,
    *,
    step: float = FD_STEP,
    what: str = "the function",
) -> NumericalVJP:
    """Differentiate ``sum(gradient * function(**at))`` with respect to every array of ``at``.

    One element at a time is moved by ``+- step``; the outputs' difference is taken before
    the contraction with ``gradient`` and divided by the step actually represented
    (``(a + h) - (a - h)``), which keeps the rounding error near ``eps * |f| / h``. Raises
    :class:`UncheckableExample` where ``function`` is not finite or ``gradient`` does not
    have the output's shape.
    """
    values = {name: np.array(value, dtype=np.float64) for name, value in at.items()}
    output = _finite(function(**values), what)
    gradient = _f64(gradient)
    if gradient.shape != output.shape:
        raise UncheckableExample(
            f"{what} returned shape {output.shape}, but the upstream gradient has shape {gradient.shape}"
        )
    magnitude = np.abs(gradient)
    output_scale = np.zeros_like(output)
    gradients: dict[str, np.ndarray] = {}
    scales: dict[str, np.ndarray] = {}
    for name, value in values.items():
        result, scale = np.empty_like(value), np.empty_like(value)
        for index in np.ndindex(value.shape):
            plus, minus = value.copy(), value.copy()
            plus[index] += step
            minus[index] -= step
            moved = f"{name}{list(index)} = {float(value[index])!r} +- {step:g}"
            at_plus = _finite(function(**{**values, name: plus}), what, moved)
            at_minus = _finite(function(**{**values, name: minus}), what, moved)
            if at_plus.shape != output.shape or at_minus.shape != output.shape:
                raise UncheckableExample(f"{what} changed its output shape when {name}[{index}] moved by {step}")
            difference = at_plus - at_minus
            denominator = plus[index] - minus[index]
            result[index] = np.sum(gradient * difference) / denominator
            scale[index] = np.sum(magnitude * np.abs(difference)) / denominator
            output_scale += np.abs(difference) / denominator * abs(value[index])
        gradients[name], scales[name] = result, scale
    return NumericalVJP(gradients, scales, output, output_scale)


def central_differences_vjp(
    function: Callable[[np.ndarray], Any], at: Any, gradient: Any, step: float = FD_STEP
) -> np.ndarray:
    """``d/d(at) sum(gradient * function(at))`` by central differences (see :func:`numerical_vjp`)."""
    return numerical_vjp(lambda at: function(at), {"at": at}, gradient, step=step).gradients["at"]


def torch_available() -> bool:
    """Whether torch can be imported here (without importing it)."""
    return importlib.util.find_spec("torch") is not None


def torch_vjp(
    expression: Callable[..., Any], at: Mapping[str, Any], gradient: Any, *, what: str = "the torch expression"
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``d/d(name) sum(gradient * expression(**at))`` by torch.autograd, in float64.

    Every array of ``at`` becomes a float64 tensor that requires grad. Returns the
    gradients by name (zeros for an unused input) and the expression's value. Imports
    torch: call it only where :func:`torch_available`.
    """
    import torch

    tensors = {name: torch.tensor(_f64(value), dtype=torch.float64, requires_grad=True) for name, value in at.items()}
    try:
        output = expression(**tensors)
    except TypeError as exc:
        raise UncheckableExample(f"{what} could not be called with {', '.join(tensors)}: {exc}") from None
    if not isinstance(output, torch.Tensor):
        raise UncheckableExample(f"{what} returned {type(output).__name__}, not a torch tensor")
    gradient = _f64(gradient)
    if tuple(output.shape) != gradient.shape:
        raise UncheckableExample(
            f"{what} returned shape {tuple(output.shape)}, but the checked code returned {gradient.shape}"
        )
    if output.requires_grad:
        output.backward(torch.tensor(gradient, dtype=output.dtype))
    grads = {
        name: tensor.grad.numpy().copy() if tensor.grad is not None else np.zeros(tensor.shape)
        for name, tensor in tensors.items()
    }
    return grads, output.detach().to(torch.float64).numpy().copy()


# --------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------

#: A size: an int, a strategy of ints, or a function of the sizes drawn before it returning either.
SizeSpec = Union[int, st.SearchStrategy[int], Callable[[Mapping[str, int]], Any]]  # noqa: UP007
#: A shape: ints and names of sizes.
ShapeSpec = Sequence[Union[int, str]]  # noqa: UP007


def finite_floats(low: float, high: float) -> st.SearchStrategy[float]:
    """Finite float64 numbers in ``[low, high]`` (no NaN, no infinity, no subnormals)."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64)


def away_from_kinks(
    kinks: Sequence[float], margin: float, low: float, high: float
) -> st.SearchStrategy[float]:
    """Numbers in ``[low, high]`` at least ``margin`` from every kink, built, never filtered.

    One kink in the middle of the range gives ``kink + sign * distance`` with ``distance`` in
    ``[margin, high - kink]`` (it shrinks towards the kink from either side); otherwise each
    gap between kinks is a range of its own.
    """
    floats = dict(allow_nan=False, allow_infinity=False, width=64)
    points = sorted(float(k) for k in kinks)
    if len(points) == 1 and points[0] - low == high - points[0]:
        kink = points[0]
        return st.builds(
            lambda sign, distance: min(max(kink + sign * distance, low), high),
            st.sampled_from([1.0, -1.0]),
            st.floats(margin, high - kink, **floats),
        )
    gaps = _gaps(points, margin, low, high)
    return st.one_of([st.floats(lo, hi, **floats) for lo, hi in gaps])


def _gaps(points: Sequence[float], margin: float, low: float, high: float) -> list[tuple[float, float]]:
    edges = [low, *(p for k in points for p in (k - margin, k + margin)), high]
    gaps = []
    for lo, hi in zip(edges[::2], edges[1::2], strict=True):
        lo, hi = max(lo, low), min(hi, high)
        if lo <= hi:
            gaps.append((lo, hi))
    return gaps


@cache
def float_arrays(shape: tuple[int, ...], elements: st.SearchStrategy[float]) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of ``shape`` whose elements are all drawn from ``elements``, one by one."""
    return hnp.arrays(np.float64, shape, elements=elements, fill=st.nothing())


# --- argument validation -------------------------------------------------------------


def _check_range(name: str, value: Any) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        low = high = math.nan
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise InvalidArgument(f"{name} must be a pair (low, high) of finite numbers with low < high, not {value!r}")
    return low, high


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidArgument(f"{name} must be an int >= 1, not {value!r}")
    return int(value)


def _check_dtype(value: Any) -> np.dtype:
    try:
        dtype = np.dtype(value)
    except TypeError:
        dtype = None
    if dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise InvalidArgument(
            f"dtype must be float64 or float32 (what the checked code is given), not {value!r}; "
            "the oracles always compute in float64"
        )
    return dtype


def _check_kinks(kinks: Any, margin: Any, value_range: tuple[float, float]) -> tuple[tuple[float, ...], float]:
    if isinstance(kinks, (str, int, float)) or not isinstance(kinks, (Sequence, np.ndarray)):
        raise InvalidArgument(f"kinks must be a sequence of numbers, such as (0.0,), not {kinks!r}")
    points = []
    for kink in kinks:
        if isinstance(kink, bool) or not isinstance(kink, (int, float, np.floating, np.integer)) \
                or not math.isfinite(kink):
            raise InvalidArgument(f"kinks must hold finite numbers, not {kink!r}")
        points.append(float(kink))
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not math.isfinite(margin) \
            or margin < 10 * FD_STEP:
        raise InvalidArgument(
            f"kink_margin must be a number >= {10 * FD_STEP:g} (10 central-difference steps), so that "
            f"x +- step never crosses a kink; not {margin!r}"
        )
    if points and not _gaps(sorted(points), margin, *value_range):
        raise InvalidArgument(
            f"kinks={tuple(points)} with kink_margin={margin} leave no value in input_range={value_range}"
        )
    return tuple(points), float(margin)


def _check_sizes(sizes: Any, max_batch: int) -> dict[str, Any]:
    if sizes is None:
        sizes = {}
    if not isinstance(sizes, Mapping):
        raise InvalidArgument(f"sizes must be a mapping of names to sizes, such as {{'n': st.integers(1, 4)}}, "
                              f"not {sizes!r}")
    checked: dict[str, Any] = {"batch": st.integers(1, max_batch)}
    for name, spec in sizes.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise InvalidArgument(f"sizes: a size's name must be an identifier string, not {name!r}")
        if isinstance(spec, bool) or not (
            isinstance(spec, (int, np.integer, st.SearchStrategy)) or callable(spec)
        ):
            raise InvalidArgument(
                f"sizes[{name!r}] must be an int, a strategy of ints, or a function of the sizes drawn "
                f"before it that returns one; not {spec!r}"
            )
        if isinstance(spec, (int, np.integer)):
            _check_positive_int(f"sizes[{name!r}]", spec)
        checked[name] = spec
    return checked


def _check_shape(name: str, shape: Any, sizes: Mapping[str, Any]) -> tuple[int | str, ...]:
    if isinstance(shape, (str, int)) or not isinstance(shape, Sequence):
        raise InvalidArgument(f"{name} must be a tuple of ints and size names, such as ('n_in',), not {shape!r}")
    for dim in shape:
        if isinstance(dim, str):
            if dim not in sizes:
                known = ", ".join(sorted(sizes))
                raise InvalidArgument(
                    f"{name} names the size {dim!r}, which sizes does not define (it has: {known}); "
                    f"add it, e.g. sizes={{{dim!r}: st.integers(1, 4)}}"
                )
        else:
            _check_positive_int(f"each int in {name}", dim)
    return tuple(shape)


def _draw_sizes(draw: Callable[[Any], Any], specs: Mapping[str, Any]) -> dict[str, int]:
    drawn: dict[str, int] = {}
    for name, spec in specs.items():
        value = spec
        if callable(spec) and not isinstance(spec, st.SearchStrategy):
            value = spec(dict(drawn))
        if isinstance(value, st.SearchStrategy):
            value = draw(value)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InvalidArgument(f"sizes[{name!r}] gave {value!r}; sizes must be ints >= 1")
        drawn[name] = int(value)
    return drawn


def _resolve(shape: Sequence[int | str], sizes: Mapping[str, int]) -> tuple[int, ...]:
    return tuple(sizes[d] if isinstance(d, str) else int(d) for d in shape)


def _round_to(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``array`` rounded to ``dtype`` and back to float64: the exact values the checked code sees."""
    return array.astype(dtype).astype(np.float64)


_LEARN_RATES = st.floats(*LEARN_RATE_RANGE, allow_nan=False, allow_infinity=False, width=64)


# --- layers ----------------------------------------------------------------------------


def _is_layer_type(obj: Any) -> bool:
    return callable(getattr(obj, "forward", None)) and callable(getattr(obj, "backward", None))


def _missing_methods(obj: Any) -> str:
    missing = [f"{m}()" for m in ("forward", "backward") if not callable(getattr(obj, m, None))]
    return " and ".join(missing)


class _LayerSource:
    """How to make fresh copies of the layer under test: a class or factory, or an instance to copy."""

    def __init__(self, layer: Any, args: Sequence[Any]) -> None:
        if not isinstance(args, (tuple, list)):
            raise InvalidArgument(f"args must be a tuple of the constructor's positional arguments, not {args!r}")
        if isinstance(layer, type):
            if not _is_layer_type(layer):
                raise InvalidArgument(
                    f"layer={layer.__name__} is not a layer: it has no {_missing_methods(layer)} method; a "
                    "layer needs forward(x) and backward(gradient), and update(learn_rate) if it has parameters"
                )
            self.factory: Callable[..., Any] | None = layer
            self.name = layer.__name__
        elif _is_layer_type(layer):
            if args:
                raise InvalidArgument("args= builds a layer from a class or factory; layer= is already an instance")
            self.factory = None
            self.instance = layer
            self.name = type(layer).__name__
        elif callable(layer):
            self.factory = layer
            name = getattr(layer, "__name__", "layer")
            self.name = "layer" if name == "<lambda>" else name
        else:
            raise InvalidArgument(
                f"layer={layer!r} is not a layer: give a class (or factory) whose objects have forward(x) "
                "and backward(gradient), or such an object"
            )
        self.args = tuple(args)
        self.keywords = self._keywords()

    def _keywords(self) -> frozenset[str]:
        """The parameters of the factory that sizes of the same name are passed to."""
        if self.factory is None:
            return frozenset()
        try:
            signature = inspect.signature(self.factory)
        except (TypeError, ValueError):
            return frozenset()
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return frozenset(p.name for p in signature.parameters.values() if p.kind in kinds)

    def call_text(self, sizes: Mapping[str, int]) -> str:
        if self.factory is None:
            return f"{self.name} (a copy of the given object)"
        arguments = [repr(a) for a in self.args] + [f"{k}={v}" for k, v in sizes.items() if k in self.keywords]
        return f"{self.name}({', '.join(arguments)})"

    def build(self, sizes: Mapping[str, int]) -> Any:
        if self.factory is None:
            return copy.deepcopy(self.instance)
        keywords = {k: v for k, v in sizes.items() if k in self.keywords}
        try:
            layer = self.factory(*self.args, **keywords)
        except Exception as exc:  # noqa: BLE001 - a constructor that cannot run is the user's problem
            raise UncheckableExample(
                f"{self.call_text(sizes)} raised {type(exc).__name__}: {exc}; give the constructor's "
                "arguments with args= or sizes="
            ) from None
        if not _is_layer_type(layer):
            raise InvalidArgument(
                f"{self.call_text(sizes)} returned a {type(layer).__name__}, which is not a layer: it has no "
                f"{_missing_methods(layer)} method"
            )
        return layer


def _float_attributes(layer: Any) -> list[str]:
    return [
        name for name, value in getattr(layer, "__dict__", {}).items()
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and not name.startswith("_")
    ]


def _parameter_names(layer: Any, requested: Sequence[str] | None, described: str) -> tuple[str, ...]:
    found = _float_attributes(layer)
    if requested is None:
        names = tuple(found)
    else:
        names = tuple(requested)
        for name in names:
            value = getattr(layer, name, None)
            if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
                have = ", ".join(found) or "none"
                raise InvalidArgument(
                    f"parameters names {name!r}, but {described}.{name} is not a float array "
                    f"(its float array attributes: {have})"
                )
    if names and not callable(getattr(layer, "update", None)):
        raise InvalidArgument(
            f"{described} has parameters ({', '.join(names)}) but no update(learn_rate) to observe their "
            "gradients through; give parameters=() to check only backward"
        )
    return names


@dataclass(frozen=True, eq=False, repr=False)
class LayerExample:
    """One example for :func:`assert_layer_gradients`: the drawn ``sizes`` (``batch`` among
    them), input ``x``, ``parameters`` by name, upstream ``gradient`` (``None`` when forward
    failed while drawing) and ``learn_rate``. Arrays are float64 holding values exactly
    representable in ``dtype``, the dtype the layer is given."""

    source: _LayerSource
    sizes: dict[str, int]
    x: np.ndarray
    parameters: dict[str, np.ndarray]
    gradient: np.ndarray | None
    learn_rate: float
    dtype: np.dtype = field(default=np.dtype(np.float64))

    @property
    def layer_text(self) -> str:
        return self.source.call_text(self.sizes)

    def __repr__(self) -> str:
        arrays = {"x": self.x, **self.parameters, "gradient": self.gradient}
        parts = [self.layer_text, f"dtype={self.dtype.name}"]
        parts += [f"{name}={_array_text(value)}" for name, value in arrays.items()]
        parts.append(f"learn_rate={self.learn_rate!r}")
        return "LayerExample(" + ", ".join(parts) + ")"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def _array_text(value: Any) -> str:
    """An array as one line of Python that rebuilds it (to 8 significant digits)."""
    if value is None:
        return "None"
    text = np.array2string(np.asarray(value), separator=", ", max_line_width=10**6, threshold=10**6)
    return "array(" + text.replace("\n", "") + ")"


def layer_examples(
    layer: Any,
    *,
    args: Sequence[Any] = (),
    sizes: Mapping[str, SizeSpec] | None = None,
    input_shape: ShapeSpec | None = None,
    parameters: Sequence[str] | None = None,
    kinks: Sequence[float] = (),
    kink_margin: float = KINK_MARGIN,
    input_range: tuple[float, float] = INPUT_RANGE,
    parameter_range: tuple[float, float] = PARAMETER_RANGE,
    dtype: Any = np.float64,
    max_batch: int = MAX_BATCH,
) -> st.SearchStrategy[LayerExample]:
    """A strategy of :class:`LayerExample` for the layer ``layer``.

    * ``layer``: a class or factory that builds a fresh layer, or a layer object (copied
      with ``copy.deepcopy`` for every use). It is built with ``*args`` and, as keyword
      arguments, the drawn ``sizes`` that it has parameters of the same name for.
    * ``sizes``: name -> an int, a strategy of ints, or a function of the sizes drawn
      before it returning either (``lambda s: st.integers(s["k"], 8)``). ``batch`` (the
      length of axis 0, 1 to ``max_batch``) is always drawn first; give it to override.
    * ``input_shape``: the shape of one sample (``x`` is ``(batch, *input_shape)``), ints
      and size names; default ``("features",)``, with ``features`` drawn from 1 to 4.
    * ``parameters``: attribute names of the parameters, whose gradients are observed
      through ``update``; default: every float array attribute of a freshly built layer.
      Their values are drawn in ``parameter_range`` with the shapes the layer gave them.
    * ``kinks``: input values where the layer is not differentiable (``(0.0,)`` for a
      ReLU); inputs stay ``kink_margin`` away from them, in ``input_range``.
    * ``dtype``: what the layer is given, float64 or float32 (the oracles use float64).

    The strategy builds the layer and runs its forward pass once, in float64, to learn
    the shapes of the parameters and of the upstream gradient.
    """
    source = _LayerSource(layer, args)
    dtype = _check_dtype(dtype)
    max_batch = _check_positive_int("max_batch", max_batch)
    input_range = _check_range("input_range", input_range)
    parameter_range = _check_range("parameter_range", parameter_range)
    kinks, kink_margin = _check_kinks(kinks, kink_margin, input_range)
    size_specs = _check_sizes(sizes, max_batch)
    if input_shape is None:
        input_shape = ("features",)
        size_specs.setdefault("features", st.integers(1, MAX_WIDTH))
    input_shape = _check_shape("input_shape", input_shape, size_specs)
    if parameters is not None and (isinstance(parameters, str) or not isinstance(parameters, Sequence)):
        raise InvalidArgument(
            f"parameters must be a sequence of attribute names, such as ('w', 'b'), not {parameters!r}"
        )
    inputs = away_from_kinks(kinks, kink_margin, *input_range) if kinks else finite_floats(*input_range)
    weights = finite_floats(*parameter_range)
    upstream = finite_floats(*GRADIENT_RANGE)

    @st.composite
    def examples(draw) -> LayerExample:
        drawn = _draw_sizes(draw, size_specs)
        probe = source.build(drawn)
        described = source.call_text(drawn)
        names = _parameter_names(probe, parameters, described)
        x = _round_to(draw(float_arrays((drawn["batch"], *_resolve(input_shape, drawn)), inputs)), dtype)
        values = {}
        for name in names:
            shape = np.shape(getattr(probe, name))
            values[name] = _round_to(draw(float_arrays(tuple(shape), weights)), dtype)
            setattr(probe, name, values[name].copy())
        try:
            output = np.asarray(probe.forward(x.copy()))
            shape = output.shape if output.dtype.kind in "fiu" else None
        except Exception:  # noqa: BLE001 - reported, with the example, by the assertion
            shape = None
        gradient = None if shape is None else _round_to(draw(float_arrays(shape, upstream)), dtype)
        return LayerExample(source, drawn, x, values, gradient, draw(_LEARN_RATES), dtype)

    return examples()


def _unchanged(given: np.ndarray, before: np.ndarray, call: str, name: str, hint: str) -> None:
    if given.shape != before.shape or not np.array_equal(given, before, equal_nan=True):
        raise GradientCheckFailure(
            f"{call} changed the array {name} it was given, in place ({hint}); compute a new array "
            f"instead: the caller may still need it\n{name} before:\n{show(before)}\n{name} after:\n{show(given)}",
            expected=before, actual=given,
        )


class _Copies:
    """Equal fresh layers for one example: built once, then deep-copied, so that state other
    than the drawn parameters (excluded parameters, say) is the same in every copy."""

    def __init__(self, example: LayerExample) -> None:
        self.example = example
        self.pristine = example.source.build(example.sizes)

    def make(self, dtype: Any, parameters: Mapping[str, np.ndarray] | None = None) -> Any:
        try:
            layer = copy.deepcopy(self.pristine)
        except Exception:  # noqa: BLE001 - an object that cannot be copied: build it again
            layer = self.example.source.build(self.example.sizes)
        for name, value in (self.example.parameters if parameters is None else parameters).items():
            setattr(layer, name, np.asarray(value).astype(dtype))
        return layer


def _observe_update(layer: Any, names: Sequence[str], learn_rate: float, described: str
                    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each parameter before ``update(learn_rate)``, and the gradient the step applied,
    ``(before - after) / learn_rate``."""
    before = {name: as_float_array(getattr(layer, name), what=f"{described}.{name}") for name in names}
    layer.update(learn_rate)
    observed = {}
    for name, old in before.items():
        new = as_float_array(getattr(layer, name), what=f"{described}.{name} after update(learn_rate)")
        if new.shape != old.shape:
            raise GradientCheckFailure(
                f"{described}.update(learn_rate) changed the shape of {name} from {old.shape} to {new.shape}"
            )
        observed[name] = (old - new) / learn_rate
    return before, observed


def _nudged(array: np.ndarray, dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
    """``array`` in ``dtype``, each element moved one unit in the last place up or down at random."""
    values = np.asarray(array).astype(dtype)
    up = rng.random(values.shape) < 0.5
    return np.where(up, np.nextafter(values, dtype.type(np.inf)), np.nextafter(values, dtype.type(-np.inf)))


def _rounding_noise(
    run: Callable[[dict[str, np.ndarray]], Mapping[str, Any]], values: Mapping[str, np.ndarray],
    results: Mapping[str, Any], dtype: np.dtype,
) -> dict[str, Any]:
    """NOISE_FACTOR times the largest change of ``run``'s results when ``values`` are nudged
    (see NOISE_FACTOR); zero for float64, and where a result is not an array of numbers."""
    first = {}
    for name, value in results.items():
        try:
            first[name] = as_float_array(value, what=name)
        except AssertionError:
            pass
    noise: dict[str, Any] = {name: np.zeros_like(value) for name, value in first.items()}
    if dtype == np.float64 or not noise:
        return {name: 0.0 for name in results}
    rng = np.random.default_rng(0)  # the same nudges every time: hypothesis needs a repeatable check
    for _ in range(NOISE_RUNS):
        try:
            again = run({name: _nudged(value, dtype, rng) for name, value in values.items()})
            for name, value in first.items():
                other = as_float_array(again[name], what=name)
                if other.shape == value.shape:
                    change = np.abs(other - value)
                    noise[name] = np.maximum(noise[name], np.where(np.isfinite(change), change, 0.0))
        except Exception:  # noqa: BLE001 - a rerun that fails tells nothing about rounding
            continue
    return {name: NOISE_FACTOR * noise.get(name, 0.0) for name in results}


def _forward_of(probe: Any, described: str) -> Callable[..., np.ndarray]:
    """The forward pass of ``probe``, a float64 copy of the layer, as a function of x and the parameters."""
    what = f"{described}.forward(x)"

    def forward(x: np.ndarray, **parameters: np.ndarray) -> Any:
        for name, value in parameters.items():
            setattr(probe, name, value.copy())
        output = probe.forward(x.copy())
        if isinstance(output, np.ndarray) and output.dtype != np.float64:
            raise UncheckableExample(
                f"{what} returns {output.dtype} for float64 input, so its central differences are "
                "meaningless; let forward keep the dtype of its input, or give reference= (a float64 "
                "NumPy function) or torch_forward="
            )
        return output

    return forward


class _Oracles:
    """What a check compares with: central differences, and torch.autograd where asked and installed."""

    def __init__(self, differenced: Callable[..., Any], differenced_text: str, at: Mapping[str, np.ndarray],
                 gradient: np.ndarray, *, torch_expression: Callable[..., Any] | None, what: str) -> None:
        self.numerical = numerical_vjp(differenced, at, gradient, what=what)
        self.differences_text = f"float64 central differences of {differenced_text}"
        self.torch: tuple[dict[str, np.ndarray], np.ndarray] | None = None
        if torch_expression is not None and torch_available():
            self.torch = torch_vjp(torch_expression, at, gradient)

    def compare(self, name: str, actual: Any, *, what: str, inputs: Mapping[str, Any], extra: Any = 0.0) -> None:
        scale = self.numerical.scales[name]
        assert_matches(actual, self.numerical.gradients[name], scale, extra=extra,
                       what=f"{what}, compared with {self.differences_text}", inputs=inputs)
        if self.torch is not None:
            assert_matches(actual, self.torch[0][name], scale, extra=extra,
                           what=f"{what}, compared with torch.autograd of the torch expression", inputs=inputs)

    def compare_output(self, actual: Any, *, what: str, reference_text: str | None,
                       inputs: Mapping[str, Any]) -> None:
        if reference_text is not None:
            assert_matches(actual, self.numerical.output, self.numerical.output_scale,
                           what=f"{what}, compared with {reference_text}", inputs=inputs)
        if self.torch is not None:
            assert_matches(actual, self.torch[1], self.numerical.output_scale,
                           what=f"{what}, compared with the torch expression", inputs=inputs)


def assert_layer_gradients(
    example: LayerExample,
    *,
    torch_forward: Callable[..., Any] | None = None,
    reference: Callable[..., Any] | None = None,
) -> None:
    """Check one example of a layer: backward's dL/dx, and each parameter's gradient as
    observed through ``update(learn_rate)``, against float64 central differences.

    The differenced function is the layer's own forward pass (in float64, on a separate
    copy), or ``reference(x, **parameters)`` (a float64 NumPy function) where given.
    ``torch_forward(x, **parameters)``, a torch expression, is also compared with by
    torch.autograd where torch is installed. With either, forward's output is compared too.
    Neither forward nor backward may change the array it is given.

    Raises :class:`GradientCheckFailure` (an ``AssertionError``) for a wrong value or an
    in-place change, and :class:`UncheckableExample` where the example cannot be checked.
    """
    if not isinstance(example, LayerExample):
        raise InvalidArgument(
            f"example must be a LayerExample drawn from layer_examples(...), not {type(example).__name__}"
        )
    described = example.layer_text
    dtype = example.dtype
    inputs: dict[str, Any] = {"x": example.x, **example.parameters}
    copies = _Copies(example)
    layer = copies.make(dtype)
    call = f"{described}.forward(x)"
    given_x = example.x.astype(dtype)
    try:
        output = layer.forward(given_x)
    except Exception as exc:
        if example.gradient is not None:
            raise
        raise UncheckableExample(
            f"{described}.forward(x of shape {example.x.shape}) raised {type(exc).__name__}: {exc}; if the "
            "shapes do not fit the layer, say which do with input_shape=, sizes= or args="
        ) from None
    _unchanged(given_x, example.x.astype(dtype), call, "x", "e.g. x[x < 0] = 0")
    output = _finite(output, call)
    if example.gradient is None or output.shape != example.gradient.shape:
        raise UncheckableExample(f"{call} returned shape {output.shape}, not the shape it gave while drawing")
    inputs["gradient"] = example.gradient
    if reference is not None:
        differenced = lambda x, **parameters: reference(x, **parameters)  # noqa: E731 - x by position
        differenced_text = f"reference({', '.join(['x', *example.parameters])})"
    else:
        differenced, differenced_text = _forward_of(copies.make(np.float64), described), f"{described}.forward"
    expression = None if torch_forward is None else lambda x, **parameters: torch_forward(x, **parameters)
    oracles = _Oracles(differenced, differenced_text, {"x": example.x, **example.parameters}, example.gradient,
                       torch_expression=expression, what=differenced_text)
    oracles.compare_output(output, what=call, inputs=inputs,
                           reference_text=differenced_text if reference is not None else None)

    call = f"{described}.backward(gradient) after forward(x)"
    given_gradient = example.gradient.astype(dtype)
    returned = layer.backward(given_gradient)
    _unchanged(given_gradient, example.gradient.astype(dtype), call, "gradient", "e.g. gradient *= mask")
    names, rate = tuple(example.parameters), example.learn_rate
    before, observed = _observe_update(layer, names, rate, described) if names else ({}, {})

    def rerun(values: dict[str, np.ndarray]) -> dict[str, Any]:
        replica = copies.make(dtype, {name: values[name] for name in names})
        replica.forward(values["x"])
        results = {"x": replica.backward(values["gradient"])}
        return results | (_observe_update(replica, names, rate, described)[1] if names else {})

    noise = _rounding_noise(rerun, {**example.parameters, "x": example.x, "gradient": example.gradient},
                            {"x": returned, **observed}, dtype)
    oracles.compare("x", returned, what=f"{call}: dL/dx", inputs=inputs, extra=noise["x"])
    inputs["learn_rate"] = rate
    for name, gradient in observed.items():
        oracles.compare(
            name, gradient, inputs=inputs, extra=_step_allowance(before[name]) / rate + noise[name],
            what=f"dL/d{name} as {described}.update(learn_rate) applied it, ({name} before - {name} after) "
                 "/ learn_rate, after forward(x) and backward(gradient)",
        )


# --- functions -------------------------------------------------------------------------


def _parameters_of(function: Callable[..., Any]) -> dict[str, inspect.Parameter] | None:
    try:
        return dict(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, eq=False, repr=False)
class FunctionExample:
    """One example for :func:`assert_vjp`: the drawn ``sizes``, the differentiated
    ``inputs`` by name, the ``constants`` passed along unchanged (labels, say) and the
    upstream ``gradient`` (``None`` when the function failed while drawing)."""

    function: Callable[..., Any]
    sizes: dict[str, int]
    inputs: dict[str, np.ndarray]
    constants: dict[str, Any]
    gradient: np.ndarray | None
    dtype: np.dtype = field(default=np.dtype(np.float64))

    @property
    def name(self) -> str:
        return getattr(self.function, "__name__", "function")

    def __repr__(self) -> str:
        parts = [self.name, f"dtype={self.dtype.name}"]
        parts += [f"{k}={_array_text(v)}" for k, v in self.inputs.items()]
        parts += [f"{k}={_array_text(v) if isinstance(v, np.ndarray) else repr(v)}" for k, v in self.constants.items()]
        parts.append(f"gradient={_array_text(self.gradient)}")
        return "FunctionExample(" + ", ".join(parts) + ")"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def given_inputs(self) -> dict[str, np.ndarray]:
        """Fresh copies of the inputs, in the dtype the function is given."""
        return {name: value.astype(self.dtype) for name, value in self.inputs.items()}


def function_examples(
    function: Callable[..., Any],
    *,
    inputs: Mapping[str, ShapeSpec] | Sequence[str] | None = None,
    sizes: Mapping[str, SizeSpec] | None = None,
    constants: Mapping[str, Any] | None = None,
    kinks: Sequence[float] = (),
    kink_margin: float = KINK_MARGIN,
    input_range: tuple[float, float] = INPUT_RANGE,
    dtype: Any = np.float64,
    max_batch: int = MAX_BATCH,
) -> st.SearchStrategy[FunctionExample]:
    """A strategy of :class:`FunctionExample` for ``function``, called as
    ``function(*inputs, **constants)``.

    * ``inputs``: name -> full shape (ints and size names, ``"batch"`` included where the
      function has a batch axis), or a sequence of names, each ``("batch", "features")``;
      passed by position, in this order, so they name the function's first parameters;
      default: the function's first parameter, ``("batch", "features")``.
    * ``constants``: name -> a value, a strategy, or a function of the drawn sizes
      returning either; passed unchanged, not differentiated (integer labels, a stride).
    * ``sizes``, ``kinks``, ``kink_margin``, ``input_range``, ``dtype``, ``max_batch``: as
      for :func:`layer_examples`.

    The strategy calls ``function`` once, in float64, to learn the output's shape.
    """
    if not callable(function):
        raise InvalidArgument(f"function must be callable, not {function!r}")
    name = getattr(function, "__name__", "function")
    signature = _parameters_of(function)
    dtype = _check_dtype(dtype)
    max_batch = _check_positive_int("max_batch", max_batch)
    input_range = _check_range("input_range", input_range)
    kinks, kink_margin = _check_kinks(kinks, kink_margin, input_range)
    size_specs = _check_sizes(sizes, max_batch)
    if inputs is None:
        if not signature:
            raise InvalidArgument(f"{name} takes no named parameters; say which are inputs with inputs=")
        inputs = [next(iter(signature))]
    if isinstance(inputs, str) or not isinstance(inputs, (Mapping, Sequence)) or not inputs:
        raise InvalidArgument(f"inputs must name at least one input, e.g. {{'x': ('batch', 'n')}}, not {inputs!r}")
    if not isinstance(inputs, Mapping):
        inputs = {entry: ("batch", "features") for entry in inputs}
    if any(isinstance(shape, Sequence) and "features" in shape for shape in inputs.values()):
        size_specs.setdefault("features", st.integers(1, MAX_WIDTH))
    shapes = {key: _check_shape(f"inputs[{key!r}]", shape, size_specs) for key, shape in inputs.items()}
    if constants is not None and not isinstance(constants, Mapping):
        raise InvalidArgument(f"constants must be a mapping of names to values, such as {{'labels': ...}}, "
                              f"not {constants!r}")
    constants = dict(constants or {})
    overlap = set(shapes) & set(constants)
    if overlap:
        raise InvalidArgument(f"{', '.join(sorted(overlap))} is both an input and a constant; choose one")
    if signature is not None:
        positional = [k for k, p in signature.items() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if positional[: len(shapes)] != list(shapes) and not any(p.kind == p.VAR_POSITIONAL
                                                                  for p in signature.values()):
            raise InvalidArgument(
                f"inputs are passed by position: {name}({', '.join(signature)}) needs inputs named "
                f"{', '.join(positional[: len(shapes)]) or '(none)'}, in that order, not {', '.join(shapes)}"
            )
        if not any(p.kind == p.VAR_KEYWORD for p in signature.values()):
            for key in constants:
                if key not in signature:
                    raise InvalidArgument(f"{name} has no parameter {key!r} (it has: {', '.join(signature)}); "
                                          "constants are passed by name")
    elements = away_from_kinks(kinks, kink_margin, *input_range) if kinks else finite_floats(*input_range)
    upstream = finite_floats(*GRADIENT_RANGE)

    @st.composite
    def examples(draw) -> FunctionExample:
        drawn = _draw_sizes(draw, size_specs)
        values = {key: _round_to(draw(float_arrays(_resolve(shape, drawn), elements)), dtype)
                  for key, shape in shapes.items()}
        fixed = {}
        for key, spec in constants.items():
            value = spec(dict(drawn)) if callable(spec) and not isinstance(spec, st.SearchStrategy) else spec
            fixed[key] = draw(value) if isinstance(value, st.SearchStrategy) else value
        try:
            output = np.asarray(function(*(v.copy() for v in values.values()), **fixed))
            shape = output.shape if output.dtype.kind in "fiu" else None
        except Exception:  # noqa: BLE001 - reported, with the example, by the assertion
            shape = None
        gradient = None if shape is None else _round_to(draw(float_arrays(shape, upstream)), dtype)
        return FunctionExample(function, drawn, values, fixed, gradient, dtype)

    return examples()


def _split_vjp(returned: Any, names: Sequence[str], call: str) -> dict[str, Any]:
    """The gradients a VJP returned, by input name: a dict, one per input in order, or an array for one input."""
    if isinstance(returned, Mapping):
        missing = [n for n in names if n not in returned]
        if missing:
            raise GradientCheckFailure(f"{call} returned no gradient for {', '.join(missing)}")
        return {n: returned[n] for n in names}
    if isinstance(returned, (tuple, list)) and (len(names) > 1 or (
            len(returned) == 1 and isinstance(returned[0], np.ndarray))):
        if len(returned) != len(names):
            raise GradientCheckFailure(
                f"{call} returned {len(returned)} gradients for {len(names)} inputs ({', '.join(names)}); "
                "return one per input, in that order"
            )
        return dict(zip(names, returned, strict=True))
    if len(names) > 1:
        raise GradientCheckFailure(
            f"{call} returned a {type(returned).__name__}; return one gradient per input ({', '.join(names)})"
        )
    return {names[0]: returned}


def assert_vjp(
    example: FunctionExample,
    vjp: Callable[..., Any],
    *,
    torch_function: Callable[..., Any] | None = None,
    reference: Callable[..., Any] | None = None,
) -> None:
    """Check one example of a function's hand-written VJP, called as
    ``vjp(gradient, *inputs, **constants)``, against float64 central differences.

    The VJP returns d/d(input) of ``sum(gradient * function(...))`` for each input: one
    array per input in the order of ``inputs``, a dict by name, or an array for a single
    input. The differenced function is ``function`` itself (in float64), or ``reference``
    where given; ``torch_function`` (same arguments, torch tensors for the inputs) is
    compared with by torch.autograd where torch is installed. Neither the function nor
    the VJP may change the arrays they are given.
    """
    if not isinstance(example, FunctionExample):
        raise InvalidArgument(
            f"example must be a FunctionExample drawn from function_examples(...), not {type(example).__name__}"
        )
    if not callable(vjp):
        raise InvalidArgument(f"vjp must be callable, not {vjp!r}")
    name = example.name
    arguments = ", ".join([*example.inputs, *example.constants])
    call = f"{name}({arguments})"
    shown: dict[str, Any] = {**example.inputs, **example.constants}
    names = list(example.inputs)
    given_inputs = example.given_inputs()
    try:
        output = example.function(*given_inputs.values(), **example.constants)
    except Exception as exc:
        if example.gradient is not None:
            raise
        shapes = ", ".join(f"{k} of shape {v.shape}" for k, v in example.inputs.items())
        raise UncheckableExample(
            f"{name}({shapes}) raised {type(exc).__name__}: {exc}; if the shapes do not fit the function, say "
            "which do with inputs= and sizes="
        ) from None
    for key, value in given_inputs.items():
        _unchanged(value, example.inputs[key].astype(example.dtype), call, key, f"e.g. {key} -= {key}.max()")
    output = _finite(output, call)
    if example.gradient is None or output.shape != example.gradient.shape:
        raise UncheckableExample(f"{call} returned shape {output.shape}, not the shape it gave while drawing")
    shown["gradient"] = example.gradient

    differenced = reference if reference is not None else example.function
    differenced_text = f"reference({arguments})" if reference is not None else call
    expression = None if torch_function is None else \
        lambda **values: torch_function(*(values[n] for n in names), **example.constants)
    oracles = _Oracles(
        lambda **values: differenced(*(values[n] for n in names), **example.constants), differenced_text,
        example.inputs, example.gradient, torch_expression=expression, what=differenced_text,
    )
    oracles.compare_output(output, what=call, inputs=shown,
                           reference_text=differenced_text if reference is not None else None)

    vjp_name = getattr(vjp, "__name__", "vjp")
    vjp_call = f"{vjp_name}(gradient, {arguments})"
    given_gradient = example.gradient.astype(example.dtype)
    given_inputs = example.given_inputs()
    returned = vjp(given_gradient, *given_inputs.values(), **example.constants)
    _unchanged(given_gradient, example.gradient.astype(example.dtype), vjp_call, "gradient", "e.g. gradient *= s")
    for key, value in given_inputs.items():
        _unchanged(value, example.inputs[key].astype(example.dtype), vjp_call, key, f"e.g. {key} -= {key}.max()")
    gradients = _split_vjp(returned, names, vjp_call)

    def rerun(values: dict[str, np.ndarray]) -> Mapping[str, Any]:
        again = vjp(values["gradient"], *(values[n] for n in names), **example.constants)
        return _split_vjp(again, names, vjp_call)

    noise = _rounding_noise(rerun, {**example.inputs, "gradient": example.gradient}, gradients, example.dtype)
    for key, gradient in gradients.items():
        oracles.compare(key, gradient, what=f"{vjp_call}: dL/d{key}", inputs=shown, extra=noise[key])


# --------------------------------------------------------------------------------------
# Running a whole property
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckSummary:
    """What a passing :func:`check_layer` or :func:`check_vjp` compared: how many examples,
    with which oracles, and which parameters (observed through ``update``)."""

    subject: str
    examples: int
    oracles: tuple[str, ...]
    parameters: tuple[str, ...] = ()

    def __str__(self) -> str:
        checked = f"; parameters {', '.join(self.parameters)} through update" if self.parameters else ""
        return (f"{self.subject}: gradients agree with {' and '.join(self.oracles)} on {self.examples} "
                f"examples{checked}")


def _oracle_names(torch_expression: Any, reference: Any) -> tuple[str, ...]:
    names = ["float64 central differences" + (" of the reference" if reference is not None else "")]
    if torch_expression is not None and torch_available():
        names.append("torch.autograd")
    return tuple(names)


def _run(strategy: st.SearchStrategy[Any], check: Callable[[Any], None], settings: Settings | None) -> tuple[int, Any]:
    seen: list[Any] = []

    def gradients_agree(example: Any) -> None:
        check(example)
        seen.append(example)

    test = given(example=strategy)(gradients_agree)
    test = (settings if settings is not None else Settings(deadline=None, database=None))(test)
    test()
    return len(seen), seen[-1] if seen else None


def check_layer(
    layer: Any,
    *,
    torch_forward: Callable[..., Any] | None = None,
    reference: Callable[..., Any] | None = None,
    settings: Settings | None = None,
    **options: Any,
) -> CheckSummary:
    """Run :func:`assert_layer_gradients` on examples of :func:`layer_examples` (``options``
    are its keyword arguments) under ``settings`` (default: the current hypothesis
    profile, without deadline or example database).

    Raises the first failure, shrunk, with hypothesis' note naming the smallest failing
    example; returns a :class:`CheckSummary` when every example passes.
    """
    strategy = layer_examples(layer, **options)
    count, last = _run(strategy, lambda e: assert_layer_gradients(e, torch_forward=torch_forward,
                                                                  reference=reference), settings)
    subject = last.source.name if last is not None else str(getattr(layer, "__name__", layer))
    return CheckSummary(subject, count, _oracle_names(torch_forward, reference),
                        tuple(last.parameters) if last is not None else ())


def check_vjp(
    function: Callable[..., Any],
    vjp: Callable[..., Any],
    *,
    torch_function: Callable[..., Any] | None = None,
    reference: Callable[..., Any] | None = None,
    settings: Settings | None = None,
    **options: Any,
) -> CheckSummary:
    """Run :func:`assert_vjp` on examples of :func:`function_examples` (``options`` are its
    keyword arguments); otherwise as :func:`check_layer`."""
    if not callable(vjp):
        raise InvalidArgument(f"vjp must be callable, not {vjp!r}")
    strategy = function_examples(function, **options)
    count, _ = _run(strategy, lambda e: assert_vjp(e, vjp, torch_function=torch_function, reference=reference),
                    settings)
    return CheckSummary(getattr(function, "__name__", "function"), count, _oracle_names(torch_function, reference))
