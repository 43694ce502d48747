"""Observers of Part 2: the spec's code that touches student objects, run beside them.

The checks (``test_*.py``, trusted) call these as
``submission.observe(observer, *args)``; each runs next to the student's code
(in the grading worker, or in-process for trusted solutions) with a
:class:`~fmlgrade.harness.worker.student_view.StudentView` and returns plain data:
numbers, strings, lists, dicts and CPU tensors. Whatever an observer returns is
a claim of a possibly hostile process, so the observers only *describe* (layer
types and hyperparameters, parameter shapes, recorded forward calls) and
*run* (forward outputs, gradients, trained parameters); the checks decide,
against the reference and the standard loop run on the trusted side with the
same seeded weights and inputs.

Inputs and weights are rebuilt from seeds on both sides
(:func:`fmlgrade.spec.worker.part2_support.random_images`,
:func:`~fmlgrade.spec.worker.part2_support.contract_layers`), never shipped.
Observers raise ``AssertionError`` or ``PrerequisiteFailed`` with the message a
student should read; errors raised by the student's code pass through.

This module may import torch, numpy, :mod:`fmlgrade.spec` (not its checks),
:mod:`fmlgrade.spec.worker.part2_support` and :mod:`fmlgrade.fixtures`; never
:mod:`fmlgrade.solutions` or :mod:`fmlgrade.harness`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from fmlgrade.spec.worker import part2_support as h
from fmlgrade.spec.worker.observing import bounded_repr, detached
from fmlgrade.spec.worker.outcomes import prerequisite
from fmlgrade.spec.worker.plain_values import as_float_array

#: The Conv2d settings that 2.1a compares with the contract.
CONV_SETTINGS = (
    "in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "padding_mode",
)
#: Longest ``repr`` of a student object sent back for messages.
REPR_LIMIT = 2000


def _plain(value: Any) -> Any:
    """``value`` as numbers, strings and tuples of those; anything else as its ``repr``."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) in (tuple, list):
        return type(value)(_plain(v) for v in value)
    return _repr(value)


def _repr(value: Any) -> str:
    return bounded_repr(value, REPR_LIMIT)


# =================================================================== SimpLeNet (2.1a, 2.1b)
def _construct(view) -> nn.Module:
    """The student's ``SimpLeNet()``, built with torch's generator seeded (task 2.1a's code)."""
    cls = view.require("SimpLeNet")
    with h.seeded(0):
        model = cls()
    if not isinstance(model, nn.Module):
        raise AssertionError(f"SimpLeNet() must be an nn.Module, got {type(model).__name__}")
    return model


def describe_simplenet(view) -> dict[str, list[dict[str, Any]]]:
    """What ``SimpLeNet()`` registers (2.1a).

    ``convs``: every ``nn.Conv2d`` module in registration order, as
    ``{"name", <CONV_SETTINGS>..., "bias": bool}``; ``linears``: every
    ``nn.Linear`` as ``{"name", "in_features", "out_features", "bias"}``;
    ``parameters``: every parameter as ``{"name", "lazy", "shape" (None if
    lazy), "numel", "requires_grad"}``.
    """
    model = _construct(view)
    found = h.find_layers(model)
    parameters = []
    for name, p in model.named_parameters():
        lazy = isinstance(p, nn.parameter.UninitializedParameter)
        parameters.append({
            "name": name,
            "lazy": lazy,
            "shape": None if lazy else tuple(p.shape),
            "numel": 0 if lazy else int(p.numel()),
            "requires_grad": bool(p.requires_grad),
        })
    return {
        "convs": [
            {"name": name, **{key: _plain(getattr(conv, key)) for key in CONV_SETTINGS},
             "bias": conv.bias is not None}
            for name, conv in found.convs
        ],
        "linears": [
            {"name": name, "in_features": _plain(linear.in_features),
             "out_features": _plain(linear.out_features), "bias": linear.bias is not None}
            for name, linear in found.linears
        ],
        "parameters": parameters,
    }


def _contract(view, device: str, seed: int) -> h.ContractModel:
    """The student's model with contract-exact layers holding ``contract_layers(seed)``, on ``device``."""
    with prerequisite("SimpLeNet() (the constructor, task 2.1a)"):
        model = _construct(view)
    contract = h.ContractModel(model, seed)
    contract.model.to(device)
    return contract


def _forward(model: nn.Module, x: torch.Tensor, what: str) -> torch.Tensor:
    """``model(x)`` as the student wrote it; errors are the check's (2.1b)."""
    output = model(x)
    if not isinstance(output, torch.Tensor):
        raise AssertionError(f"{what}: must return a torch.Tensor, got {type(output).__name__}")
    return output


