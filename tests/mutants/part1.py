"""Realistic student mistakes in Part 1, as patches on ``solutions/reference/part1.py``.

Each one is a mistake students of this assignment make (see the contract's
task list and the notes on property testing). Every unit task has at least
two. The integration tasks (1.5, 1.8) get mistakes that no unit task can
see, and each of their descriptions says why:

* 1.3 grades ``MyNeuralNet`` with reference layers put into ``self.layers``
  and 1.1 overwrites ``w`` and ``b``, so the constructors of ``MyNeuralNet``
  and ``MyLinearLayer`` (skeleton code a student may still break) are seen
  only by 1.5, which trains the student's own network end to end.
* 1.6 and 1.7 draw small images (a few pixels per side); 1.8 filters a 60x51
  photograph, so only 1.8 sees code that silently assumes small images.
"""

from __future__ import annotations

from . import Mutant

__all__ = ["MUTANTS", "by_id"]

#: The loop of convolve, from the allocation of the output to the return.
_CONVOLVE_LOOP = (
    "    out = np.zeros((B, h_out, w_out, F_out), dtype=np.result_type(kernels, images))\n"
    "    for p in range(h_out):\n"
    "        for q in range(w_out):\n"
    "            s, t = p * stride, q * stride\n"
    "            window = images[:, s : s + K, t : t + K, :]  # (B, K, K, F_in)\n"
    "            # Sum over i, j and f_in for every image and every output filter at once.\n"
    "            out[:, p, q, :] = np.tensordot(window, kernels, axes=([1, 2, 3], [0, 1, 2]))\n"
    "    return out\n"
)
#: The constructor line of MyNeuralNet (skeleton code, as in the handout).
_NET_LAYERS = (
    "        self.layers = [MyLinearLayer(1, n_hidden), MyReLU(), MyLinearLayer(n_hidden, 1)]\n"
)

