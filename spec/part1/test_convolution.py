"""Task 1.7: ``convolve(kernels, images, stride)``, the cross-correlation of eq. (5).

The output shape is checked first, on its own, since most mistakes show there
(a ceil instead of the floor, a missing ``+ 1``, height and width swapped).
The values are then compared with ``torch.nn.functional.conv2d`` in float64
(where torch is installed) and, always, with the reference ``convolve``.
Sizes come from ``strategies.convolution_cases``: kernels 1 to 4 wide, strides
1 to 3, ``H != W`` and ``F_in != F_out`` in most examples.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from numpy.lib.stride_tricks import sliding_window_view

from fmlgrade.spec.assertions import assert_close, assert_shape, show
from fmlgrade.spec.part1 import strategies as s

pytestmark = pytest.mark.task("1.7")

#: Allowed error per unit of magnitude of the terms summed: an output value may differ
#: from the float64 one by CONV_TOLERANCE * sum |k * x| over its window (elementwise).
#: A convolution computed in float32 (allowed) rounds each operand by 2**-24 ~ 6e-8 and
#: accumulates at most K * K * F_in = 4 * 4 * 3 = 48 products, so it errs by at most
#: (48 + 2) * 6e-8 = 3e-6 of that sum (worst case; typically sqrt(48) * 6e-8 = 4e-7):
#: 3 to 25 times below CONV_TOLERANCE. A float64 implementation in any summation order
#: errs by 1e-14. A wrong pixel, kernel entry or channel changes an output by the size of
#: a whole term, typically 0.1 to 1 of the sum.
CONV_TOLERANCE = 1e-5
#: Added to every magnitude, making CONV_TOLERANCE * MAGNITUDE_FLOOR = 1e-5 an absolute
#: floor: float32 flushes numbers below 1.2e-38 to zero, so where every term of a window is
#: that tiny (hypothesis draws such values) a float32 result is 0 and the float64 one is
#: not. A real mistake moves an output by a whole term, and terms are drawn up to
#: PIXEL_MAX**2 = 25 (a shrunk counterexample has terms near 1), far above 1e-5.
MAGNITUDE_FLOOR = 1.0


def _rounded(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Fixed example values, rounded to 2 decimals so a failure message stays readable."""
    return np.random.default_rng(seed).uniform(-2.0, 2.0, size=shape).round(2)


#: A 1x1 kernel mixes the channels only; F_in = 2, F_out = 3.
ONE_BY_ONE_KERNEL = s.ConvCase(_rounded((1, 1, 2, 3), 1), _rounded((1, 3, 4, 2), 2), 1)
#: K == H: a single output row; the width still slides (W = 5).
KERNEL_AS_TALL_AS_IMAGE = s.ConvCase(_rounded((3, 3, 1, 2), 3), _rounded((2, 3, 5, 1), 4), 1)
#: S = 3 > H - K = 2: one output row; W - K = 4 gives 4 // 3 + 1 = 2 columns (a ceil would
#: give 3, the last from a window that does not fit).
STRIDE_BEYOND_LAST_WINDOW = s.ConvCase(_rounded((2, 2, 2, 1), 5), _rounded((1, 4, 6, 2), 6), 3)


