"""A *solution*: the student names one submission or plugin provides.

The spec's tests never import a submission themselves; they ask a
:class:`Solution` for names, so that where those names live (the grader's
process or a worker) stays the harness's business. This module runs on both
sides; the grader's subclass (:mod:`fmlgrade.harness.solution`) knows the
contract's names, the worker is told them.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class SourceChunk:
    """A piece of a file that runs on its own (a notebook cell); ``label`` names it in tracebacks."""

    label: str
    tree: Any  # an ast.Module


@dataclass(frozen=True)
class SourceFile:
    """Python code read from one submitted file (a ``.py`` or a notebook).

    A ``.py`` file is one piece of ``code``; a notebook comes as ``chunks``
    that run one after the other, a failing chunk being skipped and reported.
    """

    path: str
    code: str
    #: One line per thing the reader left out (notebook cells, magics, ...).
    left_out: tuple[str, ...] = ()
    chunks: tuple[SourceChunk, ...] = ()


class MissingName(LookupError):
    """The solution does not define a student name."""


@dataclass
class Solution:
    """Named access to the objects of one solution.

    ``modules`` are searched from last to first, so a later file of a
    submission overrides an earlier one. ``problems`` holds one-line messages
    about files that could not be loaded completely.
    """

    name: str
    origin: str
    modules: list[ModuleType] = field(default_factory=list)
    trusted: bool = False
    problems: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    #: Modules imported only when a lookup misses (keeps torch out of Part 1 runs).
    pending: list[str] = field(default_factory=list)
    #: The contract's student names (what :meth:`names` looks for).
    contract_names: tuple[str, ...] = ()
    #: The isolation level its code runs at (``none``: in the grader's process) and why not stronger.
    isolation: str = "none"
    isolation_note: str = ""

    @classmethod
    def from_module_names(
        cls, name: str, module_names: Sequence[str], *, trusted: bool = False
    ) -> Solution:
        """Build a solution from importable modules (an installed plugin package).

        Modules are imported lazily, in order, when a name is not found in the
        ones already imported. A module that fails to import is recorded in
        ``problems`` rather than raised, so a Part 1 solution still grades
        where torch is missing.
        """
        prefix = module_names[0].rpartition(".")[0] if module_names else ""
        origin = prefix if prefix and all(m.startswith(prefix + ".") for m in module_names) else ", ".join(module_names)
        return cls(name=name, origin=origin, trusted=trusted, pending=list(module_names))

    def _import_next(self) -> None:
        module_name = self.pending.pop(0)
        try:
            self.modules.append(importlib.import_module(module_name))
        except ImportError as exc:
            self.problems.append(f"could not import {module_name}: {exc}")

    def _owner(self, name: str) -> ModuleType | None:
        while True:
            for module in reversed(self.modules):
                if name in vars(module):
                    return module
            if not self.pending:
                return None
            self._import_next()

    def load_all(self) -> None:
        """Import every pending module now."""
        while self.pending:
            self._import_next()

    def provides(self, name: str) -> bool:
        """Whether the solution defines ``name``."""
        return self._owner(name) is not None

    def names(self) -> frozenset[str]:
        """The contract's student names this solution defines."""
        return frozenset(name for name in self.contract_names if self.provides(name))

    def get(self, name: str) -> Any:
        """Return the object bound to ``name``; raise :class:`MissingName`."""
        owner = self._owner(name)
        if owner is None:
            raise MissingName(f"{self.name} does not define {name!r}")
        return vars(owner)[name]

    def source_files(self) -> frozenset[str]:
        """Paths of the files whose code belongs to this solution."""
        self.load_all()
        files: set[str] = set()
        for module in self.modules:
            files.update(getattr(module, "__fmlgrade_files__", ()))
            if getattr(module, "__file__", None):
                files.add(module.__file__)
        return frozenset(files)

    @contextlib.contextmanager
    def substituted(self, replacements: Mapping[str, Any]) -> Iterator[None]:
        """Temporarily rebind names in every module of the solution.

        Composite tasks use this to make the student's code call reference
        versions of the other names (``transfer_train`` calling the reference
        ``store_checkpoint``, say). The old bindings come back afterwards.
        """
        self.load_all()
        missing = object()
        saved: list[tuple[ModuleType, str, Any]] = []
        try:
            for module in self.modules:
                namespace = vars(module)
                for name, value in replacements.items():
                    saved.append((module, name, namespace.get(name, missing)))
                    namespace[name] = value
            yield
        finally:
            for module, name, old in reversed(saved):
                if old is missing:
                    vars(module).pop(name, None)
                else:
                    vars(module)[name] = old
