"""Mutants: realistic student mistakes, written as small patches on a reference solution.

A :class:`Mutant` replaces one exact snippet of the reference text of its
task's part by another. :func:`apply` refuses a mutant whose snippet does not
occur exactly once, so an edit of the reference cannot silently turn a mutant
into a copy of the reference (or into a patch of the wrong spot).

The meta-tests grade every mutant and require that the grader blames the
mutant's task, and only that task.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from fmlgrade.spec.tasks import task_by_id

__all__ = ["Mutant", "MutantError", "apply", "reference_path", "reference_source"]


class MutantError(ValueError):
    """A mutant's ``old`` snippet does not occur exactly once in the reference."""


@dataclass(frozen=True)
class Mutant:
    """One realistic mistake: replace ``old`` by ``new`` in the reference of ``task``'s part."""

    #: Short kebab-case name, used as the test id.
    id: str
    #: The task id (spec/tasks.py) whose checks must catch the mistake, and no other task's.
    task: str
    #: What the student did wrong (and, for integration tasks, why no unit task can see it).
    description: str
    #: Exact text of the reference that the mistake replaces; must occur exactly once.
    old: str
    #: The student's version of that text.
    new: str
    #: Tasks the mistake makes impossible to check, because a step they need crashes
    #: (the contract allows this); they must report an error of that prerequisite.
    blocks: tuple[str, ...] = ()

    @property
    def part(self) -> int:
        return task_by_id(self.task).part


def reference_path(part: int) -> Path:
    """The file of the installed reference solution of ``part`` (found without importing it)."""
    spec = importlib.util.find_spec(f"fmlgrade.solutions.reference.part{part}")
    if spec is None or spec.origin is None:  # pragma: no cover - broken install
        raise MutantError(f"the reference solution of part {part} is not installed")
    return Path(spec.origin)


def reference_source(part: int) -> str:
    """The text of the reference solution of ``part``."""
    return reference_path(part).read_text(encoding="utf-8")


def apply(mutant: Mutant, source: str | None = None) -> str:
    """Return ``source`` (default: the reference of the mutant's part) with the mutant applied.

    Raises :class:`MutantError` unless ``mutant.old`` occurs exactly once, or
    when the patch would change nothing.
    """
    if source is None:
        source = reference_source(mutant.part)
    count = source.count(mutant.old)
    if count != 1:
        where = "does not occur" if count == 0 else f"occurs {count} times"
        raise MutantError(
            f"mutant {mutant.id!r}: its snippet {where} in the source (it must occur exactly "
            f"once; was the reference edited?):\n{mutant.old}"
        )
    if mutant.old == mutant.new:
        raise MutantError(f"mutant {mutant.id!r} changes nothing (old == new)")
    return source.replace(mutant.old, mutant.new, 1)
