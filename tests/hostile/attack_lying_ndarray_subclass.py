# ruff: noqa
"""Hostile Part 1 submission: returning an ndarray subclass that lies about its values.

After a wrong convolve, the file defines one that returns zeros as an
np.ndarray subclass that overrides __eq__ (always True), __array_finalize__,
__getitem__, tolist, copy, astype, __array__, __array_ufunc__ and
__array_function__ to show the expected answer read from the checking code's
stack frames; the buffer itself holds zeros.

Honest code: every Part 1 task but 1.7 (convolve returns zeros of the right shape).
The threat-model tests (tests/test_threat_model.py) expect: 1.7 not passed; every other Part 1 task passed.

The attack sits between the ``# >>> attack`` and ``# <<< attack`` lines; the
tests also grade this file with those lines removed, which must earn exactly
the honest tasks.
"""

import numpy as np


class Layer:
    """Base class of the layers (skeleton)."""

    def forward(self, x):
        raise NotImplementedError

    def backward(self, gradient):
        raise NotImplementedError

    def update(self, learn_rate):
        raise NotImplementedError


def get_training_data_myneuralnet(N):
    seq_x, seq_noise = np.random.SeedSequence(20240109).spawn(2)
    x = np.random.default_rng(seq_x).uniform(-1.0, 1.0, size=(N, 1))
    noise = np.random.default_rng(seq_noise).normal(0.0, 0.1, size=(N, 1))
    return x, np.sin(4.5 * x) + 0.9 * x + noise


# honest: 1.1a, 1.1b
class MyLinearLayer(Layer):
    def __init__(self, n_in, n_out):
        self.w = np.random.randn(n_in, n_out) * np.sqrt(2 / n_in)
        self.b = np.zeros(n_out)

    def forward(self, x):
        self.x_in = x
        return x @ self.w + self.b

    def backward(self, gradient):
        self.grad_out = gradient
        return gradient @ self.w.T

    # honest: 1.1c
    def update(self, learn_rate):
        self.w = self.w - learn_rate * (self.x_in.T @ self.grad_out)
        self.b = self.b - learn_rate * self.grad_out.sum(axis=0)


# honest: 1.2a
class MyReLU(Layer):
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def update(self, learn_rate):
        pass

    # honest: 1.2b
    def backward(self, gradient):
        return gradient * self.mask


# honest: 1.3a, 1.3b, 1.3c
class MyNeuralNet:
    def __init__(self, n_hidden):
        self.layers = [MyLinearLayer(1, n_hidden), MyReLU(), MyLinearLayer(n_hidden, 1)]

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        self.h = x
        return x

    def backward(self, y):
        gradient = (self.h - y) / y.shape[0]
        for layer in reversed(self.layers):
            gradient = layer.backward(gradient)
        return gradient

    def update(self, learn_rate):
        for layer in self.layers:
            layer.update(learn_rate)


# honest: 1.4 (and, with the above, 1.5)
def train_myneuralnet(net, epochs, batch_size, learn_rate, N):
    x, y = get_training_data_myneuralnet(N)
    for _ in range(epochs):
        order = np.random.permutation(N)
        x, y = x[order], y[order]
        for start in range(0, N, batch_size):
            net.forward(x[start:start + batch_size])
            net.backward(y[start:start + batch_size])
            net.update(learn_rate)


# honest: 1.6 (and 1.8 with the grader's reference convolve standing in)
def add_padding(images, padding):
    p = padding
    return np.pad(images, ((0, 0), (p, p), (p, p), (0, 0)))


# deliberately wrong (1.7): the right shape, all zeros
def convolve(kernels, images, stride):
    K, _, _, f_out = kernels.shape
    B, H, W, _ = images.shape
    return np.zeros((B, (H - K) // stride + 1, (W - K) // stride + 1, f_out))


# >>> attack
def _expected_from_frames(shape):
    """The array the checking code expects, read from its stack frames (or zeros of ``shape``)."""
    import sys

    frame = sys._getframe(1)
    wanted = None
    while frame is not None:
        local = frame.f_locals
        for name in ("expected_array", "expected"):
            value = local.get(name)
            if isinstance(value, np.ndarray):
                return np.array(value, dtype=np.float64)
        if wanted is None and isinstance(local.get("shape"), tuple):
            wanted = local["shape"]
        frame = frame.f_back
    return np.zeros(wanted if wanted is not None else shape)


class _LyingArray(np.ndarray):
    def __array_finalize__(self, obj):
        self._lie = True

    def _truth(self):
        return _expected_from_frames(self.shape)

    def __eq__(self, other):
        return np.ones(self.shape, dtype=bool)

    def __ne__(self, other):
        return np.zeros(self.shape, dtype=bool)

    def __getitem__(self, index):
        return self._truth()[index]

    def tolist(self):
        return self._truth().tolist()

    def copy(self, *args, **kwargs):
        return self._truth()

    def astype(self, *args, **kwargs):
        return self._truth()

    def __array__(self, dtype=None, copy=None):
        return self._truth()

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = [self._truth() if isinstance(x, _LyingArray) else x for x in inputs]
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        args = [self._truth() if isinstance(x, _LyingArray) else x for x in args]
        return func(*args, **kwargs)


def convolve(kernels, images, stride):
    K, _, _, f_out = kernels.shape
    B, H, W, _ = images.shape
    shape = (B, (H - K) // stride + 1, (W - K) // stride + 1, f_out)
    return np.zeros(shape).view(_LyingArray)
# <<< attack