MUTANTS: tuple[Mutant, ...] = (
    # ---------------------------------------------------------------- 1.1a
    Mutant(
        id="linear-forward-no-bias",
        task="1.1a",
        description="forward forgets the bias: returns x @ w",
        old="        return x @ self.w + self.b\n",
        new="        return x @ self.w\n",
    ),
    Mutant(
        id="linear-forward-applies-relu",
        task="1.1a",
        description="the linear layer applies the activation itself: returns max(0, x @ w + b)",
        old="        return x @ self.w + self.b\n",
        new="        return np.maximum(0, x @ self.w + self.b)\n",
    ),
    Mutant(
        id="linear-forward-w-transposed",
        task="1.1a",
        description="treats w as (n_out, n_in): returns x @ w.T + b",
        old="        return x @ self.w + self.b\n",
        new="        return x @ self.w.T + self.b\n",
    ),
    # ---------------------------------------------------------------- 1.1b
    Mutant(
        id="linear-backward-no-transpose",
        task="1.1b",
        description="returns gradient @ w instead of gradient @ w.T",
        old="        return gradient @ self.w.T\n",
        new="        return gradient @ self.w\n",
    ),
    Mutant(
        id="linear-backward-returns-weight-gradient",
        task="1.1b",
        description="returns x.T @ gradient (the weight gradient) instead of the input gradient",
        old="        return gradient @ self.w.T\n",
        new="        return self.x.T @ gradient\n",
    ),
    Mutant(
        id="linear-backward-divides-by-batch",
        task="1.1b",
        description="divides the input gradient by the batch size again: (gradient @ w.T) / B",
        old="        return gradient @ self.w.T\n",
        new="        return gradient @ self.w.T / gradient.shape[0]\n",
    ),
    # ---------------------------------------------------------------- 1.1c
    Mutant(
        id="linear-update-plus-equals",
        task="1.1c",
        description="gradient ascent: w += lr * dw and b += lr * db",
        old=(
            "        self.w -= learn_rate * grad_w\n"
            "        self.b -= learn_rate * grad_b\n"
        ),
        new=(
            "        self.w += learn_rate * grad_w\n"
            "        self.b += learn_rate * grad_b\n"
        ),
    ),
    Mutant(
        id="linear-update-bias-mean",
        task="1.1c",
        description="bias gradient averaged over the batch instead of summed",
        old="        grad_b = self.gradient.sum(axis=0)\n",
        new="        grad_b = self.gradient.mean(axis=0)\n",
    ),
    Mutant(
        id="linear-update-ignores-learn-rate",
        task="1.1c",
        description="the step ignores learn_rate: w -= dw, b -= db",
        old=(
            "        self.w -= learn_rate * grad_w\n"
            "        self.b -= learn_rate * grad_b\n"
        ),
        new=(
            "        self.w -= grad_w\n"
            "        self.b -= grad_b\n"
        ),
    ),
    Mutant(
        id="linear-update-weight-gradient-mean",
        task="1.1c",
        description="weight gradient divided by the batch size: x.T @ gradient / B",
        old="        grad_w = self.x.T @ self.gradient\n",
        new="        grad_w = self.x.T @ self.gradient / self.x.shape[0]\n",
    ),
    # ---------------------------------------------------------------- 1.2a
    Mutant(
        id="relu-forward-abs",
        task="1.2a",
        description="ReLU computed as abs(x)",
        old="        return np.maximum(0, x)\n",
        new="        return np.abs(x)\n",
    ),
    Mutant(
        id="relu-forward-leaky",
        task="1.2a",
        description="a leaky ReLU: 0.01 * x for negative x",
        old="        return np.maximum(0, x)\n",
        new="        return np.where(x > 0, x, 0.01 * x)\n",
    ),
    Mutant(
        id="relu-forward-in-place",
        task="1.2a",
        description=(
            "zeroes the negative entries of the caller's array in place and returns it "
            "(x[x < 0] = 0), so the input the caller still holds is changed"
        ),
        old="        return np.maximum(0, x)\n",
        new="        x[x < 0] = 0\n        return x\n",
    ),
    # ---------------------------------------------------------------- 1.2b
    Mutant(
        id="relu-backward-unmasked",
        task="1.2b",
        description="passes the gradient through unmasked",
        old="        return gradient * (self.x > 0)\n",
        new="        return gradient\n",
    ),
    Mutant(
        id="relu-backward-gradient-sign",
        task="1.2b",
        description=(
            "masks with the sign of the gradient instead of the input: gradient * (gradient > 0)"
        ),
        old="        return gradient * (self.x > 0)\n",
        new="        return gradient * (gradient > 0)\n",
    ),
    Mutant(
        id="relu-backward-no-chain-rule",
        task="1.2b",
        description="returns the local derivative 1[x > 0] without multiplying by the gradient",
        old="        return gradient * (self.x > 0)\n",
        new="        return (self.x > 0).astype(float)\n",
    ),
    # ---------------------------------------------------------------- 1.3a
    Mutant(
        id="net-forward-skips-relu",
        task="1.3a",
        description="forward runs only the linear layers (self.layers[::2]), skipping the ReLU",
        old=(
            "        for layer in self.layers:\n"
            "            x = layer.forward(x)\n"
        ),
        new=(
            "        for layer in self.layers[::2]:\n"
            "            x = layer.forward(x)\n"
        ),
    ),
    Mutant(
        id="net-forward-discards-outputs",
        task="1.3a",
        blocks=("1.3b",),
        description="calls layer.forward(x) without assigning the result, so x never changes",
        old=(
            "        for layer in self.layers:\n"
            "            x = layer.forward(x)\n"
        ),
        new=(
            "        for layer in self.layers:\n"
            "            layer.forward(x)\n"
        ),
    ),
    Mutant(
        id="net-forward-reversed",
        task="1.3a",
        blocks=("1.3b",),
        description="runs the layers in reverse order",
        old=(
            "        for layer in self.layers:\n"
            "            x = layer.forward(x)\n"
        ),
        new=(
            "        for layer in reversed(self.layers):\n"
            "            x = layer.forward(x)\n"
        ),
    ),
    # ---------------------------------------------------------------- 1.3b
    Mutant(
        id="net-backward-no-batch-mean",
        task="1.3b",
        description="dL/dh = h - y, missing the / B of the mean loss",
        old="        gradient = (self.output - y) / y.shape[0]\n",
        new="        gradient = self.output - y\n",
    ),
    Mutant(
        id="net-backward-y-minus-h",
        task="1.3b",
        description="dL/dh = (y - h) / B, the sign flipped",
        old="        gradient = (self.output - y) / y.shape[0]\n",
        new="        gradient = (y - self.output) / y.shape[0]\n",
    ),
    Mutant(
        id="net-backward-forward-order",
        task="1.3b",
        description="passes the gradient through the layers in forward order instead of reverse",
        old="        for layer in reversed(self.layers):\n",
        new="        for layer in self.layers:\n",
    ),
    # ---------------------------------------------------------------- 1.3c
    Mutant(
        id="net-update-skips-last-layer",
        task="1.3c",
        description="updates every layer but the last (self.layers[:-1])",
        old=(
            "        for layer in self.layers:\n"
            "            layer.update(learn_rate)\n"
        ),
        new=(
            "        for layer in self.layers[:-1]:\n"
            "            layer.update(learn_rate)\n"
        ),
    ),
    Mutant(
        id="net-update-hard-coded-lr",
        task="1.3c",
        description="passes a hard-coded learning rate 0.01 to the layers instead of learn_rate",
        old=(
            "        for layer in self.layers:\n"
            "            layer.update(learn_rate)\n"
        ),
        new=(
            "        for layer in self.layers:\n"
            "            layer.update(0.01)\n"
        ),
    ),
    # ---------------------------------------------------------------- 1.4
    Mutant(
        id="train-drops-last-partial-batch",
        task="1.4",
        description=(
            "only full batches: range(0, N - batch_size + 1, batch_size) drops the remainder"
        ),
        old="        for start in range(0, N, batch_size):\n",
        new="        for start in range(0, N - batch_size + 1, batch_size):\n",
    ),
    Mutant(
        id="train-update-before-backward",
        task="1.4",
        description="calls net.update before net.backward in every step",
        old=(
            "            net.backward(y_batch)\n"
            "            net.update(learn_rate)\n"
        ),
        new=(
            "            net.update(learn_rate)\n"
            "            net.backward(y_batch)\n"
        ),
    ),
    Mutant(
        id="train-hard-coded-lr",
        task="1.4",
        description="net.update(0.01) instead of net.update(learn_rate)",
        old="            net.update(learn_rate)\n",
        new="            net.update(0.01)\n",
    ),
    Mutant(
        id="train-one-epoch-short",
        task="1.4",
        description="range(epochs - 1): one epoch too few",
        old="    for _ in range(epochs):\n",
        new="    for _ in range(epochs - 1):\n",
    ),
    Mutant(
        id="train-targets-not-shuffled",
        task="1.4",
        description=(
            "shuffles the inputs but takes the targets in data order: x[batch] is paired "
            "with y[start : start + batch_size]"
        ),
        old="            x_batch, y_batch = x[batch], y[batch]\n",
        new="            x_batch, y_batch = x[batch], y[start : start + batch_size]\n",
    ),
    # ---------------------------------------------------------------- 1.5
    Mutant(
        id="net-init-no-relu",
        task="1.5",
        description=(
            "MyNeuralNet.__init__ forgets the ReLU: self.layers = [Linear(1, n), Linear(n, 1)], "
            "a linear model that cannot fit the curve. 1.3 replaces self.layers by reference "
            "layers, so only 1.5 (which trains the student's own network) sees the constructor"
        ),
        old=_NET_LAYERS,
        new="        self.layers = [MyLinearLayer(1, n_hidden), MyLinearLayer(n_hidden, 1)]\n",
    ),
    Mutant(
        id="net-init-ignores-n-hidden",
        task="1.5",
        description=(
            "MyNeuralNet.__init__ ignores n_hidden and keeps a hidden size of 2 left over from "
            "debugging; too few units to fit the curve. 1.3 replaces self.layers by reference "
            "layers, so only 1.5 sees the constructor"
        ),
        old=_NET_LAYERS,
        new=(
            "        n_hidden = 2  # small while debugging\n"
            + _NET_LAYERS
        ),
    ),
    Mutant(
        id="linear-init-zeros",
        task="1.5",
        description=(
            "MyLinearLayer.__init__ initialises w with zeros: every hidden unit stays identical "
            "(and with zero weights on both layers no weight ever moves), so the net learns a "
            "constant. 1.1 overwrites w and b before checking, and 1.3/1.4 use reference layers, "
            "so only 1.5 sees the initialisation"
        ),
        old="        self.w = np.random.randn(n_in, n_out) * np.sqrt(2 / n_in)\n",
        new="        self.w = np.zeros((n_in, n_out))\n",
    ),
    # ---------------------------------------------------------------- 1.6
    Mutant(
        id="pad-all-axes",
        task="1.6",
        description="np.pad(images, padding) pads the batch and channel axes too",
        old="    return np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))\n",
        new="    return np.pad(images, padding)\n",
    ),
    Mutant(
        id="pad-edge-mode",
        task="1.6",
        description="pads with mode='edge' (repeats the border pixels) instead of zeros",
        old="    return np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))\n",
        new=(
            "    return np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)), "
            "mode=\"edge\")\n"
        ),
    ),
    Mutant(
        id="pad-one-side",
        task="1.6",
        description="pads by P on the top and left only: ((P, 0), (P, 0))",
        old="    return np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))\n",
        new="    return np.pad(images, ((0, 0), (padding, 0), (padding, 0), (0, 0)))\n",
    ),
    # ---------------------------------------------------------------- 1.7
    Mutant(
        id="conv-flipped-kernel",
        task="1.7",
        description=(
            "flips the kernel (a true convolution) instead of the cross-correlation of eq. (5)"
        ),
        old="    K, _, _, F_out = kernels.shape\n",
        new="    K, _, _, F_out = kernels.shape\n    kernels = kernels[::-1, ::-1]\n",
    ),
    Mutant(
        id="conv-stride-ignored",
        task="1.7",
        description="computes the strided output size but slides the window by 1 pixel",
        old="            s, t = p * stride, q * stride\n",
        new="            s, t = p, q\n",
    ),
    Mutant(
        id="conv-output-no-plus-one",
        task="1.7",
        description="output size (H - K) // S without the + 1: the last window is missing",
        old=(
            "    h_out = (H - K) // stride + 1\n"
            "    w_out = (W - K) // stride + 1\n"
        ),
        new=(
            "    h_out = (H - K) // stride\n"
            "    w_out = (W - K) // stride\n"
        ),
    ),
    Mutant(
        id="conv-output-ceil",
        task="1.7",
        description="output size ceil((H - K) / S) + 1: keeps a last partial window",
        old=(
            "    h_out = (H - K) // stride + 1\n"
            "    w_out = (W - K) // stride + 1\n"
        ),
        new=(
            "    h_out = int(np.ceil((H - K) / stride)) + 1\n"
            "    w_out = int(np.ceil((W - K) / stride)) + 1\n"
        ),
    ),
    Mutant(
        id="conv-channel-axes-swapped",
        task="1.7",
        description=(
            "takes kernels as (K, K, F_out, F_in): contracts the image channels with the "
            "kernels' last axis"
        ),
        old="axes=([1, 2, 3], [0, 1, 2])",
        new="axes=([1, 2, 3], [0, 1, 3])",
    ),
    Mutant(
        id="conv-height-width-swapped",
        task="1.7",
        description="unpacks images as (B, W, H, F_in), swapping the output height and width",
        old="    B, H, W, _ = images.shape\n",
        new="    B, W, H, _ = images.shape\n",
    ),
    # ---------------------------------------------------------------- 1.8
    Mutant(
        id="conv-fixed-size-buffer",
        task="1.8",
        description=(
            "convolve preallocates a fixed 16x16 output buffer ('images are small') and crops "
            "it; the 60x51 example image overflows it. 1.7 draws images of a few pixels per "
            "side, whose outputs always fit in the buffer, so only 1.8 sees it"
        ),
        old=_CONVOLVE_LOOP,
        new=(
            "    # one buffer big enough for every output (the test images are tiny)\n"
            "    out = np.zeros((B, 16, 16, F_out), dtype=np.result_type(kernels, images))\n"
            + _CONVOLVE_LOOP.split("\n", 1)[1].replace(
                "    return out\n", "    return out[:, :h_out, :w_out, :]\n"
            )
        ),
    ),
    Mutant(
        id="pad-fixed-size-canvas",
        task="1.8",
        description=(
            "add_padding pastes the images into a fixed 24x24 zero canvas ('images are small') "
            "and crops it to (h + 2P, w + 2P); the 60x51 example image does not fit. 1.6 draws "
            "images of a few pixels per side, which always fit, so only 1.8 sees it"
        ),
        old="    return np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))\n",
        new=(
            "    B, h, w, F = images.shape\n"
            "    canvas = np.zeros((B, 24, 24, F), dtype=images.dtype)\n"
            "    canvas[:, padding : padding + h, padding : padding + w, :] = images\n"
            "    return canvas[:, : h + 2 * padding, : w + 2 * padding, :]\n"
        ),
    ),
)


def by_id(mutant_id: str) -> Mutant:
    """The mutant named ``mutant_id``; ``KeyError`` naming the known ids otherwise."""
    for mutant in MUTANTS:
        if mutant.id == mutant_id:
            return mutant
    raise KeyError(f"unknown mutant {mutant_id!r}; known: {', '.join(m.id for m in MUTANTS)}")
