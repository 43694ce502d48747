"""What the Part 3 observers need beside the student's code: known weights, models, loaders, probes.

This module lives in a worker folder: it exists in the submission's world,
and student code can import, read and even rewrite it. So it holds no
answer to a task (no ``early_stopping_check``, ``store_checkpoint`` or
``AdaptedVGG`` ready to use), and nothing here decides a grade: the checks
(:mod:`fmlgrade.spec.part3`, in the grader) rebuild the same models and data
from the same seeds with this module and judge the numbers the observers
send back against what they compute themselves (see
:mod:`fmlgrade.spec.part3.support`).

* :func:`fill_parameters` gives a student's ``self.vgg`` and ``self.head``
  *known weights*, drawn from a seed: the grader gives its own copy of the
  skeleton's modules the same weights, and so knows what the student's model
  must compute, without any VGG weights crossing between the two sides.
* :func:`graph_leaves` and :func:`gradients_recorded` read autograd's own
  state through torch's C type, not through a Python function or attribute
  that student code could have replaced (``torch.is_grad_enabled``,
  ``Tensor.requires_grad``, ``Module.named_parameters``).
* The small models (:class:`FrozenBackboneModel`, :class:`PresetOutputModel`,
  :class:`SmallModel`, :class:`PretrainedStandIn`) are what the student's
  ``transfer_train``, ``evaluate_accuracy`` and ``store_checkpoint`` get. Each
  shows what the contract cares about in numbers the grader can check: the
  BatchNorm statistics of :class:`FrozenBackboneModel` record which batches
  went through it in train mode, and :class:`PresetOutputModel` changes its
  predictions in train mode and while autograd records.

This module may import torch, numpy and :mod:`fmlgrade.spec.worker`; never
anything else of fmlgrade (the boundary test checks).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

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
#: The images every VGG check of 3.1 uses: random_images(FORWARD_BATCH, device, FORWARD_SEED). The
#: observer runs the freshly built model on them once, before anything changes its mode.
FORWARD_BATCH, FORWARD_SEED = 2, 5


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


# ---------------------------------------------------------------- autograd, read from torch's C type
_HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: set for every class made in Python, never for torch's C type


def _tensor_base() -> type:
    for cls in torch.Tensor.__mro__:
        if cls.__name__ == "TensorBase" and not cls.__flags__ & _HEAP_TYPE:
            return cls
    raise RuntimeError("torch's C tensor type was not found")


# Taken when this module is imported: torch's C type cannot be changed from Python at all, and
# the Python-level entry points below are the ones torch had then.
_TENSOR_BASE = _tensor_base()
_GRAD_FN = _TENSOR_BASE.__dict__["grad_fn"]
_GRAD = _TENSOR_BASE.__dict__["grad"]
_REQUIRES_GRAD = _TENSOR_BASE.__dict__["requires_grad"]
_SET_REQUIRES_GRAD = _TENSOR_BASE.__dict__["requires_grad_"]
_POST_ACCUMULATE_HOOKS = _TENSOR_BASE.__dict__["_post_accumulate_grad_hooks"]
_MUL = _TENSOR_BASE.__dict__["mul"]
_ADD_ = _TENSOR_BASE.__dict__["add_"]
_NUMEL = _TENSOR_BASE.__dict__["numel"]
#: The autograd engine's own method (an object of torch's C type) and the functions around it.
_RUN_BACKWARD = torch.autograd.variable.Variable._execution_engine.run_backward
_ONES_LIKE = torch.ones_like
_IS_GRAD_ENABLED = torch._C.is_grad_enabled
_SET_GRAD_ENABLED = torch._C._set_grad_enabled


@contextlib.contextmanager
def grad_mode(enabled: bool) -> Iterator[None]:
    """Autograd on or off for the block, then back as it was, set and read through torch's C functions.

    (``torch.no_grad`` and ``torch.enable_grad`` restore what ``torch.is_grad_enabled``
    said, which student code may have replaced.)
    """
    before = bool(_IS_GRAD_ENABLED())
    _SET_GRAD_ENABLED(enabled)
    try:
        yield
    finally:
        _SET_GRAD_ENABLED(before)


def requires_grad(tensor: torch.Tensor) -> bool:
    """``tensor.requires_grad`` as torch's C type keeps it (a patched ``Tensor.requires_grad`` is bypassed)."""
    return bool(_REQUIRES_GRAD.__get__(tensor))


def set_requires_grad(tensor: torch.Tensor, flag: bool) -> None:
    """``tensor.requires_grad_(flag)`` through torch's C type."""
    _SET_REQUIRES_GRAD(tensor, flag)


def gradients_recorded(probe: torch.Tensor) -> bool:
    """Whether autograd records operations here and now (``probe`` is a leaf that requires a gradient).

    Asked of autograd itself, through torch's C tensor type: ``probe * 1`` needs
    a gradient exactly when autograd records (not under ``torch.no_grad()`` or
    ``torch.inference_mode()``), whatever Python-level function of torch has
    been replaced.
    """
    return bool(_REQUIRES_GRAD.__get__(_MUL(probe, 1.0)))


