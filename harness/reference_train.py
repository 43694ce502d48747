"""``fmlgrade reference-train``: train the reference models and record how they learn.

Instructors use it to see what the reference solution reaches on a dataset (the
synthetic look-alike by default, the real archive with ``--data``) before they
set the accuracy margin of task 2.3, and to show learning curves in class. It
trains the reference ``SimpLeNet`` with the reference ``train`` (Part 2) and
the reference ``AdaptedVGG`` with the reference ``transfer_train`` (Part 3),
evaluates both with the reference ``evaluate_accuracy``, and writes
``<out>/reference-train.json`` and ``<out>/learning-curves.png``.

Design: observe the reference loops, never re-implement them
------------------------------------------------------------
The reference functions are what is being demonstrated, so they are called
unchanged. Their loops only *iterate* over the loaders they are given, so each
loader is wrapped in an :class:`ObservedLoader` (same ``.dataset``,
``__len__`` and ``__iter__``; it yields the wrapped loader's batches
untouched) that calls hooks as the loop consumes it:

* the training loader marks the start of an epoch (its clock starts) and
  advances a ``rich`` progress bar after every batch the loop has finished
  with (optimizer step included);
* the validation loader, when the loop has consumed its last batch, stops the
  epoch's clock and computes the validation accuracy with the reference
  ``evaluate_accuracy`` on the unwrapped validation loader. That happens inside
  the reference loop's ``torch.no_grad()`` block and after its
  ``model.eval()``; ``evaluate_accuracy`` changes the model's mode, so the
  mode found is restored afterwards. The accuracy pass uses no random numbers
  and does not touch the training loader's shuffling generator, so the
  recorded losses are exactly those of an unobserved run (a test checks this).

``epoch_seconds`` is therefore the wall time of one epoch's training and
validation passes, without the accuracy pass and without ``transfer_train``'s
checkpoint writing. The epoch count recorded is the number of validation
passes seen, which equals the length of the returned history (checked).

``transfer_train`` writes ``checkpoints/model-<epoch>.pt`` under the current
folder, about 0.5 GB each for VGG-11. It runs with the current folder set to a
temporary folder inside ``<out>``; at the start of each epoch's training pass
all but the newest checkpoint are deleted, so at most two sit on disk, and the
folder is removed at the end (``--keep-checkpoint`` moves the last one to
``<out>/checkpoints/``). Because of that ``chdir``, this command is not meant
to run in several threads of one process.

Reproducibility: the synthetic dataset is a function of ``(seed, n)``; each
model is built right after ``torch.manual_seed(seed)`` and gets fresh loaders
from :func:`fmlgrade.spec.worker.data.make_loaders` seeded with ``seed``. On the CPU,
reruns with the same arguments give the same numbers; on CUDA they may differ
in the last digits (no deterministic-algorithms mode is forced).

Nothing here imports torch at module level, so the CLI works without it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .training_observer import CheckpointJanitor, EpochRecorder, ObservedLoader, working_directory

__all__ = [
    "DEFAULT_OUT",
    "ObservedLoader",
    "ReferenceTrainError",
    "TrainSettings",
    "add_reference_train_parser",
    "reference_train_command",
    "run_reference_training",
    "settings_from_args",
    "synthetic_dataset",
]

DEFAULT_OUT = Path("reference-train-out")
JSON_NAME = "reference-train.json"
PLOT_NAME = "learning-curves.png"
#: SimpLeNet's Linear(4374, 10) fixes its input to 224 x 224.
SIMPLENET_IMAGE_SIZE = 224
MIN_IMAGE_SIZE = 32
DEFAULT_N_TRAIN = 100
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class ReferenceTrainError(Exception):
    """A mistake in the arguments or the environment, reported as one line."""


def _test_images_for(n_train: int) -> int:
    """Test images per class of the synthetic set: 40 % of the training images, at least 2."""
    return max(2, round(0.4 * n_train))


# --------------------------------------------------------------------------- arguments


def add_reference_train_parser(commands: Any) -> argparse.ArgumentParser:
    """Add the ``reference-train`` subcommand to ``commands`` (an argparse subparsers object)."""
    parser = commands.add_parser(
        "reference-train",
        help="train the reference SimpLeNet and AdaptedVGG, record learning curves",
        description=(
            "Train the reference SimpLeNet (reference train) and AdaptedVGG (reference "
            "transfer_train) on the synthetic casting set or the real one, and write "
            f"<out>/{JSON_NAME} (per-epoch losses, validation accuracy, seconds, test "
            f"accuracy) and <out>/{PLOT_NAME}."
        ),
    )
    parser.add_argument(
        "--data",
        type=Path,
        metavar="ROOT",
        help="the casting dataset (the folder with train/ and test/, or casting_data/ above "
        "it); default: a synthetic set, generated once into $XDG_CACHE_HOME/fmlgrade "
        "(~/.cache/fmlgrade)",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where to train (auto: cuda when a GPU is present, else cpu)",
    )
    parser.add_argument("--epochs", type=int, default=5, help="epochs per model (default: 5)")
    parser.add_argument(
        "--image-size",
        type=int,
        metavar="S",
        help="image side for AdaptedVGG (>= 32; default: 224 on cuda, 64 on cpu); "
        "SimpLeNet always trains at 224, which its Linear(4374, 10) requires",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"output folder (default: ./{DEFAULT_OUT})",
    )
    parser.add_argument(
        "--n-train",
        type=int,
        metavar="N",
        help=f"training images per class of the synthetic set (default: {DEFAULT_N_TRAIN}; "
        "test images: 40%% of it); not with --data",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of data, split, shuffling and init"
    )
    parser.add_argument("--batch-size", type=int, default=32, metavar="B", help="default: 32")
    parser.add_argument(
        "--learn-rate", type=float, default=1e-3, metavar="LR", help="Adam's rate (default: 1e-3)"
    )
    parser.add_argument(
        "--threshold",
        type=int,
        default=3,
        help="early-stopping threshold of transfer_train (default: 3)",
    )
    parser.add_argument(
        "--pretrained",
        action="store_true",
        help="use the ImageNet VGG-11 weights; they must already be in torch's cache "
        "(nothing is downloaded). Default: random weights, as grading uses",
    )
    parser.add_argument(
        "--keep-checkpoint",
        action="store_true",
        help="keep transfer_train's last checkpoint (about 0.5 GB) in <out>/checkpoints/",
    )
    return parser


@dataclass(frozen=True)
class TrainSettings:
    """Validated arguments of one reference-training run."""

    data: Path | None
    device: str
    epochs: int
    vgg_image_size: int
    out: Path
    n_train: int
    seed: int
    batch_size: int
    learn_rate: float
    threshold: int
    pretrained: bool = False
    keep_checkpoint: bool = False

    @property
    def n_test(self) -> int:
        return _test_images_for(self.n_train)


def _at_least(option: str, value: int, minimum: int, meaning: str) -> int:
    if value < minimum:
        raise ReferenceTrainError(f"{option}={value} must be at least {minimum} ({meaning})")
    return value


def _resolve_device(requested: str) -> str:
    try:
        import torch
        import torchvision  # noqa: F401
    except ImportError as exc:
        raise ReferenceTrainError(
            f"reference-train needs torch and torchvision ({exc.name} is missing): "
            "pip install 'fmlgrade[torch]'"
        ) from None
    has_cuda = torch.cuda.is_available()
    if requested == "cuda" and not has_cuda:
        raise ReferenceTrainError("no CUDA device is available; use --device cpu")
    if requested == "auto":
        return "cuda" if has_cuda else "cpu"
    return requested


def _check_pretrained_weights() -> None:
    from fmlgrade.spec.worker.pretrained import vgg11_weights_available, vgg11_weights_path

    if not vgg11_weights_available("DEFAULT"):
        from torchvision.models import VGG11_Weights

        raise ReferenceTrainError(
            f"--pretrained: the VGG-11 ImageNet weights are not in torch's cache and nothing "
            f"is downloaded here; put the file at {vgg11_weights_path('DEFAULT')} (from "
            f"{VGG11_Weights.DEFAULT.url}) or leave out --pretrained"
        )


def settings_from_args(args: argparse.Namespace) -> TrainSettings:
    """Check the arguments (cheap checks first) and resolve the device and defaults."""
    epochs = _at_least("--epochs", args.epochs, 1, "epochs per model")
    if args.image_size is not None:
        _at_least("--image-size", args.image_size, MIN_IMAGE_SIZE, "VGG-11 needs 32 x 32 or more")
    batch_size = _at_least("--batch-size", args.batch_size, 1, "images per batch")
    seed = _at_least("--seed", args.seed, 0, "a seed is a non-negative integer")
    threshold = _at_least("--threshold", args.threshold, 1, "epochs of rising validation loss")
    if not (math.isfinite(args.learn_rate) and args.learn_rate > 0):
        raise ReferenceTrainError(f"--learn-rate={args.learn_rate} must be a positive number")
    if args.data is not None and args.n_train is not None:
        raise ReferenceTrainError(
            "--n-train sizes the synthetic dataset; it cannot be used with --data"
        )
    n_train = DEFAULT_N_TRAIN if args.n_train is None else args.n_train
    _at_least("--n-train", n_train, 1, "training images per class")
    if args.out.exists() and not args.out.is_dir():
        raise ReferenceTrainError(f"--out={str(args.out)!r} is a file, not a folder")
    device = _resolve_device(args.device)
    if args.pretrained:
        _check_pretrained_weights()
    image_size = args.image_size
    if image_size is None:
        image_size = 224 if device == "cuda" else 64
    return TrainSettings(
        data=args.data,
        device=device,
        epochs=epochs,
        vgg_image_size=image_size,
        out=args.out,
        n_train=n_train,
        seed=seed,
        batch_size=batch_size,
        learn_rate=float(args.learn_rate),
        threshold=threshold,
        pretrained=bool(args.pretrained),
        keep_checkpoint=bool(getattr(args, "keep_checkpoint", False)),
    )


# --------------------------------------------------------------------------- data


def cache_folder() -> Path:
    """``$XDG_CACHE_HOME/fmlgrade``, or ``~/.cache/fmlgrade`` when that is unset."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fmlgrade"


