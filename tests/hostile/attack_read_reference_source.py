# ruff: noqa
"""Hostile Part 1 submission: reading the reference solution's source file and exec'ing it.

The file looks for solutions/reference/part1.py by importlib.util.find_spec
(without importing it), in the editable install's path finder, by walking
sys.path and site-packages, and next to the grader's own loaded modules; it
reads the file with open(), drops the fmlgrade imports, and exec's it to take
its convolve.

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
import glob
import importlib.util
import os
import re
import site
import sys


def _candidates():
    name = ".".join(["fmlgrade", "solutions", "reference", "part1"])
    try:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            yield spec.origin
    except BaseException:
        pass
    roots = [path for path in sys.path if path]
    try:
        roots += site.getsitepackages() + [site.getusersitepackages()]
    except BaseException:
        pass
    for root in dict.fromkeys(roots):
        for finder in glob.glob(os.path.join(root, "__editable__*fmlgrade*finder.py")):
            try:
                text = open(finder, encoding="utf-8").read()
            except OSError:
                continue
            for match in re.finditer(r"'fmlgrade\.solutions': '([^']+)'", text):
                yield os.path.join(match.group(1), "reference", "part1.py")
        for path in glob.glob(os.path.join(root, "**", "solutions", "reference", "part1.py"), recursive=True):
            yield path
    for module in list(sys.modules.values()):
        folder = os.path.dirname(getattr(module, "__file__", None) or "")
        for _ in range(3):
            if folder:
                yield os.path.join(folder, "solutions", "reference", "part1.py")
                folder = os.path.dirname(folder)


def _stolen_convolve():
    for path in _candidates():
        try:
            source = open(path, encoding="utf-8").read()
        except OSError:
            continue
        source = re.sub(r"^from fmlgrade\S* import .*$", "", source, flags=re.M)
        namespace = {"__name__": "not_the_reference", "Layer": Layer,
                     "get_training_data_myneuralnet": get_training_data_myneuralnet}
        try:
            exec(compile(source, path, "exec"), namespace)
            return namespace["convolve"]
        except BaseException:
            continue
    return None


_stolen = _stolen_convolve()
if _stolen is not None:
    convolve = _stolen
# <<< attack
