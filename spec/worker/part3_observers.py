"""Observers of Part 3: the spec's code that touches student objects, run beside them.

The checks (``spec/part3/test_*.py``, in the grader) call these as
``submission.observe(observer, *args)``; each runs next to the student's code
(in the grading worker, or in-process for trusted solutions) with a
:class:`~fmlgrade.harness.worker.student_view.StudentView` and returns plain
data: numbers, strings, lists, dicts and CPU tensors.

Student code runs in the same process and can change anything here: this
module's functions, the models of :mod:`fmlgrade.spec.worker.part3_support`,
torch itself. So what comes back is never taken as a verdict. The observers
*run* the student's code on inputs the grader chose, with weights the
grader knows (rebuilt here from seeds), and hand back numbers: outputs,
features, parameters after a training step, the state a model was left in,
what the student's function returned. Files the student's code writes stay in
a folder the grader names and are read by the grader itself. The checks
compare all of it with what they compute themselves
(:mod:`fmlgrade.spec.part3.support`). Descriptions that also come back
(layouts, parameter names, modules in train mode) only word the messages.

Observers raise ``AssertionError`` or ``PrerequisiteFailed`` with the message a
student should read; errors raised by the student's code pass through.

This module may import torch, numpy and :mod:`fmlgrade.spec.worker`; never the
checks, :mod:`fmlgrade.solutions`, :mod:`fmlgrade.fixtures` or :mod:`fmlgrade.harness`.
"""

from __future__ import annotations

import gc
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
#: Most parameter names sent back to word a message.
NAMES_LIMIT = 40


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
    """The state dict of one of the spec's models, copied out (``nn.Module``'s own method, not an override)."""
    return {str(k): detached(v) for k, v in nn.Module.state_dict(module).items()}


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
    """``name(weights=None)``, built once per class object, given known weights, run once as built.

    The model is built with torch's global generator seeded with
    :data:`~fmlgrade.spec.worker.part3_support.BUILD_SEED`; then every
    parameter of ``self.vgg`` and ``self.head`` gets the known weights of
    :func:`~fmlgrade.spec.worker.part3_support.fill_parameters`, and the model
    runs once on the CPU test images before anything changes its mode
    (``fresh``: its output, or the error it raised). An exception of the
    constructor (or a model without the skeleton's ``vgg`` and ``head``)
    propagates and is remembered, so a broken constructor is not run again by
    every check.
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
        try:  # seeded: a dropout that fires here leaves no trace in the global generator
            with h.grad_mode(False), h.seeded(h.BUILD_SEED):
                fresh: Any = _output(model(h.random_images(h.FORWARD_BATCH, "cpu", h.FORWARD_SEED)), "forward")
        except Exception as exc:  # noqa: BLE001 - reported by the check that looks at it
            fresh = f"{type(exc).__name__}: {bounded_repr(str(exc), REPR_LIMIT)}"
        _SLOT["built"] = {"model": model, "description": description, "fresh": fresh}
    if "error" in _SLOT:
        raise _SLOT["error"]
    return _SLOT["built"]


def _inspect(model: Any, what: str) -> dict[str, Any]:
    """What the constructor left behind, to word messages: the layout and the modes of ``self.vgg``."""
    if not isinstance(model, nn.Module):
        raise AssertionError(f"{what} must be an nn.Module, got {type(model).__name__}")
    for part in ("vgg", "head"):
        if not isinstance(getattr(model, part, None), nn.Module):
            raise AssertionError(
                f"{what} has no submodule self.{part}: keep the skeleton's self.vgg (VGG-11 without "
                f"its last Linear) and self.head"
            )
    return {"vgg_training": _training(model.vgg), "layout": h.describe_layout(model)}


def _training(module: nn.Module) -> list[str]:
    return [n or "vgg" for n, m in module.named_modules() if m.training][:NAMES_LIMIT]


def _model(view, name: str, device: str, *, graded: bool) -> tuple[nn.Module, dict[str, Any]]:
    """The cached model on ``device`` with cleared gradients, and what :func:`_construct` kept.

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
    return model, built


