"""Provided skeleton helper: the VGG-11 backbone of Part 3, never downloaded.

The handout's ``AdaptedVGG`` calls ``torchvision.models.vgg11(weights=...)``,
which downloads 507 MB of ImageNet weights on first use. Grading must not touch
the network, so this helper builds the same backbone but only *reads* the
weights where torch's hub cache already holds them
(``torch.hub.get_dir()/checkpoints/<file>``, which honours ``$TORCH_HOME``).
When they are absent it raises :class:`PretrainedWeightsMissing`, which says
where to put the file. The grader itself always uses ``weights=None``.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision.models import VGG11_Weights, vgg11

__all__ = [
    "PretrainedWeightsMissing",
    "WeightsArg",
    "vgg11_backbone",
    "vgg11_weights_available",
    "vgg11_weights_path",
]

#: What ``weights`` may be: no weights, a name of the one VGG-11 weight set, or its enum member.
WeightsArg = str | VGG11_Weights | None

_ACCEPTED_NAMES = ("DEFAULT", "IMAGENET1K_V1")


class PretrainedWeightsMissing(FileNotFoundError):
    """The pretrained VGG-11 weights are not in torch's cache, and nothing may be downloaded."""


def _resolve(weights: WeightsArg) -> VGG11_Weights | None:
    """Turn an accepted ``weights`` argument into the enum member (or None); reject the rest."""
    if weights is None:
        return None
    if isinstance(weights, VGG11_Weights):
        return weights
    if isinstance(weights, str):
        if weights in _ACCEPTED_NAMES:
            return VGG11_Weights[weights]
        raise ValueError(
            f"unknown VGG-11 weights {weights!r}: use None, "
            + ", ".join(repr(n) for n in _ACCEPTED_NAMES)
            + " or torchvision.models.VGG11_Weights.IMAGENET1K_V1"
        )
    raise TypeError(
        "weights must be None, a string such as 'DEFAULT', or a "
        f"torchvision.models.VGG11_Weights member, not {type(weights).__name__}"
    )


def vgg11_weights_path(weights: WeightsArg = "DEFAULT") -> Path:
    """Where torch's hub cache keeps the weight file (the same place torchvision would use).

    Computed at call time, so a changed ``$TORCH_HOME`` is honoured.
    """
    resolved = _resolve(weights)
    if resolved is None:
        raise ValueError("weights=None has no weight file")
    file_name = os.path.basename(urlparse(resolved.url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name


def vgg11_weights_available(weights: WeightsArg = "DEFAULT") -> bool:
    """True when the pretrained weights already sit in torch's cache (loading needs no network)."""
    return vgg11_weights_path(weights).is_file()


def _trim_classifier(model: nn.Module) -> nn.Module:
    """Drop the last Linear (the 1000 ImageNet classes), so the model outputs 4096 features."""
    model.classifier = model.classifier[:-1]
    return model


def vgg11_backbone(weights: WeightsArg = "DEFAULT") -> nn.Module:
    """VGG-11 without its last Linear layer: ``(B, 3, H, W)`` to ``(B, 4096)``.

    ``weights=None`` gives randomly initialised weights (what grading uses).
    ``"DEFAULT"``, ``"IMAGENET1K_V1"`` or the enum member load the ImageNet
    weights from torch's cache only; if the file is not there this raises
    :class:`PretrainedWeightsMissing` instead of downloading.
    """
    resolved = _resolve(weights)
    if resolved is None:
        return _trim_classifier(vgg11(weights=None))

    path = vgg11_weights_path(resolved)
    if not path.is_file():
        raise PretrainedWeightsMissing(
            f"The pretrained VGG-11 weights are not in torch's cache, and nothing is "
            f"downloaded here. Put the file at\n    {path}\n(download it from "
            f"{resolved.url} ; the folder is torch.hub.get_dir()/checkpoints and follows "
            f"$TORCH_HOME). Grading does not need them: it uses weights=None."
        )
    # Same construction as torchvision's own loading path, but reading the file directly,
    # so no code path can reach the network.
    model = vgg11(weights=None, init_weights=False)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:  # a truncated download or a wrong file
        raise RuntimeError(
            f"could not load the VGG-11 weights from {path}: {exc}. Delete the file and "
            f"fetch it again from {resolved.url}."
        ) from exc
    return _trim_classifier(model)