def _expected_shape(case: s.ConvCase) -> tuple[int, int, int, int]:
    K, _, _, F_out = case.kernels.shape
    B, H, W, _ = case.images.shape
    return (B, (H - K) // case.stride + 1, (W - K) // case.stride + 1, F_out)


def _magnitudes(case: s.ConvCase) -> np.ndarray:
    """Elementwise sum |k * x| over each output's window: the scale of its rounding error."""
    K = case.kernels.shape[0]
    windows = sliding_window_view(np.abs(case.images), (K, K), axis=(1, 2))
    windows = windows[:, :: case.stride, :: case.stride]  # (B, h_out, w_out, F_in, K, K)
    return np.einsum("bpqcij,ijco->bpqo", windows, np.abs(case.kernels))


def _what(case: s.ConvCase) -> str:
    return (
        f"convolve(kernels of shape {case.kernels.shape}, images of shape {case.images.shape}, "
        f"stride={case.stride})"
    )


def _inputs(case: s.ConvCase) -> dict:
    return {"kernels": case.kernels, "images": case.images, "stride": case.stride}


def _run(submission, case: s.ConvCase):
    convolve = submission.require("convolve")
    return convolve(case.kernels.copy(), case.images.copy(), case.stride)


def _assert_values(result, expected: np.ndarray, case: s.ConvCase, *, oracle: str) -> None:
    assert_close(
        result,
        expected,
        what=f"{_what(case)}, compared with {oracle}",
        rtol=0.0,
        atol=CONV_TOLERANCE * (_magnitudes(case) + MAGNITUDE_FLOOR),
        inputs=_inputs(case),
    )


@example(case=ONE_BY_ONE_KERNEL)
@example(case=KERNEL_AS_TALL_AS_IMAGE)
@example(case=STRIDE_BEYOND_LAST_WINDOW)
@given(case=s.convolution_cases())
def test_output_shape_follows_the_formula(submission, case):
    """convolve returns shape (B, (H-K)//S + 1, (W-K)//S + 1, F_out); a last partial window is dropped."""
    result = _run(submission, case)
    assert_shape(
        result,
        _expected_shape(case),
        what=f"{_what(case)} (expected (B, (H-K)//S + 1, (W-K)//S + 1, F_out))",
    )


@pytest.fixture(scope="module")
def torch():
    """torch, or a skip where it is not installed (the reference comparison still runs)."""
    return pytest.importorskip("torch")


@example(case=ONE_BY_ONE_KERNEL)
@example(case=KERNEL_AS_TALL_AS_IMAGE)
@example(case=STRIDE_BEYOND_LAST_WINDOW)
@given(case=s.convolution_cases())
def test_values_match_torch_conv2d(submission, torch, case):
    """convolve gives the numbers of torch.nn.functional.conv2d after moving the channel axes (no kernel flip)."""
    images = torch.from_numpy(case.images.copy()).permute(0, 3, 1, 2)  # (B, F_in, H, W)
    kernels = torch.from_numpy(case.kernels.copy()).permute(3, 2, 0, 1)  # (F_out, F_in, K, K)
    expected = torch.nn.functional.conv2d(images, kernels, stride=case.stride)
    expected = expected.permute(0, 2, 3, 1).numpy()  # (B, h_out, w_out, F_out), float64
    _assert_values(
        _run(submission, case),
        expected,
        case,
        oracle="torch.nn.functional.conv2d(images.permute(0, 3, 1, 2), "
        "kernels.permute(3, 2, 0, 1), stride=stride).permute(0, 2, 3, 1)",
    )


@example(case=ONE_BY_ONE_KERNEL)
@example(case=KERNEL_AS_TALL_AS_IMAGE)
@example(case=STRIDE_BEYOND_LAST_WINDOW)
@given(case=s.convolution_cases())
def test_values_match_the_reference(submission, case):
    """convolve computes z[p, q, f_out] = sum over f_in, i, j of k[i, j, f_in, f_out] * x[p*S + i, q*S + j, f_in]."""
    reference = submission.reference_object("convolve")
    expected = np.asarray(reference(case.kernels.copy(), case.images.copy(), case.stride))
    _assert_values(
        _run(submission, case), expected, case, oracle="eq. (5) (the reference convolve)"
    )


@given(case=s.convolution_cases())
def test_inputs_are_not_modified(submission, case):
    """convolve leaves the kernels and images it is given unchanged."""
    convolve = submission.require("convolve")
    kernels, images = case.kernels.copy(), case.images.copy()
    convolve(kernels, images, case.stride)
    for name, given_array, original in (
        ("kernels", kernels, case.kernels),
        ("images", images, case.images),
    ):
        if given_array.shape != original.shape:
            raise AssertionError(
                f"{_what(case)} changed the shape of its argument {name} from {original.shape} "
                f"to {given_array.shape}; it must leave its inputs as they were"
            )
        if not np.array_equal(given_array, original):
            at = tuple(int(i) for i in np.argwhere(given_array != original)[0])
            raise AssertionError(
                f"{_what(case)} changed its argument {name} (at index {at}: "
                f"{float(original[at])!r} became {float(given_array[at])!r}); it must leave its "
                f"inputs as they were\n{name} before:\n{show(original)}"
            )
