"""Shared helpers of the Part 3 checks: known VGG weights, stand-in models, fake loaders.

Nothing here imports student code. Both sides use this module: the observers
(:mod:`fmlgrade.spec.worker.part3_observers`, beside the student's code) build the
stand-in models and loaders and give a student's VGG its known weights; the
checks (trusted) rebuild the same things from the same seeds to compute what
is expected. Student objects never reach the checks, and the reference
solution never reaches the observers.

Decisions recorded here (see also the checks' docstrings):

* A VGG-11 costs ~1.2 s of CPU and ~500 MB to build on the grading machine
  (nearly all of it drawing random initial values for its 129 M weights),
  and a forward pass of two 64 x 64 images ~0.15 s, so each solution's
  ``AdaptedVGG`` and ``DropoutAdaptedVGG`` is built once, with
  ``weights=None``, seeded, beside the student's code, and shared by the
  checks of its task (see :mod:`fmlgrade.spec.worker.part3_observers`).
* Right after construction (and after what the constructor left behind has
  been recorded), the observer overwrites every parameter of ``self.vgg`` and
  ``self.head`` with *known weights* (:func:`fill_parameters`): values cut from
  a seeded pool, He-scaled. The trusted side builds its own VGG-11 without its
  last Linear and the contract's head, gives them the same known weights, and
  so computes ``head(vgg(x))`` itself: the student's outputs are judged against
  that, never against values the student's side reports, and no VGG weights
  travel between the two sides. This needs the student's ``self.vgg`` and
  ``self.head`` to have the skeleton's parameter shapes (the contract's
  layout), which the checks verify first (:func:`layout_problem`). The
  trusted side's VGG lives only while it computes the expected outputs (once
  per process, test batch and device), and the check modules do that before
  the student's model is built, so the two never take memory at once.
* On the CPU the VGG checks use 64 x 64 images (VGG's adaptive pooling
  accepts them, and the backbone still puts out 4096 features); on a GPU the
  handout's 224 x 224.
* Where a check needs "a model with frozen and trainable parameters"
  (``transfer_train``, ``evaluate_accuracy``, ``store_checkpoint``) it uses a
  tiny stand-in module built here, never VGG.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fmlgrade.spec.worker.pretrained import vgg11_backbone

#: Side of the square test images, by device type.
IMAGE_SIZES = {"cpu": 64, "cuda": 224}
#: The number of features VGG-11 puts out once its last Linear is removed.
VGG_FEATURES = 4096
#: Seed of the global torch generator while a student's VGG model is built.
BUILD_SEED = 1234
#: Seeds of the known weights given to ``self.vgg`` and ``self.head`` (see :func:`fill_parameters`).
BACKBONE_SEED, HEAD_SEED = 2024, 2025
#: Length of the pool of seeded values the known weights are cut from: a prime, so that the
#: rows of a large weight matrix are different stretches of it.
POOL_SIZE = 1_000_003


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


# ---------------------------------------------------------------- files (both sides)
@contextlib.contextmanager
def fresh_folder() -> Iterator[Path]:
    """Run the block in a new, empty folder under the current working directory, then remove it.

    Observers run student code that writes ``checkpoints/`` under the working
    directory; every run gets a folder of its own, so nothing an earlier check
    wrote is seen (in the worker, all checks share one working directory). A
    ``os.chdir`` of the student's code does not outlive the block.
    """
    before = os.getcwd()
    folder = Path(tempfile.mkdtemp(prefix="run-", dir=before)).resolve()
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(before)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def working_directory(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Run the block with ``folder`` (created if needed) as the working directory (trusted side).

    Checks wrap the reference runs, and their calls of observers, in it: an
    observer that runs in-process then writes under the check's ``tmp_path``.
    """
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    before = os.getcwd()
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(before)


# ---------------------------------------------------------------- known VGG weights (both sides)
@contextlib.contextmanager
def one_vgg_at_a_time(
    batch: int, device: str | torch.device, seed: int, release: Callable[[], object]
) -> Iterator[None]:
    """For a module's checks: the expected outputs first, then the student's model; ``release`` it after.

    The grader's VGG for the expected outputs is gone before the first check
    builds the student's, so the two never take memory at the same time.
    """
    expected_outputs(batch, device, seed)
    yield
    with contextlib.suppress(Exception):  # best effort: a dead worker has let it go anyway
        release()


