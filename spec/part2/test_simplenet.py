"""Tasks 2.1a (SimpLeNet's layers) and 2.1b (``SimpLeNet.forward``).

Every verdict here is decided in the grader from values it checks itself: the
student's code runs in the worker (where it could change any description or
flag the grader's own code computed there), so the grader asks only for what
the student's code *computes* on inputs the grader chose, and for the
parameters it holds, and recomputes the expectation from those.

2.1a (the constructor). The student's ``SimpLeNet()`` is built in the worker
(torch seeded); what comes back is every registered parameter's values and,
for every ``nn.Conv2d`` and ``nn.Linear`` module (found by type: attribute
names are free), what it computes on a probe batch the grader chose while
holding weights the grader chose (drawn for the layer's own weight shapes),
with the gradients of that probe. The grader recomputes each layer as the
contract's would with those weights (``F.conv2d(x, w, b, stride=4,
padding=1)``, ``z @ w.T + b``): hyperparameters that leave no trace in a
weight's shape (stride, padding, dilation, padding mode) show in the probe's
output, ``requires_grad`` in its gradients, the count in the copied tensors.
Last, the student's model as constructed runs with the contract's weights
copied into its registered parameters, and its output must be the contract's
SimpLeNet's with those weights unless its ``forward`` is wrong (2.1b's to
report; then the registered layers must at least be what ``forward``
computes with, see :func:`test_registered_layers_are_the_ones_forward_uses`).
What this cannot see is said in docs/threat-model.md: that the probed layers
are the ones ``forward`` uses is the worker's word where ``forward`` is not
the contract's, and a parameter that nothing uses shows in no value.
Decision: the
convolution and the two linear layers must be ``nn.Conv2d`` and ``nn.Linear``
modules (the handout's classes; ``F.conv2d`` on raw ``nn.Parameter`` tensors
keeps the stride and padding out of the constructor, where 2.1a looks), so
such a model fails 2.1a while its ``forward`` can still pass 2.1b.

2.1b (``forward``) runs the student's model with contract-exact layers put in
place of its ``Conv2d`` and ``Linear`` modules (see
:class:`fmlgrade.spec.worker.part2_support.ContractModel`; the grader sends
their settings and weights), and compares every output with the reference
SimpLeNet holding the same weights on the same inputs, run here: a wrong
order, a missing ReLU or sigmoid, average instead of max pooling or a wrong
pooling size all change the output, whatever the attributes are called, while
a wrong hyperparameter in the constructor costs 2.1a only.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from fmlgrade.spec.assertions import assert_close, assert_shape
from fmlgrade.spec.part2 import contract as c
from fmlgrade.spec.worker import part2_observers as obs
from fmlgrade.spec.worker import part2_support as h

#: Each example runs a few 224 x 224 images through two models: at most this many examples.
EXAMPLES = 15
#: Measured on 60 batches: the alternative solution (functional calls) and a raw-parameter
#: version (x @ w.T + b) give exactly the reference's outputs; the smallest effect of a mutant
#: (ReLU moved from after the first Linear to after the conv) is 5.5e-4 on outputs ~0.5.
RTOL, ATOL = 1e-5, 1e-6
#: Seeds of the layer probes (input, upstream gradient, the weights loaded into each layer), and of the
#: weights and images the whole model runs with in 2.1a.
PROBE_SEED, UPSTREAM_SEED, PROBE_WEIGHT_SEED, WEIGHTS_SEED, IMAGES_SEED = 41, 42, 45, 43, 44
#: The largest layer the grader rebuilds probe weights for (SimpLeNet's largest has 43,740).
MAX_PROBE_NUMEL = 10_000_000
#: Seeds the three layers are redrawn with, to see which of them forward computes with.
REDRAW_SEEDS = (51, 52, 53)

batches = st.integers(1, 4)
seeds = st.integers(0, 2**31 - 1)
kinds = st.sampled_from(["uniform", "normal", "constant"])


def _inputs(batch, seed, kind):
    return {"x": c.describe_images(batch, seed, kind)}


def _forward_what(batch: int) -> str:
    return f"SimpLeNet.forward(x) with x of shape {(batch, 3, h.IMAGE_SIZE, h.IMAGE_SIZE)}"


# =================================================================== 2.1a: the layers
_LAYERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _layers(submission) -> dict[str, Any]:
    """What the student's ``SimpLeNet()`` registers and computes (one observation per submission)."""
    if submission not in _LAYERS:
        try:
            _LAYERS[submission] = _readable(submission.observe(
                obs.simplenet_layers, list(c.CONV_PROBE_SHAPE), c.LINEAR_PROBE_ROWS, PROBE_SEED, UPSTREAM_SEED,
                PROBE_WEIGHT_SEED,
            ))
        except Exception as exc:  # noqa: BLE001 - student code may raise anything; every check reports it
            _LAYERS[submission] = exc
    seen = _LAYERS[submission]
    if isinstance(seen, BaseException):
        raise seen
    return seen