def _output(value: Any, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise AssertionError(f"{what} must return a tensor, got {type(value).__name__}")
    return detached(value)


def _forward(model: nn.Module, x: torch.Tensor, *, train: bool, what: str) -> torch.Tensor:
    model.train(train)
    try:
        with h.grad_mode(False):
            out = model(x)
    finally:
        model.eval()
    return _output(out, what)


def _parameter_names(model: nn.Module) -> dict[int, str]:
    return {id(p): n for n, p in nn.Module.named_parameters(model)}


def _known_weights_back(model: nn.Module, trained: int | None) -> None:
    """Give the model its known weights again after a training step that trained ``trained`` numbers.

    The backbone's are drawn again only when more than the head's worth trained
    (or the step broke off: ``None``).
    """
    if trained != 0:
        head = sum(p.numel() for p in nn.Module.parameters(model.head))
        if trained is None or trained > head:
            h.fill_parameters(model.vgg, h.BACKBONE_SEED)
        h.fill_parameters(model.head, h.HEAD_SEED)
    model.zero_grad(set_to_none=True)


def vgg_training_step(view, device: str, lr: float) -> dict[str, Any]:
    """3.1a: one SGD step on ``model.head(model.vgg(x)).sum()``, with the student's ``requires_grad``.

    In eval mode (``nn.Module.train(model, False)``), on
    ``random_images(FORWARD_BATCH, device, FORWARD_SEED)``: every tensor that
    autograd gives a gradient (read from the graph, not from the model's lists)
    takes ``p -= lr * grad`` (:func:`~fmlgrade.spec.worker.part3_support.sgd_step`);
    then ``features = model.vgg(x)`` and the head's parameters are copied out,
    and the known weights put back. ``trained``: names of what trained, for
    messages only.
    """
    model, built = _model(view, "AdaptedVGG", device, graded=True)
    x = h.random_images(h.FORWARD_BATCH, device, h.FORWARD_SEED)
    nn.Module.train(model, False)
    names = _parameter_names(model)
    head = list(nn.Module.parameters(model.head))
    numbers = None
    try:
        with h.grad_mode(True):
            out = model.head(model.vgg(x))
            if not isinstance(out, torch.Tensor):
                raise AssertionError(f"model.head(model.vgg(x)) must give a tensor, got {type(out).__name__}")
            loss = out.sum()
            outside = "(a tensor outside the model's parameters)"
            trained = [names.get(id(leaf), outside) for leaf in h.graph_leaves(loss)]
            numbers = h.sgd_step(loss, lr)
            del out, loss
        with h.grad_mode(False):
            features = model.vgg(x)
        return {
            "built": built["description"],
            "trained": trained[:NAMES_LIMIT],
            "features": _output(features, "model.vgg"),
            "head": [detached(p) for p in head],
        }
    finally:
        _known_weights_back(model, numbers)


def vgg_forward(view, device: str, batch: int, seed: int) -> dict[str, Any]:
    """3.1b: ``AdaptedVGG.forward(x)`` in eval mode, without gradients.

    ``{"built": description, "output": (B, ...) tensor}``; ``x`` is
    ``random_images(batch, device, seed)``, the model holds the known weights.
    """
    model, built = _model(view, "AdaptedVGG", device, graded=False)
    x = h.random_images(batch, device, seed)
    output = _forward(model, x, train=False, what="AdaptedVGG.forward")
    return {"built": built["description"], "output": output}


def vgg_train_mode(view, device: str, batch: int, seed: int) -> dict[str, Any]:
    """3.1b: forward right after the constructor, and after ``model.train()``.

    ``{"built": description, "fresh": the output on the CPU test images right
    after construction (or the error), "output": forward(x) after
    model.train(), without gradients, "vgg_training": modules of self.vgg in
    train mode after model.train() (for messages)}``.
    """
    model, built = _model(view, "AdaptedVGG", device, graded=False)
    x = h.random_images(batch, device, seed)
    try:
        model.train()
        training = _training(model.vgg)
    finally:
        model.eval()
    output = _forward(model, x, train=True, what="AdaptedVGG.forward")
    return {"built": built["description"], "fresh": built["fresh"], "output": output, "vgg_training": training}


def vgg_forward_step(view, device: str, lr: float) -> dict[str, Any]:
    """3.1b: one SGD step on ``model(x).sum()`` in train mode, with the contract's freezing.

    Which parameters are trainable is 3.1a's business, so for this step the
    backbone is frozen and the head trainable (and the student's flags put
    back afterwards). Every tensor autograd gives a gradient through the
    student's ``forward`` takes ``p -= lr * grad``; the head's parameters are
    copied out and the known weights put back. ``x`` is
    ``random_images(FORWARD_BATCH, device, FORWARD_SEED)``.
    """
    model, built = _model(view, "AdaptedVGG", device, graded=False)
    x = h.random_images(h.FORWARD_BATCH, device, h.FORWARD_SEED)
    parameters = list(nn.Module.parameters(model))
    flags = [h.requires_grad(p) for p in parameters]
    head = list(nn.Module.parameters(model.head))
    for p in nn.Module.parameters(model.vgg):
        h.set_requires_grad(p, False)
    for p in head:
        h.set_requires_grad(p, True)
    numbers = None
    try:
        model.train()
        with h.grad_mode(True):
            out = model(x)
            if not isinstance(out, torch.Tensor):
                raise AssertionError(f"AdaptedVGG.forward must return a tensor, got {type(out).__name__}")
            numbers = h.sgd_step(out.sum(), lr)
        return {"built": built["description"], "head": [detached(p) for p in head]}
    finally:
        _known_weights_back(model, numbers)
        model.eval()
        for p, flag in zip(parameters, flags, strict=True):
            h.set_requires_grad(p, flag)


def dropout_train_inputs(view, device: str, batch: int, seed: int) -> dict[str, Any]:
    """3.3: two forwards of DropoutAdaptedVGG in train mode: what the head's first Linear received, and the outputs.

    ``{"built": description, "vgg_training": [modules of self.vgg in train mode
    after model.train()] (for messages), "seen": [the Linear's input per call],
    "outputs": [forward's output per call]}``; the forwards run without
    gradients, torch's generator seeded with ``seed``, on
    ``random_images(batch, device, seed)``.
    """
    model, built = _model(view, "DropoutAdaptedVGG", device, graded=True)
    linear = h.first_head_linear(model, what="DropoutAdaptedVGG")
    x = h.random_images(batch, device, seed)
    outputs: list[torch.Tensor] = []
    try:
        model.train()
        training = _training(model.vgg)
        with h.grad_mode(False), h.seeded(seed), h.capture_inputs(linear) as seen:
            for _ in range(2):
                outputs.append(_output(model(x), "DropoutAdaptedVGG.forward"))
    finally:
        model.eval()
    return {
        "built": built["description"],
        "vgg_training": training,
        "seen": [detached(s) for s in seen],
        "outputs": outputs,
    }


def dropout_eval(view, device: str, batch: int, seed: int) -> dict[str, Any]:
    """3.3: DropoutAdaptedVGG after ``model.train(); model.eval()``: one forward without gradients.

    ``{"built": description, "seen": [the input of the head's first Linear per
    call], "output": tensor}``.
    """
    model, built = _model(view, "DropoutAdaptedVGG", device, graded=True)
    linear = h.first_head_linear(model, what="DropoutAdaptedVGG")
    x = h.random_images(batch, device, seed)
    model.train()  # then back: eval must switch the dropout off again
    model.eval()
    with h.grad_mode(False), h.capture_inputs(linear) as seen:
        out = model(x)
    output = _output(out, "DropoutAdaptedVGG.forward")
    return {"built": built["description"], "seen": [detached(s) for s in seen], "output": output}


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
def store_checkpoints(view, folder: str, models: list[tuple[int, int]], device: str) -> None:
    """3.4: ``store_checkpoint(SmallModel(seed).to(device), epoch)`` for each ``(epoch, seed)``, in order.

    Runs in the new folder ``folder`` (under the working directory), which
    stays: the grader reads what was written there itself.
    """
    store_checkpoint = view.require("store_checkpoint")
    with h.run_folder(folder):
        built = [(epoch, h.SmallModel(seed=seed).to(device)) for epoch, seed in models]
        for epoch, model in built:
            store_checkpoint(model, epoch)


# =================================================================== transfer_train (3.5)
def transfer_train_run(
    view, folder: str, val_outputs: list[float], epochs: int, threshold: int, learn_rate: float, device: str
) -> dict[str, Any]:
    """3.5: the student's ``transfer_train`` on :func:`~fmlgrade.spec.worker.part3_support.bookkeeping_setup`.

    Runs in the new folder ``folder`` (which stays: the grader reads the
    checkpoints itself), one torch thread, torch's generator seeded with
    ``RUN_SEED``; the names the loop calls are whatever the check substituted
    (``submission.with_reference``). Returns ``history`` (:func:`_plain`) and
    ``state``, the model's state dict after training (its weights and its
    BatchNorm statistics).
    """
    transfer_train = view.require("transfer_train")
    model, train_loader, val_loader = h.bookkeeping_setup(val_outputs)
    with h.run_folder(folder), h.torch_threads(1), h.seeded(h.RUN_SEED), h.grad_mode(True):
        history = transfer_train(model, train_loader, val_loader, epochs, learn_rate, threshold, device)
    return {"history": _plain(history), "state": _state(model)}


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
    :func:`~fmlgrade.spec.worker.part3_support.casting_setup` (threshold =
    epochs, so no early stop). Runs in a fresh working directory, one torch
    thread, torch's generator seeded with ``seed``. Returns the head's state
    dict: the check loads it into its own copy of the model and measures the
    accuracy itself.
    """
    transfer_train = view.require("transfer_train")
    train, validation, _ = h.casting_tensors_at(root, size=size, seed=split_seed)
    model, train_loader, val_loader = h.casting_setup(
        train, validation, batch_size=batch_size, seed=seed
    )
    with h.fresh_folder(), h.torch_threads(1), h.seeded(seed), h.grad_mode(True):
        transfer_train(model, train_loader, val_loader, epochs, learn_rate, epochs, device)
    return _state(model.head)


# =================================================================== evaluate_accuracy (3.6)
def evaluate(
    view,
    outputs: list[float],
    labels: list[float],
    batch_size: int,
    device: str,
    train_flips: list[int] = (),  # type: ignore[assignment]
    grad_flips: list[int] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    """3.6: ``evaluate_accuracy`` of a :class:`~fmlgrade.spec.worker.part3_support.PresetOutputModel`.

    The model is handed over in train mode, with an
    :func:`~fmlgrade.spec.worker.part3_support.index_loader`; it flips the
    predictions of ``train_flips`` in train mode and of ``grad_flips`` while
    autograd records. Returns :func:`_result` of the call.
    """
    evaluate_accuracy = view.require("evaluate_accuracy")
    model = h.PresetOutputModel(outputs, train_flips, grad_flips).to(device)
    model.train()
    loader = h.index_loader(labels, batch_size)
    with h.grad_mode(True):  # as in a fresh process: evaluate_accuracy must switch gradients off itself
        return _result(evaluate_accuracy(model, loader, device))
