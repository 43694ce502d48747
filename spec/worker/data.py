"""The provided (ungraded) dataset and loaders of Parts 2 and 3.

They read the real layout of the "casting product image data for quality
inspection" archive (or the synthetic look-alike of
:mod:`fmlgrade.fixtures.casting`)::

    <root>/train/def_front/*.jpeg   <root>/train/ok_front/*.jpeg
    <root>/test/def_front/*.jpeg    <root>/test/ok_front/*.jpeg

Images come out as RGB float32 tensors ``(3, H, W)`` in [0, 1] (no other
normalisation), resized to ``image_size`` x ``image_size`` with Pillow's
bilinear (antialiased) filter; labels as float32 ``(1,)``: **0.0 = defective
(``def_front``), 1.0 = ok (``ok_front``)**, as the handout's loss expects.

This module imports torch at the top; import it lazily from code that must run
without torch (Part 1, the harness).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Subset

__all__ = [
    "CLASS_LABELS",
    "IMAGE_SUFFIXES",
    "SPLITS",
    "CastingDataset",
    "DatasetLayoutError",
    "find_dataset_root",
    "labels_of",
    "make_loaders",
    "split_indices",
]

#: Label of each class folder: 0.0 = defective, 1.0 = ok.
CLASS_LABELS: dict[str, float] = {"def_front": 0.0, "ok_front": 1.0}
#: The two splits the archive ships.
SPLITS: tuple[str, ...] = ("train", "test")
#: File endings read as images (lower-cased before comparing).
IMAGE_SUFFIXES: frozenset[str] = frozenset({".jpeg", ".jpg", ".png"})

_EXPECTED = (
    "expected layout: <root>/train/{def_front,ok_front}/*.jpeg and "
    "<root>/test/{def_front,ok_front}/*.jpeg; <root> may also be the folder above it "
    "(casting_data/) or the nested casting_data/casting_data/ form of the archive"
)


class DatasetLayoutError(ValueError):
    """The given folder does not hold the casting dataset in its expected layout."""


def _is_root(path: Path) -> bool:
    """True when ``path`` holds ``train/`` and ``test/``, each with both class folders."""
    return all((path / split / folder).is_dir() for split in SPLITS for folder in CLASS_LABELS)


def _describe(path: Path, limit: int = 10) -> str:
    """A short listing of what ``path`` holds, for error messages."""
    if not path.exists():
        return "it does not exist"
    if not path.is_dir():
        return "it is a file, not a folder"
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
    if not names:
        return "it is empty"
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return "it contains " + ", ".join(names[:limit]) + more


def find_dataset_root(path: str | Path) -> Path:
    """Return the folder that holds ``train/`` and ``test/`` of the casting dataset.

    Accepts that folder itself, the folder one level above it (e.g. the
    ``casting_data/`` that contains ``casting_data/train``), or two levels
    above (the archive's nested ``casting_data/casting_data/``), so students can
    point at whatever they unpacked. Raises :class:`DatasetLayoutError` naming
    the folder, what it holds and the expected layout otherwise.
    """
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or Path, got {type(path).__name__}")
    given = Path(path).expanduser()
    candidates = (given, given / "casting_data", given / "casting_data" / "casting_data")
    for candidate in candidates:
        if _is_root(candidate):
            return candidate
    missing = ""
    for candidate in candidates:  # a partial layout: say what it lacks
        if any((candidate / split).is_dir() for split in SPLITS):
            lacks = [
                f"{split}/{folder}"
                for split in SPLITS
                for folder in CLASS_LABELS
                if not (candidate / split / folder).is_dir()
            ]
            missing = f"; {str(candidate)!r} lacks " + ", ".join(lacks)
            break
    raise DatasetLayoutError(f"no casting dataset found at {str(given)!r}: {_describe(given)}{missing}; {_EXPECTED}")


def _check_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` if it is an int (not a bool) >= ``minimum``, else raise naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


class CastingDataset(Dataset):
    """One split of the casting dataset as ``(image, label)`` pairs.

    ``image``: float32 ``(3, image_size, image_size)`` in [0, 1]; ``label``:
    float32 ``(1,)``, 0.0 for ``def_front`` (defective), 1.0 for ``ok_front``.
    Files are listed sorted by class folder then file name, so the order (and
    hence any seeded split) does not depend on the file system.
    """

    def __init__(self, root: str | Path, split: str = "train", image_size: int = 224) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.image_size = _check_int("image_size", image_size, 1)
        self.root = find_dataset_root(root)
        self.split = split
        files: list[Path] = []
        labels: list[float] = []
        for folder, label in CLASS_LABELS.items():
            found = sorted(
                p for p in (self.root / split / folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
            files += found
            labels += [label] * len(found)
        if not files:
            raise DatasetLayoutError(
                f"split {split!r} of {str(self.root)!r} has no images "
                f"(*.jpeg, *.jpg, *.png) in {split}/def_front or {split}/ok_front"
            )
        self.files: tuple[Path, ...] = tuple(files)
        self.labels: tuple[float, ...] = tuple(labels)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        size = self.image_size
        with Image.open(self.files[index]) as img:
            img = img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
            pixels = np.asarray(img, dtype=np.float32) * np.float32(1.0 / 255.0)
        image = torch.from_numpy(pixels.transpose(2, 0, 1).copy())
        label = torch.tensor([self.labels[index]], dtype=torch.float32)
        return image, label

    def __repr__(self) -> str:
        n_ok = sum(self.labels)
        return (
            f"CastingDataset({str(self.root)!r}, split={self.split!r}, "
            f"image_size={self.image_size}, defective={len(self) - n_ok:.0f}, ok={n_ok:.0f})"
        )


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded split of ``range(n)`` into (train, validation) index lists.

    The validation part has ``round(n * val_fraction)`` items, at least one;
    both parts must be non-empty.
    """
    n_val = max(1, round(n * val_fraction))
    if n_val >= n:
        raise ValueError(f"val_fraction={val_fraction} leaves no training images out of {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return sorted(order[n_val:]), sorted(order[:n_val])


def make_loaders(
    root: str | Path,
    *,
    image_size: int = 224,
    batch_size: int = 32,
    val_fraction: float = 0.2,
    seed: int = 0,
    num_workers: int = 0,
) -> tuple[DataLoader, DataLoader, DataLoader]:
    """The (train, validation, test) loaders of the assignment.

    The ``train/`` folder is split into train and validation by a permutation
    seeded with ``seed``; ``test/`` is the test set. The train loader shuffles
    with a generator seeded with ``seed`` (same batches on every run);
    validation and test keep file order. Each loader yields ``(images (B, 3, H,
    W) float32, labels (B, 1) float32)``; the last batch may be smaller, and
    ``len(loader.dataset)`` is the number of images.
    """
    image_size = _check_int("image_size", image_size, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    seed = _check_int("seed", seed, 0)
    num_workers = _check_int("num_workers", num_workers, 0)
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)):
        raise TypeError(f"val_fraction must be a float, got {type(val_fraction).__name__}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be strictly between 0 and 1, got {val_fraction}")
    full = CastingDataset(root, "train", image_size)
    train_idx, val_idx = split_indices(len(full), float(val_fraction), seed)
    test = CastingDataset(root, "test", image_size)

    def loader(data: Dataset, shuffle: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(seed) if shuffle else None
        return DataLoader(
            data,
            batch_size=batch_size,
            shuffle=shuffle,
            generator=generator,
            num_workers=num_workers,
        )

    return (
        loader(Subset(full, train_idx), shuffle=True),
        loader(Subset(full, val_idx), shuffle=False),
        loader(test, shuffle=False),
    )


def labels_of(data: Dataset) -> Sequence[float]:
    """The labels of a :class:`CastingDataset` or a ``Subset`` of one, without loading images."""
    if isinstance(data, Subset):
        inner = labels_of(data.dataset)
        return [inner[i] for i in data.indices]
    if isinstance(data, CastingDataset):
        return data.labels
    raise TypeError(f"data must be a CastingDataset or a Subset of one, got {type(data).__name__}")
