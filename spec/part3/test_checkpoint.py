"""Task 3.4: ``store_checkpoint(model, epoch)`` saves the state dict to checkpoints/model-{epoch}.pt.

The contract puts the folder under the current working directory, so the
observer (:func:`fmlgrade.spec.worker.part3_observers.store_checkpoints`) runs the
student's function in a new, empty folder that the check names, beside the
student's code. The grader then reads what was written there itself
(``submission.worker_files``: regular files only, no symbolic link followed,
the size bounded) and loads each file here with
``torch.load(..., weights_only=True)`` (a saved state dict loads; a pickled
whole model does not), after checking that it is torch's zip format and
unpacks to a bounded size (:func:`fmlgrade.spec.part3.support.load_state_dict`).
The file must hold exactly the model's ``state_dict()``: the same keys and
equal tensors, buffers included. The model is a small seeded one, which the
check rebuilds from the same seed to know what the file must hold. (The check
also runs in its own ``tmp_path``, so that an in-process run writes nothing
into the grader's working directory.)
"""

from __future__ import annotations

import pytest
import torch

from fmlgrade.spec.part3 import support as s
from fmlgrade.spec.worker import part3_observers as obs
from fmlgrade.spec.worker import part3_support as w

pytestmark = pytest.mark.task("3.4")


def _loaded(files: dict[str, bytes], epoch: int, call: str) -> dict:
    name = f"checkpoints/model-{epoch}.pt"
    if name not in files:
        raise AssertionError(
            f"{call}: expected the file {name} under the current working directory; "
            f"{s.listing(list(files))}"
        )
    loaded = s.load_state_dict(files[name])
    if loaded.error is not None:
        raise AssertionError(
            f"{call}: {name} cannot be loaded with torch.load({name}, weights_only=True): "
            f"{loaded.error} (such a load only reads tensors and plain containers); save "
            f"model.state_dict() with torch.save, not the model object"
        )
    if loaded.state is None:
        raise AssertionError(
            f"{call}: {name} holds a {loaded.type}, expected the model's state dict "
            f"(torch.save(model.state_dict(), path))"
        )
    return loaded.state


def _compare(loaded: dict, seed: int, call: str) -> None:
    state = w.SmallModel(seed=seed).state_dict()
    if set(loaded) != set(state):
        missing = sorted(set(state) - set(loaded))
        extra = sorted(str(k)[:80] for k in set(loaded) - set(state))
        raise AssertionError(
            f"{call}: the saved state dict has the wrong keys (missing: {s.frozen_names(missing) or 'none'}; "
            f"unexpected: {s.frozen_names(extra) or 'none'}); save model.state_dict()"
        )
    for key, tensor in state.items():
        saved = loaded[key]
        if (
            not isinstance(saved, torch.Tensor)
            or tuple(saved.shape) != tuple(tensor.shape)
            or saved.dtype != tensor.dtype
            or not torch.equal(saved, tensor)
        ):
            raise AssertionError(
                f"{call}: the saved {key!r} differs from the model's; save model.state_dict() "
                f"as it is when store_checkpoint is called"
            )


def _store(submission, device, models: dict[int, int]) -> dict[str, bytes]:
    """Run store_checkpoint(SmallModel(seed), epoch) for each epoch -> seed, in order; the files written."""
    folder = s.new_run_folder("store-checkpoint")
    submission.observe(obs.store_checkpoints, folder, list(models.items()), str(device))
    return s.read_worker_files(submission, folder, what="store_checkpoint")


@pytest.mark.parametrize("epoch", [0, 7, 12])
def test_saves_the_state_dict_under_the_epoch_number(
    submission, device, epoch, tmp_path, monkeypatch
):
    """checkpoints/model-{epoch}.pt holds model.state_dict(), loadable with weights_only=True."""
    monkeypatch.chdir(tmp_path)
    files = _store(submission, device, {epoch: epoch})
    call = f"store_checkpoint(model, {epoch})"
    _compare(_loaded(files, epoch, call), epoch, call)


def test_creates_the_folder_once_and_reuses_it(submission, device, tmp_path, monkeypatch):
    """The checkpoints folder is created if missing and reused when it exists."""
    monkeypatch.chdir(tmp_path)
    models = {epoch: 10 + epoch for epoch in (1, 2, 3)}
    files = _store(submission, device, models)
    for epoch, seed in models.items():
        call = f"store_checkpoint(model, {epoch}) after the epochs before it"
        _compare(_loaded(files, epoch, call), seed, call)
