"""What an observer sees of a submission: its names, on the side where they live.

Observers (``fmlgrade.spec.part*.observers``) are the spec's code that must
touch student objects directly, such as torch module surgery and forward hooks.
They run next to the student's code (in the grading worker, or in-process for
trusted solutions) and receive a :class:`StudentView`, never the reference.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from fmlgrade.spec.worker.outcomes import NotAttempted

from .solution import Solution

#: Modules whose functions may be observers; nothing else is run on the student's side.
OBSERVER_MODULES = ("fmlgrade.spec.worker.part2_observers", "fmlgrade.spec.worker.part3_observers")


class ObserverError(TypeError):
    """An object passed as an observer is not a module-level function of an observers module."""


def observer_path(fn: Callable[..., Any]) -> str:
    """``module:name`` of ``fn``; raise :class:`ObserverError` unless it is an observer."""
    module = getattr(fn, "__module__", None)
    name = getattr(fn, "__qualname__", "")
    if module not in OBSERVER_MODULES or "." in name:
        raise ObserverError(
            f"{fn!r} cannot run beside student code: observers are module-level functions "
            f"of {', '.join(OBSERVER_MODULES)}"
        )
    return f"{module}:{name}"


def resolve_observer(path: str) -> Callable[..., Any]:
    """The observer function named by ``path`` (``module:name``), checked against the allowed modules."""
    module, _, name = path.partition(":")
    if module not in OBSERVER_MODULES or not name.isidentifier():
        raise ObserverError(f"{path!r} is not an observer")
    return getattr(importlib.import_module(module), name)


class StudentView:
    """The student's names as an observer uses them."""

    def __init__(self, solution: Solution, stand_ins: Mapping[str, Callable[[], Any]] | None = None) -> None:
        self._solution = solution
        self._stand_ins = dict(stand_ins or {})

    def stand_in(self, name: str) -> Any:
        """The grader's stand-in for ``name`` (see :mod:`fmlgrade.spec.stand_ins`), where the task allows it."""
        if name not in self._stand_ins:
            raise LookupError(f"no stand-in for {name} while this task is graded")
        return self._stand_ins[name]()

    def provides(self, name: str) -> bool:
        """Whether the submission defines ``name`` (or a substitution currently binds it)."""
        return self._solution.provides(name)

    def require(self, name: str) -> Any:
        """The object bound to ``name``; the check is *not attempted* without it."""
        if not self._solution.provides(name):
            raise NotAttempted(f"{name} is not defined")
        return self._solution.get(name)

    @contextlib.contextmanager
    def substituted(self, replacements: Mapping[str, Any]) -> Iterator[None]:
        """Rebind names in the student's modules for the block (stand-ins for other tasks)."""
        with self._solution.substituted(replacements):
            yield