def synthetic_dataset(seed: int, n_train: int, n_test: int, cache: Path | None = None) -> Path:
    """The root (holding ``train/`` and ``test/``) of a cached synthetic casting set.

    Generated once into the cache folder (``cache_folder()`` by default) by
    :func:`fmlgrade.fixtures.casting.cached_casting_dataset` and reused afterwards.
    """
    from fmlgrade.fixtures.casting import cached_casting_dataset
    from fmlgrade.spec.worker.data import DatasetLayoutError, find_dataset_root

    parent = cache_folder() if cache is None else cache
    root = cached_casting_dataset(n_train=n_train, n_test=n_test, seed=seed, cache=parent)
    try:
        return find_dataset_root(root)
    except DatasetLayoutError as exc:
        raise ReferenceTrainError(f"{exc} (a damaged cache? delete {root.parent})") from None


def _dataset_root(settings: TrainSettings, console: Any) -> Path:
    from fmlgrade.spec.worker.data import DatasetLayoutError, find_dataset_root

    if settings.data is None:
        console.print(
            f"synthetic casting set: {settings.n_train} train and {settings.n_test} test images "
            f"per class, cached under {cache_folder()} (generated on first use)"
        )
        return synthetic_dataset(settings.seed, settings.n_train, settings.n_test).resolve()
    try:
        # Absolute: transfer_train runs in another current folder, and images load lazily.
        return find_dataset_root(settings.data).resolve()
    except DatasetLayoutError as exc:
        raise ReferenceTrainError(str(exc)) from None


