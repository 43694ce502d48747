"""Small tools the observers of Parts 2 and 3 share (they run beside student code)."""

from __future__ import annotations

from typing import Any

import torch


def detached(tensor: torch.Tensor) -> torch.Tensor:
    """A CPU copy of ``tensor`` outside autograd: what an observer hands back."""
    return tensor.detach().cpu().clone()


def bounded_repr(value: Any, limit: int) -> str:
    """``repr(value)`` cut to ``limit`` characters; a broken ``__repr__`` gives ``<TypeName object>``."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ of a student object
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[:limit] + " ..."
