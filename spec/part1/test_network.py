"""Tasks 1.3a-c: ``MyNeuralNet`` forward, backward and update.

The network is graded with *reference* layers: the student's constructor runs
with the reference ``MyLinearLayer`` and ``MyReLU`` in place of the student's
(so it works even without them), then ``net.layers`` is replaced by reference
layers with parameters drawn by hypothesis, wrapped so that every call the
network makes to them is recorded. A wrong layer therefore never costs points
here. Backward is judged against the output that the student's own
``forward`` returned, and the layers are put in the state a correct forward
leaves them in before ``backward`` runs, so a forward bug costs 1.3a only;
update is checked on layers prepared by the reference forward and backward.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import given

from fmlgrade.spec.assertions import as_float_array
from fmlgrade.spec.part1 import oracles as o
from fmlgrade.spec.part1 import strategies as s
from fmlgrade.spec.worker.outcomes import prerequisite

SEED = 4321
LAYER_NAMES = ("layers[0] (Linear(1, H))", "layers[1] (ReLU)", "layers[2] (Linear(H, 1))")


class Call(NamedTuple):
    """One call the network made to one of its layers."""

    layer: int
    method: str
    argument: Any
    result: Any = None


def _snapshot(value: Any) -> Any:
    try:
        return np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError):
        return value


def _recording(cls: type, index: int, log: list[Call]) -> type:
    """A subclass of the reference layer class ``cls`` that appends every call to ``log``."""

    class Recording(cls):
        def forward(self, x):
            result = super().forward(x)
            log.append(Call(index, "forward", _snapshot(x), _snapshot(result)))
            return result

        def backward(self, gradient):
            result = super().backward(gradient)
            log.append(Call(index, "backward", _snapshot(gradient), _snapshot(result)))
            return result

        def update(self, learn_rate):
            log.append(Call(index, "update", learn_rate))
            return super().update(learn_rate)

    Recording.__name__ = Recording.__qualname__ = cls.__name__
    Recording.reference = cls  # the unrecorded methods, for the checks' own set-up
    return Recording


def _reference_layers(submission, case: s.NetCase, log: list[Call]) -> list:
    """Recording reference layers [Linear(1, H), ReLU, Linear(H, 1)] with the case's parameters."""
    hidden = case.w1.shape[1]
    linear = submission.reference_object("MyLinearLayer")
    relu = submission.reference_object("MyReLU")
    first = _recording(linear, 0, log)(1, hidden)
    activation = _recording(relu, 1, log)()
    last = _recording(linear, 2, log)(hidden, 1)
    first.w, first.b = case.w1.copy(), case.b1.copy()
    last.w, last.b = case.w2.copy(), case.b2.copy()
    return [first, activation, last]


def _net_with_reference_layers(submission, case: s.NetCase) -> tuple[Any, list, list[Call]]:
    """The student's network holding recording reference layers; also the layers and the log."""
    MyNeuralNet = submission.require("MyNeuralNet")
    submission.seed(SEED)
    net = MyNeuralNet(case.w1.shape[1])
    log: list[Call] = []
    layers = _reference_layers(submission, case, log)
    net.layers = list(layers)
    return net, layers, log


def _prime(layers: list, case: s.NetCase, *, backward_from: np.ndarray | None = None) -> None:
    """Run the reference forward (and backward) through the layers, without recording."""
    signal = case.x.copy()
    for layer in layers:
        signal = layer.reference.forward(layer, signal)
    if backward_from is not None:
        gradient = backward_from
        for layer in reversed(layers):
            gradient = layer.reference.backward(layer, gradient)


def _inputs(case: s.NetCase, *names: str) -> dict:
    return {name: getattr(case, name) for name in names}


# --------------------------------------------------------------------------------------
# 1.3a forward
# --------------------------------------------------------------------------------------


@pytest.mark.task("1.3a")
@given(case=s.net_cases())
def test_forward_composes_the_layers(submission, case):
    """forward feeds x (B, 1) through self.layers in order and returns the last output, (B, 1)."""
    with submission.with_reference("MyLinearLayer", "MyReLU"):
        net, _, _ = _net_with_reference_layers(submission, case)
        o.assert_matches(
            net.forward(case.x.copy()),
            o.net_forward(case.x, case.w1, case.b1, case.w2, case.b2),
            o.net_forward_scale(case.x, case.w1, case.b1, case.w2, case.b2),
            what="MyNeuralNet.forward(x), expected layers[2].forward(layers[1].forward(layers[0].forward(x)))",
            inputs=_inputs(case, "x", "w1", "b1", "w2", "b2"),
        )


# --------------------------------------------------------------------------------------
# 1.3b backward
# --------------------------------------------------------------------------------------


def _backward_calls(submission, case: s.NetCase) -> tuple[np.ndarray, list[Call]]:
    """Run the student's forward (a step graded by 1.3a) and backward; return h and the
    backward calls the network made to its layers.

    h is what the student's forward returned; when it returns something that
    is not a (B, 1) array, a correct forward's h stands in, so that a forward
    bug costs 1.3a only and backward is still judged. A forward that crashes
    makes backward impossible to run (it needs what forward stores): that is
    reported as an error of a prerequisite, as the contract allows.
    """
    net, layers, log = _net_with_reference_layers(submission, case)
    B = case.x.shape[0]
    correct_h = o.net_forward(case.x, case.w1, case.b1, case.w2, case.b2)
    with prerequisite("MyNeuralNet.forward"):
        output = net.forward(case.x.copy())
    try:
        h = as_float_array(output, what="MyNeuralNet.forward(x)")
    except AssertionError:
        h = correct_h
    if h.shape != (B, 1):
        h = correct_h
    _prime(layers, case)  # the layers as a correct forward leaves them, whatever forward did
    log.clear()
    net.backward(case.y.copy())
    return h, [call for call in log if call.method == "backward"]


