"""Time ``fmlgrade reference-train``: dataset generation, then each model per epoch.

A default-ish CPU run (100 synthetic images per class, 3 epochs, AdaptedVGG at
64 px, SimpLeNet at 224 px) into a temporary folder. Prints the wall time of
generating the synthetic set, each model's total, its seconds per epoch
(training + validation passes), the accuracies reached, and the load average,
since on a shared machine the figures move with it. Run from the repository root:

    .venv/bin/python benchmarks/bench_reference_train.py [--n-train 100] [--epochs 3]
        [--image-size 64] [--device cpu] [--threads N]

Figures are for reading, not asserting: machines are noisy.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=100, help="train images per class")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=None, help="AdaptedVGG's image side")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch
    from rich.console import Console

    from fmlgrade.harness.reference_train import (
        run_reference_training,
        settings_from_args,
        synthetic_dataset,
    )

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-reference-train-") as scratch:
        os.environ["XDG_CACHE_HOME"] = str(Path(scratch) / "cache")
        settings = settings_from_args(
            argparse.Namespace(
                data=None,
                device=args.device,
                epochs=args.epochs,
                image_size=args.image_size,
                out=Path(scratch) / "out",
                n_train=args.n_train,
                seed=args.seed,
                batch_size=args.batch_size,
                learn_rate=1e-3,
                threshold=3,
                pretrained=False,
                keep_checkpoint=False,
            )
        )
        started = time.perf_counter()
        synthetic_dataset(settings.seed, settings.n_train, settings.n_test)
        generation = time.perf_counter() - started
        started = time.perf_counter()
        record = run_reference_training(settings, Console(quiet=True))
        total = time.perf_counter() - started

    print(
        f"device {record['device']}, torch {record['torch_version']}, "
        f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"synthetic set: {args.n_train} train + {settings.n_test} test images per class, "
        f"generated in {generation:.1f} s"
    )
    for name, rec in record["models"].items():
        seconds = rec["epoch_seconds"]
        images = rec["images"]
        print(
            f"{name:<10} {rec['image_size']:>3} px  {rec['epochs_run']} epochs "
            f"({images['train']} train / {images['val']} val images): "
            f"total {rec['total_seconds']:.1f} s, per epoch "
            + ", ".join(f"{s:.1f}" for s in seconds)
            + f" s (mean {sum(seconds) / len(seconds):.1f}); "
            f"val accuracy {', '.join(f'{a:.3f}' for a in rec['val_accuracy'])}; "
            f"test accuracy {rec['test_accuracy']:.3f}"
        )
    print(f"both models, wall: {total:.1f} s")


if __name__ == "__main__":
    main()
