"""The learning-curves figure of ``fmlgrade reference-train``.

Drawn with matplotlib's object API (``Figure``, saved through the Agg canvas),
never ``pyplot``, so it changes no global backend or figure state and works
without a display.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["learning_curves_figure", "plot_learning_curves"]

_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red")


def learning_curves_figure(record: dict[str, Any]) -> Any:
    """A two-panel Figure: per-epoch train/val loss of each model, and its accuracy.

    ``record`` is what :func:`fmlgrade.harness.reference_train.run_reference_training`
    returns. Missing (non-finite) losses are ``None`` there and leave gaps here.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.2), layout="constrained")
    loss_ax, acc_ax = figure.subplots(1, 2)
    for color, (name, rec) in zip(_COLORS, record["models"].items(), strict=False):
        epochs = list(range(1, rec["epochs_run"] + 1))
        nan = float("nan")
        train = [nan if v is None else v for v in rec["train_loss"]]
        val = [nan if v is None else v for v in rec["val_loss"]]
        label = f"{name} ({rec['image_size']} px)"
        loss_ax.plot(epochs, train, "-o", color=color, label=f"{label} train")
        loss_ax.plot(epochs, val, "--s", color=color, label=f"{label} validation")
        acc_ax.plot(epochs, rec["val_accuracy"], "--s", color=color, label=f"{name} validation")
        acc_ax.axhline(
            rec["test_accuracy"],
            color=color,
            linestyle=":",
            label=f"{name} test ({rec['test_accuracy']:.3f})",
        )
    loss_ax.set(xlabel="epoch", ylabel="mean BCE loss", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(-0.02, 1.02))
    for ax in (loss_ax, acc_ax):
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    data = "synthetic" if record["dataset"]["synthetic"] else "real"
    figure.suptitle(
        f"reference solution, {data} casting data, {record['device']}, seed {record['seed']}"
    )
    return figure


def plot_learning_curves(record: dict[str, Any], path: str | Path) -> Path:
    """Save :func:`learning_curves_figure` of ``record`` as a PNG at ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = learning_curves_figure(record)
    FigureCanvasAgg(figure)
    path = Path(path)
    figure.savefig(path, format="png", dpi=110)
    return path
