"""Observers of Part 2: the spec's code that touches student objects, run beside them.

The checks (``spec/part2/test_*.py``, in the grader) call these as
``submission.observe(observer, *args)``; each runs next to the student's code
(in the grading worker, or in-process for trusted solutions) with a
:class:`~fmlgrade.harness.worker.student_view.StudentView` and returns plain
data: numbers, strings, lists, dicts and CPU tensors.

Student code runs in the same process and can change anything here: this
module's functions, the records they keep, torch itself. So what comes back
is never taken as a verdict. The observers *run* the student's code on
inputs the grader chose (rebuilt here from seeds, see
:mod:`fmlgrade.spec.worker.part2_support`) and with weights the grader sent,
and hand back outputs, gradients, parameters and what ``train`` returned;
the checks compare those with what they compute themselves, in the grader,
from the same seeds and weights. Descriptions that also come back (layer
names, which batches the model saw) only word the messages.

Observers raise ``AssertionError`` or ``PrerequisiteFailed`` with the message a
student should read; errors raised by the student's code pass through unless
the observer says otherwise.

This module may import torch, numpy, :mod:`fmlgrade.spec.worker` and
:mod:`fmlgrade.fixtures`; never the checks, :mod:`fmlgrade.solutions` or
:mod:`fmlgrade.harness`.
"""

from __future__ import annotations

import types
from typing import Any

import torch
from torch import nn

from fmlgrade.spec.worker import part2_support as h
from fmlgrade.spec.worker.observing import bounded_repr, detached
from fmlgrade.spec.worker.outcomes import prerequisite
from fmlgrade.spec.worker.plain_values import as_float_array

#: Longest ``repr`` of a student object sent back for messages.
REPR_LIMIT = 2000
#: Longest error message of student code sent back in place of a value.
ERROR_LIMIT = 500


def _repr(value: Any) -> str:
    return bounded_repr(value, REPR_LIMIT)


def _error(exc: BaseException) -> str:
    return bounded_repr(f"{type(exc).__name__}: {exc}", ERROR_LIMIT)


def _requires_grad_descriptor() -> Any:
    """``Tensor.requires_grad`` as torch's C type defines it (a patched ``torch.Tensor`` attribute is skipped)."""
    for klass in type(torch.empty(0)).__mro__:
        found = vars(klass).get("requires_grad")
        if isinstance(found, types.GetSetDescriptorType):
            return found
    raise RuntimeError("torch tensors have no requires_grad")  # pragma: no cover - not with real torch


# =================================================================== SimpLeNet (2.1a, 2.1b)
def _construct(view) -> nn.Module:
    """The student's ``SimpLeNet()``, built with torch's generator seeded (task 2.1a's code)."""
    cls = view.require("SimpLeNet")
    with h.seeded(0):
        model = cls()
    if not isinstance(model, nn.Module):
        raise AssertionError(f"SimpLeNet() must be an nn.Module, got {type(model).__name__}")
    return model


def _parameter(p: Any) -> torch.Tensor | None:
    """A copy of a parameter's values, None while it is a lazy layer's uninitialised one."""
    return None if isinstance(p, nn.parameter.UninitializedParameter) else detached(p)


def _shape(p: Any) -> list[int] | None:
    """The shape of an initialised parameter (None: missing, or a lazy layer's uninitialised one)."""
    if not isinstance(p, torch.Tensor) or isinstance(p, nn.parameter.UninitializedParameter):
        return None
    return list(p.shape)


def _probe(layer: nn.Module, make_input: Any, weight_seed: int, upstream_seed: int) -> dict[str, Any]:
    """The layer holding the grader's probe weights, run on the grader's probe input.

    The layer's weight and bias get ``probe_weights(shape, weight_seed)`` and
    ``probe_weights(shape, weight_seed + 1)`` for their own shapes; then
    ``output = layer(make_input(weight shape))`` and ``(output * g).sum().backward()``
    with ``g = probe_tensor(output's shape, upstream_seed, "normal")``.
    Returns the two shapes (None where there is no initialised tensor), the
    output (an error message where the layer raised) and the two gradients
    (None where none arrived).
    """
    weight, bias = getattr(layer, "weight", None), getattr(layer, "bias", None)
    seen: dict[str, Any] = {"weight": _shape(weight), "bias": _shape(bias), "output": None, "gradients": (None, None)}
    if seen["weight"] is None:
        return seen
    try:
        with torch.no_grad():
            weight.copy_(h.probe_weights(seen["weight"], weight_seed))
            if seen["bias"] is not None:
                bias.copy_(h.probe_weights(seen["bias"], weight_seed + 1))
        for p in (weight, bias):
            if isinstance(p, torch.Tensor):
                p.grad = None
        with h.torch_threads(1), torch.enable_grad():
            output = layer(make_input(seen["weight"]))
            seen["output"] = detached(output)
            if output.requires_grad:
                (output * h.probe_tensor(tuple(output.shape), upstream_seed, "normal")).sum().backward()
    except Exception as exc:  # noqa: BLE001 - the check says what the layer should have done
        seen["output"] = _error(exc)
        return seen
    seen["gradients"] = tuple(
        detached(p.grad) if isinstance(p, torch.Tensor) and p.grad is not None else None for p in (weight, bias)
    )
    return seen


