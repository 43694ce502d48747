"""Task 3.4: ``store_checkpoint(model, epoch)`` saves the state dict to checkpoints/model-{epoch}.pt.

The contract puts the folder under the current working directory, so the
observer (:func:`fmlgrade.spec.worker.part3_observers.store_checkpoints`) runs the
student's function in a fresh, empty working directory of its own, beside the
student's code, and reads the files back there. The file must load with
``torch.load(..., weights_only=True)`` (a saved state dict does; a pickled
whole model does not) and hold exactly the model's ``state_dict()``: the same
keys and equal tensors, buffers included. The model is a small seeded one,
which the check rebuilds from the same seed to know what the file must hold.
(The check also runs in its own ``tmp_path``, so that an in-process run
writes nothing into the grader's working directory.)
"""

from __future__ import annotations

import pytest
import torch

from fmlgrade.spec.worker import part3_observers as obs
from fmlgrade.spec.worker import part3_support as h

pytestmark = pytest.mark.task("3.4")


def _listing(files: list[str]) -> str:
    return "it contains " + (", ".join(files) if files else "no files")


def _loaded(seen: dict, epoch: int, call: str, files: list[str]) -> dict:
    name = f"checkpoints/model-{epoch}.pt"
    if not seen["found"]:
        raise AssertionError(
            f"{call}: expected the file {name} under the current working directory; "
            f"{_listing(files)}"
        )
    if seen["error"] is not None:
        raise AssertionError(
            f"{call}: torch.load({name}, weights_only=True) failed with {seen['error']} (such a "
            f"load only reads tensors and plain containers); save model.state_dict(), not the "
            f"model object"
        )
    if not isinstance(seen["state"], dict):
        raise AssertionError(
            f"{call}: {name} holds a {seen['type']}, expected the model's state dict "
            f"(torch.save(model.state_dict(), path))"
        )
    return seen["state"]


def _compare(loaded: dict, seed: int, call: str) -> None:
    state = h.SmallModel(seed=seed).state_dict()
    if set(loaded) != set(state):
        missing = sorted(set(state) - set(loaded))
        extra = sorted(map(str, set(loaded) - set(state)))
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


def _store(submission, device, models: dict[int, int]) -> dict:
    """Observe store_checkpoint(SmallModel(seed), epoch) for each epoch -> seed, in order."""
    return submission.observe(obs.store_checkpoints, list(models.items()), str(device))


@pytest.mark.parametrize("epoch", [0, 7, 12])
def test_saves_the_state_dict_under_the_epoch_number(
    submission, device, epoch, tmp_path, monkeypatch
):
    """checkpoints/model-{epoch}.pt holds model.state_dict(), loadable with weights_only=True."""
    monkeypatch.chdir(tmp_path)
    seen = _store(submission, device, {epoch: epoch})
    call = f"store_checkpoint(model, {epoch})"
    loaded = _loaded(seen["checkpoints"][0], epoch, call, seen["files"])
    _compare(loaded, epoch, call)


def test_creates_the_folder_once_and_reuses_it(submission, device, tmp_path, monkeypatch):
    """The checkpoints folder is created if missing and reused when it exists."""
    monkeypatch.chdir(tmp_path)
    models = {epoch: 10 + epoch for epoch in (1, 2, 3)}
    seen = _store(submission, device, models)
    for (epoch, seed), checkpoint in zip(models.items(), seen["checkpoints"], strict=True):
        call = f"store_checkpoint(model, {epoch}) after the epochs before it"
        loaded = _loaded(checkpoint, epoch, call, seen["files"])
        _compare(loaded, seed, call)