def graph_leaves(output: torch.Tensor) -> list[torch.Tensor]:
    """The tensors a backward pass from ``output`` would give a gradient (autograd's leaves), in graph order.

    Read from the autograd graph itself, so parameters count whether or not a
    module lists them (an overridden ``parameters()`` or ``named_parameters()``
    hides nothing here).
    """
    leaves: list[torch.Tensor] = []
    seen: set[int] = set()
    visited = []  # held, so that no id in ``seen`` is reused by a new node wrapper
    stack = [_GRAD_FN.__get__(output)] if isinstance(output, torch.Tensor) else []
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        visited.append(node)
        variable = getattr(node, "variable", None)
        if isinstance(variable, torch.Tensor):
            leaves.append(variable)
        stack.extend(following for following, _ in node.next_functions)
    return leaves


def sgd_step(loss: torch.Tensor, lr: float) -> int:
    """One SGD step, ``p -= lr * grad``, on every tensor a backward pass from ``loss`` gives a gradient.

    What trains is what autograd's graph reaches, as for any optimizer over the
    model's trainable parameters, whatever the model's lists or flags say. The
    backward pass is the autograd engine's own, and each gradient is applied in
    place as soon as it is computed and then dropped (a post-accumulate hook), so
    a backbone that trains costs one layer's gradient (~400 MB for VGG's
    largest), not all of them. Returns how many numbers were trained.
    """
    leaves = graph_leaves(loss)
    if not leaves:
        return 0

    def step(leaf: torch.Tensor) -> None:
        with grad_mode(False):
            _ADD_(leaf, _GRAD.__get__(leaf), alpha=-lr)
        _GRAD.__set__(leaf, None)

    before = [(leaf, _POST_ACCUMULATE_HOOKS.__get__(leaf)) for leaf in leaves]
    try:
        for leaf in leaves:
            _POST_ACCUMULATE_HOOKS.__set__(leaf, {0: step})
        _RUN_BACKWARD((loss,), (_ONES_LIKE(loss),), False, False, (), allow_unreachable=True, accumulate_grad=True)
    finally:
        for leaf, hooks in before:
            _POST_ACCUMULATE_HOOKS.__set__(leaf, hooks)
    return sum(int(_NUMEL(leaf)) for leaf in leaves)


# ---------------------------------------------------------------- files written by student code
@contextlib.contextmanager
def run_folder(name: str) -> Iterator[Path]:
    """Run the block in the new folder ``name`` under the working directory; it stays for the grader.

    The grader chooses ``name`` and reads what the student's code wrote there
    itself, afterwards (``submission.worker_files``). A ``os.chdir`` of the
    student's code does not outlive the block.
    """
    before = os.getcwd()
    folder = Path(before, name)
    folder.mkdir(parents=True)
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(before)


@contextlib.contextmanager
def fresh_folder() -> Iterator[Path]:
    """Run the block in a new, empty folder under the working directory, then remove it."""
    before = os.getcwd()
    folder = Path(tempfile.mkdtemp(prefix="run-", dir=before)).resolve()
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(before)
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- known VGG weights
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
        for parameter in nn.Module.parameters(module):
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


def describe_layout(model: nn.Module) -> dict[str, list[tuple[str, tuple[int, ...]]]]:
    """``(name, shape)`` of every parameter of ``model.vgg`` and ``model.head``, in order.

    A description: the grader uses it only to explain why the model cannot be
    compared with the skeleton's modules, never to pass a check.
    """
    return {
        part: [(name, tuple(p.shape)) for name, p in nn.Module.named_parameters(getattr(model, part))]
        for part in ("vgg", "head")
    }


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