def simplenet_layers(
    view, conv_shape: list[int], rows: int, probe_seed: int, upstream_seed: int, weight_seed: int
) -> dict[str, Any]:
    """What ``SimpLeNet()`` registers and what its layers compute (2.1a).

    * ``parameters``: every registered parameter as ``(name, values)``
      (values None while uninitialised: a lazy layer), as constructed;
    * ``convs``: every ``nn.Conv2d`` module in registration order, probed (see
      :func:`_probe`) with ``probe_tensor(conv_shape, probe_seed)``;
      ``linears``: every ``nn.Linear``, probed with ``probe_tensor((rows,
      in_features), probe_seed, "normal")`` where ``in_features`` is its
      weight's second dimension. Each as ``{"name", "weight", "bias" (their
      shapes), "output", "gradients"}``.
    """
    model = _construct(view)
    parameters = [(name, _parameter(p)) for name, p in h.named_parameters(model)]
    found = h.find_layers(model)
    convs = [
        {"name": name, **_probe(conv, lambda _: h.probe_tensor(conv_shape, probe_seed), weight_seed, upstream_seed)}
        for name, conv in found.convs
    ]
    linears = [
        {"name": name, **_probe(
            linear, lambda shape: h.probe_tensor((rows, shape[1] if len(shape) == 2 else 1), probe_seed, "normal"),
            weight_seed, upstream_seed,
        )}
        for name, linear in found.linears
    ]
    return {"parameters": parameters, "convs": convs, "linears": linears}


def registered_forward(
    view, weight_sets: list[list[torch.Tensor]], batch: int, seed: int, specs: dict[str, Any]
) -> dict[str, Any]:
    """The student's ``SimpLeNet()`` as constructed, run with each of ``weight_sets`` (2.1a).

    The model is put in eval mode; each set of six tensors is copied by shape
    into its registered parameters and ``forward(random_images(batch, seed))``
    runs under ``no_grad``. Then the same model with contract-exact layers
    (``specs``, holding ``weight_sets[0]``, see :class:`ContractModel`) runs
    once more. Returns ``{"own": [output per set], "contract": output}``, an
    error message in place of an output where copying or ``forward`` raised.
    """
    with prerequisite("SimpLeNet() (the constructor)"):
        model = _construct(view)
    model.eval()
    x = h.random_images(batch, seed)
    own: list[Any] = []
    with h.torch_threads(1), torch.no_grad():
        for weights in weight_sets:
            try:
                h.copy_by_shape(list(weights), [p for _, p in h.named_parameters(model)])
            except (ValueError, RuntimeError) as exc:  # RuntimeError: a lazy layer's uninitialised parameter
                own.append(
                    f"its parameters {exc}" if isinstance(exc, ValueError)
                    else "one of its parameters is not initialised (a lazy layer)"
                )
                continue
            try:
                own.append(detached(model(x.clone())))
            except Exception as exc:  # noqa: BLE001 - the check explains
                own.append(f"forward raised {_error(exc)}")
        try:
            contract = h.ContractModel(model, specs, list(weight_sets[0]))
            replaced: Any = detached(contract.model(x.clone()))
        except Exception as exc:  # noqa: BLE001 - the check explains (PrerequisiteFailed included)
            replaced = _error(exc)
    return {"own": own, "contract": replaced}


def _contract(view, device: str, specs: dict[str, Any], weights: list[torch.Tensor]) -> h.ContractModel:
    """The student's model with contract-exact layers holding ``weights``, on ``device``."""
    with prerequisite("SimpLeNet() (the constructor, task 2.1a)"):
        model = _construct(view)
    contract = h.ContractModel(model, specs, list(weights))
    contract.model.to(device)
    return contract