def contract_simplenet(view, device: str, seed: int) -> h.ContractModel:
    """A *handle*: the student's SimpLeNet with contract-exact layers, for :func:`contract_forward`.

    Raises ``PrerequisiteFailed`` when the constructor fails or the layers do
    not have the contract's shapes (2.1a's to report).
    """
    return _contract(view, device, seed)


def contract_forward(
    view, contract: h.ContractModel, batch: int, seed: int, kind: str, device: str, what: str
) -> dict[str, Any]:
    """One hypothesis example of 2.1b: weights ``contract_layers(seed)``, input ``random_images(batch, seed, kind)``.

    Returns ``{"output": forward's output (CPU), "input_modified": whether
    forward changed x in place}``; the forward pass runs under ``no_grad``.
    """
    contract.reseed(seed)
    x = h.random_images(batch, seed, kind).to(device)
    original = x.clone()
    with h.torch_threads(1), torch.no_grad():
        output = _forward(contract.model, x, what)
    return {"output": detached(output), "input_modified": not torch.equal(x, original)}


def contract_outputs(
    view, device: str, seed: int, batch: int, images_seed: int, steps: list[tuple[str | None, Any, str]]
) -> list[torch.Tensor]:
    """Forward outputs (under ``no_grad``) of the contract model built with ``seed``, one per step.

    The input is ``random_images(batch, images_seed)``. Each step is ``(mode,
    rows, what)``: ``mode`` ``"eval"`` or ``"train"`` calls ``model.eval()`` or
    ``model.train()`` first (``None``: leave the mode); ``rows`` ``(start,
    stop)`` feeds ``x[start:stop].clone()`` (``None``: the whole batch);
    ``what`` names the call in messages.
    """
    contract = _contract(view, device, seed)
    model = contract.model
    x = h.random_images(batch, images_seed).to(device)
    outputs = []
    with h.torch_threads(1), torch.no_grad():
        for mode, rows, what in steps:
            if mode == "eval":
                model.eval()
            elif mode == "train":
                model.train()
            given = x if rows is None else x[rows[0]:rows[1]].clone()
            outputs.append(detached(_forward(model, given, what)))
    return outputs


def contract_gradients(
    view, device: str, seed: int, batch: int, images_seed: int, upstream: list[list[float]], what: str
) -> dict[str, Any]:
    """Forward of ``random_images(batch, images_seed)``, then ``(output * upstream).sum().backward()``.

    Returns ``{"output": the output (CPU), "requires_grad": whether it depends
    on the parameters through autograd, "gradients": [(shape, gradient or
    None)] of the six tensors holding the contract layers}``. The backward
    pass runs only when the output has ``upstream``'s shape and requires
    gradients (``gradients`` is None otherwise).
    """
    contract = _contract(view, device, seed)
    x = h.random_images(batch, images_seed).to(device)
    g = torch.tensor(upstream, device=device)
    with h.torch_threads(1):
        output = _forward(contract.model, x, what)
        seen: dict[str, Any] = {
            "output": detached(output), "requires_grad": bool(output.requires_grad), "gradients": None,
        }
        if tuple(output.shape) == tuple(g.shape) and output.requires_grad:
            (output * g).sum().backward()
            seen["gradients"] = [
                (tuple(t.shape), None if t.grad is None else detached(t.grad)) for t in contract.tensors()
            ]
    return seen


# =================================================================== train (2.2)
def _watch(model: nn.Module, train_loader, val_loader, calls: list[dict[str, Any]], snapshots: list):
    """Record every forward pass of ``model``: which batch, gradients on or off, device.

    The hook sits on the grader's SimpLeNet's convolution, its first
    operation, which sees the raw images however the student calls the model
    (``model(x)`` or ``model.forward(x)``). Validation calls also keep a
    snapshot of the parameters (in ``snapshots``, by index of the call).
    """
    known = [(f"train {i}", x) for i, (x, _) in enumerate(train_loader)]
    known += [(f"validation {i}", x) for i, (x, _) in enumerate(val_loader)]
    (conv,) = [m for m in model.modules() if isinstance(m, nn.Conv2d)]

    def pre_hook(module, args):
        x = args[0]
        batch = "another input"
        cpu = x.detach().cpu()
        for name, images in known:
            if cpu.shape == images.shape and torch.equal(cpu, images):
                batch = name
                break
        calls.append({"batch": batch, "grad_enabled": torch.is_grad_enabled(), "input_device": str(x.device)})
        snapshots.append(
            [detached(p) for p in model.parameters()] if batch.startswith("validation") else None
        )

    return conv.register_forward_pre_hook(pre_hook)


def _largest_change(before: list[torch.Tensor], after: list[torch.Tensor]) -> float:
    """The largest elementwise change between two parameter lists (inf if they do not pair up)."""
    if len(before) != len(after) or any(a.shape != b.shape for a, b in zip(before, after, strict=True)):
        return float("inf")
    return max((float((a - b).abs().max()) for a, b in zip(before, after, strict=True)), default=0.0)