# ---------------------------------------------------------------- transfer_train (3.5)
class FrozenBackboneModel(nn.Module):
    """A tiny AdaptedVGG look-alike for the ``transfer_train`` checks.

    ``vgg``: Linear(4, 6), ReLU, Dropout(0.5), frozen and kept in eval mode by
    ``train`` (as the skeleton's AdaptedVGG does); ``head``:
    BatchNorm1d(6, affine=False), Linear(6, 5), ReLU, Linear(5, 1), Sigmoid,
    trainable. Inputs are ``(B, 5)``: four features and a tag column, 0 for
    training and 1 for validation samples.

    The BatchNorm layer has no weights, but its running statistics (in the
    state dict, so in every checkpoint) change with each batch that goes
    through the model in train mode, and only then; they depend on nothing
    the loop trains. They record which batches went through in which mode.

    A validation pass (a run of validation forwards) returns the probability
    ``val_outputs[k]`` for every sample of the ``k``-th pass (the last one
    repeats), whatever the weights: with all validation labels 1, the
    validation loss of pass ``k`` is exactly ``-log(val_outputs[k])``, which is
    how a check decides when the validation loss rises.
    """

    N_FEATURES = 4

    def __init__(self, val_outputs: Sequence[float], seed: int) -> None:
        super().__init__()
        with seeded(seed):
            self.vgg = nn.Sequential(nn.Linear(self.N_FEATURES, 6), nn.ReLU(), nn.Dropout(0.5))
            self.head = nn.Sequential(
                nn.BatchNorm1d(6, affine=False), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 1), nn.Sigmoid()
            )
        self.vgg.requires_grad_(False)
        self.vgg.eval()
        self.val_outputs = [float(p) for p in val_outputs]
        self.validation_passes = 0
        self._last_phase = ""

    def train(self, mode: bool = True) -> FrozenBackboneModel:
        super().train(mode)
        self.vgg.eval()
        return self

    @staticmethod
    def phase_of(x: torch.Tensor) -> str:
        """``"train"``, ``"val"`` or ``"mixed"``: the tags of a batch."""
        tags = x[:, -1]
        if bool((tags == 1).all()):
            return "val"
        return "train" if bool((tags == 0).all()) else "mixed"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        phase = self.phase_of(x)
        out = self.head(self.vgg(x[:, :-1]))
        if phase == "val":
            if self._last_phase != "val":
                self.validation_passes += 1
            k = min(self.validation_passes, len(self.val_outputs)) - 1
            out = out * 0.0 + self.val_outputs[k]
        self._last_phase = phase
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
#: (batches of 4, 4, 2 and of 3, 3, 2: never one sample, which BatchNorm refuses in train mode),
#: the loaders' seeds, the model's seed, and the seed of torch's generator during the run.
TRAIN_N, TRAIN_BATCH, TRAIN_SEED = 10, 4, 5
VAL_N, VAL_BATCH, VAL_SEED = 8, 3, 6
MODEL_SEED, RUN_SEED = 3, 7


def bookkeeping_loaders() -> tuple[DataLoader, DataLoader]:
    """The training and validation loaders of a bookkeeping run."""
    train_loader = tagged_loader(TRAIN_N, TRAIN_BATCH, tag=0, seed=TRAIN_SEED)
    val_loader = tagged_loader(VAL_N, VAL_BATCH, tag=1, seed=VAL_SEED, ones=True)
    return train_loader, val_loader


def bookkeeping_setup(
    val_outputs: Sequence[float],
) -> tuple[FrozenBackboneModel, DataLoader, DataLoader]:
    """A fresh :class:`FrozenBackboneModel` (in eval mode) and the loaders of a bookkeeping run."""
    model = FrozenBackboneModel(val_outputs, seed=MODEL_SEED)
    model.eval()  # handed over in eval mode: the loop must switch to train mode itself
    return (model, *bookkeeping_loaders())


# ---------------------------------------------------------------- evaluate_accuracy (3.6)
class PresetOutputModel(nn.Module):
    """Returns preset probabilities: the output for sample ``i`` is ``outputs[i]``.

    Inputs are ``(B, 2)``: the sample's index and a constant. The one parameter
    takes part in the output (times zero), as in a real model. The model shows
    how it was run in its predictions: in train mode the outputs of the samples
    in ``train_flips`` become ``1 - p``, and while autograd records operations
    (:func:`gradients_recorded`) those of the samples in ``grad_flips`` do, so
    an accuracy computed in the wrong mode comes out different.
    """

    def __init__(
        self, outputs: Sequence[float], train_flips: Sequence[int] = (), grad_flips: Sequence[int] = ()
    ) -> None:
        super().__init__()
        n = len(outputs)
        self.outputs = torch.tensor(list(outputs), dtype=torch.float32).reshape(-1, 1)
        self.weight = nn.Parameter(torch.ones(1))
        self.train_flips = torch.zeros((n, 1), dtype=torch.bool)
        self.grad_flips = torch.zeros((n, 1), dtype=torch.bool)
        self.train_flips[list(train_flips)] = True
        self.grad_flips[list(grad_flips)] = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = x[:, 0].round().long().cpu()
        out = self.outputs[index]
        flip = torch.zeros_like(out, dtype=torch.bool)
        if self.training:
            flip ^= self.train_flips[index]
        if gradients_recorded(self.weight):
            flip ^= self.grad_flips[index]
        out = torch.where(flip, 1.0 - out, out)
        return out.to(x.device) + 0.0 * self.weight


def index_loader(labels: Sequence[float], batch_size: int) -> DataLoader:
    """An unshuffled loader of ``(x (B, 2), labels (B, 1))`` for :class:`PresetOutputModel`."""
    n = len(labels)
    x = torch.stack([torch.arange(n, dtype=torch.float32), torch.ones(n)], dim=1)
    y = torch.tensor(list(labels), dtype=torch.float32).reshape(-1, 1)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=False)


# ---------------------------------------------------------------- store_checkpoint (3.4)
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


# ---------------------------------------------------------------- convergence on the casting images (3.5)
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
