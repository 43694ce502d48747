"""Task 1.6: ``add_padding`` adds a zero border around the two spatial axes.

Images come from ``strategies.image_batches``: 1 or 2 images of 1 to 6 pixels
per side (height and width drawn on their own) with 1 to 3 filters, float64,
and paddings from 0 to 3. Values are compared exactly: padding only moves
numbers, so the interior must hold the very same values (a result in another
float type, or with rounded pixels, does not).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given

from fmlgrade.spec.assertions import as_float_array, assert_shape, show
from fmlgrade.spec.part1 import strategies as s

pytestmark = pytest.mark.task("1.6")

#: One filter (a greyscale image, as in 1.8) and three filters, padded by 3 and 2.
GREY = np.arange(1.0, 7.0).reshape(1, 2, 3, 1)
COLOUR = (np.arange(1.0, 37.0) / 4).reshape(2, 3, 2, 3)


def _what(images: np.ndarray, padding: int) -> str:
    return f"add_padding(images of shape {images.shape}, padding={padding})"


def _plane(array: np.ndarray, index: tuple[int, ...]) -> str:
    """The (height, width) plane of image ``index[0]``, filter ``index[3]``, as text."""
    b, f = index[0], index[3]
    return f"(image {b}, filter {f}, as [height, width]):\n{show(array[b, :, :, f])}"


def _first_difference(actual: np.ndarray, expected: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(actual != expected)[0])


def _dtype_note(result) -> str:
    dtype = getattr(result, "dtype", None)
    if dtype is None or dtype == np.float64:
        return ""
    return f" (the result has dtype {dtype}; the images were float64, and padding must not round them)"


def _padded_shape(images: np.ndarray, padding: int) -> tuple[int, int, int, int]:
    B, h, w, F = images.shape
    return (B, h + 2 * padding, w + 2 * padding, F)


@example(images=GREY, padding=3)
@example(images=COLOUR, padding=2)
@given(images=s.image_batches(), padding=s.paddings())
def test_shape_follows_the_formula(submission, images, padding):
    """add_padding returns shape (B, h + 2P, w + 2P, F): only height and width grow."""
    add_padding = submission.require("add_padding")
    result = add_padding(images.copy(), padding)
    assert_shape(
        result,
        _padded_shape(images, padding),
        what=f"{_what(images, padding)} (expected (B, h + 2P, w + 2P, F))",
    )


@example(images=GREY, padding=3)
@example(images=COLOUR, padding=2)
@given(images=s.image_batches(nonzero=True), padding=s.paddings(1))
def test_border_is_zero_and_interior_untouched(submission, images, padding):
    """add_padding fills the border with zeros and keeps the original image, unchanged, inside it."""
    add_padding = submission.require("add_padding")
    B, h, w, F = images.shape
    what = _what(images, padding)
    raw = add_padding(images.copy(), padding)
    result = assert_shape(raw, _padded_shape(images, padding), what=what)
    interior = result[:, padding : padding + h, padding : padding + w, :]
    if not np.array_equal(interior, images):
        at = _first_difference(interior, images)
        raise AssertionError(
            f"{what}: the interior result[:, P:P+h, P:P+w, :] must be the original image, "
            f"exactly (moved by P = {padding} pixels along height and width only); at index "
            f"{at} of the interior it holds {float(interior[at])!r} instead of {float(images[at])!r}"
            f"{_dtype_note(raw)}\nimages {_plane(images, at)}\ngot {_plane(result, at)}"
        )
    border = result.copy()
    border[:, padding : padding + h, padding : padding + w, :] = 0
    if np.any(border != 0):
        at = tuple(int(i) for i in np.argwhere(border != 0)[0])
        raise AssertionError(
            f"{what}: the border must be all zeros; found {int(np.count_nonzero(border))} "
            f"non-zero values outside the image, the first at index {at}: {border[at]:.6g}"
            f"\nimages {_plane(images, at)}\ngot {_plane(result, at)}"
        )


@given(images=s.image_batches())
def test_padding_zero_returns_equal_array(submission, images):
    """padding == 0 returns an array equal to the input."""
    add_padding = submission.require("add_padding")
    raw = add_padding(images.copy(), 0)
    result = as_float_array(raw, what="add_padding(images, 0)")
    if result.shape != images.shape:
        raise AssertionError(
            f"add_padding(images, 0) must return an array equal to images, of shape "
            f"{images.shape}; got shape {result.shape}"
        )
    if not np.array_equal(result, images):
        at = _first_difference(result, images)
        raise AssertionError(
            f"add_padding(images of shape {images.shape}, 0) must return an array equal to "
            f"images; at index {at} it holds {float(result[at])!r} instead of {float(images[at])!r}"
            f"{_dtype_note(raw)}\nimages {_plane(images, at)}\ngot {_plane(result, at)}"
        )


@given(images=s.image_batches(), padding=s.paddings())
def test_input_is_not_modified(submission, images, padding):
    """add_padding leaves the images it is given unchanged."""
    add_padding = submission.require("add_padding")
    given_images = images.copy()
    add_padding(given_images, padding)
    if not np.array_equal(given_images, images):
        at = _first_difference(given_images, images)
        raise AssertionError(
            f"{_what(images, padding)} changed its argument images (at index {at}: "
            f"{float(images[at])!r} became {float(given_images[at])!r}); it must return a new, padded array "
            f"and leave its input as it was\nbefore {_plane(images, at)}\n"
            f"after {_plane(given_images, at)}"
        )