def fill_parameters(module: nn.Module, seed: int) -> None:
    """Overwrite every floating-point parameter of ``module`` with known values.

    In registration order, each parameter takes the next stretch of one pool
    of :data:`POOL_SIZE` standard-normal values drawn from ``seed`` (wrapping
    around), times ``sqrt(2 / fan_in)`` for weights (He's scaling, so VGG's
    activations keep their size) or 0.01 for biases. The values depend only on
    ``seed`` and the parameters' shapes and order, so both sides give two
    modules of the same layout the same weights without sending any.
    ``requires_grad`` is left as it is.
    """
    pool = torch.randn(POOL_SIZE, generator=torch.Generator().manual_seed(seed))
    position = 0
    with torch.no_grad():
        for parameter in module.parameters():
            if not parameter.is_floating_point():
                continue
            n = parameter.numel()
            scale = math.sqrt(2.0 / (n // parameter.shape[0])) if parameter.dim() >= 2 and n else 0.01
            direct = parameter.device.type == "cpu" and parameter.is_contiguous()
            target = parameter.view(-1) if direct else torch.empty(n, dtype=parameter.dtype)
            done = 0
            while done < n:
                start = (position + done) % POOL_SIZE
                take = min(n - done, POOL_SIZE - start)
                target[done : done + take].copy_(pool[start : start + take])
                done += take
            target.mul_(scale)
            if not direct:
                parameter.copy_(target.view(parameter.shape))
            position += n


def contract_head() -> nn.Sequential:
    """The skeleton's head: Linear(4096, 64), ReLU, Linear(64, 1), Sigmoid."""
    return nn.Sequential(nn.Linear(VGG_FEATURES, 64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())


@functools.cache
def contract_layout() -> dict[str, tuple[tuple[int, ...], ...]]:
    """Parameter shapes, in registration order, of the skeleton's ``self.vgg`` and ``self.head``."""
    with torch.device("meta"):
        vgg, head = vgg11_backbone(None), contract_head()
    return {
        "vgg": tuple(tuple(p.shape) for p in vgg.parameters()),
        "head": tuple(tuple(p.shape) for p in head.parameters()),
    }


def describe_layout(model: nn.Module) -> dict[str, list[tuple[str, tuple[int, ...]]]]:
    """``(name, shape)`` of every parameter of ``model.vgg`` and ``model.head``, in order."""
    return {
        part: [(name, tuple(p.shape)) for name, p in getattr(model, part).named_parameters()]
        for part in ("vgg", "head")
    }


def layout_problem(layout: dict, what: str) -> str | None:
    """Why a described layout (:func:`describe_layout`) is not the skeleton's, or None."""
    expected = contract_layout()
    for part, skeleton in (
        ("vgg", "torchvision's vgg11 with the last Linear of its classifier removed"),
        ("head", "nn.Sequential(nn.Linear(4096, 64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())"),
    ):
        got = [(str(name), tuple(shape)) for name, shape in layout.get(part, [])]
        shapes = tuple(shape for _, shape in got)
        if shapes == expected[part]:
            continue
        if len(shapes) != len(expected[part]):
            detail = f"it has {len(shapes)} parameters, the skeleton's {len(expected[part])}"
        else:
            i = next(i for i, (a, b) in enumerate(zip(shapes, expected[part], strict=True)) if a != b)
            detail = (
                f"its parameter {part}.{got[i][0]} has shape {shapes[i]}, the skeleton's "
                f"{expected[part][i]}"
            )
        return (
            f"{what}: self.{part} is not the skeleton's ({skeleton}): {detail}. The checks give "
            f"self.vgg and self.head known weights and compare the model with a copy of the "
            f"skeleton's, so keep both as the skeleton builds them"
        )
    return None


_EXPECTED: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def expected_outputs(
    batch: int, device: str | torch.device, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Trusted side: ``vgg(x)`` and ``head(vgg(x))`` of the skeleton's modules with the known weights.

    ``x`` is :func:`random_images` ``(batch, device, seed)``; both results are
    CPU tensors, computed on ``device`` (the same kind of arithmetic as the
    student's model) in eval mode, once per process. The VGG built for this
    is let go right away.
    """
    key = (batch, seed, str(torch.device(device)))
    if key not in _EXPECTED:
        with torch.device("meta"):
            vgg = vgg11_backbone(None)
        vgg.to_empty(device="cpu")
        fill_parameters(vgg, BACKBONE_SEED)
        head = contract_head()
        fill_parameters(head, HEAD_SEED)
        vgg.to(device).eval()
        head.to(device).eval()
        with torch.no_grad():
            features = vgg(random_images(batch, device, seed))
            _EXPECTED[key] = (features.cpu(), head(features).cpu())
        del vgg, features
    features, outputs = _EXPECTED[key]
    return features.clone(), outputs.clone()


# ---------------------------------------------------------------- looking into a model (observers)
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


#: The ``transfer_train`` bookkeeping runs: training and validation samples and batch sizes
#: (batches of 4, 4, 2 and of 3, 3, 1), the loaders' seeds, the model's seed, and the seed of
#: torch's generator during the run.
TRAIN_N, TRAIN_BATCH, TRAIN_SEED = 10, 4, 5
VAL_N, VAL_BATCH, VAL_SEED = 7, 3, 6
MODEL_SEED, RUN_SEED = 3, 7


def bookkeeping_setup(
    val_outputs: Sequence[float],
) -> tuple[FrozenBackboneModel, DataLoader, DataLoader]:
    """A fresh :class:`FrozenBackboneModel` (in eval mode) and the loaders of a bookkeeping run.

    The same on both sides: the observer hands them to the student's
    ``transfer_train``, the check to the reference's.
    """
    model = FrozenBackboneModel(val_outputs, seed=MODEL_SEED)
    model.eval()  # handed over in eval mode: the loop must switch to train mode itself
    train_loader = tagged_loader(TRAIN_N, TRAIN_BATCH, tag=0, seed=TRAIN_SEED)
    val_loader = tagged_loader(VAL_N, VAL_BATCH, tag=1, seed=VAL_SEED, ones=True)
    return model, train_loader, val_loader


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
Split = tuple[torch.Tensor, torch.Tensor]

_TENSORS: dict[tuple, tuple[Split, Split, Split]] = {}


def casting_tensors_at(root: str | os.PathLike[str], *, size: int, seed: int) -> tuple[Split, Split, Split]:
    """(train, validation, test) of the provided loaders on the dataset at ``root``, as tensors.

    Read once per process through :func:`fmlgrade.spec.worker.data.make_loaders`
    (validation fraction 0.2, split seed ``seed``), so that training runs do
    not decode the JPEG files again every epoch. Observers pass the folder the
    check shared with them (``submission.share``).
    """
    key = (os.fspath(root), size, seed)
    if key not in _TENSORS:
        from fmlgrade.spec.worker.data import make_loaders

        loaders = make_loaders(root, image_size=size, batch_size=64, val_fraction=0.2, seed=seed)
        _TENSORS[key] = tuple(  # type: ignore[assignment]
            (torch.cat([x for x, _ in loader]), torch.cat([y for _, y in loader]))
            for loader in loaders
        )
    return _TENSORS[key]


def casting_root(*, n_train: int, n_test: int, size: int, seed: int) -> Path:
    """Trusted side: the root of the generated casting dataset with these settings (made once)."""
    from fmlgrade.fixtures.casting import cached_casting_dataset  # the grader's side only

    return cached_casting_dataset(n_train=n_train, n_test=n_test, size=size, seed=seed)


def casting_tensors(*, n_train: int, n_test: int, size: int, seed: int) -> tuple[Split, Split, Split]:
    """Trusted side: :func:`casting_tensors_at` of the generated dataset with these settings."""
    root = casting_root(n_train=n_train, n_test=n_test, size=size, seed=seed)
    return casting_tensors_at(root, size=size, seed=seed)


def casting_setup(
    train: Split, validation: Split, *, batch_size: int, seed: int
) -> tuple[PretrainedStandIn, DataLoader, DataLoader]:
    """A fresh :class:`PretrainedStandIn` and its loaders for a convergence run (the same on both sides).

    The training loader shuffles with a generator seeded with ``seed``; the
    head's initial weights come from ``seed`` too.
    """
    (xtr, ytr), (xva, yva) = train, validation
    model = PretrainedStandIn(xtr, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(
        TensorDataset(xtr, ytr), batch_size=batch_size, shuffle=True, generator=generator
    )
    val_loader = DataLoader(TensorDataset(xva, yva), batch_size=batch_size)
    return model, train_loader, val_loader
