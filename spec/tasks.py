"""The task registry: every gradable task of the assignment, its points, and
which student names it grades or borrows from the reference.

Decisions where the contract is open (see also the README's "Decisions"):

* A task earns its points when every scoring check marked with its id passes
  (all or nothing by default; a rubric may turn on partial credit).
* Integration tasks (1.5, 1.8, 2.3) run last. They need every one of their
  names defined (else they are not attempted) and compose the student's
  components, but a component whose own task did not pass is replaced by the
  reference version, so that one bug costs points in one task only.
* 1.3 grades ``MyNeuralNet`` with reference layers placed in ``self.layers``;
  1.4 grades ``train_myneuralnet`` on a reference network; 3.5 grades
  ``transfer_train`` with the reference ``store_checkpoint`` and
  ``early_stopping_check`` in place of the student's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["unit", "integration"]


@dataclass(frozen=True)
class Task:
    """One gradable task of the handout, such as ``1.1b``."""

    id: str
    title: str
    part: int
    points: float
    #: Student names this task grades; if any is missing the task is not attempted.
    names: tuple[str, ...]
    #: Student names the task's code calls that the grader replaces by the reference.
    reference: tuple[str, ...] = ()
    #: Integration tasks compose several student names and run after the unit tasks.
    kind: Kind = "unit"
    #: Libraries the task's code may reach besides the standard library.
    libraries: tuple[str, ...] = field(default=("numpy",))


_P1 = ("numpy",)
_P2 = ("numpy", "torch", "matplotlib")
_P3 = ("numpy", "torch", "torchvision", "matplotlib")

TASKS: tuple[Task, ...] = (
    Task("1.1a", "MyLinearLayer.forward", 1, 1, ("MyLinearLayer",), libraries=_P1),
    Task("1.1b", "MyLinearLayer.backward", 1, 2, ("MyLinearLayer",), libraries=_P1),
    Task("1.1c", "MyLinearLayer.update", 1, 2, ("MyLinearLayer",), libraries=_P1),
    Task("1.2a", "MyReLU.forward", 1, 1, ("MyReLU",), libraries=_P1),
    Task("1.2b", "MyReLU.backward", 1, 1, ("MyReLU",), libraries=_P1),
    Task("1.3a", "MyNeuralNet.forward", 1, 1, ("MyNeuralNet",),
         reference=("MyLinearLayer", "MyReLU"), libraries=_P1),
    Task("1.3b", "MyNeuralNet.backward", 1, 2, ("MyNeuralNet",),
         reference=("MyLinearLayer", "MyReLU"), libraries=_P1),
    Task("1.3c", "MyNeuralNet.update", 1, 1, ("MyNeuralNet",),
         reference=("MyLinearLayer", "MyReLU"), libraries=_P1),
    Task("1.4", "train_myneuralnet", 1, 3, ("train_myneuralnet",),
         reference=("MyNeuralNet", "MyLinearLayer", "MyReLU"), libraries=_P1),
    Task("1.5", "train_and_plot_myneuralnet fits the data", 1, 1,
         ("MyLinearLayer", "MyReLU", "MyNeuralNet", "train_myneuralnet"),
         kind="integration", libraries=_P1),
    Task("1.6", "add_padding", 1, 1, ("add_padding",), libraries=_P1),
    Task("1.7", "convolve", 1, 3, ("convolve",), libraries=_P1),
    Task("1.8", "filter_example gives the reference images", 1, 1,
         ("add_padding", "convolve"), kind="integration", libraries=_P1),
    Task("2.1a", "SimpLeNet layers", 2, 2, ("SimpLeNet",), libraries=_P2),
    Task("2.1b", "SimpLeNet.forward", 2, 1, ("SimpLeNet",), libraries=_P2),
    Task("2.2", "train", 2, 3, ("train",), reference=("SimpLeNet",), libraries=_P2),
    Task("2.3", "SimpLeNet trained with train reaches the reference accuracy", 2, 1,
         ("train",), kind="integration", libraries=_P2),
    Task("3.1a", "AdaptedVGG freezes the backbone", 3, 1, ("AdaptedVGG",), libraries=_P3),
    Task("3.1b", "AdaptedVGG.forward", 3, 1, ("AdaptedVGG",), libraries=_P3),
    Task("3.2", "early_stopping_check", 3, 1, ("early_stopping_check",), libraries=_P3),
    Task("3.3", "DropoutAdaptedVGG", 3, 2, ("DropoutAdaptedVGG",), libraries=_P3),
    Task("3.4", "store_checkpoint", 3, 1, ("store_checkpoint",), libraries=_P3),
    Task("3.5", "transfer_train", 3, 3, ("transfer_train",),
         reference=("store_checkpoint", "early_stopping_check", "AdaptedVGG"),
         libraries=_P3),
    Task("3.6", "evaluate_accuracy", 3, 1, ("evaluate_accuracy",), libraries=_P3),
)

_BY_ID = {task.id: task for task in TASKS}


def task_by_id(task_id: str) -> Task:
    """Return the task with id ``task_id``; raise ``KeyError`` naming the known ids."""
    try:
        return _BY_ID[task_id]
    except KeyError:
        known = ", ".join(_BY_ID)
        raise KeyError(f"unknown task id {task_id!r}; known ids: {known}") from None


def tasks_of_part(part: int) -> tuple[Task, ...]:
    """All tasks of one part of the handout, in handout order."""
    return tuple(task for task in TASKS if task.part == part)


#: Names every solution may provide; the grader looks up nothing else.
STUDENT_NAMES: tuple[str, ...] = tuple(
    dict.fromkeys(name for task in TASKS for name in task.names)
)

#: Names from the skeleton. The grader always uses its own versions of these.
PROVIDED_NAMES: tuple[str, ...] = (
    "Layer",
    "get_training_data_myneuralnet",
    "train_and_plot_myneuralnet",
    "KERNELS",
    "filter_example",
)