_LAYER_KEYS = ("name", "weight", "bias", "output", "gradients")


def _readable(seen: Any) -> dict[str, Any]:
    """What came back, in the observer's layout; anything else cannot be judged (and does not pass)."""
    def weights(shape: Any, seed: int) -> torch.Tensor | None:
        """The probe weights the layer was given, rebuilt here from their shape and seed."""
        if shape is None:
            return None
        shape = tuple(shape)
        if not all(type(n) is int and n > 0 for n in shape) or not shape or math.prod(shape) > MAX_PROBE_NUMEL:
            raise ValueError
        return h.probe_weights(shape, seed)

    def layer(entry: Any) -> dict[str, Any]:
        if not isinstance(entry, dict) or any(key not in entry for key in _LAYER_KEYS):
            raise ValueError
        return {
            **entry, "name": str(entry["name"]),
            "weight": weights(entry["weight"], PROBE_WEIGHT_SEED),
            "bias": weights(entry["bias"], PROBE_WEIGHT_SEED + 1),
        }

    try:
        return {
            "parameters": [(str(name), tensor) for name, tensor in seen["parameters"]],
            "convs": [layer(entry) for entry in seen["convs"]],
            "linears": [layer(entry) for entry in seen["linears"]],
        }
    except (KeyError, TypeError, ValueError):
        raise AssertionError("what came back about SimpLeNet() could not be read") from None


def _registration_hint() -> str:
    return (
        f"the layers are {c.LAYERS_TEXT} (layers kept in a plain Python list are not registered: "
        "use attributes, nn.Sequential or nn.ModuleList)"
    )


def _tensor(value: Any) -> torch.Tensor | None:
    return value if isinstance(value, torch.Tensor) else None


def _conv_findings(conv: dict[str, Any]) -> list[str]:
    """What is wrong with the convolution, as ``key=found (expected ...)`` texts (none: it is the contract's)."""
    weight, bias, output = _tensor(conv["weight"]), _tensor(conv["bias"]), conv["output"]
    if weight is None:
        return ["its weight is not initialised (a LazyConv2d? give the sizes explicitly)"]
    if weight.dim() != 4:
        return [f"its weight has shape {tuple(weight.shape)}, not (6, 3, 3, 3)"]
    x = c.conv_probe_input(PROBE_SEED)
    if isinstance(output, str):
        return [f"applied to a batch of shape {c.CONV_PROBE_SHAPE} it raised {output}"]
    if tuple(weight.shape) == c.SHAPES[0] and bias is not None and tuple(bias.shape) == c.SHAPES[1]:
        computed, _ = c.conv_with_gradients(x, weight, bias, UPSTREAM_SEED, **c.CONV_SETTINGS)
        if c.close(output, computed):
            return []
    settings = c.infer_conv_settings(x, weight, bias, output) or {}
    groups = settings.get("groups", 1)
    found = {
        "in_channels": weight.shape[1] * groups,
        "out_channels": weight.shape[0],
        "kernel_size": tuple(weight.shape[2:]),
        **{key: (value, value) for key, value in settings.items() if key in ("stride", "padding", "dilation")},
        **{key: value for key, value in settings.items() if key in ("groups", "padding_mode")},
    }
    expected = {
        "in_channels": 3, "out_channels": 6, "kernel_size": (3, 3), "stride": (4, 4), "padding": (1, 1),
        "dilation": (1, 1), "groups": 1, "padding_mode": "zeros",
    }
    wrong = [f"{key}={found[key]!r} (expected {value!r})" for key, value in expected.items()
             if key in found and found[key] != value]
    if bias is None:
        wrong.append("bias=False (expected a bias)")
    if not settings:
        wrong.append(
            f"holding the grader's probe weights, it does not compute on a batch of shape "
            f"{c.CONV_PROBE_SHAPE} what any Conv2d with those weights computes"
        )
    return wrong


