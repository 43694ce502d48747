"""A 1-D convolution (cross-correlation, stride 1, no padding), as a layer and as a function
with a VJP: correct, and wrong.

Layouts: ``x`` ``(B, L, c_in)``, ``w`` ``(k, c_in, c_out)``, ``b`` ``(c_out,)``; the output is
``(B, L - k + 1, c_out)``, ``out[n, t, o] = sum_{j, i} x[n, t + j, i] w[j, i, o] + b[o]``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

SIZES = {
    "c_in": st.integers(1, 3),
    "c_out": st.integers(1, 3),
    "k": st.integers(1, 3),
    "length": lambda sizes: st.integers(sizes["k"], sizes["k"] + 3),
}
#: As SIZES with c_out == c_in: a transposed weight gradient then has the right shape.
SQUARE = {**SIZES, "c_out": lambda sizes: sizes["c_in"]}
INPUT_SHAPE = ("length", "c_in")


def conv1d(x, w):
    k = w.shape[0]
    steps = x.shape[1] - k + 1
    return sum(x[:, j : j + steps, :] @ w[j] for j in range(k))


def conv1d_vjp(gradient, x, w):
    k = w.shape[0]
    steps = x.shape[1] - k + 1
    grad_x = np.zeros(x.shape, dtype=np.result_type(x, w, gradient))
    grad_w = np.zeros(w.shape, dtype=grad_x.dtype)
    for j in range(k):
        grad_x[:, j : j + steps, :] += gradient @ w[j].T
        grad_w[j] = np.einsum("nti,nto->io", x[:, j : j + steps, :], gradient)
    return grad_x, grad_w


def conv1d_vjp_swapped(gradient, x, w):
    """Returns the gradients in the wrong order: dL/dw where dL/dx belongs."""
    grad_x, grad_w = conv1d_vjp(gradient, x, w)
    return grad_w, grad_x


def conv1d_vjp_flipped_kernel(gradient, x, w):
    """dL/dx with the kernel flipped (a convolution where the forward pass correlates)."""
    return conv1d_vjp(gradient, x, w[::-1])[0], conv1d_vjp(gradient, x, w)[1]


class Conv1D:
    def __init__(self, c_in, c_out, k):
        self.w = np.random.randn(k, c_in, c_out) / np.sqrt(k * c_in)
        self.b = np.zeros(c_out)

    def forward(self, x):
        self.x = x
        return conv1d(x, self.w) + self.b

    def backward(self, gradient):
        self.gradient = gradient
        grad_x, self.grad_w = conv1d_vjp(gradient, self.x, self.w)
        self.grad_b = gradient.sum(axis=(0, 1))
        return grad_x

    def update(self, learn_rate):
        self.w -= learn_rate * self.grad_w
        self.b -= learn_rate * self.grad_b


class Conv1DTransposedWeightGradient(Conv1D):
    def backward(self, gradient):
        grad_x = super().backward(gradient)
        self.grad_w = self.grad_w.transpose(0, 2, 1)
        return grad_x


class Conv1DFlippedKernel(Conv1D):
    def backward(self, gradient):
        super().backward(gradient)
        return conv1d_vjp(gradient, self.x, self.w[::-1])[0]


class Conv1DWeightGradientOfTheWrongWindow(Conv1D):
    """Pairs every kernel tap with the first window of x (the wrong input for taps j > 0)."""

    def backward(self, gradient):
        grad_x = super().backward(gradient)
        steps = gradient.shape[1]
        for j in range(self.w.shape[0]):
            self.grad_w[j] = np.einsum("nti,nto->io", self.x[:, :steps, :], gradient)
        return grad_x


class Conv1DBiasMean(Conv1D):
    def backward(self, gradient):
        grad_x = super().backward(gradient)
        self.grad_b = gradient.mean(axis=(0, 1))
        return grad_x


def torch_conv1d_layer(x, w, b):
    import torch.nn.functional as F

    return F.conv1d(x.permute(0, 2, 1), w.permute(2, 1, 0)).permute(0, 2, 1) + b


def torch_conv1d(x, w):
    import torch.nn.functional as F

    return F.conv1d(x.permute(0, 2, 1), w.permute(2, 1, 0)).permute(0, 2, 1)


CORRECT = {Conv1D: torch_conv1d_layer}
WRONG = {
    Conv1DTransposedWeightGradient: ("transposed weight gradient on square shapes", SQUARE),
    Conv1DFlippedKernel: ("dL/dx with the kernel flipped", SIZES),
    Conv1DWeightGradientOfTheWrongWindow: ("weight gradient of the wrong input window", SIZES),
    Conv1DBiasMean: ("an extra 1/(B * steps) in the bias gradient", SIZES),
}
WRONG_VJPS = {
    conv1d_vjp_swapped: "gradients of the wrong inputs (dL/dw returned as dL/dx)",
    conv1d_vjp_flipped_kernel: "dL/dx with the kernel flipped",
}
FUNCTION_INPUTS = {"x": ("batch", "length", "c_in"), "w": ("k", "c_in", "c_out")}
