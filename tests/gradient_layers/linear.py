"""A fully connected layer ``x @ w + b``: correct, and wrong."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

SIZES = {"n_in": st.integers(1, 4), "n_out": st.integers(1, 4)}
#: Square layers: the transposed weight gradient has the right shape, only its values are wrong.
SQUARE = {"n_in": st.integers(1, 4), "n_out": lambda sizes: sizes["n_in"]}


class Linear:
    def __init__(self, n_in, n_out):
        self.w = np.random.randn(n_in, n_out)
        self.b = np.zeros(n_out)

    def forward(self, x):
        self.x = x
        return x @ self.w + self.b

    def backward(self, gradient):
        self.gradient = gradient
        return gradient @ self.w.T

    def update(self, learn_rate):
        grad_w = self.x.T @ self.gradient
        grad_b = self.gradient.sum(axis=0)
        self.w -= learn_rate * grad_w
        self.b -= learn_rate * grad_b


class LinearTransposedWeightGradient(Linear):
    def update(self, learn_rate):
        self.w -= learn_rate * (self.gradient.T @ self.x)
        self.b -= learn_rate * self.gradient.sum(axis=0)


class LinearBiasMean(Linear):
    """Averages the bias gradient over the batch: the incoming gradient already carries 1/B."""

    def update(self, learn_rate):
        self.w -= learn_rate * (self.x.T @ self.gradient)
        self.b -= learn_rate * self.gradient.mean(axis=0)


class LinearBackwardWithoutTranspose(Linear):
    def backward(self, gradient):
        self.gradient = gradient
        return gradient @ self.w


class LinearUpdateAscends(Linear):
    def update(self, learn_rate):
        self.w += learn_rate * (self.x.T @ self.gradient)
        self.b += learn_rate * self.gradient.sum(axis=0)


def torch_linear(x, w, b):
    return x @ w + b


CORRECT = {Linear: torch_linear}
#: class -> (what is wrong, the sizes it is checked with)
WRONG = {
    LinearTransposedWeightGradient: ("transposed weight gradient on square shapes", SQUARE),
    LinearBiasMean: ("an extra 1/B in the bias gradient", SIZES),
    LinearBackwardWithoutTranspose: ("gradient @ w instead of gradient @ w.T, on square shapes", SQUARE),
    LinearUpdateAscends: ("sign error in update", SIZES),
}