def _gradients_match(seen: Any, expected: tuple[Any, Any]) -> list[bool]:
    """For weight and bias: whether the probe's gradient arrived and is the grader's."""
    seen = tuple(seen) if isinstance(seen, (list, tuple)) and len(seen) == 2 else (None, None)
    return [
        isinstance(got, torch.Tensor) and want is not None and c.close(got, want, rtol=1e-4, atol=1e-6)
        for got, want in zip(seen, expected, strict=True)
    ]


def _conv_gradients(conv: dict[str, Any]) -> list[bool] | None:
    """Whether the probe's gradients reached the convolution's weight and bias, as the convolution it
    computes would give them (None when it computes no convolution the grader knows)."""
    weight, bias = _tensor(conv["weight"]), _tensor(conv["bias"])
    if weight is None or weight.dim() != 4:
        return None
    x = c.conv_probe_input(PROBE_SEED)
    settings = c.infer_conv_settings(x, weight, bias, conv["output"])
    if settings is None:
        return None
    _, gradients = c.conv_with_gradients(x, weight, bias, UPSTREAM_SEED, **settings)
    return _gradients_match(conv["gradients"], gradients)


def _linear_gradients(linear: dict[str, Any]) -> list[bool] | None:
    """As :func:`_conv_gradients`, for a Linear layer (None when it does not compute x @ W.T + b)."""
    weight, bias = _tensor(linear["weight"]), _tensor(linear["bias"])
    if weight is None or weight.dim() != 2:
        return None
    computed, gradients = c.linear_with_gradients(
        c.linear_probe_input(weight.shape[1], PROBE_SEED), weight, bias, UPSTREAM_SEED
    )
    if not c.close(linear["output"], computed):
        return None
    return _gradients_match(linear["gradients"], gradients)


def _linear_findings(linear: dict[str, Any], position: str, in_features: int, out_features: int) -> list[str]:
    """What is wrong with a Linear layer, as texts (none: it is the contract's)."""
    weight, bias, output, name = _tensor(linear["weight"]), _tensor(linear["bias"]), linear["output"], linear["name"]
    if weight is None or weight.dim() != 2:
        return [
            f"the {position} Linear layer ({name}) has no initialised weight (a LazyLinear? compute the "
            f"size, see the hint: it must be Linear({in_features}, {out_features}))"
        ]
    problems = []
    if weight.shape[1] != in_features:
        extra = " (6 x 27 x 27 after pooling)" if in_features == c.FLAT_FEATURES else ""
        problems.append(
            f"the {position} Linear layer ({name}) must take {in_features} inputs{extra}, found {weight.shape[1]}"
        )
    if weight.shape[0] != out_features:
        outputs = "output" if out_features == 1 else "outputs"
        problems.append(
            f"the {position} Linear layer ({name}) must have {out_features} {outputs}, found {weight.shape[0]}"
        )
    if bias is None:
        problems.append(f"the Linear layer {name} must have a bias (bias=True)")
    if problems:
        return problems
    z = c.linear_probe_input(weight.shape[1], PROBE_SEED)
    computed, _ = c.linear_with_gradients(z, weight, bias, UPSTREAM_SEED)
    if isinstance(output, str):
        return [f"the Linear layer {name} raised {output} on a batch of shape {tuple(z.shape)}"]
    if not c.close(output, computed):
        return [
            f"the Linear layer {name}, holding the grader's probe weights, does not compute "
            f"x @ weight.T + bias with them"
        ]
    return []


