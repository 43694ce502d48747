"""A user's file for ``fmlgrade gradcheck`` (tests/test_gradients.py runs the command on it)."""

import numpy as np


class MyTanh(Layer):  # noqa: F821 - the skeleton's Layer, provided to the file as to a submission
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, gradient):
        return gradient * (1 - self.y**2)

    def update(self, learn_rate):
        pass


class BrokenTanh(MyTanh):
    def backward(self, gradient):
        return gradient * (1 - self.y)


class MyLinear:
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
        self.w -= learn_rate * self.x.T @ self.gradient
        self.b -= learn_rate * self.gradient.sum(axis=0)


class MyReLU:
    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, gradient):
        return gradient * (self.x > 0)


class MySqrt:
    """NaN for the negative inputs the default range draws."""

    def forward(self, x):
        with np.errstate(invalid="ignore"):
            self.y = np.sqrt(x)
        return self.y

    def backward(self, gradient):
        return gradient / 2 / self.y


class NoBackward:
    def forward(self, x):
        return x


NOT_A_LAYER = 3


def square(x):
    return x**2


def square_vjp(gradient, x):
    return 2 * x * gradient


def torch_tanh(x):
    return x.tanh()


class Doubling:
    """Keeps a float array that is no parameter (a cache) and has no update."""

    def __init__(self):
        self.cache = np.zeros(1)

    def forward(self, x):
        self.cache = x
        return 2 * x

    def backward(self, gradient):
        return 2 * gradient
