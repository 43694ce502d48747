"""The plugin manager: where solutions and file readers come from.

Installed distributions register solution plugins through the ``fmlgrade``
entry-point group (our own reference solutions do the same); file readers
are plugins too, so a notebook reader is one more registered object.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pluggy

from fmlgrade.spec import hookspecs

from .adapters import PythonFileReader, load_submission
from .solution import Solution

REFERENCE_NAME = "reference"


def make_plugin_manager(*, entry_points: bool = True) -> pluggy.PluginManager:
    """A plugin manager with the hookspecs, the built-in readers and, unless
    ``entry_points`` is false, every installed ``fmlgrade`` plugin."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    manager.register(PythonFileReader(), name="reader-python")
    try:
        from .notebooks import NotebookReader
    except ImportError:  # pragma: no cover - notebook support is optional
        pass
    else:
        manager.register(NotebookReader(), name="reader-notebook")
    if entry_points:
        manager.load_setuptools_entrypoints(hookspecs.PROJECT_NAME)
    return manager


def installed_solutions(manager: pluggy.PluginManager) -> list[Solution]:
    """All solutions the registered plugins provide, in registration order."""
    solutions: list[Solution] = []
    for batch in reversed(manager.hook.fmlgrade_solutions()):
        solutions.extend(batch)
    return solutions


def reference_solution() -> Solution:
    """The trusted reference solution the grader borrows names from."""
    from fmlgrade.solutions import reference

    return reference.make_solution()


def solutions_from_paths(
    paths: Sequence[Path], manager: pluggy.PluginManager | None = None
) -> list[Solution]:
    """One solution per path (``pytest --solution`` semantics)."""
    manager = manager or make_plugin_manager(entry_points=False)
    return [load_submission([path], manager.hook.fmlgrade_read_source) for path in paths]


def submission_from_paths(
    paths: Sequence[Path], manager: pluggy.PluginManager | None = None, *, name: str | None = None
) -> Solution:
    """All ``paths`` together as one submission (``fmlgrade check`` semantics)."""
    manager = manager or make_plugin_manager(entry_points=False)
    return load_submission(paths, manager.hook.fmlgrade_read_source, name=name)