def _forward(model: nn.Module, x: torch.Tensor, what: str) -> torch.Tensor:
    """``model(x)`` as the student wrote it; errors are the check's (2.1b)."""
    output = model(x)
    if not isinstance(output, torch.Tensor):
        raise AssertionError(f"{what}: must return a torch.Tensor, got {type(output).__name__}")
    return output


def contract_simplenet(view, device: str, specs: dict[str, Any], weights: list[torch.Tensor]) -> h.ContractModel:
    """A *handle*: the student's SimpLeNet with contract-exact layers, for :func:`contract_forward`.

    Raises ``PrerequisiteFailed`` when the constructor fails or the layers do
    not have the contract's shapes (2.1a's to report).
    """
    return _contract(view, device, specs, weights)


def contract_forward(
    view, contract: h.ContractModel, weights: list[torch.Tensor], batch: int, seed: int, kind: str,
    device: str, what: str,
) -> dict[str, Any]:
    """One hypothesis example of 2.1b: the contract layers get ``weights``, the input is
    ``random_images(batch, seed, kind)``.

    Returns ``{"output": forward's output (CPU), "again": the output of a
    second call on the same tensor x}``, both under ``no_grad`` (a forward that
    changes ``x`` in place shows in the second).
    """
    contract.load(list(weights))
    x = h.random_images(batch, seed, kind).to(device)
    with h.torch_threads(1), torch.no_grad():
        output = detached(_forward(contract.model, x, what))
        again = detached(_forward(contract.model, x, what))
    return {"output": output, "again": again}


def contract_outputs(
    view, device: str, specs: dict[str, Any], weights: list[torch.Tensor], batch: int, images_seed: int,
    steps: list[tuple[str | None, Any, str]],
) -> list[torch.Tensor]:
    """Forward outputs (under ``no_grad``) of the contract model holding ``weights``, one per step.

    The input is ``random_images(batch, images_seed)``. Each step is ``(mode,
    rows, what)``: ``mode`` ``"eval"`` or ``"train"`` calls ``model.eval()`` or
    ``model.train()`` first (``None``: leave the mode); ``rows`` ``(start,
    stop)`` feeds ``x[start:stop].clone()`` (``None``: the whole batch);
    ``what`` names the call in messages.
    """
    model = _contract(view, device, specs, weights).model
    x = h.random_images(batch, images_seed).to(device)
    outputs = []
    with h.torch_threads(1), torch.no_grad():
        for mode, rows, what in steps:
            if mode == "eval":
                model.eval()
            elif mode == "train":
                model.train()
            given = x.clone() if rows is None else x[rows[0]:rows[1]].clone()
            outputs.append(detached(_forward(model, given, what)))
    return outputs


def contract_gradients(
    view, device: str, specs: dict[str, Any], weights: list[torch.Tensor], batch: int, images_seed: int,
    upstream: list[list[float]], what: str,
) -> dict[str, Any]:
    """Forward of ``random_images(batch, images_seed)``, then ``(output * upstream).sum().backward()``.

    Returns ``{"output": the output (CPU), "requires_grad": whether it depends
    on the parameters through autograd (for the message only), "gradients":
    [(shape, gradient or None)] of the six tensors holding the contract
    layers}``. The backward pass runs only when the output has ``upstream``'s
    shape and requires gradients (``gradients`` is None otherwise).
    """
    contract = _contract(view, device, specs, weights)
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
#: What the grader's SimpLeNet answers for a validation batch evaluated with gradients on.
GRADIENT_TRAP = 0.5
#: ``Tensor.requires_grad`` as torch's C type defines it, taken when this module is first imported.
_REQUIRES_GRAD = _requires_grad_descriptor()


