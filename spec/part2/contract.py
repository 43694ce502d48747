"""What the Part 2 checks know of the contract, and how they compute it: grader-side only.

The checks decide every verdict here, in the grader, from data they can
verify on their own: parameters copied out of the worker, and the values the
student's code returned for inputs the grader chose (rebuilt from seeds on
both sides, see :func:`fmlgrade.spec.worker.part2_support.random_images`).
This module holds what the grader computes those expectations with: the
contract's numbers and texts, the contract-exact layers and weights it hands
to the worker, the reference forward, and the probes' expected outputs and
gradients. None of it runs beside student code (the worker receives the
layers' settings and weights as plain data, never this module), so nothing
here is a copyable answer in the worker's world.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fmlgrade.spec.worker.part2_support import (
    IMAGE_SIZE,
    copy_by_shape,
    probe_tensor,
    seeded,
    torch_threads,
)

#: 6 channels x 27 x 27 after the strided convolution (56 x 56) and max-pooling (4, stride 2).
FLAT_FEATURES = 6 * 27 * 27
#: Trainable parameters of SimpLeNet: 168 (conv) + 43,750 (Linear 4374->10) + 11 (Linear 10->1).
N_PARAMETERS = 43_929
#: Conv2d(3, 6, kernel_size=3, padding=1, stride=4), as keyword arguments.
CONV = {"in_channels": 3, "out_channels": 6, "kernel_size": 3, "padding": 1, "stride": 4}
#: The settings of that convolution that leave no trace in its weight's shape.
CONV_SETTINGS = {"stride": 4, "padding": 1}
#: What the two Linear layers are, in forward order: (in_features, out_features).
LINEARS = ((FLAT_FEATURES, 10), (10, 1))
#: The contract's layers as the worker's layer surgery takes them (plain data).
LAYER_SPECS = {"conv": CONV, "linears": [list(shape) for shape in LINEARS]}
#: How the contract's layer list reads in messages.
LAYERS_TEXT = (
    "Conv2d(3, 6, kernel_size=3, padding=1, stride=4), MaxPool2d(4, stride=2), flatten, "
    "Linear(4374, 10), ReLU, Linear(10, 1), Sigmoid"
)
#: SimpLeNet's six parameter tensors in layer order: conv weight, conv bias, then each Linear's.
SHAPES: tuple[tuple[int, ...], ...] = ((6, 3, 3, 3), (6,), (10, FLAT_FEATURES), (10,), (1, 10), (1,))
#: What each of SimpLeNet's six parameter tensors is, by shape (for messages).
PARAMETER_ROLES: dict[tuple[int, ...], str] = dict(zip(SHAPES, (
    "the convolution's weight",
    "the convolution's bias",
    "the first Linear layer's weight",
    "the first Linear layer's bias",
    "the second Linear layer's weight",
    "the second Linear layer's bias",
), strict=True))

#: Probes of single layers: a small non-square image batch for the convolution (so that stride,
#: padding and dilation all change the output's size or values), two rows for a Linear layer.
CONV_PROBE_SHAPE = (2, 3, 29, 31)
LINEAR_PROBE_ROWS = 2
#: Elementwise tolerance of a layer probe and of forward outputs (float32 computed the same way
#: gives identical numbers; the alternative solution and raw-parameter versions differ by < 1e-7).
RTOL, ATOL = 1e-5, 1e-6


# ---------------------------------------------------------------- hypothesis and messages
def few_examples(n: int):
    """A settings decorator lowering the active profile's example count to at most ``n``.

    Build it inside the test (at run time), so that it starts from the profile
    the harness loaded for this run: it never raises the count (``quick`` keeps
    its 12) and keeps the profile's derandomization.
    """
    from hypothesis import settings

    return settings(max_examples=min(settings.default.max_examples, n))


def describe_images(batch: int, seed: int, kind: str) -> str:
    """How a student rebuilds the batch of :func:`~fmlgrade.spec.worker.part2_support.random_images`."""
    make = {
        "uniform": "torch.rand(shape, generator=g)",
        "normal": "torch.randn(shape, generator=g)",
        "constant": "torch.rand((1,), generator=g).expand(shape).clone()",
    }[kind]
    return (
        f"x = {make} with shape = ({batch}, 3, {IMAGE_SIZE}, {IMAGE_SIZE}) and "
        f"g = torch.Generator().manual_seed({seed})"
    )


def parameter_role(shape: Sequence[int]) -> str:
    """``"the convolution's weight (shape (6, 3, 3, 3))"``, for messages."""
    role = PARAMETER_ROLES.get(tuple(shape), "the parameter")
    return f"{role} (shape {tuple(shape)})"


def parameter_shapes(parameters: list[tuple[str, Any]]) -> str:
    """``name: shape`` of every parameter (given as ``(name, tensor or None)``), for messages."""
    return ", ".join(
        f"{name}: {'uninitialised' if tensor is None else tuple(tensor.shape)}" for name, tensor in parameters
    ) or "none"


def close(actual: Any, expected: torch.Tensor, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """Whether ``actual`` (a value that came back) has ``expected``'s shape and values (NaN never matches)."""
    if not isinstance(actual, torch.Tensor) or tuple(actual.shape) != tuple(expected.shape):
        return False
    a = actual.detach().to(torch.float64).cpu()
    e = expected.detach().to(torch.float64).cpu()
    return bool(((a - e).abs() <= atol + rtol * e.abs()).all())


