"""Shared helpers of the Part 3 checks: the cached VGG models, stand-in models, fake loaders.

Nothing here imports student code: the checks hand student classes and
functions in and get plain tensors, modules and messages back.

Decisions recorded here (see also the checks' docstrings):

* A VGG-11 costs ~1.2 s of CPU and ~500 MB to build on the grading machine
  (nearly all of it drawing random initial values for its 129 M weights),
  and a forward pass of two 64 x 64 images ~0.15 s, so each solution's
  ``AdaptedVGG`` and ``DropoutAdaptedVGG`` is built once, with
  ``weights=None``, seeded, and shared by the checks of its task. One slot
  holds at most one model: building the next one first lets the previous one
  go, so a grading run never holds two VGGs at once. The slot is keyed by the
  class object itself (not by a name), so a new submission never meets a
  model of an older one. Checks set the mode they need and clear gradients.
* On the CPU the VGG checks use 64 x 64 images (VGG's adaptive pooling
  accepts them, and the backbone still puts out 4096 features); on a GPU the
  handout's 224 x 224.
* Where a check needs "a model with frozen and trainable parameters"
  (``transfer_train``, ``evaluate_accuracy``, ``store_checkpoint``) it uses a
  tiny stand-in module built here, never VGG.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fmlgrade.fixtures.casting import cached_casting_dataset  # noqa: F401 - re-exported for the checks

#: Side of the square test images, by device type.
IMAGE_SIZES = {"cpu": 64, "cuda": 224}
#: The number of features VGG-11 puts out once its last Linear is removed.
VGG_FEATURES = 4096
#: Seed of the global torch generator while a VGG model is built.
BUILD_SEED = 1234


# ---------------------------------------------------------------- torch state
@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global generators for the block and restore their state afterwards.

    Student code then sees the same random state on every run (grades are
    reproducible), and the check leaves no trace in the global generators.
    """
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run the block with ``n`` intra-op torch threads, then restore the old count.

    Training the tiny stand-ins is dominated by per-operation overhead; on the
    grading machine's two cores, threads of parallel workers only fight.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def device_type(device: str | torch.device) -> str:
    """``"cpu"`` or ``"cuda"``."""
    return torch.device(device).type


def image_size(device: str | torch.device) -> int:
    """The side of the test images on ``device`` (64 on the CPU, 224 on a GPU)."""
    return IMAGE_SIZES.get(device_type(device), 224)


def random_images(batch: int, device: str | torch.device, seed: int) -> torch.Tensor:
    """A float32 ``(batch, 3, S, S)`` batch of pixels in [0, 1], ``S = image_size(device)``."""
    size = image_size(device)
    generator = torch.Generator().manual_seed(seed)
    return torch.rand((batch, 3, size, size), generator=generator).to(device)


def describe_images(batch: int, device: str | torch.device, seed: int) -> str:
    """How a student rebuilds the batch of :func:`random_images`."""
    size = image_size(device)
    return (
        f"x = torch.rand(({batch}, 3, {size}, {size}), "
        f"generator=torch.Generator().manual_seed({seed}))"
    )


