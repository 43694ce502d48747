"""Stand-in for ``MyReLU``: used by 1.5 when the student's layers did not pass their tasks."""

from __future__ import annotations

import numpy as np

from fmlgrade.spec.worker.skeleton import Layer

__all__ = ["MyReLU"]


class MyReLU(Layer):
    """``max(0, x)``; the gradient passes where the input was positive."""

    def __init__(self) -> None:
        self._positive: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._positive = x > 0
        return np.where(self._positive, x, 0.0)

    def backward(self, gradient: np.ndarray) -> np.ndarray:
        return np.where(self._positive, gradient, 0.0)

    def update(self, learn_rate: float) -> None:
        """No parameters."""