# --------------------------------------------------------------------------- training


def _finite_or_none(values: Sequence[float]) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values]


def _model_record(
    name: str, image_size: int, history: dict[str, list[float]], recorder: EpochRecorder
) -> dict[str, Any]:
    runs = len(history["train_loss"])
    if not (len(history["val_loss"]) == len(recorder.val_accuracy) == runs):
        raise RuntimeError(
            f"{name}: the history has {runs} epochs but {len(recorder.val_accuracy)} "
            "complete validation passes were observed"
        )
    return {
        "image_size": image_size,
        "epochs_run": runs,
        "train_loss": _finite_or_none(history["train_loss"]),
        "val_loss": _finite_or_none(history["val_loss"]),
        "val_accuracy": list(recorder.val_accuracy),
        "epoch_seconds": [round(s, 4) for s in recorder.epoch_seconds],
    }


def run_reference_training(settings: TrainSettings, console: Any = None) -> dict[str, Any]:
    """Train both reference models as ``settings`` say; return the record (nothing written)."""
    import torch
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from fmlgrade.solutions.reference import part2, part3
    from fmlgrade.spec.worker.data import DatasetLayoutError, make_loaders

    from .report import grader_version

    console = console or Console()
    root = _dataset_root(settings, console)
    out = settings.out.resolve()
    device = settings.device
    epochs = settings.epochs

    def loaders(image_size: int) -> tuple[Any, Any, Any]:
        try:
            return make_loaders(
                root, image_size=image_size, batch_size=settings.batch_size, seed=settings.seed
            )
        except DatasetLayoutError as exc:
            raise ReferenceTrainError(str(exc)) from None
        except ValueError as exc:  # e.g. too few images for a train/validation split
            raise ReferenceTrainError(f"dataset {str(root)!r}: {exc}") from None

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("batches"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    models: dict[str, Any] = {}
    with Progress(*columns, console=console) as progress:

        def train_one(
            name: str,
            image_size: int,
            build: Callable[[], Any],
            fit: Callable[[Any, Any, Any], dict[str, list[float]]],
        ) -> tuple[Any, dict[str, Any]]:
            train_loader, val_loader, test_loader = loaders(image_size)
            torch.manual_seed(settings.seed)
            started = time.perf_counter()
            model = build()
            task = progress.add_task(f"{name} epoch 1/{epochs}", total=epochs * len(train_loader))
            batches_done = 0

            def advance() -> None:
                nonlocal batches_done
                batches_done += 1
                progress.advance(task)

            def report_epoch(rec: EpochRecorder) -> None:
                done = len(rec.val_accuracy)
                progress.console.print(
                    f"{name} epoch {done}/{epochs}: val accuracy {rec.val_accuracy[-1]:.3f} "
                    f"({rec.epoch_seconds[-1]:.1f} s)"
                )
                progress.update(task, description=f"{name} epoch {min(done + 1, epochs)}/{epochs}")

            recorder = EpochRecorder(
                model, val_loader, device, part3.evaluate_accuracy, on_epoch=report_epoch
            )
            observed = recorder.observe(train_loader, val_loader, on_batch=advance)
            history = fit(model, *observed)
            record = _model_record(name, image_size, history, recorder)
            runs = record["epochs_run"]
            progress.update(
                task,
                total=batches_done,  # after an early stop, a full bar
                description=f"{name} {runs}/{epochs} epochs"
                + (" (stopped early)" if runs < epochs else ""),
            )
            record["test_accuracy"] = float(part3.evaluate_accuracy(model, test_loader, device))
            record["total_seconds"] = round(time.perf_counter() - started, 3)
            record["images"] = {
                "train": len(train_loader.dataset),
                "val": len(val_loader.dataset),
                "test": len(test_loader.dataset),
            }
            return model, record

        _, models["SimpLeNet"] = train_one(
            "SimpLeNet",
            SIMPLENET_IMAGE_SIZE,
            part2.SimpLeNet,
            lambda model, tl, vl: part2.train(model, tl, vl, epochs, settings.learn_rate, device),
        )
        models["SimpLeNet"]["function"] = "train"

        weights = "DEFAULT" if settings.pretrained else None
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".checkpoints-", dir=out) as scratch:
            janitor = CheckpointJanitor(Path(scratch) / "checkpoints")

            def fit_vgg(model: Any, tl: ObservedLoader, vl: ObservedLoader) -> dict:
                pruning = ObservedLoader(tl, on_start=janitor.prune)
                with working_directory(Path(scratch)):
                    return part3.transfer_train(
                        model, pruning, vl, epochs, settings.learn_rate, settings.threshold, device
                    )

            _, vgg = train_one(
                "AdaptedVGG",
                settings.vgg_image_size,
                lambda: part3.AdaptedVGG(weights=weights),
                fit_vgg,
            )
            last = janitor.prune()
            kept = None
            if settings.keep_checkpoint and last is not None:
                target = out / "checkpoints" / last.name
                target.parent.mkdir(exist_ok=True)
                shutil.move(str(last), target)
                kept = str(target)
        vgg.update(
            function="transfer_train",
            weights="IMAGENET1K_V1" if settings.pretrained else None,
            early_stopping_threshold=settings.threshold,
            stopped_early=vgg["epochs_run"] < epochs,
            checkpoints_written=janitor.seen,
            checkpoint_kept=kept,
        )
        models["AdaptedVGG"] = vgg

    return {
        "fmlgrade_version": grader_version(),
        "torch_version": torch.__version__,
        "device": device,
        "seed": settings.seed,
        "dataset": {
            "root": str(root),
            "synthetic": settings.data is None,
            **(
                {"images_per_class": {"train": settings.n_train, "test": settings.n_test}}
                if settings.data is None
                else {}
            ),
        },
        "epochs_requested": epochs,
        "batch_size": settings.batch_size,
        "learn_rate": settings.learn_rate,
        "image_sizes": {name: rec["image_size"] for name, rec in models.items()},
        "models": models,
    }


