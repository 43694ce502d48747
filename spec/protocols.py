"""Typing protocols for every student name of the contract.

They document, in code, the interface the checks rely on (CONTRACT.md is
the prose version). Nothing here is enforced at run time by ``isinstance``:
the checks test behaviour, since students may add attributes freely.
Array shapes use B for the batch size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:  # torch is only needed for Parts 2 and 3
    import torch
    from torch.utils.data import DataLoader

History = dict[str, list[float]]  # {"train_loss": [...], "val_loss": [...]}, one float per epoch


# -- Part 1 (NumPy only) ------------------------------------------------------
class LayerLike(Protocol):
    """A layer of the NumPy network; ``forward`` stores what ``backward``/``update`` need."""

    def forward(self, x: np.ndarray) -> np.ndarray: ...
    def backward(self, gradient: np.ndarray) -> np.ndarray: ...
    def update(self, learn_rate: float) -> None: ...


class MyLinearLayer(LayerLike, Protocol):
    """1.1: ``x (B, n_in) -> x @ w + b (B, n_out)``; ``update`` is one SGD step with batch-summed gradients."""

    w: np.ndarray  # (n_in, n_out); the grader may assign it
    b: np.ndarray  # (n_out,); the grader may assign it

    def __init__(self, n_in: int, n_out: int) -> None: ...


class MyReLU(LayerLike, Protocol):
    """1.2: element-wise ``max(0, x)``; backward masks the gradient with ``x > 0`` (any value in [0, 1] at 0)."""

    def __init__(self) -> None: ...


class MyNeuralNet(Protocol):
    """1.3: ``layers = [Linear(1, n), ReLU(), Linear(n, 1)]``; backward(y) starts from ``(h - y) / B``."""

    layers: list[LayerLike]

    def __init__(self, n_hidden: int) -> None: ...
    def forward(self, x: np.ndarray) -> np.ndarray: ...
    def backward(self, y: np.ndarray) -> Any: ...
    def update(self, learn_rate: float) -> None: ...


class TrainMyNeuralNet(Protocol):
    """1.4: mini-batch gradient descent, every epoch visits all N points; forward, backward, update per batch."""

    def __call__(self, net: MyNeuralNet, epochs: int, batch_size: int, learn_rate: float, N: int) -> Any: ...


class AddPadding(Protocol):
    """1.6: ``(B, h, w, F) -> (B, h + 2P, w + 2P, F)`` with a zero border on the spatial axes."""

    def __call__(self, images: np.ndarray, padding: int) -> np.ndarray: ...


class Convolve(Protocol):
    """1.7: kernels ``(K, K, F_in, F_out)``, padded images ``(B, H, W, F_in)`` -> ``(B, H_out, W_out, F_out)``."""

    def __call__(self, kernels: np.ndarray, images: np.ndarray, stride: int) -> np.ndarray: ...


# -- Part 2 (torch) -----------------------------------------------------------
class SimpLeNet(Protocol):
    """2.1: an ``nn.Module``, ``(B, 3, 224, 224) -> (B, 1)`` in (0, 1); 43,929 trainable parameters."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


class Train(Protocol):
    """2.2: Adam + BCELoss, the standard loop per epoch, then the mean validation loss without gradients."""

    def __call__(
        self,
        model: torch.nn.Module,
        train_loader: DataLoader,
        val_loader: DataLoader,
        epochs: int,
        learn_rate: float,
        device: str | torch.device,
    ) -> History: ...


# -- Part 3 (torch, torchvision) -------------------------------------------------
class AdaptedVGG(Protocol):
    """3.1: frozen ``self.vgg`` (always in eval mode) followed by the trainable ``self.head``."""

    vgg: torch.nn.Module
    head: torch.nn.Module

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...
    def train(self, mode: bool = True) -> AdaptedVGG: ...


class EarlyStoppingCheck(Protocol):
    """3.2: True exactly when ``losses[-threshold-1:]`` exists and is strictly increasing."""

    def __call__(self, losses: Sequence[float], threshold: int) -> bool: ...


class StoreCheckpoint(Protocol):
    """3.4: ``torch.save(model.state_dict(), "checkpoints/model-{epoch}.pt")`` relative to the working directory."""

    def __call__(self, model: torch.nn.Module, epoch: int) -> None: ...


class TransferTrain(Protocol):
    """3.5: like ``train`` over the trainable parameters, with a checkpoint per epoch and early stopping."""

    def __call__(
        self,
        model: torch.nn.Module,
        train_loader: DataLoader,
        val_loader: DataLoader,
        epochs: int,
        learn_rate: float,
        threshold: int,
        device: str | torch.device,
    ) -> History: ...


class EvaluateAccuracy(Protocol):
    """3.6: the fraction of samples with ``(output > 0.5) == (label == 1)``, in eval mode without gradients."""

    def __call__(self, model: torch.nn.Module, test_loader: DataLoader, device: str | torch.device) -> float: ...


#: The protocol each student name must follow.
PROTOCOLS: dict[str, type] = {
    "MyLinearLayer": MyLinearLayer,
    "MyReLU": MyReLU,
    "MyNeuralNet": MyNeuralNet,
    "train_myneuralnet": TrainMyNeuralNet,
    "add_padding": AddPadding,
    "convolve": Convolve,
    "SimpLeNet": SimpLeNet,
    "train": Train,
    "AdaptedVGG": AdaptedVGG,
    "DropoutAdaptedVGG": AdaptedVGG,
    "early_stopping_check": EarlyStoppingCheck,
    "store_checkpoint": StoreCheckpoint,
    "transfer_train": TransferTrain,
    "evaluate_accuracy": EvaluateAccuracy,
}
