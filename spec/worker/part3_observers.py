"""Observers of Part 3: the spec's code that touches student objects, run beside them.

The checks (``test_*.py``, trusted) call these as
``submission.observe(observer, *args)``; each runs next to the student's code
(in the grading worker, or in-process for trusted solutions) with a
:class:`~fmlgrade.harness.worker.student_view.StudentView` and returns plain data:
numbers, strings, lists, dicts and CPU tensors. Whatever an observer returns is
a claim of a possibly hostile process, so the observers only *describe*
(``requires_grad`` flags, module modes, parameter shapes, recorded forward
calls, the files written) and *run* (forward outputs, what the head received,
trained weights, saved state dicts); the checks decide, against what the
trusted side computes itself: the skeleton's VGG with the same known weights
(:func:`fmlgrade.spec.worker.part3_support.expected_outputs`), the reference
``transfer_train`` from the same start, the contract's rules.

Models and loaders handed to student code (the VGG built from the student's
class, :class:`~fmlgrade.spec.worker.part3_support.FrozenBackboneModel`,
:class:`~fmlgrade.spec.worker.part3_support.PretrainedStandIn`, ...) are built here
from seeds and plain settings, never shipped. Observers raise
``AssertionError`` or ``PrerequisiteFailed`` with the message a student
should read; errors raised by the student's code pass through.

This module may import torch, numpy, :mod:`fmlgrade.spec` (not its checks),
:mod:`fmlgrade.spec.worker.part3_support` and :mod:`fmlgrade.fixtures`; never
:mod:`fmlgrade.solutions` or :mod:`fmlgrade.harness`.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fmlgrade.spec.worker import part3_support as h
from fmlgrade.spec.worker.observing import bounded_repr, detached
from fmlgrade.spec.worker.outcomes import prerequisite

#: Longest ``repr`` of a student object sent back for messages.
REPR_LIMIT = 300
#: Deepest nesting :func:`_plain` copies (a history is a dict of lists).
PLAIN_DEPTH = 6


def _repr(value: Any) -> str:
    return bounded_repr(value, REPR_LIMIT)


def _plain(value: Any, depth: int = 0) -> Any:
    """A student's value as plain data, keeping what the checks judge.

    Numbers, strings, None and tensors stay (NumPy scalars become Python
    numbers, tensors CPU copies); lists, tuples and dicts (subclasses too) are
    copied as plain ones; anything else becomes the string
    ``"<TypeName> repr"``, which no check accepts as a number, list or dict.
    """
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    if isinstance(value, torch.Tensor):
        return detached(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return np.array(value)
    if depth < PLAIN_DEPTH:
        if isinstance(value, (list, tuple)):
            items = [_plain(item, depth + 1) for item in value]
            return tuple(items) if isinstance(value, tuple) else items
        if isinstance(value, dict):
            plain = {}
            for key, item in value.items():
                key = key if type(key) in (str, int, float, bool) else _repr(key)
                plain[key] = _plain(item, depth + 1)
            return plain
    return f"<{type(value).__name__}> {_repr(value)}"


def _result(value: Any) -> dict[str, Any]:
    """A student function's return value: plain copy, type name and ``repr`` (for messages)."""
    return {"value": _plain(value), "type": type(value).__name__, "repr": _repr(value)}


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {str(k): detached(v) for k, v in module.state_dict().items()}


# =================================================================== the VGG models (3.1a, 3.1b, 3.3)
#: The student's model of one class at a time (~500 MB): building the next one first lets the
#: previous one go, so the student's side never holds two VGGs. Keyed by the class object, so a
#: new submission never meets a model of an older one.
_SLOT: dict[str, Any] = {}


def _release() -> None:
    _SLOT.clear()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def release_models(view) -> None:
    """Let the cached VGG model go (and its ~500 MB with it); called when a check module ends."""
    _release()


