"""Stand-ins: grader-written versions of contract names that run beside student code.

When a check needs the student's code to call another task's name (the
student's ``train`` given a SimpLeNet, ``transfer_train`` calling
``store_checkpoint``), and that code runs in the grading worker, the worker
must not receive the reference solution. It gets a stand-in instead: an
independent implementation of the contract for that one name, written for
the grader (a SimpLeNet built as ``nn.Sequential``, say). Checks that run
in-process use the same stand-ins, so both ways of grading agree.

Names without a stand-in (``MyNeuralNet``, and the recording reference
layers and networks the Part 1 checks build) stay in the trusted process; the
worker reaches them through call-backs that carry plain data.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

#: Contract name -> "module:attribute" of its stand-in.
STAND_INS: dict[str, str] = {
    "MyLinearLayer": "fmlgrade.spec.part1.stand_ins:MyLinearLayer",
    "MyReLU": "fmlgrade.spec.part1.stand_ins:MyReLU",
    "SimpLeNet": "fmlgrade.spec.part2.stand_ins:SimpLeNet",
    "AdaptedVGG": "fmlgrade.spec.part3.stand_ins:AdaptedVGG",
    "early_stopping_check": "fmlgrade.spec.part3.stand_ins:early_stopping_check",
    "store_checkpoint": "fmlgrade.spec.part3.stand_ins:store_checkpoint",
}


def stand_ins_allowed_during(task_id: str | None) -> frozenset[str]:
    """The names whose stand-ins student code may run beside while ``task_id`` is graded.

    Only names whose own tasks all come before ``task_id`` in grading order
    (the registry's units, then integrations), so a stand-in can never stand
    in for the task being graded nor be kept for a later one.
    """
    from fmlgrade.spec.tasks import TASKS

    order = [t.id for t in TASKS if t.kind == "unit"] + [t.id for t in TASKS if t.kind == "integration"]
    if task_id not in order:
        return frozenset()
    position = order.index(task_id)
    allowed = set()
    for name in STAND_INS:
        own = [order.index(t.id) for t in TASKS if t.kind == "unit" and name in t.names]
        if own and max(own) < position:
            allowed.add(name)
    return frozenset(allowed)


def has_stand_in(name: str) -> bool:
    """Whether ``name`` has a stand-in that runs beside student code."""
    return name in STAND_INS


@functools.cache
def stand_in_source(name: str) -> tuple[str, str, str]:
    """``(module name, attribute, source text)`` of ``name``'s stand-in.

    The worker gets stand-ins as source text from the grader, run into a
    private module only when a check substitutes them: student code can
    neither import nor read the stand-in files (they are complete solutions of
    other tasks).
    """
    import importlib.util
    from pathlib import Path

    module, _, attribute = STAND_INS[name].partition(":")
    origin = importlib.util.find_spec(module).origin
    return module, attribute, Path(origin).read_text(encoding="utf-8")


def stand_in(name: str) -> Any:
    """The stand-in object for ``name`` (imported on first use)."""
    module, _, attribute = STAND_INS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)
