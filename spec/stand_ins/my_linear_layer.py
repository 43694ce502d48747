"""Stand-in for ``MyLinearLayer``: used by 1.5 when the student's layers did not pass their tasks.

Written from the contract: weights ``w`` (n_in, n_out) drawn He-style from
NumPy's global generator, bias ``b`` (n_out,) zero.
"""

from __future__ import annotations

import numpy as np

from fmlgrade.spec.worker.skeleton import Layer

__all__ = ["MyLinearLayer"]


class MyLinearLayer(Layer):
    """``x @ w + b``; keeps its input and the incoming gradient for ``update``."""

    def __init__(self, n_in: int, n_out: int) -> None:
        self.w = np.sqrt(2.0 / n_in) * np.random.randn(n_in, n_out)
        self.b = np.zeros(n_out)
        self._input: np.ndarray | None = None
        self._upstream: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._input = x
        return np.dot(x, self.w) + self.b

    def backward(self, gradient: np.ndarray) -> np.ndarray:
        self._upstream = gradient
        return np.dot(gradient, self.w.T)

    def update(self, learn_rate: float) -> None:
        step_w = np.dot(self._input.T, self._upstream)
        step_b = np.sum(self._upstream, axis=0)
        self.w = self.w - learn_rate * step_w
        self.b = self.b - learn_rate * step_b
