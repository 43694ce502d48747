"""Tasks 2.1a (SimpLeNet's layers) and 2.1b (``SimpLeNet.forward``).

2.1a looks at the constructed model only: one ``nn.Conv2d`` and two
``nn.Linear`` modules with the contract's hyperparameters, found by type
(attribute names are free), and 43,929 trainable parameters. Pooling,
flattening and the activations may be modules or ``nn.functional`` calls, so
they are judged by behaviour, in 2.1b. Decision: the convolution and the two
linear layers must be ``nn.Conv2d`` and ``nn.Linear`` modules (the handout's
classes; ``F.conv2d`` on raw ``nn.Parameter`` tensors keeps the stride and
padding out of the constructor, where 2.1a looks), so such a model fails 2.1a
while its ``forward`` can still pass 2.1b.

2.1b checks ``forward`` on the student's model with contract-exact layers put
in place of its ``Conv2d`` and ``Linear`` modules (see
:class:`fmlgrade.spec.worker.part2_support.ContractModel`), against the reference
SimpLeNet holding the same weights: a wrong order, a missing ReLU or sigmoid,
average instead of max pooling or a wrong pooling size all change the output,
whatever the attributes are called, while a wrong hyperparameter in the
constructor costs 2.1a only.

The student's model is built, changed and run only by the observers
(:mod:`fmlgrade.spec.worker.part2_observers`), beside the student's code; they return
descriptions and outputs, and the checks here judge them against the contract
and against the reference, which they run themselves with the same seeded
weights (``contract_layers(seed)``) and inputs (``random_images``).
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from fmlgrade.spec.assertions import as_float_array, assert_close, assert_shape
from fmlgrade.spec.worker import part2_observers as obs
from fmlgrade.spec.worker import part2_support as h

#: Each example runs a few 224 x 224 images through two models: at most this many examples.
EXAMPLES = 15
#: Measured on 60 batches: the alternative solution (functional calls) and a raw-parameter
#: version (x @ w.T + b) give exactly the reference's outputs; the smallest effect of a mutant
#: (ReLU moved from after the first Linear to after the conv) is 5.5e-4 on outputs ~0.5.
RTOL, ATOL = 1e-5, 1e-6

batches = st.integers(1, 4)
seeds = st.integers(0, 2**31 - 1)
kinds = st.sampled_from(["uniform", "normal", "constant"])


def _reference(submission, device, seed: int) -> nn.Module:
    """The reference SimpLeNet holding ``contract_layers(seed)`` (trusted), on ``device``."""
    model = submission.reference_object("SimpLeNet")()
    h.load_contract_weights(model, seed)
    return model.to(device)


def _inputs(batch, seed, kind):
    return {"x": h.describe_images(batch, seed, kind)}


def _forward_what(batch: int) -> str:
    return f"SimpLeNet.forward(x) with x of shape {(batch, 3, h.IMAGE_SIZE, h.IMAGE_SIZE)}"


# =================================================================== 2.1a: the layers


@pytest.mark.task("2.1a")
def test_one_conv_and_two_linear_layers(submission):
    """SimpLeNet() is an nn.Module with exactly one nn.Conv2d and two nn.Linear layers."""
    layers = submission.observe(obs.describe_simplenet)
    convs, linears = layers["convs"], layers["linears"]
    problems = []
    if len(convs) != 1:
        names = ", ".join(conv["name"] for conv in convs) or "none"
        problems.append(f"one nn.Conv2d layer (found {len(convs)}: {names})")
    if len(linears) != 2:
        names = ", ".join(linear["name"] for linear in linears) or "none"
        problems.append(f"two nn.Linear layers (found {len(linears)}: {names})")
    if problems:
        raise AssertionError(
            "SimpLeNet must register " + " and ".join(problems) + f"; the layers are {h.LAYERS_TEXT} "
            "(layers kept in a plain Python list are not registered: use attributes, "
            "nn.Sequential or nn.ModuleList)"
        )


@pytest.mark.task("2.1a")
def test_convolution_hyperparameters(submission):
    """The convolution is nn.Conv2d(3, 6, kernel_size=3, padding=1, stride=4) with a bias."""
    convs = submission.observe(obs.describe_simplenet)["convs"]
    if len(convs) != 1:
        raise AssertionError(f"SimpLeNet must have one nn.Conv2d layer, found {len(convs)}")
    conv = convs[0]
    expected = {
        "in_channels": 3,
        "out_channels": 6,
        "kernel_size": (3, 3),
        "stride": (4, 4),
        "padding": (1, 1),
        "dilation": (1, 1),
        "groups": 1,
        "padding_mode": "zeros",
    }
    wrong = [
        f"{key}={conv[key]!r} (expected {value!r})"
        for key, value in expected.items()
        if conv[key] != value
    ]
    if not conv["bias"]:
        wrong.append("bias=False (expected a bias)")
    if wrong:
        raise AssertionError(
            f"the convolution ({conv['name']}) must be Conv2d(3, 6, kernel_size=3, padding=1, stride=4); "
            f"found {', '.join(wrong)}"
        )


@pytest.mark.task("2.1a")
def test_linear_layers(submission):
    """The linear layers are nn.Linear(4374, 10) and nn.Linear(10, 1), both with a bias."""
    linears = submission.observe(obs.describe_simplenet)["linears"]
    if len(linears) != 2:
        raise AssertionError(
            f"SimpLeNet must have two nn.Linear layers, found {len(linears)}"
        )
    first, second = (linears[i] for i in h.forward_order([linear["out_features"] for linear in linears]))
    name1, name2 = first["name"], second["name"]
    problems = []
    if first["in_features"] != h.FLAT_FEATURES:
        hint = " (a LazyLinear? compute the size, see the hint)" if first["in_features"] == 0 else ""
        problems.append(
            f"the first Linear layer ({name1}) must take {h.FLAT_FEATURES} inputs "
            f"(6 x 27 x 27 after pooling), found {first['in_features']}{hint}"
        )
    if first["out_features"] != 10:
        problems.append(
            f"the first Linear layer ({name1}) must have 10 outputs, found {first['out_features']}"
        )
    if second["in_features"] != 10:
        problems.append(
            f"the second Linear layer ({name2}) must take 10 inputs, found {second['in_features']}"
        )
    if second["out_features"] != 1:
        problems.append(
            f"the second Linear layer ({name2}) must have 1 output, found {second['out_features']}"
        )
    for layer in (first, second):
        if not layer["bias"]:
            problems.append(f"the Linear layer {layer['name']} must have a bias (bias=True)")
    if problems:
        raise AssertionError("; ".join(problems))


@pytest.mark.task("2.1a")
def test_trainable_parameter_count(submission):
    """SimpLeNet has 43,929 parameters, all trainable."""
    params = submission.observe(obs.describe_simplenet)["parameters"]
    lazy = [p["name"] for p in params if p["lazy"]]
    if lazy:
        raise AssertionError(
            f"SimpLeNet's parameters {', '.join(lazy)} are not initialised (lazy layers); "
            f"use layers with explicit sizes: {h.LAYERS_TEXT}"
        )
    total = sum(p["numel"] for p in params)
    trainable = sum(p["numel"] for p in params if p["requires_grad"])
    if trainable != h.N_PARAMETERS or total != h.N_PARAMETERS:
        shapes = h.parameter_shapes([(p["name"], p["shape"]) for p in params])
        raise AssertionError(
            f"SimpLeNet must have {h.N_PARAMETERS:,} trainable parameters (168 in the conv, "
            f"43,750 in Linear(4374, 10), 11 in Linear(10, 1)); found {trainable:,} trainable "
            f"of {total:,} ({shapes})"
        )


# =================================================================== 2.1b: forward


@pytest.mark.task("2.1b")
def test_output_shape_and_range(submission, device):
    """forward maps a (B, 3, 224, 224) batch to a (B, 1) tensor of probabilities in (0, 1)."""
    contract = submission.observe(obs.contract_simplenet, device, 0)

    @h.few_examples(EXAMPLES)
    @given(batch=batches, seed=seeds, kind=kinds)
    def check(batch, seed, kind):
        what = _forward_what(batch)
        output = submission.observe(obs.contract_forward, contract, batch, seed, kind, device, what)["output"]
        values = assert_shape(output, (batch, 1), what=what, inputs=_inputs(batch, seed, kind))
        outside = (values <= 0) | (values >= 1) | ~(values == values)
        if outside.any():
            raise AssertionError(
                f"{what}: every output must be a probability strictly between 0 and 1 (the "
                f"sigmoid at the end), got {values.ravel().tolist()}\n"
                f"for the inputs: {h.describe_images(batch, seed, kind)}"
            )

    check()


@pytest.mark.task("2.1b")
def test_output_matches_reference(submission, device):
    """forward chains conv, max-pool(4, 2), flatten, Linear, ReLU, Linear, sigmoid as the reference.

    The student's conv and linear layers are replaced by contract-exact ones
    (same weights as the reference's), so only what forward does is compared.
    """
    contract = submission.observe(obs.contract_simplenet, device, 0)
    reference = _reference(submission, device, 0)

    @h.few_examples(EXAMPLES)
    @given(batch=batches, seed=seeds, kind=kinds)
    def check(batch, seed, kind):
        what = _forward_what(batch)
        seen = submission.observe(obs.contract_forward, contract, batch, seed, kind, device, what)
        h.load_contract_weights(reference, seed)
        with h.torch_threads(1), torch.no_grad():
            expected = reference(h.random_images(batch, seed, kind).to(device))
        assert_close(
            seen["output"], expected, what=what, rtol=RTOL, atol=ATOL,
            inputs={**_inputs(batch, seed, kind), "layers": h.LAYERS_TEXT},
        )
        if seen["input_modified"]:
            raise AssertionError(f"{what}: forward must not modify its input x in place")

    check()


@pytest.mark.task("2.1b")
def test_gradients_reach_every_layer(submission, device):
    """forward keeps the autograd graph: every layer's weights get the reference's gradients."""
    upstream = [[0.7], [-1.3], [0.4]]
    what = "SimpLeNet.forward(x) for x of shape (3, 3, 224, 224), then (output * g).sum().backward()"
    seen = submission.observe(obs.contract_gradients, device, 3, 3, 11, upstream, what)
    assert_shape(seen["output"], (3, 1), what=what)
    if not seen["requires_grad"]:
        raise AssertionError(
            f"{what}: the output does not depend on the parameters through autograd; forward "
            "must not use torch.no_grad(), .detach(), .data, .item() or NumPy on the way"
        )
    reference = _reference(submission, device, 3)
    with h.torch_threads(1):
        output = reference(h.random_images(3, 11).to(device))
        (output * torch.tensor(upstream, device=device)).sum().backward()
    expected = {tuple(p.grad.shape): p.grad for p in reference.parameters()}
    for shape, gradient in seen["gradients"]:
        shape = tuple(shape)
        if gradient is None:
            raise AssertionError(
                f"{what}: no gradient reached the parameter of shape {shape}; forward must use "
                "every layer and keep the autograd graph"
            )
        if shape not in expected:
            raise AssertionError(f"{what}: the model has a parameter of shape {shape}, which the contract has not")
        assert_close(
            gradient, expected[shape], what=f"{what}: gradient of the parameter of shape {shape}",
            rtol=1e-4, atol=1e-7,
        )


@pytest.mark.task("2.1b")
def test_batch_of_one(submission, device):
    """A batch of one image gives a (1, 1) output, equal to that image's row in a larger batch."""
    batched_what = "SimpLeNet.forward(x) for x of shape (3, 3, 224, 224)"
    singles = [f"SimpLeNet.forward(x[{row}:{row + 1}]) (a batch of one image)" for row in range(3)]
    steps = [(None, None, batched_what)] + [(None, (row, row + 1), singles[row]) for row in range(3)]
    outputs = submission.observe(obs.contract_outputs, device, 5, 3, 21, steps)
    batched = as_float_array(outputs[0], what=batched_what)
    for row in range(3):
        single = outputs[1 + row]
        assert_shape(single, (1, 1), what=singles[row], inputs=_inputs(3, 21, "uniform"))
        if batched.shape == (3, 1):
            assert_close(single, batched[row:row + 1], what=singles[row], rtol=RTOL, atol=ATOL)


@pytest.mark.task("2.1b")
def test_deterministic_and_same_in_train_and_eval_mode(submission, device):
    """forward is deterministic and the same in train and eval mode (SimpLeNet has no dropout)."""
    what = "SimpLeNet.forward(x) for x of shape (2, 3, 224, 224)"
    steps = [("eval", None, what), (None, None, what), ("train", None, what)]
    first, second, trained = submission.observe(obs.contract_outputs, device, 7, 2, 31, steps)
    first = as_float_array(first, what=what)
    assert_close(second, first, what=f"{what}, called twice in eval mode", rtol=0, atol=0)
    assert_close(
        trained, first, what=f"{what} after model.train() (compared with model.eval())",
        rtol=RTOL, atol=ATOL,
    )
    if math.isnan(float(first.sum())):
        raise AssertionError(f"{what}: returned NaN")
