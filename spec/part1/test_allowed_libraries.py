"""The allowed-libraries audit of Part 1: graded code may call numpy and the standard library only.

One check per unit task of Part 1 runs a small, fixed exercise of exactly the
code that task grades (``backward`` alone for 1.1b: the ``forward`` before it
runs outside the audit, so a torch call in ``forward`` costs 1.1a only) while
``submission.reached_libraries`` records the calls student code makes into
other libraries. Importing torch at the top of a notebook is fine; calling it
from a graded function is a finding. Findings cost the task's points under
the default rubric (``libraries_cost_points``).

Decisions:

* The exercises reuse what the behaviour checks grade with: ``MyNeuralNet``
  holds reference layers (as in 1.3), ``train_myneuralnet`` trains a reference
  network (as in 1.4); the calls into those reference objects are allowed.
* If student code raises ``NotImplementedError``, the check says *not
  attempted*, like the behaviour checks. If it crashes otherwise, the check
  is skipped unless it reached a library before the crash (a skipped check
  does not count; the behaviour checks report the crash). A set-up step that
  fails (``forward`` before the audited ``backward``) skips the check too.
* The integration tasks 1.5 and 1.8 have no audit of their own: every name
  they run is graded, and audited, by a unit task (1.1a to 1.4, 1.6, 1.7), so
  a forbidden call would otherwise cost points twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from fmlgrade.spec.tasks import task_by_id

SEED = 7
_RNG = np.random.default_rng(SEED)
#: Small fixed inputs; sizes differ from each other (B = 3, n_in = 4, n_out = 2).
X = _RNG.uniform(-2, 2, (3, 4))
W = _RNG.uniform(-1, 1, (4, 2))
B = _RNG.uniform(-1, 1, 2)
GRADIENT = _RNG.uniform(-1, 1, (3, 2))
NET_X = _RNG.uniform(-1, 1, (3, 1))
NET_Y = _RNG.uniform(-1, 1, (3, 1))
IMAGES = _RNG.uniform(-1, 1, (2, 5, 4, 2))
KERNELS = _RNG.uniform(-1, 1, (2, 2, 2, 3))
HIDDEN = 5

#: What an exercise returns: the audited call, and the modules of the objects it hands
#: to student code (their methods may be called).
Exercise = tuple[Callable[[], Any], tuple[str, ...]]


class SetupFailed(Exception):
    """A step before the audited call failed; the behaviour checks report it."""


def _setup(step: Callable[[], Any]) -> Any:
    try:
        return step()
    except Exception as exc:  # noqa: BLE001 - NotImplementedError included: set-up only
        raise SetupFailed(f"{type(exc).__name__}: {exc}") from exc


def _linear_layer(submission) -> Any:
    Linear = submission.require("MyLinearLayer")

    def build():
        submission.seed(SEED)
        layer = Linear(4, 2)
        layer.w, layer.b = W.copy(), B.copy()
        return layer

    return _setup(build)


def _linear_forward(submission) -> Exercise:
    layer = _linear_layer(submission)
    return (lambda: layer.forward(X.copy())), ()


def _linear_backward(submission) -> Exercise:
    layer = _linear_layer(submission)
    _setup(lambda: layer.forward(X.copy()))
    return (lambda: layer.backward(GRADIENT.copy())), ()


def _linear_update(submission) -> Exercise:
    layer = _linear_layer(submission)
    _setup(lambda: (layer.forward(X.copy()), layer.backward(GRADIENT.copy())))
    return (lambda: layer.update(0.1)), ()


def _relu(submission) -> Any:
    ReLU = submission.require("MyReLU")
    return _setup(ReLU)


def _relu_forward(submission) -> Exercise:
    relu = _relu(submission)
    return (lambda: relu.forward(X.copy())), ()


def _relu_backward(submission) -> Exercise:
    relu = _relu(submission)
    _setup(lambda: relu.forward(X.copy()))
    return (lambda: relu.backward(X[:, ::-1].copy())), ()


def _network(submission) -> tuple[Any, tuple[str, ...]]:
    """The student's MyNeuralNet holding reference layers, as 1.3 grades it."""
    Net = submission.require("MyNeuralNet")
    Linear = submission.reference_object("MyLinearLayer")
    ReLU = submission.reference_object("MyReLU")

    def build():
        submission.seed(SEED)
        with submission.with_reference("MyLinearLayer", "MyReLU"):
            net = Net(HIDDEN)
        net.layers = [Linear(1, HIDDEN), ReLU(), Linear(HIDDEN, 1)]
        return net

    return _setup(build), (Linear.__module__, ReLU.__module__)


def _network_forward(submission) -> Exercise:
    net, modules = _network(submission)
    return (lambda: net.forward(NET_X.copy())), modules


def _network_backward(submission) -> Exercise:
    net, modules = _network(submission)
    _setup(lambda: net.forward(NET_X.copy()))
    return (lambda: net.backward(NET_Y.copy())), modules


def _network_update(submission) -> Exercise:
    net, modules = _network(submission)
    _setup(lambda: (net.forward(NET_X.copy()), net.backward(NET_Y.copy())))
    return (lambda: net.update(0.1)), modules


def _training(submission) -> Exercise:
    train = submission.require("train_myneuralnet")
    Net = submission.reference_object("MyNeuralNet")

    def build():
        submission.seed(SEED)
        return Net(HIDDEN)

    net = _setup(build)
    return (lambda: train(net, 2, 4, 0.05, 10)), (type(net).__module__,)


def _padding(submission) -> Exercise:
    add_padding = submission.require("add_padding")
    return (lambda: add_padding(IMAGES.copy(), 2)), ()


def _convolution(submission) -> Exercise:
    convolve = submission.require("convolve")
    return (lambda: convolve(KERNELS.copy(), IMAGES.copy(), 2)), ()


EXERCISES: dict[str, Callable[[Any], Exercise]] = {
    "1.1a": _linear_forward,
    "1.1b": _linear_backward,
    "1.1c": _linear_update,
    "1.2a": _relu_forward,
    "1.2b": _relu_backward,
    "1.3a": _network_forward,
    "1.3b": _network_backward,
    "1.3c": _network_update,
    "1.4": _training,
    "1.6": _padding,
    "1.7": _convolution,
}


@pytest.mark.check_kind("libraries")
@pytest.mark.parametrize(
    "task_id",
    [pytest.param(task_id, marks=pytest.mark.task(task_id), id=task_id) for task_id in EXERCISES],
)
def test_uses_only_allowed_libraries(submission, task_id):
    """The graded code calls only numpy and the standard library (Part 1's allowed libraries)."""
    task = task_by_id(task_id)
    try:
        audited, handed_over = EXERCISES[task_id](submission)
    except SetupFailed as exc:
        pytest.skip(f"the set-up for the audit of {task_id} failed ({exc}); not audited")
    crash: Exception | None = None
    with submission.reached_libraries(task, also_allowed=handed_over) as audit:
        try:
            audited()
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 - student code may raise anything
            crash = exc
    if audit.findings:
        allowed = " and ".join([", ".join(task.libraries), "the standard library"])
        raise AssertionError(
            f"{task.id} ({task.title}) calls a library that is not allowed: "
            + audit.summary()
            + f". Part {task.part} allows only {allowed}"
        )
    if crash is not None:
        pytest.skip(
            f"{task.id} raised {type(crash).__name__} in the audit's exercise; its behaviour "
            "checks report that, and the libraries it reaches could not be audited"
        )