# ---------------------------------------------------------------- the cached VGG models
@dataclass
class BuiltModel:
    """A student's VGG model, built once, and what it looked like right after construction."""

    cls: type
    model: nn.Module
    #: ``requires_grad`` of every named parameter just after construction.
    requires_grad: dict[str, bool] = field(default_factory=dict)
    #: Names of the modules of ``model.vgg`` that were in train mode just after construction.
    vgg_training: list[str] = field(default_factory=list)
    #: ``model.vgg(x)`` in eval mode, by ``(batch, seed, device)`` of :func:`random_images`.
    features: dict[tuple, torch.Tensor] = field(default_factory=dict)

    def images_and_features(
        self, batch: int, device: str | torch.device, seed: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of :func:`random_images` and the backbone's output for it (eval mode).

        The backbone's output is computed once per batch and kept: it is the
        expensive part of every VGG check.
        """
        x = random_images(batch, device, seed)
        key = (batch, seed, str(torch.device(device)))
        if key not in self.features:
            self.model.eval()
            with torch.no_grad():
                self.features[key] = self.model.vgg(x)
        return x, self.features[key]


_SLOT: dict[str, Any] = {}

def release_models() -> None:
    """Let the cached model go (and its ~500 MB with it)."""
    _SLOT.clear()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def built_model(cls: type, device: str | torch.device, *, what: str) -> BuiltModel:
    """``cls(weights=None)``, built once per class object and moved to ``device``.

    ``what`` names the class in messages (``"AdaptedVGG"``). The model is
    built with torch's global generator seeded with :data:`BUILD_SEED`. An
    exception of the constructor propagates (and is remembered, so a broken
    constructor is not run again by every check). The model must have the
    skeleton's ``vgg`` and ``head`` submodules.
    """
    if _SLOT.get("cls") is not cls:
        release_models()  # before building: never two VGGs in memory
        _SLOT["cls"] = cls
        try:
            with seeded(BUILD_SEED):
                model = cls(weights=None)
        except BaseException as exc:
            _SLOT["error"] = exc
            raise
        _SLOT["built"] = _inspect(cls, model, what)
    if "error" in _SLOT:
        raise _SLOT["error"]
    built: BuiltModel = _SLOT["built"]
    built.model.to(device)
    built.model.zero_grad(set_to_none=True)
    return built


def _inspect(cls: type, model: Any, what: str) -> BuiltModel:
    if not isinstance(model, nn.Module):
        raise AssertionError(
            f"{what}(weights=None) must be an nn.Module, got {type(model).__name__}"
        )
    for name in ("vgg", "head"):
        if not isinstance(getattr(model, name, None), nn.Module):
            raise AssertionError(
                f"{what}(weights=None) has no submodule self.{name}: keep the skeleton's "
                f"self.vgg (VGG-11 without its last Linear) and self.head"
            )
    return BuiltModel(
        cls=cls,
        model=model,
        requires_grad={name: p.requires_grad for name, p in model.named_parameters()},
        vgg_training=[
            name or "vgg" for name, module in model.vgg.named_modules() if module.training
        ],
    )


def first_head_linear(model: nn.Module, *, what: str) -> nn.Linear:
    """The head's first ``nn.Linear`` (4096 inputs): where the VGG features enter the head.

    Looked for in ``model.head`` first, then anywhere outside ``model.vgg``.
    """
    for module in model.head.modules():
        if isinstance(module, nn.Linear) and module.in_features == VGG_FEATURES:
            return module
    backbone = {id(m) for m in model.vgg.modules()}
    for module in model.modules():
        if (
            isinstance(module, nn.Linear)
            and module.in_features == VGG_FEATURES
            and id(module) not in backbone
        ):
            return module
    raise AssertionError(
        f"{what} has no nn.Linear with {VGG_FEATURES} inputs outside self.vgg: keep the "
        f"skeleton's head, nn.Sequential(nn.Linear(4096, 64), nn.ReLU(), nn.Linear(64, 1), "
        f"nn.Sigmoid())"
    )


@contextlib.contextmanager
def capture_inputs(module: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Collect (detached copies of) the first input of every call of ``module`` in the block."""
    seen: list[torch.Tensor] = []

    def hook(_module, args):
        if args and isinstance(args[0], torch.Tensor):
            seen.append(args[0].detach().clone())

    handle = module.register_forward_pre_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


def frozen_names(names: Sequence[str], limit: int = 4) -> str:
    """A short list of parameter names for messages."""
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


# ---------------------------------------------------------------- stand-in models
class FrozenBackboneModel(nn.Module):
    """A tiny AdaptedVGG look-alike for the ``transfer_train`` checks.

    ``vgg``: Linear(4, 6), ReLU, Dropout(0.5), frozen and kept in eval mode by
    ``train`` (as the skeleton's AdaptedVGG does); ``head``: Linear(6, 5),
    ReLU, Linear(5, 1), Sigmoid, trainable. Inputs are ``(B, 5)``: four
    features and a tag column, 0 for training and 1 for validation samples, so
    the model knows which pass a forward belongs to.

    Every forward is recorded (pass, ``self.training``, batch size). A
    validation pass (a run of validation forwards) returns the probability
    ``val_outputs[k]`` for every sample of the ``k``-th pass (the last one
    repeats), whatever the weights: with all validation labels 1, the
    validation loss of pass ``k`` is exactly ``-log(val_outputs[k])``, which
    is how a check decides when the validation loss rises. At the first
    forward of each validation pass the state dict is copied into
    ``snapshots``: it is what that epoch's checkpoint must hold.
    """

    N_FEATURES = 4

    def __init__(self, val_outputs: Sequence[float], seed: int) -> None:
        super().__init__()
        with seeded(seed):
            self.vgg = nn.Sequential(nn.Linear(self.N_FEATURES, 6), nn.ReLU(), nn.Dropout(0.5))
            self.head = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 1), nn.Sigmoid())
        self.vgg.requires_grad_(False)
        self.vgg.eval()
        self.val_outputs = [float(p) for p in val_outputs]
        self.events: list[tuple[str, bool, int]] = []
        self.train_outputs: list[torch.Tensor] = []
        self.snapshots: list[dict[str, torch.Tensor]] = []

    def train(self, mode: bool = True) -> FrozenBackboneModel:
        super().train(mode)
        self.vgg.eval()
        return self

    def validation_passes(self) -> int:
        return len(self.snapshots)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tags = x[:, -1]
        if bool((tags == 1).all()):
            phase = "val"
        else:
            phase = "train" if bool((tags == 0).all()) else "mixed"
        out = self.head(self.vgg(x[:, :-1]))
        if phase == "val":
            if not self.events or self.events[-1][0] != "val":
                self.snapshots.append(
                    {k: v.detach().cpu().clone() for k, v in self.state_dict().items()}
                )
            k = min(len(self.snapshots), len(self.val_outputs)) - 1
            out = out * 0.0 + self.val_outputs[k]
        elif phase == "train":
            self.train_outputs.append(out.detach().cpu().clone())
        self.events.append((phase, self.training, int(x.shape[0])))
        return out


