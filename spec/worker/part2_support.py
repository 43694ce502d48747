"""Shared helpers of the Part 2 checks: seeded data, layer surgery, the cached dataset.

Nothing here imports student code. Both sides use this module: the observers
(:mod:`fmlgrade.spec.worker.part2_observers`, beside the student's code) for layer
surgery and seeded inputs, the checks (trusted) for the same seeded inputs and
weights, so that the two sides rebuild them from a seed instead of shipping
them. It must not import :mod:`fmlgrade.solutions` or :mod:`fmlgrade.harness`.

Decisions recorded here (see also the checks' docstrings):

* SimpLeNet's attribute names are free and ``nn.functional`` calls are as good
  as modules, so layers are found *by type* (``nn.Conv2d``, ``nn.Linear``),
  never by name, and pooling, flattening and the activations are judged by
  behaviour (task 2.1b), not by module presence.
* 2.1b checks ``forward`` on the student's model with *contract-exact* layers
  (``Conv2d(3, 6, 3, padding=1, stride=4)``, ``Linear(4374, 10)``,
  ``Linear(10, 1)``) put in place of the student's ``Conv2d`` and ``Linear``
  modules, and the same weights copied into the reference by shape. A wrong
  hyperparameter in the constructor therefore costs 2.1a only, while a wrong
  order, a missing activation or the wrong pooling in ``forward`` costs 2.1b.
* Torch runs single-threaded inside the training checks: on the grading
  machine's two cores, OpenMP threads of parallel workers fight over tiny
  tensors and cost ten times the wall time.
* Where a check needs the same SimpLeNet weights on both sides (the student's
  model after layer surgery and the trusted reference in 2.1b; the grader's
  SimpLeNet that the student's ``train`` trains and the one the standard loop
  trains in 2.2 and 2.3), both sides draw the contract layers from the same
  seed (:func:`contract_layers`) and copy them in by shape
  (:func:`load_contract_weights`): SimpLeNet's six parameter tensors all have
  different shapes, so no names are needed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fmlgrade.spec.worker.outcomes import PrerequisiteFailed

#: The contract's input size: SimpLeNet's first Linear layer only fits 224 x 224 images.
IMAGE_SIZE = 224
#: 6 channels x 27 x 27 after the strided convolution (56 x 56) and max-pooling (4, stride 2).
FLAT_FEATURES = 6 * 27 * 27
#: Trainable parameters of SimpLeNet: 168 (conv) + 43,750 (Linear 4374->10) + 11 (Linear 10->1).
N_PARAMETERS = 43_929
#: Conv2d(3, 6, kernel_size=3, padding=1, stride=4), as keyword arguments.
CONV = {"in_channels": 3, "out_channels": 6, "kernel_size": 3, "padding": 1, "stride": 4}
#: What the two Linear layers are, in forward order: (in_features, out_features).
LINEARS = ((FLAT_FEATURES, 10), (10, 1))
#: How the contract's layer list reads in messages.
LAYERS_TEXT = (
    "Conv2d(3, 6, kernel_size=3, padding=1, stride=4), MaxPool2d(4, stride=2), flatten, "
    "Linear(4374, 10), ReLU, Linear(10, 1), Sigmoid"
)


# ---------------------------------------------------------------- hypothesis and torch state
def few_examples(n: int):
    """A settings decorator lowering the active profile's example count to at most ``n``.

    Build it inside the test (at run time), so that it starts from the profile
    the harness loaded for this run: it never raises the count (``quick`` keeps
    its 12) and keeps the profile's derandomization.
    """
    from hypothesis import settings

    return settings(max_examples=min(settings.default.max_examples, n))


@contextlib.contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run the block with ``n`` intra-op torch threads, then restore the old count."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def deterministic(device: str) -> Iterator[None]:
    """Deterministic cuDNN kernels for the block on CUDA (so two equal loops agree)."""
    if not str(device).startswith("cuda"):
        yield
        return
    backends = torch.backends.cudnn
    before = backends.deterministic, backends.benchmark
    backends.deterministic, backends.benchmark = True, False
    try:
        yield
    finally:
        backends.deterministic, backends.benchmark = before


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global CPU generator for the block and restore its state afterwards.

    Student code then sees the same random state on every run (so grades are
    reproducible) and the check leaves no trace in the global generator.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def random_images(batch: int, seed: int, kind: str = "uniform") -> torch.Tensor:
    """A float32 ``(batch, 3, 224, 224)`` batch drawn from a generator seeded with ``seed``.

    ``kind``: ``uniform`` (pixels in [0, 1], like the loaders), ``normal``
    (standard normal) or ``constant`` (one value in [0, 1] everywhere).
    """
    generator = torch.Generator().manual_seed(seed)
    shape = (batch, 3, IMAGE_SIZE, IMAGE_SIZE)
    if kind == "uniform":
        return torch.rand(shape, generator=generator)
    if kind == "normal":
        return torch.randn(shape, generator=generator)
    if kind == "constant":
        return torch.rand((1,), generator=generator).expand(shape).clone()
    raise ValueError(f"unknown kind of images {kind!r}")


def describe_images(batch: int, seed: int, kind: str) -> str:
    """How a student rebuilds the batch of :func:`random_images`."""
    make = {
        "uniform": "torch.rand(shape, generator=g)",
        "normal": "torch.randn(shape, generator=g)",
        "constant": "torch.rand((1,), generator=g).expand(shape).clone()",
    }[kind]
    return (
        f"x = {make} with shape = ({batch}, 3, 224, 224) and "
        f"g = torch.Generator().manual_seed({seed})"
    )


def fake_loader(n: int, batch_size: int, seed: int) -> DataLoader:
    """An unshuffled loader of ``n`` random 224 x 224 images with random 0.0/1.0 labels.

    It yields ``(images (B, 3, 224, 224) float32, labels (B, 1) float32)`` like
    the provided loaders, with a smaller last batch when ``batch_size`` does
    not divide ``n``.
    """
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand((n, 3, IMAGE_SIZE, IMAGE_SIZE), generator=generator)
    labels = torch.randint(0, 2, (n, 1), generator=generator).to(torch.float32)
    return DataLoader(TensorDataset(images, labels), batch_size=batch_size, shuffle=False)


# ---------------------------------------------------------------- finding layers
@dataclass
class Layers:
    """The student's parametrised layers, found by type in registration order."""

    convs: list[tuple[str, nn.Conv2d]]
    linears: list[tuple[str, nn.Linear]]

    def linears_in_forward_order(self) -> list[tuple[str, nn.Linear]]:
        """The two Linear layers, first the one that should take 4374 inputs (see :func:`forward_order`)."""
        order = forward_order([linear.out_features for _, linear in self.linears])
        return [self.linears[i] for i in order]


