"""Exceptions a check raises to say *why* it did not pass.

The harness turns them into a task status: ``NotAttempted`` (and a
``NotImplementedError`` escaping student code) gives *not attempted*,
``PrerequisiteFailed`` gives *error* with an explanation, and an
``AssertionError`` gives *failed*.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class NotAttempted(Exception):
    """The solution does not define a name the check needs, or leaves it unimplemented."""


class PrerequisiteFailed(Exception):
    """A step the check needs first (such as ``forward`` before ``backward``) did not work."""


@contextlib.contextmanager
def prerequisite(step: str) -> Iterator[None]:
    """Run a step another check grades, so that its failure is explained, not blamed here.

    ``with prerequisite("MyLinearLayer.forward"): layer.forward(x)``: if the
    step raises, the check ends with a message saying that ``step`` must work
    before this part can be checked.
    """
    try:
        yield
    except (NotAttempted, PrerequisiteFailed):
        raise
    except NotImplementedError as exc:
        raise PrerequisiteFailed(
            f"{step} is not implemented yet, and this part can only be checked after it runs"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - student code may raise anything
        raise PrerequisiteFailed(
            f"{step} raised {type(exc).__name__}: {exc}; this part can only be checked "
            "once it runs (its own task reports the details)"
        ) from exc
