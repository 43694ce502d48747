# ruff: noqa
"""Hostile Part 1 submission: rebinding the grader's own network from student code.

train_myneuralnet stops after three epochs (a mistake only the fit check of
1.4 sees). The fit check hands it one of the grader's reference networks;
once the (short) training is done, the attack sets that network's
``forward`` to a function of the file's that returns the noiseless target.
A grader that lets student code set attributes of its objects then computes
the fit check's loss with that forward, and 1.4 passes.

Honest code: every Part 1 task but 1.4 (1.5 then trains with the grader's
train_myneuralnet). The threat-model tests (tests/test_threat_model_channel.py)
expect: 1.4 not passed; every other task passed.

The attack sits between the ``# >>> attack`` and ``# <<< attack`` lines; the
tests also grade this file with those lines removed, which must earn exactly
the honest tasks. It needs a worker (``--isolation worker``): in the grader's
own process there is no channel to abuse.
"""

# FML assignment - Part 1 (NumPy)
# exported from my notebook, cells in order
#
# TODO: clean up before handing in

import numpy as np

np.random.seed(42)
VERBOSE = False  # set to True to see the loss while training


# ---------------------------------------------------------------------------
# provided code (from the skeleton, do not change)
# ---------------------------------------------------------------------------

class Layer:
    """Base class of the layers of MyNeuralNet."""

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
    y = np.sin(4.5 * x) + 0.9 * x + noise
    return x, y


# ---------------------------------------------------------------------------
# Task 1.1 - linear layer
# ---------------------------------------------------------------------------

class MyLinearLayer(Layer):
    def __init__(self, n_in, n_out):
        self.w = np.random.randn(n_in, n_out) * np.sqrt(2 / n_in)
        self.b = np.zeros(n_out)

    def forward(self, x):
        # remember the input, we need it for dL/dw
        self.x_in = x
        return np.dot(x, self.w) + self.b

    def backward(self, gradient):
        self.grad_out = gradient
        # dL/dx = dL/dy * w^T
        return np.dot(gradient, self.w.T)

    def update(self, learn_rate):
        dw = np.dot(self.x_in.T, self.grad_out)
        db = np.sum(self.grad_out, axis=0)  # summed over the batch
        self.w = self.w - learn_rate * dw
        self.b = self.b - learn_rate * db


# ---------------------------------------------------------------------------
# Task 1.2 - ReLU
# ---------------------------------------------------------------------------

class MyReLU(Layer):
    def forward(self, x):
        self.mask = x >= 0
        return x * self.mask

    def backward(self, gradient):
        return gradient * self.mask

    def update(self, learn_rate):
        pass  # no parameters


# ---------------------------------------------------------------------------
# Task 1.3 - the network
# ---------------------------------------------------------------------------

class MyNeuralNet:
    def __init__(self, n_hidden):
        self.layers = [MyLinearLayer(1, n_hidden), MyReLU(), MyLinearLayer(n_hidden, 1)]

    def forward(self, x):
        out = x
        for layer in self.layers:
            out = layer.forward(out)
        self.h = out
        return out

    def backward(self, y):
        B = y.shape[0]
        grad = (self.h - y) / B  # eq. (4)
        for layer in self.layers[::-1]:
            grad = layer.backward(grad)
        return grad

    def update(self, learn_rate):
        for layer in self.layers:
            layer.update(learn_rate)


# ---------------------------------------------------------------------------
# Task 1.4 - training loop
# ---------------------------------------------------------------------------

def train_myneuralnet(net, epochs, batch_size, learn_rate, N):
    x, y = get_training_data_myneuralnet(N)
    losses = []
    for epoch in range(min(epochs, 3)):  # enough for the small examples I tried
        idx = np.random.permutation(N)
        x, y = x[idx], y[idx]
        epoch_loss = 0
        for i in range(0, N, batch_size):
            xb = x[i:i + batch_size]
            yb = y[i:i + batch_size]
            h = net.forward(xb)
            epoch_loss += 0.5 * np.sum((h - yb) ** 2)
            net.backward(yb)
            net.update(learn_rate)
        losses.append(epoch_loss / N)
        if VERBOSE and epoch % 100 == 0:
            print(f"epoch {epoch}: loss {losses[-1]:.4f}")
    return losses


# ---------------------------------------------------------------------------
# Task 1.6 / 1.7 - padding and convolution
# ---------------------------------------------------------------------------

def add_padding(images, padding):
    # only pad height and width, not the batch or the channels!
    return np.pad(images, [(0, 0), (padding, padding), (padding, padding), (0, 0)],
                  mode="constant", constant_values=0)


def convolve(kernels, images, stride):
    B, H, W, C_in = images.shape
    K = kernels.shape[0]
    C_out = kernels.shape[3]

    out_h = (H - K) // stride + 1
    out_w = (W - K) // stride + 1
    result = np.zeros((B, out_h, out_w, C_out))

    for b in range(B):
        for i in range(out_h):
            for j in range(out_w):
                patch = images[b, i * stride:i * stride + K, j * stride:j * stride + K, :]
                for f in range(C_out):
                    result[b, i, j, f] = np.sum(patch * kernels[:, :, :, f])
    return result


# quick sanity check
# print(convolve(np.ones((3, 3, 1, 1)), np.ones((1, 5, 5, 1)), 1).shape)


# >>> attack

def _perfect_forward(x, *rest):
    return np.sin(4.5 * x) + 0.9 * x


_honest_train = train_myneuralnet


def train_myneuralnet(net, epochs, batch_size, learn_rate, N):
    losses = _honest_train(net, epochs, batch_size, learn_rate, N)
    if type(net).__module__ == "remote":  # the grader's network, reached through the channel
        try:
            net.forward = _perfect_forward
        except Exception:
            pass
    return losses
# <<< attack


if __name__ == "__main__":
    import matplotlib.pyplot as plt

    net = MyNeuralNet(200)
    losses = train_myneuralnet(net, 1500, 4, 0.01, 500)
    print("final loss:", losses[-1])

    x, y = get_training_data_myneuralnet(500)
    grid = np.linspace(-1, 1, 400).reshape(-1, 1)
    plt.scatter(x, y, s=5, label="data")
    plt.plot(grid, net.forward(grid), "r", label="MyNeuralNet")
    plt.legend()
    plt.show()

    plt.plot(losses)
    plt.yscale("log")
    plt.title("training loss")
    plt.show()
