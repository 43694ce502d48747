"""The grader's side of the Part 3 checks: what a correct solution computes, and evidence read safely.

Nothing here runs beside student code (this folder is secret to the worker).
Every Part 3 check is decided here, from data the grader can verify on its
own: values the student's code returned for inputs the grader chose, state
copied out of the worker and compared with what the grader computes itself
from the same seeds, and files the grader reads from the worker's folder
(:func:`read_worker_files`, :func:`load_state_dict`). Descriptions that an
observer sends along (parameter names, modes, layouts) only ever word a
failure; no check passes because of one.

* **VGG (3.1a, 3.1b, 3.3).** :func:`expected_outputs` builds the skeleton's
  VGG-11 without its last Linear and the contract's head, gives them the known
  weights of :func:`~fmlgrade.spec.worker.part3_support.fill_parameters` (the
  observer gives the student's ``self.vgg`` and ``self.head`` the same), and
  computes ``vgg(x)`` and ``head(vgg(x))``; :func:`expected_head_step` is one
  SGD step of that head on ``head(vgg(x)).sum()``. The grader's VGG lives only
  while it computes (the check modules do that before the student's model is
  built: never two VGGs in memory at once).
* **transfer_train (3.5).** :func:`trajectories` trains the bookkeeping model
  with the reference ``transfer_train`` here, once as the contract says and
  once for each way of getting the modes wrong (:data:`VARIANTS`), and keeps
  its state after every epoch; :func:`identify` finds which of them, after
  how many epochs, a student's final state is.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fmlgrade.spec.worker import part3_support as w
from fmlgrade.spec.worker.pretrained import vgg11_backbone

# ---------------------------------------------------------------- folders and files


@contextlib.contextmanager
def working_directory(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Run the block with ``folder`` (created if needed) as the working directory.

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


def new_run_folder(what: str) -> str:
    """A fresh folder name, relative to the student's working folder, for one run of student code."""
    return f"part3-runs/{what}-{uuid.uuid4().hex[:12]}"


#: The most bytes the grader reads back from one run's folder (the files are a few KB each).
FILES_LIMIT = 4 * 2**20


def read_worker_files(submission, folder: str, *, what: str, max_bytes: int = FILES_LIMIT) -> dict[str, bytes]:
    """The regular files under ``folder`` (relative path -> bytes), read by the grader itself.

    Symbolic links the student's code made are not followed and the total is
    bounded (``submission.worker_files``); a missing folder holds no files.
    """
    try:
        return submission.worker_files(folder, max_bytes=max_bytes)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise AssertionError(f"{what}: the grader could not read the files written there ({exc})") from None


@dataclass
class Loaded:
    """What a checkpoint file holds, as the grader loaded it."""

    #: The mapping loaded, or None.
    state: dict | None = None
    #: Why it could not be loaded, for the message; None when it could.
    error: str | None = None
    #: The type name of what was loaded.
    type: str = ""


