"""Assertions whose failure messages a student can act on.

Every comparison first turns the student's value into a plain float64 NumPy
array (so an array subclass or an object with a permissive ``__eq__`` cannot
pass by lying), then checks the shape, then the values, and says what was
expected, what came back and where they differ most.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from fmlgrade.spec.worker.plain_values import as_float_array  # noqa: E402 - shared with the observers

__all__ = ["as_float_array"]

_PRINT = {"precision": 5, "threshold": 60, "edgeitems": 3, "suppress_small": True}


def show(array: Any) -> str:
    """A compact, readable rendering of an array for feedback."""
    return np.array2string(np.asarray(array), **_PRINT)


def _inputs_text(inputs: Mapping[str, Any] | None) -> str:
    if not inputs:
        return ""
    lines = ["for the inputs:"]
    for name, value in inputs.items():
        rendered = show(value) if isinstance(value, np.ndarray) else repr(value)
        rendered = rendered.replace("\n", "\n" + " " * (len(name) + 5))
        lines.append(f"  {name} = {rendered}")
    return "\n" + "\n".join(lines)


def assert_shape(actual: Any, shape: tuple[int, ...], *, what: str, inputs=None) -> np.ndarray:
    """Check ``actual``'s shape; return it as a float64 array."""
    array = as_float_array(actual, what=what)
    if array.shape != tuple(shape):
        raise AssertionError(
            f"{what}: expected shape {tuple(shape)}, got {array.shape}{_inputs_text(inputs)}"
        )
    return array


def assert_close(
    actual: Any,
    expected: Any,
    *,
    what: str,
    rtol: float | np.ndarray,
    atol: float | np.ndarray,
    inputs: Mapping[str, Any] | None = None,
) -> None:
    """Check shape, then ``|actual - expected| <= atol + rtol * |expected|`` elementwise.

    Non-finite values fail unless the expected value is the same non-finite value.
    """
    expected_array = np.asarray(expected, dtype=np.float64)
    array = assert_shape(actual, expected_array.shape, what=what, inputs=inputs)
    both_nan = np.isnan(array) & np.isnan(expected_array)
    difference = np.where(both_nan, 0.0, np.abs(array - expected_array))
    difference = np.where(np.isnan(difference), np.inf, difference)
    allowed = atol + rtol * np.abs(expected_array)
    bad = difference > allowed
    if not bad.any():
        return
    index = np.unravel_index(int(np.argmax(np.where(bad, difference, -1.0))), bad.shape)
    where = tuple(int(i) for i in index)
    raise AssertionError(
        f"{what}: {int(bad.sum())} of {bad.size} values are wrong; the largest error is at index "
        f"{where}: expected {expected_array[index]:.6g}, got {array[index]:.6g}"
        f"\nexpected:\n{show(expected_array)}\ngot:\n{show(array)}{_inputs_text(inputs)}"
    )
