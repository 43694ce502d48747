"""An independent, correct solution of Part 1, in a deliberately different style.

It exists to show that the grader accepts more than one way of being right:

* the linear layer keeps its own state under other names, does its arithmetic in
  float32 (``w`` and ``b`` keep whatever dtype they were given) and replaces its
  parameters instead of updating them in place;
* ReLU's backward lets the gradient through at exactly 0 (a valid subgradient);
* the network folds its layers with ``functools.reduce``;
* training fetches the data once and walks it in order, without shuffling;
* padding allocates a zero canvas and pastes the images in;
* the convolution has no Python loops at all (a sliding-window view and einsum).
"""

from functools import reduce

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from fmlgrade.spec.worker.skeleton import Layer, get_training_data_myneuralnet

_F32 = np.float32


class MyLinearLayer(Layer):
    """Affine map ``x @ w + b``, computed in single precision."""

    def __init__(self, n_in: int, n_out: int):
        scale = 1.0 / np.sqrt(n_in)
        # Uniform (LeCun-style) initialisation, a different choice from the reference.
        self.w = np.random.uniform(-scale, scale, size=(n_in, n_out))
        self.b = np.random.uniform(-scale, scale, size=n_out)
        self._cache = {}

    def forward(self, x):
        inputs = np.asarray(x, dtype=_F32)
        self._cache["inputs"] = inputs
        return inputs @ self.w.astype(_F32) + self.b.astype(_F32)

    def backward(self, gradient):
        upstream = np.asarray(gradient, dtype=_F32)
        self._cache["upstream"] = upstream
        return upstream @ self.w.astype(_F32).T

    def update(self, learn_rate):
        inputs, upstream = self._cache["inputs"], self._cache["upstream"]
        d_w = np.einsum("bi,bo->io", inputs, upstream)
        d_b = upstream.sum(axis=0)
        self.w = (self.w - learn_rate * d_w).astype(self.w.dtype, copy=False)
        self.b = (self.b - learn_rate * d_b).astype(self.b.dtype, copy=False)


class MyReLU(Layer):
    """Rectifier; the gradient at exactly zero is taken to be 1."""

    def forward(self, x):
        self._was_active = x >= 0
        return np.clip(x, 0, None)

    def backward(self, gradient):
        return np.where(self._was_active, gradient, 0)

    def update(self, learn_rate):
        return None


class MyNeuralNet:
    """Linear -> ReLU -> Linear, least-squares regression from R to R."""

    def __init__(self, n_hidden: int):
        self.layers = [MyLinearLayer(1, n_hidden), MyReLU(), MyLinearLayer(n_hidden, 1)]

    def forward(self, x):
        self._prediction = reduce(lambda signal, layer: layer.forward(signal), self.layers, x)
        return self._prediction

    def backward(self, y):
        batch = len(y)
        seed_gradient = (self._prediction - y) / batch
        reduce(lambda grad, layer: layer.backward(grad), self.layers[::-1], seed_gradient)

    def update(self, learn_rate):
        for layer in self.layers:
            layer.update(learn_rate)


def train_myneuralnet(net, epochs, batch_size, learn_rate, N):
    """Plain mini-batch gradient descent in data order; returns the mean batch loss per epoch."""
    inputs, targets = get_training_data_myneuralnet(N)
    history = []
    for _epoch in range(epochs):
        batch_losses = []
        for lo in range(0, N, batch_size):
            xb, yb = inputs[lo : lo + batch_size], targets[lo : lo + batch_size]
            residual = net.forward(xb) - yb
            net.backward(yb)
            net.update(learn_rate)
            batch_losses.append(0.5 * float(np.mean(residual**2)))
        history.append(sum(batch_losses) / len(batch_losses))
    return history


def add_padding(images, padding):
    """Paste the images into the middle of a zero canvas ``2 * padding`` larger per side."""
    n, rows, cols, chans = images.shape
    canvas = np.zeros((n, rows + 2 * padding, cols + 2 * padding, chans), dtype=images.dtype)
    canvas[:, padding : padding + rows, padding : padding + cols, :] = images
    return canvas


def convolve(kernels, images, stride):
    """Eq. (5) without loops: every KxK window at once, strided, contracted with einsum."""
    size = kernels.shape[0]
    # (B, H-K+1, W-K+1, F_in, K, K): all windows at stride 1, then keep every stride-th.
    windows = sliding_window_view(images, (size, size), axis=(1, 2))[:, ::stride, ::stride]
    return np.einsum("bpqcij,ijco->bpqo", windows, kernels)
