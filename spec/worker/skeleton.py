"""The provided (ungraded) names of Part 1, as the grader's trusted versions.

Students get these in their notebook skeleton; the grader never takes them from
a submission. Functions that drive student code (``train_and_plot_myneuralnet``,
``filtered_examples``, ``filter_example``) receive the student's or the
reference's names as keyword arguments, so the grader decides which version
runs.

Only numpy is imported at module level; matplotlib is imported inside the
plotting functions, so importing ``Layer`` or ``KERNELS`` stays cheap, and the
figures are built with ``matplotlib.figure.Figure`` directly (never pyplot), so
no GUI backend is touched.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "KERNELS",
    "Layer",
    "NOISE_STD",
    "example_image",
    "filter_example",
    "filtered_examples",
    "get_training_data_myneuralnet",
    "train_and_plot_myneuralnet",
]


# --------------------------------------------------------------------------------------
# Layers and the regression problem (1.1 - 1.5)
# --------------------------------------------------------------------------------------


class Layer:
    """Base class of the layers of ``MyNeuralNet``.

    A layer maps a batch (axis 0) forward, maps the gradient of the loss with
    respect to its output back to the gradient with respect to its input, and
    takes one gradient-descent step on its own parameters, if it has any.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Apply the layer to the batch ``x`` and return its output."""
        raise NotImplementedError

    def backward(self, gradient: np.ndarray) -> np.ndarray:
        """Take dL/d(output) of the last ``forward`` and return dL/d(input)."""
        raise NotImplementedError

    def update(self, learn_rate: float) -> None:
        """Take one gradient-descent step with the gradients of the last forward/backward."""
        raise NotImplementedError


#: Seed of the regression problem; fixed so that every run grades the same data.
_DATA_SEED = 20240109
#: The inputs are drawn uniformly from this interval. It is kept small on purpose:
#: with inputs of order 1, plain SGD at the handout's schedule (200 hidden units,
#: batch 4, learning rate 0.01) is stable for every usual initialisation of the
#: layers (He, LeCun, PyTorch-style uniform, N(0, 0.1^2), even N(0, 1)); on [-3, 3]
#: the He initialisation already diverges.
_X_RANGE = (-1.0, 1.0)
#: Standard deviation of the Gaussian noise added to the targets.
NOISE_STD = 0.1


def _target_curve(x: np.ndarray) -> np.ndarray:
    """The noise-free curve behind the regression data (smooth, clearly nonlinear)."""
    return np.sin(4.5 * x) + 0.9 * x


def _check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` as an ``int`` if it is a positive integer, else raise ``ValueError``."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    try:
        as_int = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be a positive integer, got {value!r}") from None
    if as_int < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return as_int


def get_training_data_myneuralnet(N: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``x, y``, both float64 ``(N, 1)``: the fixed 1-D regression problem of 1.4.

    ``x`` is uniform on [-1, 1] (in random order, so training without shuffling
    also works), ``y = sin(4.5 x) + 0.9 x`` plus Gaussian noise of standard
    deviation ``NOISE_STD``. The data come from private generators with a fixed
    seed (never the global RNG), so the same ``N`` gives identical arrays on
    every call, and the first ``n`` points are the same for every ``N >= n``.
    """
    n = _check_positive_int(N, "N")
    x_seed, noise_seed = np.random.SeedSequence(_DATA_SEED).spawn(2)
    x = np.random.default_rng(x_seed).uniform(*_X_RANGE, size=(n, 1))
    noise = np.random.default_rng(noise_seed).normal(0.0, NOISE_STD, size=(n, 1))
    y = _target_curve(x) + noise
    return x.astype(np.float64), y.astype(np.float64)


def train_and_plot_myneuralnet(
    n_hidden: int,
    epochs: int,
    batch_size: int,
    learn_rate: float,
    N: int,
    *,
    MyNeuralNet: Callable[[int], Any],
    train_myneuralnet: Callable[..., Any],
) -> Figure:
    """Build ``MyNeuralNet(n_hidden)``, train it with ``train_myneuralnet`` and plot it (1.5).

    The student's (or the reference's) class and training function are passed
    in, because the grader decides whose versions run. The returned Figure has
    one Axes with the data as points (``label="data"``) and the learned curve
    as a line (``label="network"``), the network evaluated by ``net.forward``
    on a sorted grid of 400 points spanning the data; a grader can read that
    line back with ``ax.get_lines()``.
    """
    from matplotlib.figure import Figure

    net = MyNeuralNet(n_hidden)
    train_myneuralnet(net, epochs, batch_size, learn_rate, N)

    x, y = get_training_data_myneuralnet(N)
    grid = np.linspace(x.min(), x.max(), 400).reshape(-1, 1)
    curve = np.asarray(net.forward(grid), dtype=np.float64).reshape(-1)

    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.add_subplot()
    ax.scatter(x[:, 0], y[:, 0], s=6, alpha=0.5, color="tab:blue", label="data")
    ax.plot(grid[:, 0], curve, color="tab:red", linewidth=2, label="network")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"MyNeuralNet, {n_hidden} hidden units, {epochs} epochs")
    ax.legend()
    return fig