def tagged_loader(
    n: int, batch_size: int, *, tag: int, seed: int, ones: bool = False
) -> DataLoader:
    """An unshuffled loader of ``(x (B, 5), labels (B, 1))`` for :class:`FrozenBackboneModel`.

    ``x`` holds four standard-normal features and the tag column; labels are
    random 0.0/1.0, or all 1.0 with ``ones``.
    """
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn((n, FrozenBackboneModel.N_FEATURES), generator=generator)
    x = torch.cat([features, torch.full((n, 1), float(tag))], dim=1)
    if ones:
        labels = torch.ones((n, 1))
    else:
        labels = torch.randint(0, 2, (n, 1), generator=generator).to(torch.float32)
    return DataLoader(TensorDataset(x, labels), batch_size=batch_size, shuffle=False)


class PresetOutputModel(nn.Module):
    """Returns preset probabilities: the output for sample ``i`` is ``outputs[i]``.

    Inputs are ``(B, 2)``: the sample's index and a constant. Every forward
    records ``self.training`` and whether gradients were enabled. The one
    parameter takes part in the output (times zero), so that a forward with
    gradients enabled builds a graph as a real model would.
    """

    def __init__(self, outputs: Sequence[float]) -> None:
        super().__init__()
        self.outputs = torch.tensor(list(outputs), dtype=torch.float32).reshape(-1, 1)
        self.weight = nn.Parameter(torch.ones(1))
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((self.training, torch.is_grad_enabled()))
        index = x[:, 0].round().long().cpu()
        return self.outputs[index].to(x.device) + 0.0 * self.weight


def index_loader(labels: Sequence[float], batch_size: int) -> DataLoader:
    """An unshuffled loader of ``(x (B, 2), labels (B, 1))`` for :class:`PresetOutputModel`."""
    n = len(labels)
    x = torch.stack([torch.arange(n, dtype=torch.float32), torch.ones(n)], dim=1)
    y = torch.tensor(list(labels), dtype=torch.float32).reshape(-1, 1)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)