def forward_order(out_features: list[int]) -> list[int]:
    """Indices of the Linear layers (given their ``out_features``, in registration order) in forward order.

    Registration order decides, except when two layers are registered and the
    first is plainly the output layer (one output, while the other has more):
    attribute order is the student's choice.
    """
    if len(out_features) == 2 and out_features[0] == 1 and out_features[1] != 1:
        return [1, 0]
    return list(range(len(out_features)))


def find_layers(model: nn.Module) -> Layers:
    """``model``'s ``nn.Conv2d`` and ``nn.Linear`` modules (lazy variants included), by name."""
    convs: list[tuple[str, nn.Conv2d]] = []
    linears: list[tuple[str, nn.Linear]] = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            convs.append((name or "<the model itself>", module))
        elif isinstance(module, nn.Linear):
            linears.append((name or "<the model itself>", module))
    return Layers(convs, linears)


def contract_layers(seed: int) -> tuple[nn.Conv2d, nn.Linear, nn.Linear]:
    """Fresh contract-exact layers with PyTorch's default initialisation, seeded."""
    with seeded(seed):
        conv = nn.Conv2d(**CONV)
        first = nn.Linear(*LINEARS[0])
        second = nn.Linear(*LINEARS[1])
    return conv, first, second


def load_contract_weights(model: nn.Module, seed: int) -> None:
    """Give ``model`` (a SimpLeNet of the contract's shapes) the weights of :func:`contract_layers` ``(seed)``.

    Raises ``ValueError`` (see :func:`copy_by_shape`) when its parameters do
    not have the contract's six shapes.
    """
    copy_by_shape([p for layer in contract_layers(seed) for p in layer.parameters()], list(model.parameters()))


