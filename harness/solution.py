"""Solutions as the grader builds them: the worker-side :class:`Solution` that knows the contract's names.

Plugins build theirs with :meth:`Solution.from_module_names`; the grader's
checks only ever ask a solution for names (see :mod:`fmlgrade.harness.worker.solution`).
"""

from __future__ import annotations

from dataclasses import dataclass

from fmlgrade.spec.tasks import STUDENT_NAMES

from .worker.solution import MissingName, SourceChunk, SourceFile
from .worker.solution import Solution as _Solution

__all__ = ["MissingName", "Solution", "SourceChunk", "SourceFile"]


@dataclass
class Solution(_Solution):
    """A solution whose :meth:`names` are the contract's student names."""

    contract_names: tuple[str, ...] = STUDENT_NAMES
