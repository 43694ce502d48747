"""Tests of :mod:`fmlgrade.spec.gradients`, the public property-based gradient checker.

The proof is on layers the assignment does not have (``tests/gradient_layers/``):
sigmoid, tanh, a linear layer, a 1-D convolution (as a layer and as a function
with a VJP), a batch-norm-like layer and softmax with cross-entropy. Every correct
version passes in float64 and in float32; every wrong version (a transposed
weight gradient on square shapes, a missing or extra 1/B, a sign error, the
gradient of the wrong input, an in-place change of an array it is given, ...)
is caught. Then bad input, the strategies, the failure report, the command line
and the Part 1 checks' use of the same core.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from gradient_layers import activations, batchnorm, conv1d, linear, softmax_ce
from hypothesis import HealthCheck, Phase, given, settings

from fmlgrade.harness.gradcheck_command import add_gradcheck_parser, gradcheck_command
from fmlgrade.spec import gradients as g

TORCH = g.torch_available()
CLI_LAYERS = Path(__file__).parent / "gradient_layers" / "cli_layers.py"

#: The quick profile's size: enough for every correct version to meet batches of 1 and more.
PASSING = settings(
    max_examples=12, derandomize=True, deadline=None, database=None,
    suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.generate),
)
#: Catching a wrong version needs no shrinking (one test below checks the shrunk report).
CATCHING = settings(PASSING, max_examples=25)
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])


def _oracles() -> tuple[str, ...]:
    return ("float64 central differences", "torch.autograd") if TORCH else ("float64 central differences",)


# --------------------------------------------------------------------------------------
# Correct versions pass, in float64 and float32
# --------------------------------------------------------------------------------------


@DTYPES
@pytest.mark.parametrize("layer", list(activations.CORRECT), ids=lambda c: c.__name__)
def test_correct_activations_pass(layer, dtype):
    summary = g.check_layer(layer, dtype=dtype, torch_forward=activations.CORRECT[layer], settings=PASSING)
    assert summary.examples == 12 and summary.oracles == _oracles() and summary.parameters == ()


@DTYPES
def test_correct_linear_layer_passes(dtype):
    summary = g.check_layer(linear.Linear, sizes=linear.SIZES, input_shape=("n_in",), dtype=dtype,
                            torch_forward=linear.torch_linear, settings=PASSING)
    assert summary.parameters == ("w", "b")


@DTYPES
def test_correct_conv1d_layer_passes(dtype):
    summary = g.check_layer(conv1d.Conv1D, sizes=conv1d.SIZES, input_shape=conv1d.INPUT_SHAPE, dtype=dtype,
                            torch_forward=conv1d.torch_conv1d_layer, settings=PASSING)
    assert summary.parameters == ("w", "b")


@DTYPES
def test_correct_conv1d_function_passes(dtype):
    g.check_vjp(conv1d.conv1d, conv1d.conv1d_vjp, inputs=conv1d.FUNCTION_INPUTS, sizes=conv1d.SIZES, dtype=dtype,
                torch_function=conv1d.torch_conv1d, settings=PASSING)


@DTYPES
def test_correct_batchnorm_passes(dtype):
    summary = g.check_layer(batchnorm.BatchNorm, dtype=dtype, torch_forward=batchnorm.torch_batchnorm,
                            settings=PASSING)
    assert summary.parameters == ("gamma", "beta")


@DTYPES
def test_correct_softmax_cross_entropy_passes(dtype):
    g.check_vjp(
        softmax_ce.softmax_cross_entropy, softmax_ce.softmax_cross_entropy_vjp, inputs=softmax_ce.INPUTS,
        sizes=softmax_ce.SIZES, constants=softmax_ce.CONSTANTS, dtype=dtype,
        torch_function=softmax_ce.torch_softmax_cross_entropy, settings=PASSING,
    )


# --------------------------------------------------------------------------------------
# Wrong versions are caught
# --------------------------------------------------------------------------------------

_WRONG_LAYERS = [
    *[(cls, what, {}) for cls, what in activations.WRONG.items()],
    *[(cls, what, {"sizes": sizes, "input_shape": ("n_in",)}) for cls, (what, sizes) in linear.WRONG.items()],
    *[(cls, what, {"sizes": sizes, "input_shape": conv1d.INPUT_SHAPE}) for cls, (what, sizes) in conv1d.WRONG.items()],
    *[(cls, what, {}) for cls, what in batchnorm.WRONG.items()],
]


@DTYPES
@pytest.mark.parametrize(("layer", "what", "options"), _WRONG_LAYERS, ids=[c.__name__ for c, _, _ in _WRONG_LAYERS])
def test_wrong_layers_are_caught(layer, what, options, dtype):
    with pytest.raises(g.GradientCheckFailure) as caught:
        g.check_layer(layer, dtype=dtype, settings=CATCHING, **options)
    assert layer.__name__ in str(caught.value), what


_WRONG_VJPS = [
    *[(softmax_ce.softmax_cross_entropy, vjp, what, dict(inputs=softmax_ce.INPUTS, sizes=softmax_ce.SIZES,
                                                          constants=softmax_ce.CONSTANTS))
      for vjp, what in softmax_ce.WRONG.items()],
    *[(conv1d.conv1d, vjp, what, dict(inputs=conv1d.FUNCTION_INPUTS, sizes=conv1d.SIZES))
      for vjp, what in conv1d.WRONG_VJPS.items()],
]


@DTYPES
@pytest.mark.parametrize(("function", "vjp", "what", "options"), _WRONG_VJPS,
                         ids=[v.__name__ for _, v, _, _ in _WRONG_VJPS])
def test_wrong_vjps_are_caught(function, vjp, what, options, dtype):
    with pytest.raises(g.GradientCheckFailure) as caught:
        g.check_vjp(function, vjp, dtype=dtype, settings=CATCHING, **options)
    assert vjp.__name__ in str(caught.value), what


def test_in_place_change_is_named():
    with pytest.raises(g.GradientCheckFailure, match=r"changed the array gradient it was given, in place"):
        g.check_layer(activations.SigmoidInPlace, settings=CATCHING)


class _TanhShapedSigmoid(activations.Sigmoid):
    """A consistent forward and backward, but of sigmoid where tanh was meant."""


def test_a_consistent_but_wrong_forward_needs_a_reference():
    """Central differences of the layer's own forward check backward against forward; a
    reference (NumPy or torch) also checks forward against what was meant."""
    g.check_layer(_TanhShapedSigmoid, settings=PASSING)
    with pytest.raises(g.GradientCheckFailure, match=r"forward\(x\), compared with reference"):
        g.check_layer(_TanhShapedSigmoid, reference=np.tanh, settings=PASSING)
    if TORCH:
        with pytest.raises(g.GradientCheckFailure, match="compared with the torch expression"):
            g.check_layer(_TanhShapedSigmoid, torch_forward=activations.torch_tanh, settings=PASSING)


class _ReLU:
    def forward(self, x):
        self.x = x
        return np.maximum(x, 0.0)

    def backward(self, gradient):
        return gradient * (self.x > 0)


def test_declared_kinks_keep_inputs_away_from_them():
    with pytest.raises(g.GradientCheckFailure):  # hypothesis draws 0.0 itself, where x +- h straddles the kink
        g.check_layer(_ReLU, settings=CATCHING)
    g.check_layer(_ReLU, kinks=(0.0,), settings=PASSING)


# --------------------------------------------------------------------------------------
# The failure report
# --------------------------------------------------------------------------------------


def test_a_failure_shows_the_shrunk_example_expected_returned_and_where():
    with pytest.raises(g.GradientCheckFailure) as caught:
        g.check_layer(activations.TanhOfTheInput, settings=settings(PASSING, phases=tuple(Phase)[:-1]))
    message = str(caught.value)
    assert "TanhOfTheInput().backward(gradient) after forward(x): dL/dx" in message
    assert "the largest error is at index (0, 0)" in message and "expected" in message and "got" in message
    assert "for the inputs:" in message and "gradient = " in message
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert "example=LayerExample(TanhOfTheInput(), dtype=float64, x=array([[" in notes
    np.testing.assert_array_equal(caught.value.actual.shape, caught.value.expected.shape)


def test_a_wrong_parameter_gradient_names_the_parameter():
    with pytest.raises(g.GradientCheckFailure, match=r"^dL/db as LinearBiasMean\(n_in=\d, n_out=\d\)\.update"):
        g.check_layer(linear.LinearBiasMean, sizes=linear.SIZES, input_shape=("n_in",), settings=CATCHING)


# --------------------------------------------------------------------------------------
# Use in one's own property tests
# --------------------------------------------------------------------------------------

_SEEN: list[g.LayerExample] = []


@settings(PASSING, max_examples=40)
@given(example=g.layer_examples(linear.Linear, sizes=linear.SIZES, input_shape=("n_in",), kinks=(-1.0, 1.0)))
def _linear_property(example):
    _SEEN.append(example)
    g.assert_layer_gradients(example, reference=lambda x, w, b: x @ w + b)


def test_strategy_and_assertion_in_a_users_own_property():
    _SEEN.clear()
    _linear_property()
    batches = {example.sizes["batch"] for example in _SEEN}
    assert 1 in batches and max(batches) > 1
    assert any(e.sizes["n_in"] != e.sizes["n_out"] for e in _SEEN)
    for example in _SEEN:
        assert example.x.shape == (example.sizes["batch"], example.sizes["n_in"])
        assert example.parameters["w"].shape == (example.sizes["n_in"], example.sizes["n_out"])
        assert example.gradient.shape == (example.sizes["batch"], example.sizes["n_out"])
        assert np.all(np.abs(example.x[..., None] - np.array([-1.0, 1.0])) >= g.KINK_MARGIN * (1 - 1e-9))
        assert np.all(np.abs(example.x) <= 10.0)


def test_float32_examples_hold_float32_values():
    @settings(PASSING, max_examples=5)
    @given(example=g.layer_examples(activations.Tanh, dtype="float32"))
    def check(example):
        assert example.dtype == np.float32 and example.x.dtype == np.float64
        np.testing.assert_array_equal(example.x, example.x.astype(np.float32))

    check()


def test_a_layer_object_is_copied_not_changed():
    layer = linear.Linear(2, 3)
    w = layer.w.copy()
    summary = g.check_layer(layer, input_shape=(2,), settings=PASSING)
    np.testing.assert_array_equal(layer.w, w)
    assert summary.parameters == ("w", "b")


def test_parameters_can_be_left_out():
    class Frozen(linear.Linear):
        def update(self, learn_rate):
            pass

    g.check_layer(Frozen, args=(2, 2), input_shape=(2,), parameters=(), settings=PASSING)
    with pytest.raises(g.GradientCheckFailure, match="dL/dw"):
        g.check_layer(Frozen, args=(2, 2), input_shape=(2,), settings=CATCHING)


# --------------------------------------------------------------------------------------
# Bad input: one line naming the problem
# --------------------------------------------------------------------------------------


class _NoBackward:
    def forward(self, x):
        return x


def _sqrt(x):
    with np.errstate(invalid="ignore"):
        return np.sqrt(x)


class _Sqrt:
    def forward(self, x):
        self.y = _sqrt(x)
        return self.y

    def backward(self, gradient):
        return gradient / 2 / self.y


class _NoUpdate(linear.Linear):
    update = None


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: g.check_layer(object()), g.InvalidArgument, r"layer=<object object at .*> is not a layer"),
        (lambda: g.check_layer(_NoBackward), g.InvalidArgument, r"_NoBackward is not a layer: it has no backward\(\)"),
        (lambda: g.check_layer(lambda: 3), g.InvalidArgument, r"returned a int, which is not a layer"),
        (lambda: g.check_layer(linear.Linear, args=(3, 2), input_shape=(4,), settings=PASSING),
         g.UncheckableExample, r"Linear\(3, 2\)\.forward\(x of shape \(1, 4\)\) raised ValueError: .*input_shape="),
        (lambda: g.check_layer(linear.Linear, settings=PASSING), g.UncheckableExample,
         r"Linear\(\) raised TypeError: .*args= or sizes="),
        (lambda: g.check_layer(_Sqrt, settings=PASSING), g.UncheckableExample,
         r"_Sqrt\(\)\.forward returned nan at index \(0, 0\) for x\[0, 0\] = 0\.0 \+- 1e-06, .*input_range="),
        (lambda: g.check_vjp(_sqrt, lambda gr, x: gr / 2 / _sqrt(x), inputs={"x": ("batch",)},
                             settings=PASSING), g.UncheckableExample, r"returned nan"),
        (lambda: g.check_layer(_NoUpdate, args=(2, 2), input_shape=(2,), settings=PASSING), g.InvalidArgument,
         r"has parameters \(w, b\) but no update\(learn_rate\).*parameters=\(\)"),
        (lambda: g.layer_examples(_ReLU, kinks=0.0), g.InvalidArgument, r"^kinks must be a sequence"),
        (lambda: g.layer_examples(linear.Linear, args=3), g.InvalidArgument, r"^args must be a tuple"),
        (lambda: g.layer_examples(_ReLU, kinks=(float("nan"),)), g.InvalidArgument, r"^kinks must hold finite"),
        (lambda: g.layer_examples(_ReLU, kink_margin=1e-7), g.InvalidArgument, r"^kink_margin must be"),
        (lambda: g.layer_examples(_ReLU, kinks=(0.0,), input_range=(0.0, 1e-4)), g.InvalidArgument,
         r"leave no value in input_range"),
        (lambda: g.layer_examples(_ReLU, input_range=(1, -1)), g.InvalidArgument, r"^input_range must be a pair"),
        (lambda: g.layer_examples(_ReLU, dtype=np.int64), g.InvalidArgument, r"^dtype must be float64 or float32"),
        (lambda: g.layer_examples(_ReLU, max_batch=0), g.InvalidArgument, r"^max_batch must be an int >= 1"),
        (lambda: g.layer_examples(_ReLU, sizes={"n": "3"}), g.InvalidArgument, r"^sizes\['n'\] must be an int"),
        (lambda: g.layer_examples(_ReLU, input_shape=("n_in",)), g.InvalidArgument,
         r"^input_shape names the size 'n_in', which sizes does not define"),
        (lambda: g.layer_examples(_ReLU, parameters="w"), g.InvalidArgument, r"^parameters must be a sequence"),
        (lambda: g.check_layer(linear.Linear, args=(2, 2), parameters=("weight",), settings=PASSING),
         g.InvalidArgument, r"parameters names 'weight', but Linear\(2, 2\)\.weight is not a float array"),
        (lambda: g.function_examples(softmax_ce.softmax_cross_entropy, inputs={"scores": ("batch", 2)}),
         g.InvalidArgument, r"inputs are passed by position: softmax_cross_entropy\(logits, labels\) needs inputs "
                            r"named logits, in that order, not scores"),
        (lambda: g.function_examples(softmax_ce.softmax_cross_entropy, inputs={"logits": ("batch", 2)},
                                     constants={"weights": 1.0}),
         g.InvalidArgument, r"softmax_cross_entropy has no parameter 'weights'"),
        (lambda: g.function_examples(softmax_ce.softmax_cross_entropy, inputs=softmax_ce.INPUTS),
         g.InvalidArgument, r"inputs\['logits'\] names the size 'classes'"),
        (lambda: g.check_vjp(np.tanh, "not callable"), g.InvalidArgument, r"^vjp must be callable"),
    ],
    ids=lambda value: "" if callable(value) or isinstance(value, (type, str)) else None,
)
def test_bad_input_gets_one_line_naming_the_problem(call, error, pattern):
    with pytest.raises(error, match=pattern) as raised:
        call()
    assert "\n" not in str(raised.value)


def test_a_vjp_must_return_one_gradient_per_input():
    with pytest.raises(g.GradientCheckFailure, match=r"returned 1 gradients for 2 inputs \(x, w\)"):
        g.check_vjp(conv1d.conv1d, lambda gradient, x, w: [conv1d.conv1d_vjp(gradient, x, w)[0]],
                    inputs=conv1d.FUNCTION_INPUTS, sizes=conv1d.SIZES, settings=CATCHING)


def test_importing_it_imports_neither_torch_nor_solutions():
    code = (
        "import sys, fmlgrade.spec.gradients, fmlgrade.spec.part1.oracles\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert not [m for m in sys.modules if m.startswith('fmlgrade.solutions')], 'solutions were imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------------------
# One core: the Part 1 checks compare with the same functions
# --------------------------------------------------------------------------------------


def test_part1_oracles_use_the_same_core():
    from fmlgrade.spec.part1 import oracles, strategies

    for name in ("RTOL", "ATOL", "ABS_FLOOR", "FD_STEP", "allowed_error", "assert_matches", "assert_step",
                 "central_differences_vjp"):
        assert getattr(oracles, name) is getattr(g, name), name
    assert strategies.float_arrays is g.float_arrays and strategies.KINK_MARGIN == g.KINK_MARGIN
    x, w, b, gradient = np.ones((2, 3)), np.arange(12.0).reshape(3, 4), np.ones(4), np.arange(8.0).reshape(2, 4)
    numerical = g.numerical_vjp(lambda x, w, b: x @ w + b, {"x": x, "w": w, "b": b}, gradient)
    np.testing.assert_allclose(numerical.gradients["x"], gradient @ w.T, rtol=1e-7)
    # The scale of a VJP is the grader's magnitude of the terms: |gradient| @ |w|.T for x @ w.
    np.testing.assert_allclose(numerical.scales["x"], oracles.linear_input_gradient_scale(w, gradient), rtol=1e-7)
    np.testing.assert_allclose(numerical.gradients["w"], oracles.linear_parameter_gradients(x, gradient)[0])


# --------------------------------------------------------------------------------------
# fmlgrade gradcheck FILE NAME
# --------------------------------------------------------------------------------------


def _gradcheck(capsys, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="fmlgrade")
    add_gradcheck_parser(parser.add_subparsers(dest="command"))
    code = gradcheck_command(parser.parse_args(["gradcheck", *argv]))
    out, err = capsys.readouterr()
    return code, out, err


def test_command_line_passes_a_correct_layer(capsys):
    code, out, err = _gradcheck(capsys, str(CLI_LAYERS), "MyTanh")
    assert (code, err) == (0, "")
    assert out == "MyTanh: gradients agree with float64 central differences on 12 examples (float64)\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["MyLinear", "--args", "3", "2", "--input-shape", "3"],
        ["MyReLU", "--kinks", "0", "--dtype", "float32"],
        ["square"],
        ["MyTanh", "--torch", "torch_tanh", "--input-range", "-3", "3"],
        ["Doubling", "--parameters", ""],
    ],
    ids=["linear", "relu-kinks-float32", "function", "torch", "no-parameters"],
)
def test_command_line_options(capsys, argv):
    code, out, err = _gradcheck(capsys, str(CLI_LAYERS), *argv)
    assert (code, err) == (0, ""), out
    assert out.startswith(f"{argv[0]}: gradients agree") and out.count("\n") == 1
    assert ("torch.autograd" in out) == ("--torch" in argv and TORCH)


def test_command_line_shows_the_counterexample(capsys):
    code, out, err = _gradcheck(capsys, str(CLI_LAYERS), "BrokenTanh")
    assert (code, err) == (1, "")
    assert out.startswith("BrokenTanh: FAILED (float64)\nBrokenTanh().backward(gradient) after forward(x): dL/dx")
    assert "Smallest failing input:" in out and "LayerExample(BrokenTanh()" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["NOT_A_LAYER"], "NOT_A_LAYER is a int, not a layer"),
        (["NoBackward"], "layer=NoBackward is not a layer: it has no backward() method"),
        (["Nope"], "has no layer or function 'Nope' (it defines: BrokenTanh, Doubling, MyLinear"),
        (["MyLinear", "--args", "3", "2", "--input-shape", "4"], "MyLinear(3, 2).forward(x of shape (1, 4)) raised"),
        (["MyLinear"], "MyLinear() raised TypeError"),
        (["MySqrt"], "MySqrt().forward returned nan at index (0, 0) for x[0, 0] = 0.0 +- 1e-06"),
        (["MyTanh", "--input-shape", "3x"], "--input-shape takes numbers separated by commas"),
        (["square", "--vjp", "cube_vjp"], "has no VJP 'cube_vjp'"),
        (["Doubling"], "Doubling() has parameters (cache) but no update(learn_rate) to observe their gradients "
                       "through; give --parameters '' to check only backward"),
    ],
    ids=["not-a-layer", "no-backward", "missing", "shapes", "no-args", "nan", "bad-shape", "no-vjp", "cache"],
)
def test_command_line_bad_input_is_one_line(capsys, argv, message):
    code, out, err = _gradcheck(capsys, str(CLI_LAYERS), *argv)
    assert (code, out) == (2, "")
    assert err.startswith("fmlgrade: error: ") and err.count("\n") == 1 and message in err, err


def test_command_line_missing_file(capsys, tmp_path):
    code, _, err = _gradcheck(capsys, str(tmp_path / "nothing.py"), "MyTanh")
    assert code == 2 and err == f"fmlgrade: error: {tmp_path / 'nothing.py'}: no such file; give the path of a .py " \
                                "file or notebook\n"