@pytest.mark.task("1.3b")
@given(case=s.net_cases())
def test_backward_starts_from_the_loss_gradient(submission, case):
    """backward(y) passes dL/dh = (h - y) / B to the last layer, h being what forward returned."""
    with submission.with_reference("MyLinearLayer", "MyReLU"):
        h, calls = _backward_calls(submission, case)
        into_last = [call for call in calls if call.layer == 2]
        if len(into_last) != 1:
            raise AssertionError(
                f"MyNeuralNet.backward(y) must call backward on the last layer exactly once, "
                f"it called it {len(into_last)} times"
            )
        B = case.x.shape[0]
        what = "the gradient MyNeuralNet.backward(y) passed to the last layer, expected (h - y) / B"
        inputs = {"h (returned by forward)": h, "y": case.y}
        try:
            o.assert_matches(
                into_last[0].argument, (h - case.y) / B, (np.abs(h) + np.abs(case.y)) / B,
                what=what, inputs=inputs,
            )
        except AssertionError:
            # Where forward returned one thing and kept another, h of a correct forward
            # is as good: a forward bug must not cost backward's points.
            correct_h = o.net_forward(case.x, case.w1, case.b1, case.w2, case.b2)
            try:
                o.assert_matches(
                    into_last[0].argument, (correct_h - case.y) / B,
                    (np.abs(correct_h) + np.abs(case.y)) / B, what=what, inputs=inputs,
                )
            except AssertionError:
                pass
            else:
                return
            raise


@pytest.mark.task("1.3b")
@given(case=s.net_cases())
def test_backward_goes_through_the_layers_in_reverse(submission, case):
    """backward(y) calls backward once per layer, last to first, each on the gradient the layer after it returned."""
    with submission.with_reference("MyLinearLayer", "MyReLU"):
        _, calls = _backward_calls(submission, case)
        order = [call.layer for call in calls]
        if order != [2, 1, 0]:
            named = ", ".join(LAYER_NAMES[i] for i in order) or "none"
            raise AssertionError(
                "MyNeuralNet.backward(y) must call backward on layers[2], layers[1], layers[0], in "
                f"that order and once each; it called: {named}"
            )
        for later, earlier in zip(calls, calls[1:], strict=False):
            returned = later.result
            o.assert_matches(
                earlier.argument,
                returned,
                np.abs(returned),
                what=(
                    f"the gradient MyNeuralNet.backward(y) passed to {LAYER_NAMES[earlier.layer]}, "
                    f"expected what {LAYER_NAMES[later.layer]}.backward returned"
                ),
                inputs=_inputs(case, "x", "y", "w1", "b1", "w2", "b2"),
            )


# --------------------------------------------------------------------------------------
# 1.3c update
# --------------------------------------------------------------------------------------


@pytest.mark.task("1.3c")
@given(case=s.net_cases())
def test_update_calls_every_layer_once(submission, case):
    """update(learn_rate) calls update(learn_rate) on every layer in self.layers, once each."""
    with submission.with_reference("MyLinearLayer", "MyReLU"):
        net, layers, log = _net_with_reference_layers(submission, case)
        seed = o.net_forward(case.x, case.w1, case.b1, case.w2, case.b2) - case.y
        _prime(layers, case, backward_from=seed)
        net.update(case.learn_rate)
        updates = [call for call in log if call.method == "update"]
        counts = [sum(call.layer == i for call in updates) for i in range(3)]
        if counts != [1, 1, 1]:
            detail = ", ".join(f"{name}: {count}" for name, count in zip(LAYER_NAMES, counts, strict=True))
            raise AssertionError(
                "MyNeuralNet.update(learn_rate) must call update once on each of the three layers; "
                f"calls made: {detail}"
            )
        for call in updates:
            try:
                rate = float(call.argument)
            except (TypeError, ValueError):
                rate = float("nan")
            if not np.isclose(rate, case.learn_rate, rtol=1e-12, atol=0.0):
                raise AssertionError(
                    f"MyNeuralNet.update({case.learn_rate!r}) called {LAYER_NAMES[call.layer]}.update "
                    f"with {call.argument!r}; pass the learning rate on unchanged"
                )


@pytest.mark.task("1.3c")
@given(case=s.net_cases())
def test_update_takes_one_step_on_each_layer(submission, case):
    """After update(learn_rate) each layer's parameters have taken exactly one step of its own update."""
    with submission.with_reference("MyLinearLayer", "MyReLU"):
        net, layers, _ = _net_with_reference_layers(submission, case)
        seed = o.net_forward(case.x, case.w1, case.b1, case.w2, case.b2) - case.y
        _prime(layers, case, backward_from=seed)
        expected = _reference_layers(submission, case, [])
        _prime(expected, case, backward_from=seed)
        for layer in expected:
            layer.reference.update(layer, case.learn_rate)
        net.update(case.learn_rate)
        inputs = {**_inputs(case, "x", "y", "w1", "b1", "w2", "b2"), "learn_rate": case.learn_rate}
        for index, suffix in ((0, "1"), (2, "2")):
            for name in ("w", "b"):
                before = getattr(case, name + suffix)
                after = getattr(expected[index], name)
                o.assert_matches(
                    getattr(layers[index], name), after, np.abs(before) + np.abs(after),
                    what=(
                        f"{LAYER_NAMES[index]}.{name} after MyNeuralNet.update(learn_rate), "
                        "expected exactly one step of the layer's own update"
                    ),
                    inputs=inputs,
                )