def _construct(view, name: str) -> dict[str, Any]:
    """``name(weights=None)``, built once per class object, described, then given known weights.

    The model is built with torch's global generator seeded with
    :data:`~fmlgrade.spec.worker.part3_support.BUILD_SEED`. What the constructor left
    behind (``requires_grad`` of every parameter, the modules of ``self.vgg``
    in train mode, the layout of ``self.vgg`` and ``self.head``) is recorded
    first; then every parameter of ``self.vgg`` and ``self.head`` gets the
    known weights of :func:`~fmlgrade.spec.worker.part3_support.fill_parameters`.
    An exception (of the constructor, or a model without the skeleton's
    ``vgg`` and ``head``) propagates and is remembered, so a broken
    constructor is not run again by every check.
    """
    cls = view.require(name)
    if _SLOT.get("cls") is not cls:
        _release()  # before building: never two VGGs in memory
        _SLOT["cls"] = cls
        try:
            with h.seeded(h.BUILD_SEED):
                model = cls(weights=None)
            description = _inspect(model, f"{name}(weights=None)")
            h.fill_parameters(model.vgg, h.BACKBONE_SEED)
            h.fill_parameters(model.head, h.HEAD_SEED)
        except BaseException as exc:
            _SLOT["error"] = exc
            raise
        _SLOT["built"] = {"model": model, "description": description}
    if "error" in _SLOT:
        raise _SLOT["error"]
    return _SLOT["built"]


def _inspect(model: Any, what: str) -> dict[str, Any]:
    if not isinstance(model, nn.Module):
        raise AssertionError(f"{what} must be an nn.Module, got {type(model).__name__}")
    for part in ("vgg", "head"):
        if not isinstance(getattr(model, part, None), nn.Module):
            raise AssertionError(
                f"{what} has no submodule self.{part}: keep the skeleton's self.vgg (VGG-11 without "
                f"its last Linear) and self.head"
            )
    return {
        "requires_grad": {str(n): bool(p.requires_grad) for n, p in model.named_parameters()},
        "vgg_training": [n or "vgg" for n, m in model.vgg.named_modules() if m.training],
        "layout": h.describe_layout(model),
    }


def _model(view, name: str, device: str, *, graded: bool) -> tuple[nn.Module, dict[str, Any]]:
    """The cached model on ``device`` with cleared gradients, and its description.

    Outside the constructor's own task (``graded=False``) a failing
    constructor is a prerequisite, not this check's finding.
    """
    if graded:
        built = _construct(view, name)
    else:
        with prerequisite(f"{name}(weights=None) (the constructor, task 3.1a)"):
            built = _construct(view, name)
    model = built["model"]
    model.to(device)
    model.zero_grad(set_to_none=True)
    return model, built["description"]


