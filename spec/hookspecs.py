"""Hook specifications of the ``fmlgrade`` plugin system.

A *solution plugin* is any module or object that implements some of these
hooks and is registered with the plugin manager, either through the
``fmlgrade`` entry-point group of an installed distribution or directly by the
harness (student files are wrapped into plugins by an adapter, so students
never write pluggy code).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover - only for type checkers
    from fmlgrade.harness.solution import Solution, SourceFile

#: The pluggy project name; also the setuptools entry-point group.
PROJECT_NAME = "fmlgrade"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def fmlgrade_solutions() -> list[Solution]:
    """Return the solutions this plugin provides.

    Each :class:`~fmlgrade.harness.solution.Solution` carries a unique ``name``
    and the modules that define (some of) the contract's student names. Build
    one with :meth:`Solution.from_module_names` for an installed package.
    Every registered implementation is called and the lists are concatenated.
    """


@hookspec(firstresult=True)
def fmlgrade_read_source(path: Path) -> SourceFile | None:
    """Turn one submitted file into Python source, or return ``None``.

    The harness calls this for every file of a submission; the first plugin
    that recognises the file (by its suffix or content) returns a
    :class:`~fmlgrade.harness.solution.SourceFile` holding the code to run and
    a list of one-line notes about anything it left out. Files no plugin
    recognises are ignored.
    """
