"""Stand-ins: grader-written versions of contract names that run beside student code.

When a check needs the student's code to call another task's name (the
student's ``train`` given a SimpLeNet, ``transfer_train`` calling
``store_checkpoint``), and that code runs in the grading worker, the worker
must not receive the reference solution. It gets a stand-in instead: an
independent implementation of the contract for that one name, written for
the grader (a SimpLeNet built as ``nn.Sequential``, say). Checks that run
in-process use the same stand-ins, so both ways of grading agree.

Names without a stand-in (the NumPy layers of Part 1) stay in the trusted
process; the worker reaches them through call-backs that carry plain data.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Contract name -> "module:attribute" of its stand-in.
STAND_INS: dict[str, str] = {
    "SimpLeNet": "fmlgrade.spec.part2.stand_ins:SimpLeNet",
    "train": "fmlgrade.spec.part2.stand_ins:train",
}


def has_stand_in(name: str) -> bool:
    """Whether ``name`` has a stand-in that runs beside student code."""
    return name in STAND_INS


def stand_in(name: str) -> Any:
    """The stand-in object for ``name`` (imported on first use)."""
    module, _, attribute = STAND_INS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)
