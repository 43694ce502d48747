"""Student values as plain float64 arrays (used by the checks and by the observers beside student code).

Every comparison first turns the student's value into a plain NumPy array, so
an array subclass or an object with a permissive ``__eq__`` cannot pass by lying.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def as_float_array(value: Any, *, what: str) -> np.ndarray:
    """``value`` as a fresh float64 ndarray; fail with a clear message if it is not numeric."""
    if type(value).__module__.startswith("torch"):
        try:
            value = value.detach().cpu().numpy()
        except Exception as exc:  # noqa: BLE001
            raise AssertionError(f"{what}: could not read the returned tensor ({exc})") from None
    if isinstance(value, np.ndarray) and type(value) is not np.ndarray:
        value = np.ndarray.view(value, np.ndarray)  # drop subclass behaviour, keep the buffer
    if value is None:
        raise AssertionError(f"{what}: returned None; return the result instead of only storing it")
    try:
        array = np.array(value, dtype=np.float64, copy=True, subok=False)
    except (TypeError, ValueError) as exc:
        raise AssertionError(
            f"{what}: expected an array of numbers, got {type(value).__name__} ({exc})"
        ) from None
    return array