def _linears_in_forward_order(linears: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = [None if _tensor(linear["weight"]) is None else _tensor(linear["weight"]).shape[0] for linear in linears]
    return [linears[i] for i in h.forward_order(out)]


@pytest.mark.task("2.1a")
def test_convolution_hyperparameters(submission):
    """SimpLeNet registers one nn.Conv2d, and it computes Conv2d(3, 6, kernel_size=3, padding=1, stride=4)."""
    convs = _layers(submission)["convs"]
    if len(convs) != 1:
        names = ", ".join(conv["name"] for conv in convs) or "none"
        raise AssertionError(
            f"SimpLeNet must register one nn.Conv2d layer (found {len(convs)}: {names}); {_registration_hint()}"
        )
    (conv,) = convs
    wrong = _conv_findings(conv)
    if wrong:
        raise AssertionError(
            f"the convolution ({conv['name']}) must be Conv2d(3, 6, kernel_size=3, padding=1, stride=4); "
            f"found {', '.join(wrong)}"
        )


@pytest.mark.task("2.1a")
def test_linear_layers(submission):
    """SimpLeNet registers two nn.Linear layers, and they compute Linear(4374, 10) and Linear(10, 1)."""
    linears = _layers(submission)["linears"]
    if len(linears) != 2:
        names = ", ".join(linear["name"] for linear in linears) or "none"
        raise AssertionError(
            f"SimpLeNet must register two nn.Linear layers (found {len(linears)}: {names}); {_registration_hint()}"
        )
    first, second = _linears_in_forward_order(linears)
    problems = _linear_findings(first, "first", c.FLAT_FEATURES, 10)
    problems += _linear_findings(second, "second", 10, 1)
    if problems:
        raise AssertionError("; ".join(problems))


@pytest.mark.task("2.1a")
def test_trainable_parameter_count(submission):
    """SimpLeNet has 43,929 parameters, all trainable (gradients reach each of them)."""
    layers = _layers(submission)
    params = layers["parameters"]
    lazy = [name for name, tensor in params if _tensor(tensor) is None]
    if lazy:
        raise AssertionError(
            f"SimpLeNet's parameters {', '.join(lazy)} are not initialised (lazy layers); "
            f"use layers with explicit sizes: {c.LAYERS_TEXT}"
        )
    total = sum(int(tensor.numel()) for _, tensor in params)
    trainable = 0
    frozen, unknown = [], []
    layers_seen = [(conv, _conv_gradients(conv)) for conv in layers["convs"]]
    layers_seen += [(linear, _linear_gradients(linear)) for linear in layers["linears"]]
    for layer, gradients in layers_seen:
        if gradients is None:
            unknown.append(layer["name"])
            continue
        for part, arrived in zip(("weight", "bias"), gradients, strict=True):
            tensor = _tensor(layer[part])
            if tensor is None:
                continue
            if arrived:
                trainable += int(tensor.numel())
            else:
                frozen.append(f"{layer['name']}.{part}")
    if trainable != c.N_PARAMETERS or total != c.N_PARAMETERS:
        shapes = c.parameter_shapes(params)
        why = ""
        if frozen:
            why += f"; no gradient (or not the right one) reached {', '.join(frozen)}: is requires_grad off?"
        if unknown:
            why += (
                f"; {', '.join(unknown)} compute(s) no Conv2d or Linear the grader recognises, so "
                f"their parameters cannot be shown trainable"
            )
        raise AssertionError(
            f"SimpLeNet must have {c.N_PARAMETERS:,} trainable parameters (168 in the conv, "
            f"43,750 in Linear(4374, 10), 11 in Linear(10, 1)); found {trainable:,} trainable "
            f"of {total:,} ({shapes}){why}"
        )


@pytest.mark.task("2.1a")
def test_registered_layers_are_the_ones_forward_uses(submission):
    """SimpLeNet() as constructed computes the contract's SimpLeNet with the weights its layers hold.

    Weights the grader chose are copied (by shape) into the registered
    parameters; the model's output must be the reference's with those weights.
    Where it is not because forward itself is wrong (2.1b), each registered
    layer must at least change the output when its weights change.
    """
    weights = c.contract_weights(WEIGHTS_SEED)
    weight_sets = [weights] + [c.redrawn(weights, layer, seed) for layer, seed in enumerate(REDRAW_SEEDS)]
    seen = submission.observe(obs.registered_forward, weight_sets, 2, IMAGES_SEED, c.LAYER_SPECS)
    if not isinstance(seen, dict) or not isinstance(seen.get("own"), list) or len(seen["own"]) != len(weight_sets):
        raise AssertionError("what came back about SimpLeNet() with the contract's weights could not be read")
    expected = c.reference_outputs(c.reference_model(submission, weights), h.random_images(2, IMAGES_SEED))
    own, replaced = seen["own"][0], seen.get("contract")
    what = (
        "SimpLeNet() as constructed, with the contract's weights copied into its parameters (by shape), "
        "then model.eval() and forward(x) for x of shape (2, 3, 224, 224)"
    )
    if c.close(own, expected, RTOL, ATOL):
        return
    if c.close(replaced, expected, RTOL, ATOL):
        detail = own if isinstance(own, str) else (
            f"for x of shape (2, 3, 224, 224) its outputs differ from the contract's by up to "
            f"{c.largest_difference(own, expected):.3g}" if isinstance(own, torch.Tensor) else "no output came back"
        )
        raise AssertionError(
            f"SimpLeNet() as constructed, with the contract's weights copied into its parameters (by "
            f"shape), does not compute the contract's SimpLeNet: {detail}. With contract-exact Conv2d and "
            f"Linear layers in place of yours (same weights) the same forward does, so the layers the "
            f"constructor builds are not the contract's; {_registration_hint()}"
        )
    # forward is not the contract's (2.1b reports it): the registered layers must be what it computes with
    outputs = seen["own"]
    if (
        not all(isinstance(o, torch.Tensor) for o in outputs) or outputs[0].numel() == 0
        or bool((outputs[0] == outputs[0].flatten()[0]).all())
    ):
        return  # forward raises or gives one value for everything: nothing to tell the layers apart by
    names = ("the convolution", "the first Linear layer", "the second Linear layer")
    unused = [names[k] for k in range(3) if torch.equal(outputs[k + 1], outputs[0])]
    if unused:
        raise AssertionError(
            f"{what}: the output does not change when new weights are copied into {', '.join(unused)}: "
            f"forward does not compute with the layers SimpLeNet registers; {_registration_hint()}"
        )


# =================================================================== 2.1b: forward
class _Reference:
    """The reference SimpLeNet (trusted, here), reloaded with each example's weights."""

    def __init__(self, submission, device: str) -> None:
        self.device = device
        self.model = c.reference_model(submission, c.contract_weights(0), device)

    def __call__(self, weights: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        c.load_weights(self.model, weights)
        return c.reference_outputs(self.model, x, self.device)


def _check_output(output: Any, expected: torch.Tensor, *, what: str, inputs: dict[str, Any]) -> None:
    """Shape, range (the sigmoid), then the values against the reference."""
    batch = expected.shape[0]
    values = assert_shape(output, (batch, 1), what=what, inputs=inputs)
    outside = (values <= 0) | (values >= 1) | ~(values == values)
    if outside.any():
        raise AssertionError(
            f"{what}: every output must be a probability strictly between 0 and 1 (the "
            f"sigmoid at the end), got {values.ravel().tolist()}\n"
            f"for the inputs: {inputs['x']}"
        )
    assert_close(output, expected, what=what, rtol=RTOL, atol=ATOL, inputs={**inputs, "layers": c.LAYERS_TEXT})


@pytest.mark.task("2.1b")
def test_output_matches_reference(submission, device):
    """forward maps (B, 3, 224, 224) to (B, 1) probabilities: conv, max-pool(4, 2), flatten, Linear, ReLU,
    Linear, sigmoid, as the reference computes them.

    The student's conv and linear layers are replaced by contract-exact ones
    (same weights as the reference's), so only what forward does is compared;
    a second call on the same tensor must give the same output (forward must
    not change its input in place).
    """
    contract = submission.observe(obs.contract_simplenet, device, c.LAYER_SPECS, c.contract_weights(0))
    reference = _Reference(submission, device)

    @c.few_examples(EXAMPLES)
    @given(batch=batches, seed=seeds, kind=kinds)
    def check(batch, seed, kind):
        what = _forward_what(batch)
        weights = c.contract_weights(seed)
        seen = submission.observe(obs.contract_forward, contract, weights, batch, seed, kind, device, what)
        expected = reference(weights, h.random_images(batch, seed, kind))
        inputs = _inputs(batch, seed, kind)
        _check_output(seen["output"], expected, what=what, inputs=inputs)
        if not c.close(seen["again"], expected, RTOL, ATOL):
            raise AssertionError(
                f"{what}: a second call on the same tensor x gave another output; forward must not "
                f"modify its input x in place\nfor the inputs: {inputs['x']}"
            )

    check()


def _same_as_reference(output: Any, expected: torch.Tensor, *, what: str, inputs: dict[str, Any]) -> None:
    """A short failure when ``output`` is not the reference's: the first check of 2.1b shows the details."""
    assert_shape(output, tuple(expected.shape), what=what, inputs=inputs)
    if not c.close(output, expected, RTOL, ATOL):
        raise AssertionError(
            f"{what}: the output is not the reference SimpLeNet's for the same weights and inputs (by up to "
            f"{c.largest_difference(output, expected):.3g}; see the check comparing forward with the "
            f"reference)\nfor the inputs: {inputs['x']}"
        )


@pytest.mark.task("2.1b")
def test_gradients_reach_every_layer(submission, device):
    """forward keeps the autograd graph: every layer's weights get the reference's gradients."""
    upstream = [[0.7], [-1.3], [0.4]]
    what = "SimpLeNet.forward(x) for x of shape (3, 3, 224, 224), then (output * g).sum().backward()"
    weights = c.contract_weights(3)
    seen = submission.observe(obs.contract_gradients, device, c.LAYER_SPECS, weights, 3, 11, upstream, what)
    reference = c.reference_model(submission, weights, device)
    with h.torch_threads(1):
        output = reference(h.random_images(3, 11).to(device))
        (output * torch.tensor(upstream, device=device)).sum().backward()
    inputs = {"x": c.describe_images(3, 11, "uniform")}
    _same_as_reference(seen["output"], output.detach().cpu(), what=what, inputs=inputs)
    if seen["gradients"] is None:
        raise AssertionError(
            f"{what}: the output does not depend on the parameters through autograd; forward "
            "must not use torch.no_grad(), .detach(), .data, .item() or NumPy on the way"
        )
    expected = {tuple(p.grad.shape): p.grad.detach().cpu() for p in reference.parameters()}
    seen_shapes = sorted(tuple(shape) for shape, _ in seen["gradients"])
    if seen_shapes != sorted(expected):
        raise AssertionError(f"{what}: the model's layers have shapes {seen_shapes}, the contract's {sorted(expected)}")
    for shape, gradient in seen["gradients"]:
        shape = tuple(shape)
        if gradient is None:
            raise AssertionError(
                f"{what}: no gradient reached the parameter of shape {shape}; forward must use "
                "every layer and keep the autograd graph"
            )
        assert_close(
            gradient, expected[shape], what=f"{what}: gradient of the parameter of shape {shape}",
            rtol=1e-4, atol=1e-7,
        )


@pytest.mark.task("2.1b")
def test_batch_of_one(submission, device):
    """A batch of one image gives a (1, 1) output, that image's row of a larger batch."""
    batched_what = "SimpLeNet.forward(x) for x of shape (3, 3, 224, 224)"
    singles = [f"SimpLeNet.forward(x[{row}:{row + 1}]) (a batch of one image)" for row in range(3)]
    steps = [(None, None, batched_what)] + [(None, (row, row + 1), singles[row]) for row in range(3)]
    weights = c.contract_weights(5)
    outputs = submission.observe(obs.contract_outputs, device, c.LAYER_SPECS, weights, 3, 21, steps)
    expected = c.reference_outputs(c.reference_model(submission, weights, device), h.random_images(3, 21), device)
    inputs = _inputs(3, 21, "uniform")
    _same_as_reference(outputs[0], expected, what=batched_what, inputs=inputs)
    for row in range(3):
        single = outputs[1 + row]
        assert_shape(single, (1, 1), what=singles[row], inputs=inputs)
        if not c.close(single, expected[row:row + 1], RTOL, ATOL):
            raise AssertionError(
                f"{singles[row]} gave {single.ravel().tolist()}, but that image's row of the batch of "
                f"three is {outputs[0][row].ravel().tolist()}: a batch of one must give the same "
                f"(do not squeeze the batch dimension away)"
            )


@pytest.mark.task("2.1b")
def test_deterministic_and_same_in_train_and_eval_mode(submission, device):
    """forward is deterministic and the same in train and eval mode (SimpLeNet has no dropout)."""
    what = "SimpLeNet.forward(x) for x of shape (2, 3, 224, 224)"
    steps = [("eval", None, what), (None, None, what), ("train", None, what)]
    weights = c.contract_weights(7)
    first, second, trained = submission.observe(obs.contract_outputs, device, c.LAYER_SPECS, weights, 2, 31, steps)
    expected = c.reference_outputs(c.reference_model(submission, weights, device), h.random_images(2, 31), device)
    inputs = _inputs(2, 31, "uniform")
    _same_as_reference(first, expected, what=f"{what} in eval mode", inputs=inputs)
    assert_close(second, first, what=f"{what}, called twice in eval mode (the second call)", rtol=0, atol=0)
    _same_as_reference(second, expected, what=f"{what}, called twice in eval mode (the second call)", inputs=inputs)
    assert_close(
        trained, expected, what=f"{what} after model.train() (compared with model.eval(); SimpLeNet has no dropout)",
        rtol=RTOL, atol=ATOL,
    )
