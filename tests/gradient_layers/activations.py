"""Sigmoid and tanh layers: correct, and wrong in the ways students get them wrong."""

from __future__ import annotations

import numpy as np


class Sigmoid:
    """``1 / (1 + exp(-x))`` elementwise; backward uses the saved output, ``s * (1 - s)``."""

    def forward(self, x):
        self.s = 1.0 / (1.0 + np.exp(-x))
        return self.s

    def backward(self, gradient):
        return gradient * self.s * (1.0 - self.s)

    def update(self, learn_rate):
        pass


class Tanh:
    """``tanh(x)`` elementwise; backward ``1 - tanh(x)**2``."""

    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, gradient):
        return gradient * (1.0 - self.y**2)


class SigmoidSignError(Sigmoid):
    def backward(self, gradient):
        return -gradient * self.s * (1.0 - self.s)


class SigmoidOfTheInput(Sigmoid):
    """Takes the derivative formula at the input instead of at the output."""

    def forward(self, x):
        self.x = x
        return super().forward(x)

    def backward(self, gradient):
        return gradient * self.x * (1.0 - self.x)


class SigmoidInPlace(Sigmoid):
    """Right values, but scales the caller's gradient array in place."""

    def backward(self, gradient):
        gradient *= self.s * (1.0 - self.s)
        return gradient


class SigmoidNoChainRule(Sigmoid):
    def backward(self, gradient):
        return self.s * (1.0 - self.s) * np.ones_like(gradient)


class TanhOfTheInput(Tanh):
    """``1 - x**2`` instead of ``1 - tanh(x)**2``."""

    def forward(self, x):
        self.x = x
        return super().forward(x)

    def backward(self, gradient):
        return gradient * (1.0 - self.x**2)


class TanhInPlace(Tanh):
    def backward(self, gradient):
        gradient *= 1.0 - self.y**2
        return gradient


class TanhSignError(Tanh):
    def backward(self, gradient):
        return gradient * (self.y**2 - 1.0)


def torch_sigmoid(x):
    return x.sigmoid()


def torch_tanh(x):
    return x.tanh()


CORRECT = {Sigmoid: torch_sigmoid, Tanh: torch_tanh}
WRONG = {
    SigmoidSignError: "sign error",
    SigmoidOfTheInput: "gradient of the wrong input (derivative taken at x, not at sigmoid(x))",
    SigmoidInPlace: "in-place change of the incoming gradient",
    SigmoidNoChainRule: "ignores the incoming gradient",
    TanhOfTheInput: "gradient of the wrong input (1 - x**2)",
    TanhInPlace: "in-place change of the incoming gradient",
    TanhSignError: "sign error",
}