def largest_difference(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """The largest elementwise difference of two tensors of one shape (NaN counts as infinite)."""
    difference = (actual.detach().double().cpu() - expected.detach().double().cpu()).abs()
    return float(torch.nan_to_num(difference, nan=float("inf")).max()) if difference.numel() else 0.0


# ---------------------------------------------------------------- contract weights and forward
def contract_layers(seed: int) -> tuple[nn.Conv2d, nn.Linear, nn.Linear]:
    """Fresh contract-exact layers with PyTorch's default initialisation, seeded."""
    with seeded(seed):
        conv = nn.Conv2d(**CONV)
        first = nn.Linear(*LINEARS[0])
        second = nn.Linear(*LINEARS[1])
    return conv, first, second


def contract_weights(seed: int) -> list[torch.Tensor]:
    """The six tensors of :func:`contract_layers` ``(seed)``, in layer order (what the grader sends)."""
    return [tensor.clone() for tensor in _contract_weights(seed)]


@functools.lru_cache(maxsize=64)
def _contract_weights(seed: int) -> tuple[torch.Tensor, ...]:
    return tuple(p.detach().clone() for layer in contract_layers(seed) for p in layer.parameters())


def redrawn(weights: list[torch.Tensor], layer: int, seed: int) -> list[torch.Tensor]:
    """``weights`` with the two tensors of layer ``layer`` (0 conv, 1 and 2 the Linear layers) redrawn."""
    fresh = contract_weights(seed)
    return [fresh[i] if i // 2 == layer else w for i, w in enumerate(weights)]


def load_weights(model: nn.Module, weights: list[torch.Tensor]) -> nn.Module:
    """Copy ``weights`` into ``model``'s parameters by shape (see :func:`copy_by_shape`); return ``model``."""
    copy_by_shape(weights, list(model.parameters()))
    return model


def reference_model(submission, weights: list[torch.Tensor], device: str = "cpu") -> nn.Module:
    """The reference SimpLeNet (trusted, in the grader) holding ``weights``, on ``device``."""
    with seeded(0):
        model = submission.reference_object("SimpLeNet")()
    return load_weights(model, weights).to(device)


def reference_outputs(model: nn.Module, x: torch.Tensor, device: str = "cpu") -> torch.Tensor:
    """``model(x)`` without gradients, single-threaded, as a CPU tensor."""
    with torch_threads(1), torch.no_grad():
        return model(x.to(device)).detach().cpu()


# ---------------------------------------------------------------- layer probes (2.1a)
def conv_probe_input(seed: int) -> torch.Tensor:
    return probe_tensor(CONV_PROBE_SHAPE, seed)


def expected_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, **settings: Any):
    """``Conv2d`` with ``settings`` on ``x`` holding ``weight``/``bias``: output and both gradients."""
    weight = weight.detach().clone().requires_grad_(True)
    bias = None if bias is None else bias.detach().clone().requires_grad_(True)
    mode = settings.pop("padding_mode", "zeros")
    padding = settings.pop("padding", 0)
    if mode != "zeros":
        x = F.pad(x, (padding,) * 4, mode=mode)
        padding = 0
    output = F.conv2d(x, weight, bias, padding=padding, **settings)
    return output, weight, bias


def conv_with_gradients(x, weight, bias, upstream_seed: int, **settings):
    """Output and ``(weight grad, bias grad)`` of the probe ``(output * g).sum().backward()``."""
    with torch_threads(1):
        output, weight, bias = expected_conv(x, weight, bias, **settings)
        g = probe_tensor(tuple(output.shape), upstream_seed, "normal")
        (output * g).sum().backward()
    return output.detach(), (weight.grad, None if bias is None else bias.grad)


def infer_conv_settings(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, output: Any):
    """The ``Conv2d`` settings (stride, padding, dilation, padding mode) under which ``weight`` and
    ``bias`` turn ``x`` into ``output``, or None: what a convolution that is not the contract's does."""
    if not isinstance(output, torch.Tensor) or weight.dim() != 4 or x.shape[1] % weight.shape[1]:
        return None
    groups = x.shape[1] // weight.shape[1]
    others = itertools.product(range(1, 6), range(0, 4), range(1, 3), ("zeros", "reflect", "replicate", "circular"))
    candidates = itertools.chain([(CONV["stride"], CONV["padding"], 1, "zeros")], others)
    with torch_threads(1), torch.no_grad():
        for stride, padding, dilation, mode in candidates:
            if mode != "zeros" and padding == 0:
                continue
            settings = {
                "stride": stride, "padding": padding, "dilation": dilation, "groups": groups, "padding_mode": mode,
            }
            try:
                computed, _, _ = expected_conv(x, weight, bias, **dict(settings))
            except RuntimeError:
                continue
            if close(output, computed):
                return settings
    return None


def linear_probe_input(in_features: int, seed: int) -> torch.Tensor:
    return probe_tensor((LINEAR_PROBE_ROWS, in_features), seed, "normal")


def linear_with_gradients(z, weight, bias, upstream_seed: int):
    """``z @ weight.T + bias`` and its ``(weight grad, bias grad)`` for ``(output * g).sum()``."""
    weight = weight.detach().clone().requires_grad_(True)
    bias = None if bias is None else bias.detach().clone().requires_grad_(True)
    with torch_threads(1):
        output = F.linear(z, weight, bias)
        g = probe_tensor(tuple(output.shape), upstream_seed, "normal")
        (output * g).sum().backward()
    return output.detach(), (weight.grad, None if bias is None else bias.grad)