def load_state_dict(data: bytes, *, max_bytes: int = FILES_LIMIT) -> Loaded:
    """Load a checkpoint's bytes in the grader with ``torch.load(..., weights_only=True)``, bounded.

    Only torch's zip format (``torch.save``'s default) is read, and only when
    its entries are stored uncompressed and add up to at most ``max_bytes``:
    a small file that unpacks to gigabytes is refused before torch sees it.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return Loaded(error="it is not in the zip format torch.save writes by default")
    if any(e.compress_type != zipfile.ZIP_STORED for e in entries) or sum(e.file_size for e in entries) > max_bytes:
        return Loaded(error=f"it is compressed or unpacks to more than {max_bytes} bytes")
    try:
        loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to load is the finding
        return Loaded(error=f"torch.load(..., weights_only=True) failed with {type(exc).__name__}")
    if not isinstance(loaded, dict):
        return Loaded(type=type(loaded).__name__)
    return Loaded(state=dict(loaded), type=type(loaded).__name__)


def listing(files: Sequence[str], limit: int = 8) -> str:
    """A short list of file names for messages."""
    shown = ", ".join(sorted(files)[:limit])
    more = f", ... ({len(files) - limit} more)" if len(files) > limit else ""
    return "it contains " + (shown + more if files else "no files")


# ---------------------------------------------------------------- messages
def frozen_names(names: Sequence[str], limit: int = 4) -> str:
    """A short list of parameter names for messages."""
    names = [str(n) for n in names]
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def describe_images(batch: int, device: str | torch.device, seed: int) -> str:
    """How a student rebuilds the batch of :func:`~fmlgrade.spec.worker.part3_support.random_images`."""
    size = w.image_size(device)
    return (
        f"x = torch.rand(({batch}, 3, {size}, {size}), "
        f"generator=torch.Generator().manual_seed({seed}))"
    )


# ---------------------------------------------------------------- the skeleton's VGG with known weights
def contract_head() -> nn.Sequential:
    """The skeleton's head: Linear(4096, 64), ReLU, Linear(64, 1), Sigmoid."""
    return nn.Sequential(nn.Linear(w.VGG_FEATURES, 64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())


def known_head(device: str | torch.device = "cpu") -> nn.Sequential:
    """The contract's head holding the known weights the student's head is given."""
    head = contract_head()
    w.fill_parameters(head, w.HEAD_SEED)
    return head.to(device).eval()


@functools.cache
def contract_layout() -> dict[str, tuple[tuple[int, ...], ...]]:
    """Parameter shapes, in registration order, of the skeleton's ``self.vgg`` and ``self.head``."""
    with torch.device("meta"):
        vgg, head = vgg11_backbone(None), contract_head()
    return {
        "vgg": tuple(tuple(p.shape) for p in vgg.parameters()),
        "head": tuple(tuple(p.shape) for p in head.parameters()),
    }


def layout_problem(layout: Any, what: str) -> str | None:
    """Why a described layout (``describe_layout``) is not the skeleton's, or None.

    The description comes from the student's side: it can only make a check
    fail (the outputs cannot be compared with the skeleton's modules), never
    pass one.
    """
    expected = contract_layout()
    layout = layout if isinstance(layout, dict) else {}
    for part, skeleton in (
        ("vgg", "torchvision's vgg11 with the last Linear of its classifier removed"),
        ("head", "nn.Sequential(nn.Linear(4096, 64), nn.ReLU(), nn.Linear(64, 1), nn.Sigmoid())"),
    ):
        entries = layout.get(part, [])
        entries = entries if isinstance(entries, list) else []
        got = [(str(e[0]), tuple(e[1])) for e in entries if isinstance(e, (list, tuple)) and len(e) == 2]
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
    """``vgg(x)`` and ``head(vgg(x))`` of the skeleton's modules with the known weights.

    ``x`` is ``random_images(batch, device, seed)``; both results are CPU
    tensors, computed on ``device`` (the same kind of arithmetic as the
    student's model) in eval mode, once per process. The VGG built for this
    is let go right away.
    """
    key = (batch, seed, str(torch.device(device)))
    if key not in _EXPECTED:
        with torch.device("meta"):
            vgg = vgg11_backbone(None)
        vgg.to_empty(device="cpu")
        w.fill_parameters(vgg, w.BACKBONE_SEED)
        head = known_head()
        vgg.to(device).eval()
        head.to(device)
        with torch.no_grad():
            features = vgg(w.random_images(batch, device, seed))
            _EXPECTED[key] = (features.cpu(), head(features).cpu())
        del vgg, features
    features, outputs = _EXPECTED[key]
    return features.clone(), outputs.clone()


def expected_head_step(features: torch.Tensor, lr: float) -> list[torch.Tensor]:
    """The known head's parameters after one SGD step (``lr``) on ``head(features).sum()``."""
    head = known_head()
    parameters = list(head.parameters())
    grads = torch.autograd.grad(head(features.to(torch.float32)).sum(), parameters)
    return [(p - lr * g).detach() for p, g in zip(parameters, grads, strict=True)]


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


# ---------------------------------------------------------------- transfer_train (3.5)
#: Ways a loop can run the model, each with a message: the contract's, and the mistakes with the
#: modes that the BatchNorm statistics of the bookkeeping model show.
VARIANTS: dict[str, str] = {
    "contract": "",
    "validates_in_train_mode": (
        "validation batches went through the model in train mode (its BatchNorm statistics "
        "after training count them as training batches); call model.eval() before the "
        "validation pass"
    ),
    "trains_in_eval_mode_after_the_first_epoch": (
        "after the first epoch, the training batches went through the model in eval mode (its "
        "BatchNorm statistics after training count only the first epoch's batches): call "
        "model.train() at the start of every epoch, since the validation pass switched it to eval"
    ),
    "trains_in_eval_mode": (
        "the training batches went through the model in eval mode (its BatchNorm statistics "
        "after training count no training batches; the model is handed over in eval mode): call "
        "model.train() at the start of every epoch"
    ),
}


class VariantModel(w.FrozenBackboneModel):
    """The bookkeeping model, run here, that records its training outputs and may get its modes wrong."""

    def __init__(self, val_outputs: Sequence[float], seed: int, variant: str) -> None:
        super().__init__(val_outputs, seed)
        self.variant = variant
        self._switched_to_train = False
        self.train_outputs: list[torch.Tensor] = []

    def train(self, mode: bool = True) -> VariantModel:
        if not mode and self.variant == "validates_in_train_mode" and self._switched_to_train:
            return self  # model.eval() forgotten
        if mode and self.variant == "trains_in_eval_mode":
            return self  # model.train() forgotten
        if mode and self.variant == "trains_in_eval_mode_after_the_first_epoch" and self._switched_to_train:
            return self  # model.train() only once, before the loop
        if mode:
            self._switched_to_train = True
        super().train(mode)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        if self.phase_of(x) == "train":
            self.train_outputs.append(out.detach().cpu().clone())
        return out


@dataclass
class Trajectory:
    """A variant's run: the state after 0, 1, ... epochs, and its outputs per training batch and epoch."""

    variant: str
    states: list[dict[str, torch.Tensor]]
    train_outputs: list[list[torch.Tensor]]


_TRAJECTORIES: dict[tuple, dict[str, Trajectory]] = {}


def trajectories(transfer_train, device: str | torch.device, epochs: int, lr: float) -> dict[str, Trajectory]:
    """Each variant's run of the reference ``transfer_train`` for ``epochs`` epochs, here (once per process).

    The training does not depend on the validation losses (the bookkeeping
    model's validation outputs are preset), so one run without early stopping
    gives the state after every number of epochs, for any threshold. The
    states are the reference's own checkpoints (saved after each epoch's
    validation pass).
    """
    key = (str(torch.device(device)), epochs, lr)
    if key not in _TRAJECTORIES:
        runs = {}
        for variant in VARIANTS:
            model = VariantModel([0.5], seed=w.MODEL_SEED, variant=variant)
            model.eval()
            initial = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            train_loader, val_loader = w.bookkeeping_loaders()
            with tempfile.TemporaryDirectory(prefix="fmlgrade-part3-") as folder, working_directory(folder):
                with w.torch_threads(1), w.seeded(w.RUN_SEED):
                    transfer_train(model, train_loader, val_loader, epochs, lr, epochs, device)
                states = [initial] + [
                    torch.load(Path(folder, "checkpoints", f"model-{k}.pt"), map_location="cpu", weights_only=True)
                    for k in range(epochs)
                ]
            per_epoch = len(train_loader)
            outputs = [model.train_outputs[e * per_epoch : (e + 1) * per_epoch] for e in range(epochs)]
            runs[variant] = Trajectory(variant, states, outputs)
        _TRAJECTORIES[key] = runs
    return _TRAJECTORIES[key]


#: The same float32 Adam updates in the same order agree to rounding (~1e-7).
WEIGHT_RTOL, WEIGHT_ATOL = 1e-4, 1e-6
#: Running statistics are means of the same features, in the same order.
STAT_RTOL, STAT_ATOL = 1e-5, 1e-6


def _names() -> tuple[list[str], list[str]]:
    model = w.FrozenBackboneModel([0.5], seed=w.MODEL_SEED)
    return [n for n, _ in model.named_parameters()], [n for n, _ in model.named_buffers()]


PARAMETER_NAMES, BUFFER_NAMES = _names()


def _close(got: Any, expected: Any, rtol: float, atol: float) -> bool:
    if not isinstance(got, torch.Tensor) or not isinstance(expected, torch.Tensor):
        return False
    if tuple(got.shape) != tuple(expected.shape):
        return False
    if not expected.is_floating_point():
        return bool(torch.equal(got.detach().cpu().to(expected.dtype), expected.cpu()))
    got = got.detach().cpu().to(torch.float64)
    expected = expected.detach().cpu().to(torch.float64)
    return bool(((got - expected).abs() <= atol + rtol * expected.abs()).all())


def differing(state: Any, expected: Any, names: Sequence[str]) -> list[str]:
    """The entries ``names`` in which ``state`` differs from ``expected`` (each kind at its tolerance)."""
    if not isinstance(state, dict) or not isinstance(expected, dict):
        return list(names)
    found = []
    for name in names:
        rtol, atol = (WEIGHT_RTOL, WEIGHT_ATOL) if name in PARAMETER_NAMES else (STAT_RTOL, STAT_ATOL)
        if not _close(state.get(name), expected.get(name), rtol, atol):
            found.append(name)
    return found


def weights_equal(state: Any, expected: dict[str, torch.Tensor]) -> bool:
    """Whether ``state`` holds the parameters of ``expected`` (up to rounding)."""
    return not differing(state, expected, PARAMETER_NAMES)


def statistics_equal(state: Any, expected: dict[str, torch.Tensor]) -> bool:
    """Whether ``state`` holds the BatchNorm statistics of ``expected`` (which batches went through in train mode)."""
    return not differing(state, expected, BUFFER_NAMES)


@dataclass
class Identified:
    """Which variant's run, after how many epochs, a state is."""

    variant: str
    #: Epochs run, or None when the statistics fit several counts and the weights none.
    epochs: int | None
    #: Whether the weights are the variant's too (the loop updates as the reference does).
    weights_match: bool


def identify(state: Any, runs: dict[str, Trajectory], history_length: int | None = None) -> Identified | None:
    """The variant and epoch count whose state ``state`` is: statistics and weights, else statistics alone.

    The statistics depend only on which batches went through the model in
    train mode, not on how the loop updates the weights, so a loop with a
    wrong update still shows its epochs and modes. Where only the statistics
    fit, and they fit several epoch counts (no batch in train mode fits every
    count of a loop that never switches to train mode), the count the history
    claims is preferred among those that fit.
    """
    found = [
        (variant, j)
        for variant, run in runs.items()
        for j, expected in enumerate(run.states)
        if statistics_equal(state, expected)
    ]
    for variant, j in found:
        if weights_equal(state, runs[variant].states[j]):
            return Identified(variant, j, True)
    for variant, run in runs.items():
        for j, expected in enumerate(run.states):
            if weights_equal(state, expected):
                return Identified(variant, j, True)
    if not found:
        return None
    for variant, j in found:
        if j == history_length:
            return Identified(variant, j, False)
    variant = found[0][0]
    counts = {j for v, j in found if v == variant}
    return Identified(variant, counts.pop() if len(counts) == 1 else None, False)


# ---------------------------------------------------------------- the synthetic casting images (3.5)
def casting_root(*, n_train: int, n_test: int, size: int, seed: int) -> Path:
    """The root of the generated casting dataset with these settings (made once, cached)."""
    from fmlgrade.fixtures.casting import cached_casting_dataset  # the grader's side only

    return cached_casting_dataset(n_train=n_train, n_test=n_test, size=size, seed=seed)


def casting_tensors(*, n_train: int, n_test: int, size: int, seed: int) -> tuple[w.Split, w.Split, w.Split]:
    """:func:`~fmlgrade.spec.worker.part3_support.casting_tensors_at` of the generated dataset."""
    root = casting_root(n_train=n_train, n_test=n_test, size=size, seed=seed)
    return w.casting_tensors_at(root, size=size, seed=seed)
