"""Task 1.6: ``add_padding`` adds a zero border around the two spatial axes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fmlgrade.spec.assertions import as_float_array, assert_shape
from fmlgrade.spec.part1 import strategies as s

pytestmark = pytest.mark.task("1.6")


@given(images=s.image_batches(), padding=st.integers(0, 3))
def test_shape_follows_the_formula(submission, images, padding):
    """add_padding returns shape (B, h + 2P, w + 2P, F)."""
    add_padding = submission.require("add_padding")
    B, h, w, F = images.shape
    result = add_padding(images.copy(), padding)
    assert_shape(
        result, (B, h + 2 * padding, w + 2 * padding, F),
        what=f"add_padding(images of shape {images.shape}, padding={padding})",
    )


@given(images=s.image_batches(nonzero=True), padding=st.integers(1, 3))
def test_border_is_zero_and_interior_untouched(submission, images, padding):
    """The border is all zeros and the interior is the original image."""
    add_padding = submission.require("add_padding")
    B, h, w, F = images.shape
    what = f"add_padding(images of shape {images.shape}, padding={padding})"
    result = assert_shape(add_padding(images.copy(), padding), (B, h + 2 * padding, w + 2 * padding, F), what=what)
    interior = result[:, padding:padding + h, padding:padding + w, :]
    if not np.array_equal(interior, images):
        raise AssertionError(f"{what}: the interior is not the original image (it must be moved by {padding} pixels along height and width only)")
    border = result.copy()
    border[:, padding:padding + h, padding:padding + w, :] = 0
    if np.any(border != 0):
        raise AssertionError(f"{what}: the border must be all zeros, found {int(np.count_nonzero(border))} non-zero values outside the image")


@given(images=s.image_batches())
def test_padding_zero_returns_equal_array(submission, images):
    """padding == 0 returns an array equal to the input."""
    add_padding = submission.require("add_padding")
    result = as_float_array(add_padding(images.copy(), 0), what="add_padding(images, 0)")
    if result.shape != images.shape or not np.array_equal(result, images):
        raise AssertionError(f"add_padding(images, 0) must return an array equal to images (shape {images.shape}), got shape {result.shape}")