class SmallModel(nn.Module):
    """A small model with parameters and buffers, for the ``store_checkpoint`` checks."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        with seeded(seed):
            self.body = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU())
            self.out = nn.Linear(4, 2)
            # Non-default running statistics, so that stored buffers are told apart.
            self.body[1].running_mean.normal_()
            self.body[1].running_var.uniform_(0.5, 2.0)
            self.body[1].num_batches_tracked.fill_(7)


class HighPassFeatures(nn.Module):
    """A fixed, parameter-free feature extractor for the synthetic casting images.

    Grey level minus its 5 x 5 local mean (what is left are edges, pits and
    cracks), split into its dark part, bright part and magnitude, each
    max- and mean-pooled over a 4 x 4 grid: 96 features per image.
    """

    N_FEATURES = 96

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grey = x.mean(dim=1, keepdim=True)
        local_mean = nn.functional.avg_pool2d(
            nn.functional.pad(grey, (2, 2, 2, 2), mode="replicate"), 5, stride=1
        )
        detail = grey - local_mean
        parts = []
        for t in (detail.clamp(max=0).neg(), detail.clamp(min=0), detail.abs()):
            parts.append(nn.functional.adaptive_max_pool2d(t, 4).flatten(1))
            parts.append(nn.functional.adaptive_avg_pool2d(t, 4).flatten(1))
        return torch.cat(parts, dim=1)


class Standardize(nn.Module):
    """``(x - mean) / std`` with fixed statistics (buffers)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.clone())
        self.register_buffer("std", std.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class PretrainedStandIn(nn.Module):
    """AdaptedVGG's shape with a cheap backbone that, unlike VGG with ``weights=None``, helps.

    ``vgg``: :class:`HighPassFeatures`, standardised with statistics of the
    training images, then Dropout(0.5) (as VGG has one); no trainable
    parameters, kept in eval mode by ``train``. ``head``: Linear(96, 64),
    ReLU, Linear(64, 1), Sigmoid, trainable (AdaptedVGG's head with 96
    features in).
    """

    def __init__(self, train_images: torch.Tensor, seed: int) -> None:
        super().__init__()
        features = HighPassFeatures()
        with torch.no_grad():
            values = features(train_images)
        self.vgg = nn.Sequential(
            features, Standardize(values.mean(0), values.std(0) + 1e-6), nn.Dropout(0.5)
        )
        self.vgg.requires_grad_(False)
        self.vgg.eval()
        with seeded(seed):
            self.head = nn.Sequential(
                nn.Linear(HighPassFeatures.N_FEATURES, 64),
                nn.ReLU(),
                nn.Linear(64, 1),
                nn.Sigmoid(),
            )

    def train(self, mode: bool = True) -> PretrainedStandIn:
        super().train(mode)
        self.vgg.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.vgg(x))


# ---------------------------------------------------------------- the synthetic dataset


_TENSORS: dict[tuple, tuple[tuple[torch.Tensor, torch.Tensor], ...]] = {}


def casting_tensors(
    *, n_train: int, n_test: int, size: int, seed: int
) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """(train, validation, test) of the provided loaders as ``(images, labels)`` tensors.

    Read once per process through :func:`fmlgrade.spec.data.make_loaders`
    (validation fraction 0.2, split seed ``seed``), so that training runs do
    not decode the JPEG files again every epoch.
    """
    key = (n_train, n_test, size, seed)
    if key not in _TENSORS:
        from fmlgrade.spec.data import make_loaders

        root = cached_casting_dataset(n_train=n_train, n_test=n_test, size=size, seed=seed)
        loaders = make_loaders(root, image_size=size, batch_size=64, val_fraction=0.2, seed=seed)
        _TENSORS[key] = tuple(
            (torch.cat([x for x, _ in loader]), torch.cat([y for _, y in loader]))
            for loader in loaders
        )
    return _TENSORS[key]
