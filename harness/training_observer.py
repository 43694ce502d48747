"""Watching the reference training loops without changing them.

``fmlgrade reference-train`` demonstrates the reference ``train`` and
``transfer_train`` as they are, so instead of re-implementing their loops it
wraps their loaders: an :class:`ObservedLoader` passes batches through
untouched and calls back at the start of a pass, after each batch and at the
end, which is where :class:`EpochRecorder` takes the epoch's time and
validation accuracy. :class:`CheckpointJanitor` keeps only the newest of the
large VGG checkpoints that ``transfer_train`` writes every epoch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ObservedLoader:
    """A loader stand-in that reports how a training loop consumes it.

    It has the wrapped loader's ``dataset``, ``batch_size`` and ``len`` and
    yields its batches untouched. ``on_start`` runs when iteration begins,
    ``on_batch`` when the consumer asks for the next batch (so it has finished
    with the previous one), ``on_end`` once the last batch has been consumed.
    A loop that stops early (``break``) never triggers ``on_end``.
    """

    def __init__(
        self,
        loader: Any,
        *,
        on_start: Callable[[], None] | None = None,
        on_batch: Callable[[], None] | None = None,
        on_end: Callable[[], None] | None = None,
    ) -> None:
        self.loader = loader
        self.dataset = loader.dataset
        self.batch_size = getattr(loader, "batch_size", None)
        self._on_start = on_start
        self._on_batch = on_batch
        self._on_end = on_end

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        if self._on_start is not None:
            self._on_start()
        for batch in self.loader:
            yield batch
            if self._on_batch is not None:
                self._on_batch()
        if self._on_end is not None:
            self._on_end()


@dataclass
class EpochRecorder:
    """Per-epoch wall time and validation accuracy of one model, fed by :class:`ObservedLoader`."""

    model: Any
    val_loader: Any
    device: str
    evaluate_accuracy: Callable[[Any, Any, str], float]
    on_epoch: Callable[[EpochRecorder], None] | None = None
    epoch_seconds: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    _started: float | None = None

    def start_epoch(self) -> None:
        self._started = time.perf_counter()

    def end_validation(self) -> None:
        if self._started is None:
            raise RuntimeError("a validation pass ended before any training pass started")
        self.epoch_seconds.append(time.perf_counter() - self._started)
        self._started = None
        was_training = self.model.training
        try:
            # Inside the reference loop's no_grad; evaluate_accuracy sets eval mode itself.
            accuracy = self.evaluate_accuracy(self.model, self.val_loader, self.device)
        finally:
            self.model.train(was_training)
        self.val_accuracy.append(float(accuracy))
        if self.on_epoch is not None:
            self.on_epoch(self)

    def observe(
        self, train_loader: Any, val_loader: Any, on_batch: Callable[[], None] | None = None
    ) -> tuple[ObservedLoader, ObservedLoader]:
        """The (train, validation) stand-ins to hand to a reference training function."""
        return (
            ObservedLoader(train_loader, on_start=self.start_epoch, on_batch=on_batch),
            ObservedLoader(val_loader, on_end=self.end_validation),
        )


class CheckpointJanitor:
    """Keeps the newest of ``transfer_train``'s checkpoints in ``folder`` and deletes the rest."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen: list[str] = []

    def _files(self) -> list[Path]:
        """Checkpoint files, oldest epoch first."""

        def epoch(path: Path) -> tuple[int, str]:
            number = path.stem.partition("-")[2]
            return (int(number) if number.isdigit() else -1, path.name)

        files = self.folder.glob("model-*.pt") if self.folder.is_dir() else []
        return sorted(files, key=epoch)

    def prune(self) -> Path | None:
        """Record the checkpoints written so far, delete all but the newest, return it."""
        files = self._files()
        for path in files:
            if path.name not in self.seen:
                self.seen.append(path.name)
        for path in files[:-1]:
            path.unlink()
        return files[-1] if files else None


@contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """``contextlib.chdir`` for Python 3.10."""
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)
