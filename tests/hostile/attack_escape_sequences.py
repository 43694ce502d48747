# ruff: noqa
"""Hostile Part 1 submission: escape sequences and invisible characters aimed at the instructor.

convolve raises a ValueError, and the file raises a RuntimeError at its very end
(after every name is defined), whose messages carry what a terminal obeys or
hides: ANSI CSI sequences (clear the screen and scrollback, colours, an 8-bit
CSI), OSC sequences (set the window title, write the clipboard with OSC 52, a
hyperlink), a DCS string, bidi overrides and isolates that make "failed" read
as "passed", zero-width characters, NUL, backspaces over the word "error", a
bell, DEL, a lone carriage return, and 2 MB of text. The grader must show all
of it as visible escapes, bounded, in its output, the JSON report and
Gradescope's results.json.

Honest code: every Part 1 task (convolve's honest code comes after the raise).
The threat-model tests (tests/test_threat_model.py) expect: 1.7 error or failed; a problem quoting the
import-time message as visible escapes; every other Part 1 task passed.

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


# >>> attack
def _hostile_text(flood):
    esc, bel, st = "\x1b", "\x07", "\x1b\\"
    clipboard = "cm0gLXJmIH4vICMgZm1sZ3JhZGU="  # base64 of a command for the instructor to paste
    return (
        f"{esc}[2J{esc}[3J{esc}[H"  # clear the screen and the scrollback
        f"{esc}]0;fmlgrade: every task passed{bel}"  # window title
        f"{esc}]52;c;{clipboard}{bel}"  # OSC 52: write the clipboard
        f"{esc}]8;;https://example.invalid/{st}see here{esc}]8;;{st}"  # hyperlink
        f"{esc}P$q\"p{st}"  # DCS
        f"{esc}[32;1m\x9b1m all checks passed {esc}[0m"  # colours, 8-bit CSI
        "status: \u202e\u2066deliaf\u2069\u202c \u200b\u200d\u2060\ufeff"  # bidi overrides, zero width
        "error\x08\x08\x08\x08\x08OK   \x00\x00\x7f\rline overwritten "  # backspaces, NUL, DEL, CR
        f"{esc}"  # a lone ESC
        + "A" * flood
    )
# <<< attack


# honest: 1.7
def convolve(kernels, images, stride):
    # >>> attack
    raise ValueError(_hostile_text(2 * 2**20))
    # <<< attack
    K, _, _, f_out = kernels.shape
    B, H, W, _ = images.shape
    out = np.zeros((B, (H - K) // stride + 1, (W - K) // stride + 1, f_out))
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            window = images[:, i * stride:i * stride + K, j * stride:j * stride + K, :]
            out[:, i, j, :] = np.tensordot(window, kernels, axes=([1, 2, 3], [0, 1, 2]))
    return out


# >>> attack
raise RuntimeError(_hostile_text(2 * 2**20))
# <<< attack
