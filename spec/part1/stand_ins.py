"""Grader-written stand-ins for Part 1's layers (see :mod:`fmlgrade.spec.stand_ins`).

When the student's own layers did not pass their tasks, the integration task
1.5 trains the student's ``MyNeuralNet`` with these instead. They run beside
the student's code in the worker, so a training run never crosses the channel
once per layer call. Written from the contract: weights ``w`` (n_in, n_out)
drawn He-style from NumPy's global generator, bias ``b`` (n_out,) zero.
"""

from __future__ import annotations

import numpy as np

from fmlgrade.spec.worker.skeleton import Layer


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