#: What each of SimpLeNet's six parameter tensors is, by shape (for messages).
PARAMETER_ROLES: dict[tuple[int, ...], str] = {
    (6, 3, 3, 3): "the convolution's weight",
    (6,): "the convolution's bias",
    (10, FLAT_FEATURES): "the first Linear layer's weight",
    (10,): "the first Linear layer's bias",
    (1, 10): "the second Linear layer's weight",
    (1,): "the second Linear layer's bias",
}


def parameter_role(shape: tuple[int, ...]) -> str:
    """``"the convolution's weight (shape (6, 3, 3, 3))"``, for messages."""
    role = PARAMETER_ROLES.get(tuple(shape), "the parameter")
    return f"{role} (shape {tuple(shape)})"


def _replace_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, attribute = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attribute, new)


class ContractModel:
    """The student's SimpLeNet with contract-exact layers, and the six tensors that hold them.

    When the model has one ``Conv2d`` and two ``Linear`` modules, they are
    replaced (wherever they sit: attributes, ``nn.Sequential``, ``ModuleList``)
    by fresh contract-exact ones. A model built otherwise (raw
    ``nn.Parameter`` tensors used with ``nn.functional``) keeps its parameters,
    which get the contract layers' values when their shapes are exactly the
    contract's six. Otherwise the model's layers do not have the contract's
    shapes: that is task 2.1a's to report, and construction raises
    :class:`PrerequisiteFailed`.
    """

    def __init__(self, model: nn.Module, seed: int) -> None:
        self.model = model
        self.layers = contract_layers(seed)
        found = find_layers(model)
        self.replaced = len(found.convs) == 1 and len(found.linears) == 2
        if self.replaced:
            conv, first, second = self.layers
            ordered = found.linears_in_forward_order()
            _replace_submodule(model, found.convs[0][0], conv)
            _replace_submodule(model, ordered[0][0], first)
            _replace_submodule(model, ordered[1][0], second)
            return
        try:
            self._sync()
        except ValueError as exc:
            problem = (
                f"it has {len(found.convs)} Conv2d and {len(found.linears)} Linear modules "
                f"instead of one Conv2d and two Linear, and its parameters {exc}"
            )
            raise PrerequisiteFailed(_layers_first(problem)) from None

    def _values(self) -> list[torch.Tensor]:
        return [p for layer in self.layers for p in layer.parameters()]

    def _sync(self) -> None:
        if not self.replaced:
            copy_by_shape(self._values(), list(self.model.parameters()))

    def tensors(self) -> list[torch.Tensor]:
        """The six parameter tensors of the student's model that hold the contract's layers."""
        return self._values() if self.replaced else list(self.model.parameters())

    def reseed(self, seed: int) -> None:
        """New default-initialised weights for the contract layers, drawn on the CPU (seeded)."""
        fresh = [p for layer in contract_layers(seed) for p in layer.parameters()]
        with torch.no_grad():
            for tensor, value in zip(self._values(), fresh, strict=True):
                tensor.copy_(value)
        self._sync()


def _layers_first(problem: str) -> str:
    return (
        f"SimpLeNet's forward can only be compared with the reference once its layers are the "
        f"contract's ({problem}); task 2.1a reports what is wrong with the layers"
    )


def copy_by_shape(source: list[torch.Tensor], target: list[torch.Tensor]) -> None:
    """Copy each tensor of ``source`` into the one tensor of ``target`` with its shape.

    SimpLeNet's six parameter tensors all have different shapes, so the match
    is unambiguous whatever the layers are called. Raises ``ValueError``
    (completing "its parameters ...") when the shapes do not pair up one to one.
    """
    shapes = sorted(tuple(t.shape) for t in target)
    wanted = sorted(tuple(s.shape) for s in source)
    if shapes != wanted:
        raise ValueError(f"have shapes {shapes}, the contract's are {wanted}")
    with torch.no_grad():
        for tensor in source:
            (match,) = [t for t in target if tuple(t.shape) == tuple(tensor.shape)]
            match.copy_(tensor.detach().to(match.device))


def parameter_shapes(parameters: list[tuple[str, tuple[int, ...] | None]]) -> str:
    """``name: shape`` of every parameter (given as ``(name, shape)``), for messages."""
    return ", ".join(
        f"{name}: {'uninitialised' if shape is None else tuple(shape)}" for name, shape in parameters
    ) or "none"