# --------------------------------------------------------------------------------------
# Convolutions (1.6 - 1.8)
# --------------------------------------------------------------------------------------


def _frozen(rows: list[list[float]], scale: float = 1.0) -> np.ndarray:
    """A read-only float64 array, so that no caller can change a kernel for everyone."""
    array = np.array(rows, dtype=np.float64) * scale
    array.setflags(write=False)
    return array


#: The six 3x3 kernels of Table 1 of the handout, float64 ``(3, 3)``, read-only.
KERNELS: dict[str, np.ndarray] = {
    "identity": _frozen([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    "sharpening": _frozen([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "edge_detection_1": _frozen([[1, 0, -1], [0, 0, 0], [-1, 0, 1]]),
    "edge_detection_2": _frozen([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "edge_detection_3": _frozen([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
    "gaussian_blur": _frozen([[1, 2, 1], [2, 4, 2], [1, 2, 1]], scale=1 / 16),
}

#: The example photograph, and the block size it is averaged down by (600x512 -> 60x51).
_EXAMPLE_PHOTO = "grace_hopper.jpg"
_EXAMPLE_BLOCK = 10


@functools.lru_cache(maxsize=1)
def _load_example_image() -> np.ndarray:
    """Read, grey and shrink the example photo once; the result is read-only."""
    from matplotlib import cbook
    from matplotlib import image as mpimg

    path = cbook.get_sample_data(_EXAMPLE_PHOTO, asfileobj=False)
    rgb = np.asarray(mpimg.imread(path), dtype=np.float64)
    if rgb.max() > 1.0:  # 8-bit JPEG data
        rgb = rgb / 255.0
    grey = rgb[..., :3] @ np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 luma
    # Block averaging keeps the picture recognisable while making it small enough
    # for a naive triple-loop convolution to finish in well under a second.
    k = _EXAMPLE_BLOCK
    h, w = grey.shape[0] // k, grey.shape[1] // k
    small = grey[: h * k, : w * k].reshape(h, k, w, k).mean(axis=(1, 3))
    image = np.clip(small, 0.0, 1.0).reshape(1, h, w, 1)
    image.setflags(write=False)
    return image


def example_image() -> np.ndarray:
    """The example image of 1.8: a greyscale photo, float64 in [0, 1], shape ``(1, 60, 51, 1)``.

    It is matplotlib's bundled photograph of Grace Hopper, averaged over 10x10
    blocks. Every call returns a fresh, writable copy of a cached array.
    """
    return _load_example_image().copy()


def filtered_examples(
    *,
    add_padding: Callable[[np.ndarray, int], np.ndarray],
    convolve: Callable[[np.ndarray, np.ndarray, int], np.ndarray],
) -> dict[str, np.ndarray]:
    """Filter the example image with every kernel of ``KERNELS`` (the numbers behind 1.8).

    Pads ``example_image()`` by 1 with ``add_padding``, then convolves it at
    stride 1 with each kernel reshaped to ``(3, 3, 1, 1)`` using ``convolve``.
    Returns kernel name -> result, each ``(1, h, w, 1)`` for a correct
    ``convolve``. Each call of the given functions gets its own copies, so they
    cannot corrupt the image or ``KERNELS``.
    """
    padded = np.asarray(add_padding(example_image(), 1))
    return {
        name: np.asarray(convolve(kernel.reshape(3, 3, 1, 1).copy(), padded.copy(), 1))
        for name, kernel in KERNELS.items()
    }


def filter_example(
    *,
    add_padding: Callable[[np.ndarray, int], np.ndarray],
    convolve: Callable[[np.ndarray, np.ndarray, int], np.ndarray],
) -> Figure:
    """Draw the example image and its six filtered versions in one Figure (1.8).

    The filtered images come from ``filtered_examples`` with the given
    ``add_padding`` and ``convolve``; the panels are titled ``"original"`` and
    the kernel names. Each panel is scaled to its own value range.
    """
    from matplotlib.figure import Figure

    images = {
        "original": example_image(),
        **filtered_examples(add_padding=add_padding, convolve=convolve),
    }
    fig = Figure(figsize=(12, 7), layout="constrained")
    axes = fig.subplots(2, 4).ravel()
    for ax, (title, image) in zip(axes, images.items(), strict=False):
        pixels = np.asarray(image)[0, :, :, 0]
        if title == "original":
            ax.imshow(pixels, cmap="gray", vmin=0.0, vmax=1.0)
        else:
            ax.imshow(pixels, cmap="gray")
        ax.set_title(title)
        ax.set_axis_off()
    for ax in axes[len(images) :]:
        ax.set_visible(False)
    return fig