def write_outputs(record: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write the record as JSON and its learning curves as PNG into ``out``."""
    from .learning_curves import plot_learning_curves

    out.mkdir(parents=True, exist_ok=True)
    json_path = out / JSON_NAME
    json_path.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    png_path = out / PLOT_NAME
    plot_learning_curves(record, png_path)
    return json_path, png_path


def _summary(record: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    table = Table(title=f"reference training on {record['device']}")
    for column in ("model", "image size", "epochs", "final val loss", "test accuracy", "s/epoch"):
        table.add_column(column)
    for name, rec in record["models"].items():
        seconds = rec["epoch_seconds"]
        val = rec["val_loss"][-1]
        table.add_row(
            name,
            str(rec["image_size"]),
            str(rec["epochs_run"]),
            "-" if val is None else f"{val:.4f}",
            f"{rec['test_accuracy']:.3f}",
            f"{sum(seconds) / len(seconds):.2f}",
        )
    console.print(table)


def reference_train_command(args: argparse.Namespace) -> int:
    """The ``fmlgrade reference-train`` handler: mistakes are one line on stderr, exit 2."""
    from rich.console import Console

    try:
        settings = settings_from_args(args)
        console = Console()
        record = run_reference_training(settings, console)
        json_path, png_path = write_outputs(record, settings.out)
    except (ReferenceTrainError, OSError) as exc:
        print(f"fmlgrade: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("fmlgrade: error: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    _summary(record, console)
    console.print(f"written: {json_path} and {png_path}")
    return 0