def _output(value: Any, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise AssertionError(f"{what} must return a tensor, got {type(value).__name__}")
    return detached(value)


def _forward(model: nn.Module, x: torch.Tensor, *, train: bool, what: str) -> torch.Tensor:
    model.train(train)
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        model.eval()
    return _output(out, what)


def vgg_description(view, name: str) -> dict[str, Any]:
    """What ``name(weights=None)`` looked like right after its constructor (its own task).

    ``{"requires_grad": {parameter name: bool}, "vgg_training": [names of the
    modules of self.vgg in train mode], "layout": {"vgg"|"head": [(parameter
    name, shape), ...]}}``.
    """
    return _construct(view, name)["description"]


def vgg_backward(view, device: str, seed: int) -> dict[str, Any]:
    """3.1a: ``model.head(model.vgg(x)).sum().backward()`` on the student's AdaptedVGG.

    Returns ``trainable_vgg`` / ``frozen_head`` (backbone parameters that
    require a gradient, head parameters that do not); only when both are empty
    is the backward pass run (otherwise it would hold ~500 MB of backbone
    gradients), giving ``ran``, ``vgg_with_grad`` (backbone parameters that got
    a gradient) and ``head_grad`` (whether every head parameter got one and
    some are non-zero). ``x`` is ``random_images(1, device, seed)``.
    """
    model, _ = _model(view, "AdaptedVGG", device, graded=True)
    seen: dict[str, Any] = {
        "trainable_vgg": [f"vgg.{n}" for n, p in model.vgg.named_parameters() if p.requires_grad],
        "frozen_head": [f"head.{n}" for n, p in model.head.named_parameters() if not p.requires_grad],
        "ran": False,
        "vgg_with_grad": [],
        "head_grad": False,
    }
    if seen["trainable_vgg"] or seen["frozen_head"]:
        return seen
    x = h.random_images(1, device, seed)
    model.eval()
    try:
        model.head(model.vgg(x)).sum().backward()
        seen["vgg_with_grad"] = [
            f"vgg.{n}" for n, p in model.vgg.named_parameters() if p.grad is not None
        ]
        grads = [p.grad for p in model.head.parameters()]
        seen["head_grad"] = all(g is not None for g in grads) and any(
            bool(g.abs().sum() > 0) for g in grads
        )
        seen["ran"] = True
    finally:
        model.zero_grad(set_to_none=True)
    return seen


def vgg_forward(view, device: str, batch: int, seed: int) -> dict[str, Any]:
    """3.1b: ``AdaptedVGG.forward(x)`` in eval mode, without gradients.

    ``{"built": vgg_description, "output": (B, ...) tensor}``; ``x`` is
    ``random_images(batch, device, seed)``, the model holds the known weights.
    """
    model, description = _model(view, "AdaptedVGG", device, graded=False)
    x = h.random_images(batch, device, seed)
    output = _forward(model, x, train=False, what="AdaptedVGG.forward")
    return {"built": description, "output": output}


def vgg_train_mode(view, device: str, batch: int, seed: int) -> dict[str, Any]:
    """3.1b: the modes after ``model.train()``, and ``forward(x)`` in train mode.

    ``{"built": vgg_description, "vgg_training": [modules of self.vgg in train
    mode after model.train()], "model_training": bool, "head_training": bool
    (every module of self.head), "output": tensor}``.
    """
    model, description = _model(view, "AdaptedVGG", device, graded=False)
    x = h.random_images(batch, device, seed)
    try:
        model.train()
        modes = {
            "vgg_training": [n or "vgg" for n, m in model.vgg.named_modules() if m.training],
            "model_training": bool(model.training),
            "head_training": all(m.training for m in model.head.modules()),
        }
    finally:
        model.eval()
    output = _forward(model, x, train=True, what="AdaptedVGG.forward")
    return {"built": description, **modes, "output": output}


def vgg_forward_gradients(view, device: str, seed: int) -> dict[str, Any]:
    """3.1b: ``model(x).sum().backward()`` in train mode, with the contract's freezing.

    Which parameters are trainable is 3.1a's business, so for this run the
    backbone is frozen and the head trainable (and the student's flags put back
    afterwards). ``{"output_type": type name, "is_tensor": bool,
    "requires_grad": whether the output requires a gradient, "missing": [head
    parameters that got no non-zero gradient]}`` (``missing`` only when the
    output requires one).
    """
    model, _ = _model(view, "AdaptedVGG", device, graded=False)
    x = h.random_images(1, device, seed)
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    model.vgg.requires_grad_(False)
    model.head.requires_grad_(True)
    model.train()
    seen: dict[str, Any] = {"missing": []}
    try:
        out = model(x)
        seen["output_type"] = type(out).__name__
        seen["is_tensor"] = isinstance(out, torch.Tensor)
        seen["requires_grad"] = seen["is_tensor"] and bool(out.requires_grad)
        if seen["requires_grad"]:
            out.sum().backward()
            seen["missing"] = [
                f"head.{name}" for name, p in model.head.named_parameters()
                if p.grad is None or not bool(p.grad.abs().sum() > 0)
            ]
    finally:
        model.zero_grad(set_to_none=True)
        model.eval()
        for name, p in model.named_parameters():
            p.requires_grad_(flags[name])
    return seen


def dropout_train_inputs(view, device: str, batch: int, seed: int) -> dict[str, Any]:
    """3.3: what the head's first Linear receives in two forwards of DropoutAdaptedVGG in train mode.

    ``{"built": vgg_description, "vgg_training": [modules of self.vgg in train
    mode after model.train()], "seen": [the Linear's input per call]}``; the
    forwards run (only when ``vgg_training`` is empty) without gradients,
    torch's generator seeded with ``seed``, on ``random_images(batch, device,
    seed)``.
    """
    model, description = _model(view, "DropoutAdaptedVGG", device, graded=True)
    linear = h.first_head_linear(model, what="DropoutAdaptedVGG")
    x = h.random_images(batch, device, seed)
    seen: list[torch.Tensor] = []
    try:
        model.train()
        training = [n or "vgg" for n, m in model.vgg.named_modules() if m.training]
        if not training:
            with torch.no_grad(), h.seeded(seed), h.capture_inputs(linear) as seen:
                model(x)
                model(x)
    finally:
        model.eval()
    return {"built": description, "vgg_training": training, "seen": [detached(s) for s in seen]}


def dropout_eval(view, device: str, batch: int, seed: int) -> dict[str, Any]:
    """3.3: DropoutAdaptedVGG after ``model.train(); model.eval()``: one forward without gradients.

    ``{"built": vgg_description, "seen": [the input of the head's first
    Linear per call], "output": tensor}``.
    """
    model, description = _model(view, "DropoutAdaptedVGG", device, graded=True)
    linear = h.first_head_linear(model, what="DropoutAdaptedVGG")
    x = h.random_images(batch, device, seed)
    model.train()  # then back: eval must switch the dropout off again
    model.eval()
    with torch.no_grad(), h.capture_inputs(linear) as seen:
        out = model(x)
    output = _output(out, "DropoutAdaptedVGG.forward")
    return {"built": description, "seen": [detached(s) for s in seen], "output": output}


# =================================================================== early_stopping_check (3.2)
def early_stopping(view, losses: list[float], threshold: int) -> dict[str, Any]:
    """3.2: ``early_stopping_check(losses, threshold)`` on a copy of ``losses``.

    ``{"value", "type", "repr"}`` of the result (see :func:`_result`; a NumPy
    bool comes back as a bool) and ``losses_after``, the list as the call left it.
    """
    early_stopping_check = view.require("early_stopping_check")
    given = list(losses)
    result = early_stopping_check(given, threshold)
    return {**_result(result), "losses_after": _plain(given)}


# =================================================================== store_checkpoint (3.4)
def _read_state(path: Path) -> dict[str, Any]:
    """A file written by student code, loaded with ``weights_only=True``, as plain data.

    ``{"found": bool, "error": exception type name or None, "type": type name
    of what was loaded, "state": the mapping's entries or None}``.
    """
    seen: dict[str, Any] = {"found": path.is_file(), "error": None, "type": None, "state": None}
    if not seen["found"]:
        return seen
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to load is the finding
        seen["error"] = type(exc).__name__
        return seen
    seen["type"] = type(loaded).__name__
    if isinstance(loaded, dict):
        seen["state"] = _plain(dict(loaded), depth=PLAIN_DEPTH - 1)
    return seen


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def store_checkpoints(view, models: list[tuple[int, int]], device: str) -> dict[str, Any]:
    """3.4: ``store_checkpoint(SmallModel(seed).to(device), epoch)`` for each ``(epoch, seed)``, in order.

    Runs in a fresh, empty working directory, then reads
    ``checkpoints/model-{epoch}.pt`` back: ``{"files": [every file written
    there, relative to it], "checkpoints": [_read_state of each epoch's file]}``.
    """
    store_checkpoint = view.require("store_checkpoint")
    with h.fresh_folder() as folder:
        built = [(epoch, h.SmallModel(seed=seed).to(device)) for epoch, seed in models]
        for epoch, model in built:
            store_checkpoint(model, epoch)
        return {
            "files": _files(folder),
            "checkpoints": [
                _read_state(folder / "checkpoints" / f"model-{epoch}.pt") for epoch, _ in built
            ],
        }


# =================================================================== transfer_train (3.5)
def transfer_train_run(
    view, val_outputs: list[float], epochs: int, threshold: int, learn_rate: float, device: str
) -> dict[str, Any]:
    """3.5: the student's ``transfer_train`` on :func:`~fmlgrade.spec.worker.part3_support.bookkeeping_setup`.

    Runs in a fresh, empty working directory, one torch thread, torch's
    generator seeded with ``RUN_SEED``; the names the loop calls are whatever
    the check substituted (``submission.with_reference``). Returns the
    model's records and what it ended with: ``history`` (:func:`_plain`),
    ``events`` ((pass, training, batch size) per forward), ``snapshots`` (the
    state dict at each validation pass), ``train_outputs`` (per training
    batch), ``state`` and ``requires_grad`` after training, and
    ``checkpoints``: ``{"files": [names in checkpoints/], "states": {name:
    _read_state}}`` for the ``model-*.pt`` files.
    """
    transfer_train = view.require("transfer_train")
    model, train_loader, val_loader = h.bookkeeping_setup(val_outputs)
    with h.fresh_folder() as folder:
        with h.torch_threads(1), h.seeded(h.RUN_SEED):
            history = transfer_train(
                model, train_loader, val_loader, epochs, learn_rate, threshold, device
            )
        saved = folder / "checkpoints"
        files = sorted(p.name for p in saved.glob("*")) if saved.is_dir() else []
        states = {
            name: _read_state(saved / name)
            for name in files
            if name.startswith("model-") and name.endswith(".pt")
        }
    return {
        "history": _plain(history),
        "events": [(str(p), bool(t), int(n)) for p, t, n in model.events],
        "snapshots": [dict(s) for s in model.snapshots],
        "train_outputs": list(model.train_outputs),
        "state": _state(model),
        "requires_grad": {n: bool(p.requires_grad) for n, p in model.named_parameters()},
        "checkpoints": {"files": files, "states": states},
    }


def transfer_train_on_casting(
    view,
    root: str,
    size: int,
    split_seed: int,
    epochs: int,
    learn_rate: float,
    batch_size: int,
    seed: int,
    device: str,
) -> dict[str, torch.Tensor]:
    """3.5: the student's ``transfer_train`` on the synthetic casting images; the trained head.

    ``root`` is the dataset folder the check shared; the model and loaders are
    :func:`~fmlgrade.spec.worker.part3_support.casting_setup` (threshold = epochs, so
    no early stop). Runs in a fresh working directory, one torch thread,
    torch's generator seeded with ``seed``. Returns ``model.head.state_dict()``:
    the check loads it into its own copy of the model and measures the
    accuracy itself.
    """
    transfer_train = view.require("transfer_train")
    train, validation, _ = h.casting_tensors_at(root, size=size, seed=split_seed)
    model, train_loader, val_loader = h.casting_setup(
        train, validation, batch_size=batch_size, seed=seed
    )
    with h.fresh_folder(), h.torch_threads(1), h.seeded(seed):
        transfer_train(model, train_loader, val_loader, epochs, learn_rate, epochs, device)
    return _state(model.head)


# =================================================================== evaluate_accuracy (3.6)
def evaluate(
    view, outputs: list[float], labels: list[float], batch_size: int, device: str
) -> dict[str, Any]:
    """3.6: ``evaluate_accuracy`` of a :class:`~fmlgrade.spec.worker.part3_support.PresetOutputModel`.

    The model is handed over in train mode, with an
    :func:`~fmlgrade.spec.worker.part3_support.index_loader`. Returns
    :func:`_result` of the call and ``calls``: ``(training, grad enabled)`` per
    forward.
    """
    evaluate_accuracy = view.require("evaluate_accuracy")
    model = h.PresetOutputModel(outputs).to(device)
    model.train()
    loader = h.index_loader(labels, batch_size)
    result = evaluate_accuracy(model, loader, device)
    return {**_result(result), "calls": [(bool(t), bool(g)) for t, g in model.calls]}
