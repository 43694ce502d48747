"""Stand-ins: grader-written versions of contract names that run beside student code.

When a check needs the student's code to call another task's name (the
student's ``train`` given a SimpLeNet, ``transfer_train`` calling
``store_checkpoint``), and that code runs in the grading worker, the worker
must not receive the reference solution. It gets a stand-in instead: an
independent implementation of the contract for that one name, written for the
grader. Checks that run in-process use the same stand-ins, so both ways of
grading agree.

Each module of this folder is the stand-in for exactly one name, the one its
``__all__`` lists: the registry is read from the folder, and a worker is sent
the source of one name's module at a time, only once every task that grades
that name has its final result (see
:meth:`fmlgrade.harness.under_test.SubmissionUnderTest.stand_ins_allowed`).
The folder is outside the worker folders, so student code can neither import
nor read it.

Names without a stand-in (``MyNeuralNet``, and the recording reference layers
and networks the Part 1 checks build) stay in the trusted process; the worker
reaches them through call-backs that carry plain data.
"""

from __future__ import annotations

import ast
import functools
import importlib
from pathlib import Path
from typing import Any

_FOLDER = Path(__file__).resolve().parent


def _declared_name(path: Path) -> str:
    """The one name a stand-in module's ``__all__`` lists (read without importing it: no torch for Part 1)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            names = ast.literal_eval(node.value)
            if isinstance(names, list) and len(names) == 1 and isinstance(names[0], str):
                return names[0]
    raise ValueError(f"{path} must list exactly one contract name in __all__")


@functools.cache
def stand_in_modules() -> dict[str, str]:
    """Contract name -> module name of its stand-in, read from this folder."""
    found = {}
    for path in sorted(_FOLDER.glob("*.py")):
        if path.name == "__init__.py":
            continue
        name = _declared_name(path)
        if name in found:
            raise ValueError(f"two stand-ins for {name}: {found[name]} and {path.stem}")
        found[name] = f"{__name__}.{path.stem}"
    return found


def has_stand_in(name: str) -> bool:
    """Whether ``name`` has a stand-in that runs beside student code."""
    return name in stand_in_modules()


def stand_in_names() -> frozenset[str]:
    """Every name that has a stand-in."""
    return frozenset(stand_in_modules())


@functools.cache
def stand_in_source(name: str) -> tuple[str, str, str]:
    """``(module name, attribute, source text)`` of ``name``'s stand-in: one module, one name."""
    module = stand_in_modules()[name]
    path = _FOLDER / (module.rpartition(".")[2] + ".py")
    return module, name, path.read_text(encoding="utf-8")


def stand_in(name: str) -> Any:
    """The stand-in object for ``name`` (imported on first use)."""
    return getattr(importlib.import_module(stand_in_modules()[name]), name)
