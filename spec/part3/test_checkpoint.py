"""Task 3.4: ``store_checkpoint(model, epoch)`` saves the state dict to checkpoints/model-{epoch}.pt.

Each check runs in its own empty working directory (``monkeypatch.chdir``),
since the contract puts the folder under the current working directory. The
file must load with ``torch.load(..., weights_only=True)`` (a saved state
dict does; a pickled whole model does not) and hold exactly the model's
``state_dict()``: the same keys and equal tensors, buffers included.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
import torch

from fmlgrade.spec.part3 import helpers as h

pytestmark = pytest.mark.task("3.4")


def _listing(folder: Path) -> str:
    if not folder.exists():
        return "nothing was written there"
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    return "it contains " + (", ".join(files) if files else "no files")


def _load(path: Path, call: str, cwd: Path) -> Mapping:
    if not path.is_file():
        raise AssertionError(
            f"{call}: expected the file checkpoints/{path.name} under the current working "
            f"directory; {_listing(cwd)}"
        )
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to load is the finding
        raise AssertionError(
            f"{call}: torch.load(checkpoints/{path.name}, weights_only=True) failed with "
            f"{type(exc).__name__} (such a load only reads tensors and plain containers); save "
            f"model.state_dict(), not the model object"
        ) from None
    if not isinstance(loaded, Mapping):
        raise AssertionError(
            f"{call}: checkpoints/{path.name} holds a {type(loaded).__name__}, expected the "
            f"model's state dict (torch.save(model.state_dict(), path))"
        )
    return loaded


def _compare(loaded: Mapping, model: torch.nn.Module, call: str) -> None:
    state = model.state_dict()
    if set(loaded) != set(state):
        missing = sorted(set(state) - set(loaded))
        extra = sorted(set(loaded) - set(state))
        raise AssertionError(
            f"{call}: the saved state dict has the wrong keys (missing: {missing or 'none'}; "
            f"unexpected: {extra or 'none'}); save model.state_dict()"
        )
    for key, tensor in state.items():
        saved = loaded[key]
        if not isinstance(saved, torch.Tensor) or not torch.equal(saved.cpu(), tensor.cpu()):
            raise AssertionError(
                f"{call}: the saved {key!r} differs from the model's; save model.state_dict() "
                f"as it is when store_checkpoint is called"
            )


@pytest.mark.parametrize("epoch", [0, 7, 12])
def test_saves_the_state_dict_under_the_epoch_number(
    submission, device, epoch, tmp_path, monkeypatch
):
    """checkpoints/model-{epoch}.pt holds model.state_dict(), loadable with weights_only=True."""
    store_checkpoint = submission.require("store_checkpoint")
    monkeypatch.chdir(tmp_path)
    model = h.SmallModel(seed=epoch).to(device)
    call = f"store_checkpoint(model, {epoch})"
    store_checkpoint(model, epoch)
    loaded = _load(tmp_path / "checkpoints" / f"model-{epoch}.pt", call, tmp_path)
    _compare(loaded, model, call)


def test_creates_the_folder_once_and_reuses_it(submission, device, tmp_path, monkeypatch):
    """The checkpoints folder is created if missing and reused when it exists."""
    store_checkpoint = submission.require("store_checkpoint")
    monkeypatch.chdir(tmp_path)
    models = {epoch: h.SmallModel(seed=10 + epoch).to(device) for epoch in (1, 2, 3)}
    for epoch, model in models.items():
        store_checkpoint(model, epoch)
    for epoch, model in models.items():
        call = f"store_checkpoint(model, {epoch}) after the epochs before it"
        loaded = _load(tmp_path / "checkpoints" / f"model-{epoch}.pt", call, tmp_path)
        _compare(loaded, model, call)
