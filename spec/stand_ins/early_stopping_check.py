"""Stand-in for ``early_stopping_check``: what the student's ``transfer_train`` calls while 3.5 is graded."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["early_stopping_check"]


def early_stopping_check(losses: Sequence[float], threshold: int) -> bool:
    """True exactly when ``len(losses) > threshold`` and the last ``threshold + 1`` losses strictly rise."""
    history = list(losses)
    if len(history) <= threshold:
        return False
    first = len(history) - threshold - 1
    return all(history[i + 1] > history[i] for i in range(first, len(history) - 1))
