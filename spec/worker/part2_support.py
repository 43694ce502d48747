"""What the Part 2 observers need beside student code: seeded data, threads, layer surgery.

Worker-side (it runs in the grading worker, where student code can read and
change it), so it holds no answer: no contract-exact layers, no SimpLeNet, no
expected value. The grader's side (:mod:`fmlgrade.spec.part2.contract`) sends
the contract's layer settings and weights as plain data where the surgery
needs them, and rebuilds the same seeded inputs itself
(:func:`random_images`, :func:`probe_tensor`, :func:`fake_loader`), so that
inputs travel as seeds instead of tensors.

Decisions recorded here (see also the checks' docstrings):

* SimpLeNet's attribute names are free and ``nn.functional`` calls are as good
  as modules, so layers are found *by type* (``nn.Conv2d``, ``nn.Linear``),
  never by name, through ``nn.Module``'s own methods (a model's overrides of
  ``named_modules`` or ``named_parameters`` are not asked).
* 2.1b checks ``forward`` with contract-exact layers put in place of the
  student's ``Conv2d`` and ``Linear`` modules (:class:`ContractModel`), holding
  the weights the grader sends, so that a wrong hyperparameter costs 2.1a only.
* Torch runs single-threaded inside the training checks: on the grading
  machine's two cores, OpenMP threads of parallel workers fight over tiny
  tensors and cost ten times the wall time.
* SimpLeNet's six parameter tensors all have different shapes, so weights are
  copied in by shape (:func:`copy_by_shape`), whatever the layers are called.

It must not import :mod:`fmlgrade.solutions`, the checks or :mod:`fmlgrade.harness`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fmlgrade.spec.worker.outcomes import PrerequisiteFailed

#: The size of the images SimpLeNet takes (the handout's 224 x 224).
IMAGE_SIZE = 224


# ---------------------------------------------------------------- torch state
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


# ---------------------------------------------------------------- seeded inputs
def probe_tensor(shape: Sequence[int], seed: int, kind: str = "uniform") -> torch.Tensor:
    """A float32 tensor of ``shape`` from a generator seeded with ``seed``: uniform in [0, 1) or normal."""
    generator = torch.Generator().manual_seed(seed)
    if kind == "uniform":
        return torch.rand(tuple(shape), generator=generator)
    if kind == "normal":
        return torch.randn(tuple(shape), generator=generator)
    raise ValueError(f"unknown kind of probe {kind!r}")


def probe_weights(shape: Sequence[int], seed: int) -> torch.Tensor:
    """Weights of ``shape`` that a layer probe loads: normal, scaled by 0.1, from ``seed``."""
    return probe_tensor(shape, seed, "normal") * 0.1


def random_images(batch: int, seed: int, kind: str = "uniform") -> torch.Tensor:
    """A float32 ``(batch, 3, 224, 224)`` batch drawn from a generator seeded with ``seed``.

    ``kind``: ``uniform`` (pixels in [0, 1], like the loaders), ``normal``
    (standard normal) or ``constant`` (one value in [0, 1] everywhere).
    """
    shape = (batch, 3, IMAGE_SIZE, IMAGE_SIZE)
    if kind == "constant":
        generator = torch.Generator().manual_seed(seed)
        return torch.rand((1,), generator=generator).expand(shape).clone()
    return probe_tensor(shape, seed, kind)


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
        order = forward_order([_out_features(linear) for _, linear in self.linears])
        return [self.linears[i] for i in order]


def _out_features(linear: nn.Linear) -> Any:
    return getattr(linear, "out_features", None)


def forward_order(out_features: list[Any]) -> list[int]:
    """Indices of the Linear layers (given their ``out_features``, in registration order) in forward order.

    Registration order decides, except when two layers are registered and the
    first is plainly the output layer (one output, while the other has more):
    attribute order is the student's choice.
    """
    if len(out_features) == 2 and out_features[0] == 1 and out_features[1] != 1:
        return [1, 0]
    return list(range(len(out_features)))


def named_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """What ``model`` registers, asked of ``nn.Module`` itself (a model's own override is not called)."""
    return list(nn.Module.named_modules(model))


def named_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """``model``'s registered parameters, asked of ``nn.Module`` itself."""
    return list(nn.Module.named_parameters(model))


def find_layers(model: nn.Module) -> Layers:
    """``model``'s ``nn.Conv2d`` and ``nn.Linear`` modules (lazy variants included), by name."""
    convs: list[tuple[str, nn.Conv2d]] = []
    linears: list[tuple[str, nn.Linear]] = []
    for name, module in named_modules(model):
        if isinstance(module, nn.Conv2d):
            convs.append((name or "<the model itself>", module))
        elif isinstance(module, nn.Linear):
            linears.append((name or "<the model itself>", module))
    return Layers(convs, linears)


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


# ---------------------------------------------------------------- layer surgery (2.1b)
def _replace_submodule(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, attribute = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attribute, new)


class ContractModel:
    """The student's SimpLeNet with the layers the grader describes, and the six tensors that hold them.

    ``specs`` is ``{"conv": Conv2d keyword arguments, "linears": [[in, out],
    [in, out]]}`` and ``weights`` the six tensors in that layer order, both
    sent by the grader. When the model has one ``Conv2d`` and two ``Linear``
    modules, they are replaced (wherever they sit: attributes,
    ``nn.Sequential``, ``ModuleList``) by fresh layers built from ``specs``. A
    model built otherwise (raw ``nn.Parameter`` tensors used with
    ``nn.functional``) keeps its parameters, which get ``weights`` when their
    shapes pair up with them. Otherwise the model's layers do not have the
    contract's shapes: that is task 2.1a's to report, and construction raises
    :class:`PrerequisiteFailed`.
    """

    def __init__(self, model: nn.Module, specs: dict[str, Any], weights: list[torch.Tensor]) -> None:
        self.model = model
        with seeded(0):  # the fresh layers' own initialisation is overwritten below
            self.layers = (
                nn.Conv2d(**specs["conv"]),
                nn.Linear(*specs["linears"][0]),
                nn.Linear(*specs["linears"][1]),
            )
        found = find_layers(model)
        self.replaced = len(found.convs) == 1 and len(found.linears) == 2
        if self.replaced:
            conv, first, second = self.layers
            ordered = found.linears_in_forward_order()
            _replace_submodule(model, found.convs[0][0], conv)
            _replace_submodule(model, ordered[0][0], first)
            _replace_submodule(model, ordered[1][0], second)
        try:
            self.load(weights)
        except ValueError as exc:
            problem = (
                f"it has {len(found.convs)} Conv2d and {len(found.linears)} Linear modules "
                f"instead of one Conv2d and two Linear, and its parameters {exc}"
            )
            raise PrerequisiteFailed(_layers_first(problem)) from None

    def _values(self) -> list[torch.Tensor]:
        return [p for layer in self.layers for p in nn.Module.parameters(layer)]

    def tensors(self) -> list[torch.Tensor]:
        """The six parameter tensors of the student's model that hold the contract's layers."""
        return self._values() if self.replaced else [p for _, p in named_parameters(self.model)]

    def load(self, weights: list[torch.Tensor]) -> None:
        """Give the contract layers ``weights`` (six tensors, in layer order)."""
        if self.replaced:
            with torch.no_grad():
                for tensor, value in zip(self._values(), weights, strict=True):
                    tensor.copy_(value.detach().to(tensor.device))
        else:
            copy_by_shape(list(weights), self.tensors())


def _layers_first(problem: str) -> str:
    return (
        f"SimpLeNet's forward can only be compared with the reference once its layers are the "
        f"contract's ({problem}); task 2.1a reports what is wrong with the layers"
    )
