"""Reference solution of Part 1: a neural network and a convolution in plain NumPy.

This is the canonical answer the grader compares submissions with. It is written
the way the handout suggests (explicit loops where the handout asks for them) and
calls every other assignment name through this module's globals, so a grader can
substitute any of them (for example the training data or the layers).
"""

import numpy as np

from fmlgrade.spec.worker.skeleton import Layer, get_training_data_myneuralnet

# --------------------------------------------------------------------------------------
# 1.1 Linear layer
# --------------------------------------------------------------------------------------


class MyLinearLayer(Layer):
    """Fully connected layer ``x_out = x_in @ w + b`` (eq. 1), batched along axis 0."""

    def __init__(self, n_in: int, n_out: int):
        # He initialisation from the global RNG, so the grader can seed it.
        self.w = np.random.randn(n_in, n_out) * np.sqrt(2 / n_in)
        self.b = np.zeros(n_out)
        self.x = None  # input of the last forward, (B, n_in)
        self.gradient = None  # incoming gradient of the last backward, (B, n_out)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(a) ``(B, n_in)`` to ``(B, n_out)``; the input is kept for the backward pass."""
        self.x = x
        return x @ self.w + self.b

    def backward(self, gradient: np.ndarray) -> np.ndarray:
        """(b) dL/d(out) ``(B, n_out)`` to dL/d(in) ``(B, n_in)``: ``gradient @ w.T``."""
        self.gradient = gradient
        return gradient @ self.w.T

    def update(self, learn_rate: float) -> None:
        """(c) One gradient-descent step on ``w`` and ``b``.

        dL/dw = x.T @ gradient and dL/db = sum of gradient over the batch; the
        incoming gradient already carries the 1/N of the loss. Both gradients are
        computed before either parameter changes.
        """
        grad_w = self.x.T @ self.gradient
        grad_b = self.gradient.sum(axis=0)
        self.w -= learn_rate * grad_w
        self.b -= learn_rate * grad_b


# --------------------------------------------------------------------------------------
# 1.2 ReLU
# --------------------------------------------------------------------------------------


class MyReLU(Layer):
    """Element-wise ``max(0, x)`` (eq. 2); no parameters."""

    def __init__(self):
        self.x = None  # input of the last forward

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(a) ``max(0, x)`` element-wise; the input is kept for the backward pass."""
        self.x = x
        return np.maximum(0, x)

    def backward(self, gradient: np.ndarray) -> np.ndarray:
        """(b) Pass the gradient where the input was positive; we use 0 at exactly 0."""
        return gradient * (self.x > 0)

    def update(self, learn_rate: float) -> None:
        """Nothing to learn."""


# --------------------------------------------------------------------------------------
# 1.3 The network
# --------------------------------------------------------------------------------------


class MyNeuralNet:
    """One hidden ReLU layer of ``n_hidden`` units and one linear output, for 1-D regression."""

    def __init__(self, n_hidden: int):
        # Provided by the skeleton. The layer classes are looked up as module
        # globals, so the grader can put other versions in their place.
        self.layers = [MyLinearLayer(1, n_hidden), MyReLU(), MyLinearLayer(n_hidden, 1)]
        self.output = None  # h of the last forward, (B, 1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """(a) Feed ``x`` ``(B, 1)`` through the layers in order; returns h ``(B, 1)``."""
        for layer in self.layers:
            x = layer.forward(x)
        self.output = x
        return x

    def backward(self, y: np.ndarray) -> np.ndarray:
        """(b) Backpropagate the least-squares loss (eq. 3) for targets ``y`` ``(B, 1)``.

        dL/dh = (h - y) / B per sample (eq. 4), passed through the layers in
        reverse order. Returns the gradient w.r.t. the network input.
        """
        gradient = (self.output - y) / y.shape[0]
        for layer in reversed(self.layers):
            gradient = layer.backward(gradient)
        return gradient

    def update(self, learn_rate: float) -> None:
        """(c) Let every layer take its gradient-descent step."""
        for layer in self.layers:
            layer.update(learn_rate)


# --------------------------------------------------------------------------------------
# 1.4 Training
# --------------------------------------------------------------------------------------


def train_myneuralnet(
    net: MyNeuralNet, epochs: int, batch_size: int, learn_rate: float, N: int
) -> list[float]:
    """Mini-batch gradient descent on ``get_training_data_myneuralnet(N)``.

    Every epoch visits all N points once, in a fresh random order, in batches of
    ``batch_size`` (the last one may be smaller): forward, backward, update.
    Returns the loss (eq. 3) of each epoch, averaged over its points.
    """
    x, y = get_training_data_myneuralnet(N)
    losses = []
    for _ in range(epochs):
        order = np.random.permutation(N)
        epoch_loss = 0.0
        for start in range(0, N, batch_size):
            batch = order[start : start + batch_size]
            x_batch, y_batch = x[batch], y[batch]
            h = net.forward(x_batch)
            net.backward(y_batch)
            net.update(learn_rate)
            epoch_loss += 0.5 * np.sum((h - y_batch) ** 2)
        losses.append(float(epoch_loss / N))
    return losses


# --------------------------------------------------------------------------------------
# 1.6 - 1.7 Padding and convolution
# --------------------------------------------------------------------------------------


def add_padding(images: np.ndarray, padding: int) -> np.ndarray:
    """Surround ``(B, h, w, F)`` images with ``padding`` zeros on both spatial axes."""
    return np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))


def convolve(kernels: np.ndarray, images: np.ndarray, stride: int) -> np.ndarray:
    """Cross-correlate padded images with kernels, as in eq. (5).

    ``kernels`` ``(K, K, F_in, F_out)``, ``images`` ``(B, H, W, F_in)``, ``stride``
    S >= 1. Returns ``(B, (H-K)//S + 1, (W-K)//S + 1, F_out)``; a last partial
    window is dropped, as in PyTorch.
    """
    B, H, W, _ = images.shape
    K, _, _, F_out = kernels.shape
    h_out = (H - K) // stride + 1
    w_out = (W - K) // stride + 1
    out = np.zeros((B, h_out, w_out, F_out), dtype=np.result_type(kernels, images))
    for p in range(h_out):
        for q in range(w_out):
            s, t = p * stride, q * stride
            window = images[:, s : s + K, t : t + K, :]  # (B, K, K, F_in)
            # Sum over i, j and f_in for every image and every output filter at once.
            out[:, p, q, :] = np.tensordot(window, kernels, axes=([1, 2, 3], [0, 1, 2]))
    return out
