"""Task 1.8: ``filter_example`` gives the reference's filtered images.

The skeleton's ``filtered_examples`` and ``filter_example`` run with the
student's ``add_padding`` and ``convolve``; where 1.6 or 1.7 did not pass, the
reference version stands in, so that a bug costs points in its own task only.
What 1.8 adds is the real example image: 60 x 51 pixels, far larger than the
images 1.6 and 1.7 draw, padded by 1 and filtered with the six kernels of
Table 1 (all of them symmetric under a 180 degree turn, so a flipped kernel,
which 1.7 catches, changes nothing here).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import pytest

from fmlgrade.spec.assertions import assert_close
from fmlgrade.spec.tasks import task_by_id
from fmlgrade.spec.worker.skeleton import KERNELS, filter_example, filtered_examples

pytestmark = pytest.mark.task("1.8")

#: Allowed error per unit of sum |k| (pixels are in [0, 1], so sum |k| bounds the sum of
#: the |terms| of every output): a float32 convolution of 9 products errs by at most
#: (9 + 2) * 6e-8 = 7e-7 of it, 15 times below this; float64 in any order errs by 1e-15.
#: The smallest real difference is a whole pixel times a kernel entry (1/16 of a pixel for
#: the Gaussian blur); the example's pixels are mostly between 0.1 and 0.9.
FILTER_TOLERANCE = 1e-5


@functools.lru_cache(maxsize=2)
def _reference_images(add_padding: Callable, convolve: Callable) -> dict[str, np.ndarray]:
    """The reference's filtered images (cached: the reference is deterministic)."""
    images = filtered_examples(add_padding=add_padding, convolve=convolve)
    return {name: np.array(image, dtype=np.float64) for name, image in images.items()}


def _origin_text(replaced: list[str]) -> str:
    if not replaced:
        return "add_padding and convolve are both yours"
    return (
        f"{' and '.join(replaced)} came from the reference solution because "
        f"{'its' if len(replaced) == 1 else 'their'} own task did not pass"
    )


def test_filter_example_shows_the_reference_images(submission):
    """filter_example, run with your add_padding and convolve, returns a Figure of the reference's filtered images."""
    from matplotlib.figure import Figure

    chosen, replaced = submission.compose(task_by_id("1.8"))
    convolve = chosen["convolve"]
    filtered: list = []

    def recording_convolve(kernels, images, stride):
        result = convolve(kernels, images, stride)
        filtered.append(result)
        return result

    # One run does both: filter_example gets its images from filtered_examples, which
    # calls convolve once per kernel, in the order of KERNELS.
    try:
        figure = filter_example(add_padding=chosen["add_padding"], convolve=recording_convolve)
    except Exception as exc:  # noqa: BLE001 - a wrong image may break the plotting itself
        crash: Exception | None = exc
        figure = None
    else:
        crash = None
    expected = _reference_images(
        submission.reference_object("add_padding"), submission.reference_object("convolve")
    )
    for (name, kernel), image in zip(KERNELS.items(), filtered, strict=False):
        assert_close(
            image,
            expected[name],
            what=(
                f"convolve(KERNELS[{name!r}] as (3, 3, 1, 1), add_padding(example_image(), 1), "
                f"1) on the 60 x 51 example image ({_origin_text(replaced)})"
            ),
            rtol=0.0,
            atol=FILTER_TOLERANCE * float(np.abs(kernel).sum()),
        )
    if crash is not None:
        raise crash
    if not isinstance(figure, Figure):
        raise AssertionError(
            f"filter_example must return a matplotlib Figure, got {type(figure).__name__} "
            f"({_origin_text(replaced)})"
        )
    titles = [ax.get_title() for ax in figure.axes if ax.get_visible()]
    if titles != ["original", *KERNELS]:
        raise AssertionError(
            f"filter_example's Figure must show the original and the {len(KERNELS)} filtered "
            f"images, got panels {titles} ({_origin_text(replaced)})"
        )