class WatchedSimpLeNet(nn.Module):
    """The grader's SimpLeNet as the student's ``train`` gets it in 2.2.

    It computes what the SimpLeNet inside computes, except for one case: a
    validation batch (one of ``val_loader``'s, recognised by its values)
    evaluated with gradients on (its output takes part in autograd) gives
    ``GRADIENT_TRAP`` for every image, so a missing ``torch.no_grad()`` shows
    in the validation losses that ``train`` returns, which the check compares
    with its own. Gradients being on is read from the output tensor through
    torch's own C descriptor, not from ``torch.is_grad_enabled``.

    It also notes every call (which batch, gradients on or off, the input's
    device) and, for validation calls, the parameters at that moment: the
    checks quote those in messages, never as a verdict.
    """

    def __init__(self, model: nn.Module, train_loader, val_loader) -> None:
        super().__init__()
        self.model = model
        self._known = [(f"train {i}", x) for i, (x, _) in enumerate(train_loader)]
        self._known += [(f"validation {i}", x) for i, (x, _) in enumerate(val_loader)]
        self.calls: list[dict[str, Any]] = []
        self.snapshots: list[Any] = []

    def _which(self, x: Any) -> str:
        if isinstance(x, torch.Tensor):
            cpu = x.detach().cpu()
            for name, images in self._known:
                if cpu.shape == images.shape and torch.equal(cpu, images):
                    return name
        return "another input"

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        """The inner SimpLeNet's output (see the class for the one exception)."""
        batch = self._which(x)
        output = self.model(x, *args, **kwargs)
        grad_on = isinstance(output, torch.Tensor) and bool(_REQUIRES_GRAD.__get__(output))
        self.calls.append({
            "batch": batch, "grad_enabled": grad_on,
            "input_device": str(x.device) if isinstance(x, torch.Tensor) else type(x).__name__,
        })
        validation = batch.startswith("validation")
        self.snapshots.append([detached(p) for p in nn.Module.parameters(self)] if validation else None)
        if validation and grad_on:
            output = output * 0 + GRADIENT_TRAP
        return output


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
    weights: list[torch.Tensor],
    epochs: int,
    learn_rate: float,
    device: str,
    n_train: int,
    n_val: int,
    batch_size: int,
    train_seed: int,
    val_seed: int,
) -> dict[str, Any]:
    """The student's ``train`` on the grader's SimpLeNet and unshuffled loaders of random images.

    The model is the SimpLeNet stand-in holding ``weights`` (copied in by
    shape), watched by :class:`WatchedSimpLeNet`; the loaders are
    ``fake_loader(n_train, batch_size, train_seed)`` and ``fake_loader(n_val,
    batch_size, val_seed)``. Returns:

    * ``final``: the parameters after training (CPU, in the model's order);
    * ``history``: what ``train`` returned: ``{"type", "repr", "keys" (the
      reprs of a dict's keys, else None), "entries"}``, and for each of
      ``train_loss``/``val_loss`` present ``{"type", "repr", "length" (None
      unless a list or tuple), "numbers"}``, each entry a float, a float64
      array (when it is not one number) or the message saying why it is not
      numeric;
    * for messages only: ``devices`` (the device types the parameters ended
      on), ``calls`` (every forward call, in order, as ``{"batch": "train 2" /
      "validation 0" / "another input", "grad_enabled", "input_device",
      "changed"}``, where ``changed`` (validation calls only, else None) is
      the largest change of a parameter from that call to the end).

    Errors raised by ``train`` pass through.
    """
    train = view.require("train")
    with h.seeded(0):
        inner = view.stand_in("SimpLeNet")()
    h.copy_by_shape(list(weights), list(nn.Module.parameters(inner)))
    train_loader = h.fake_loader(n_train, batch_size, train_seed)
    val_loader = h.fake_loader(n_val, batch_size, val_seed)
    model = WatchedSimpLeNet(inner, train_loader, val_loader)
    with h.torch_threads(1), h.deterministic(device), h.seeded(0):
        history = train(model, train_loader, val_loader, epochs, learn_rate, device)
    parameters = list(nn.Module.parameters(model))
    final = [detached(p) for p in parameters]
    calls = list(model.calls)
    for call, snapshot in zip(calls, model.snapshots, strict=False):
        call["changed"] = None if snapshot is None else _largest_change(snapshot, final)
    return {
        "final": final,
        "devices": sorted({p.device.type for p in parameters}),
        "calls": calls,
        "history": _describe_history(history),
    }


# =================================================================== SimpLeNet trained with train (2.3)
def train_on_casting(
    view, *, root: str, weights: list[torch.Tensor], batch_size: int, seed: int, epochs: int,
    learn_rate: float, device: str,
) -> dict[str, Any]:
    """The student's ``train`` on the grader's SimpLeNet and the provided loaders of the dataset at ``root``.

    The model holds ``weights`` (copied in by shape); the loaders are
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
    h.copy_by_shape(list(weights), list(nn.Module.parameters(model)))
    with h.torch_threads(1), h.seeded(seed):
        history = train(model, train_loader, val_loader, epochs, learn_rate, device)
    return {"parameters": [detached(p) for p in nn.Module.parameters(model)], "history": _repr(history)}