def _describe_losses(values: Any, key: str) -> dict[str, Any]:
    described: dict[str, Any] = {
        "type": type(values).__name__, "repr": _repr(values), "length": None, "numbers": None,
    }
    if isinstance(values, (list, tuple)):
        described["length"] = len(values)
        numbers: list[Any] = []
        for i, value in enumerate(values):
            try:
                array = as_float_array(value, what=f"history[{key!r}][{i}]")
            except AssertionError as exc:
                numbers.append(str(exc))  # the message, which names the entry
                continue
            numbers.append(float(array) if array.shape == () else array)
        described["numbers"] = numbers
    return described


def _describe_history(history: Any) -> dict[str, Any]:
    """What ``train`` returned, as plain data (see :func:`train_run`)."""
    described: dict[str, Any] = {"type": type(history).__name__, "repr": _repr(history), "keys": None, "entries": {}}
    if isinstance(history, dict):
        described["keys"] = sorted(_repr(key) for key in history)
        for key in ("train_loss", "val_loss"):
            if key in history:
                described["entries"][key] = _describe_losses(history[key], key)
    return described


def train_run(
    view,
    *,
    epochs: int,
    learn_rate: float,
    device: str,
    n_train: int,
    n_val: int,
    batch_size: int,
    train_seed: int,
    val_seed: int,
    init_seed: int,
) -> dict[str, Any]:
    """The student's ``train`` on the grader's SimpLeNet and unshuffled loaders of random images.

    The model is the SimpLeNet stand-in holding ``contract_layers(init_seed)``;
    the loaders are ``fake_loader(n_train, batch_size, train_seed)`` and
    ``fake_loader(n_val, batch_size, val_seed)``. Returns:

    * ``final``: the parameters after training (CPU, in the model's order);
    * ``devices``: the device types the parameters ended on;
    * ``calls``: every forward call, in order, as ``{"batch": "train 2" /
      "validation 0" / "another input", "grad_enabled", "input_device",
      "changed"}``, where ``changed`` (validation calls only, else None) is
      the largest change of a parameter from that call to the end;
    * ``history``: what ``train`` returned: ``{"type", "repr", "keys" (the
      reprs of a dict's keys, else None), "entries"}``, and for each of
      ``train_loss``/``val_loss`` present ``{"type", "repr", "length" (None
      unless a list or tuple), "numbers"}``, each entry a float, a float64
      array (when it is not one number) or the message saying why it is not
      numeric.

    Errors raised by ``train`` pass through.
    """
    train = view.require("train")
    with h.seeded(init_seed):
        model = view.stand_in("SimpLeNet")()
    h.load_contract_weights(model, init_seed)
    train_loader = h.fake_loader(n_train, batch_size, train_seed)
    val_loader = h.fake_loader(n_val, batch_size, val_seed)
    calls: list[dict[str, Any]] = []
    snapshots: list = []
    handle = _watch(model, train_loader, val_loader, calls, snapshots)
    try:
        with h.torch_threads(1), h.deterministic(device), h.seeded(0):
            history = train(model, train_loader, val_loader, epochs, learn_rate, device)
    finally:
        handle.remove()
    final = [detached(p) for p in model.parameters()]
    for call, snapshot in zip(calls, snapshots, strict=True):
        call["changed"] = None if snapshot is None else _largest_change(snapshot, final)
    return {
        "final": final,
        "devices": sorted({p.device.type for p in model.parameters()}),
        "calls": calls,
        "history": _describe_history(history),
    }


# =================================================================== SimpLeNet trained with train (2.3)
def train_on_casting(
    view, *, root: str, batch_size: int, seed: int, epochs: int, learn_rate: float, device: str
) -> dict[str, Any]:
    """The student's ``train`` on the grader's SimpLeNet and the provided loaders of the dataset at ``root``.

    The model holds ``contract_layers(seed)``; the loaders are
    ``make_loaders(root, batch_size=batch_size, seed=seed)``; ``train`` runs
    with torch's generator seeded with ``seed``. Returns ``{"parameters": the
    trained parameters (CPU), "history": repr of what train returned}``; the
    check evaluates the parameters itself.
    """
    from fmlgrade.spec.worker.data import make_loaders

    train = view.require("train")
    train_loader, val_loader, _ = make_loaders(root, batch_size=batch_size, seed=seed)
    with h.seeded(seed):
        model = view.stand_in("SimpLeNet")()
    h.load_contract_weights(model, seed)
    with h.torch_threads(1), h.seeded(seed):
        history = train(model, train_loader, val_loader, epochs, learn_rate, device)
    return {"parameters": [detached(p) for p in model.parameters()], "history": _repr(history)}
