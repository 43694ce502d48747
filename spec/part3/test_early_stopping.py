"""Task 3.2: ``early_stopping_check(losses, threshold)``.

The contract's rule: True exactly when ``len(losses) > threshold`` and the
last ``threshold + 1`` losses are strictly increasing (each of the last
``threshold`` losses is greater than the one before it). Checked as a
property against that rule over random loss histories and thresholds: the
observer :func:`fmlgrade.spec.worker.part3_observers.early_stopping` calls the
student's function beside the student's code and reports the result and the
list as the call left it; the rule is evaluated here.

The histories are built to hit the edges: losses drawn from a few values (so
ties are common), histories ending in a strictly increasing run whose length
is around the threshold (one short, exact, one longer, or broken by a tie),
histories shorter than or as long as the threshold, and threshold 1.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fmlgrade.spec.worker import part3_observers as obs

pytestmark = pytest.mark.task("3.2")

#: A few loss values, so that equal neighbours (ties) are frequent.
_VALUES = (0.05, 0.1, 0.25, 0.5, 0.7, 1.0, 1.5, 3.0)


def expected_stop(losses: list[float], threshold: int) -> bool:
    """The contract's rule."""
    if len(losses) <= threshold:
        return False
    window = losses[-threshold - 1 :]
    return all(later > earlier for earlier, later in zip(window, window[1:], strict=False))


@st.composite
def histories(draw) -> tuple[list[float], int]:
    """A loss history and a threshold, often right at the edge of the rule."""
    threshold = draw(st.integers(1, 5))
    values = st.sampled_from(_VALUES) | st.floats(0.0, 5.0, allow_subnormal=False)
    prefix = draw(st.lists(values, max_size=5))
    run_length = draw(st.sampled_from([threshold - 1, threshold, threshold + 1, threshold + 2]))
    run = sorted(set(draw(st.lists(values, min_size=run_length, max_size=run_length + 2))))
    run = run[: max(run_length, 0)]
    if run and draw(st.booleans()):
        # Break the run with a tie somewhere.
        at = draw(st.integers(0, len(run) - 1))
        run.insert(at, run[at])
    losses = prefix + run if draw(st.booleans()) else run
    return losses, threshold


@st.composite
def any_histories(draw) -> tuple[list[float], int]:
    """Unstructured histories, short ones included (shorter than the threshold, even empty)."""
    threshold = draw(st.integers(1, 6))
    losses = draw(st.lists(st.sampled_from(_VALUES), max_size=9))
    return losses, threshold


def _check(submission, losses: list[float], threshold: int) -> None:
    seen = submission.observe(obs.early_stopping, list(losses), threshold)
    result, given_losses = seen["value"], seen["losses_after"]
    call = f"early_stopping_check({losses!r}, threshold={threshold})"
    if not isinstance(result, (bool, np.bool_)):
        raise AssertionError(f"{call}: must return a bool (True or False), got {seen['repr']}")
    expected = expected_stop(losses, threshold)
    if bool(result) != expected:
        why = (
            f"the history has only {len(losses)} losses, at most threshold = {threshold}"
            if len(losses) <= threshold
            else f"the last {threshold + 1} losses {losses[-threshold - 1:]!r} are "
            + ("" if expected else "not ")
            + "strictly increasing"
        )
        raise AssertionError(f"{call}: expected {expected}, got {bool(result)} ({why})")
    if given_losses != losses:
        shown = given_losses if isinstance(given_losses, (list, str)) else repr(given_losses)
        raise AssertionError(f"{call}: must not change the list of losses (it became {shown})")


@given(case=histories())
@example(case=([1.0, 2.0], 1))
@example(case=([2.0, 2.0], 1))
@example(case=([1.0], 1))
@example(case=([], 1))
@example(case=([3.0, 1.0, 2.0], 2))
@example(case=([1.0, 2.0], 2))
@example(case=([1.0, 2.0, 3.0], 2))
@example(case=([5.0, 1.0, 2.0, 3.0], 2))
@example(case=([1.0, 2.0, 2.0, 3.0], 2))
def test_stops_exactly_after_threshold_increases(submission, case):
    """True exactly when the last threshold losses each rose strictly above the one before."""
    losses, threshold = case
    _check(submission, losses, threshold)


@given(case=any_histories())
def test_agrees_with_the_rule_on_any_history(submission, case):
    """Short histories (at most threshold losses) never stop; others follow the same rule."""
    losses, threshold = case
    _check(submission, losses, threshold)
