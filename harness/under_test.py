"""What a spec test sees of the solution it grades.

The ``submission`` fixture is a :class:`SubmissionUnderTest`: the only way a
check reaches student objects, reference replacements and the outcome of
other tasks. Keeping that surface narrow is what lets the harness move
student code elsewhere without touching the spec.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from fmlgrade.spec.outcomes import NotAttempted
from fmlgrade.spec.tasks import TASKS, Task

from .solution import Solution


def _unit_tasks_grading(name: str) -> tuple[str, ...]:
    return tuple(task.id for task in TASKS if task.kind == "unit" and name in task.names)


class SubmissionUnderTest:
    """A solution as a check uses it, with the reference beside it."""

    def __init__(
        self,
        solution: Solution,
        reference: Solution,
        passed_tasks: Callable[[], frozenset[str]],
        device_choice: str = "auto",
    ) -> None:
        self.solution = solution
        self.reference = reference
        self._passed_tasks = passed_tasks
        self.device_choice = device_choice

    @property
    def name(self) -> str:
        """The solution's display name."""
        return self.solution.name

    def __repr__(self) -> str:
        return f"<submission {self.name}>"

    def require(self, name: str) -> Any:
        """The student's object for ``name``; the check is *not attempted* without it."""
        if not self.solution.provides(name):
            raise NotAttempted(f"{name} is not defined")
        return self.solution.get(name)

    def reference_object(self, name: str) -> Any:
        """The reference solution's object for ``name``."""
        return self.reference.get(name)

    @contextlib.contextmanager
    def with_reference(self, *names: str) -> Iterator[None]:
        """Make the student's code call the reference versions of ``names``."""
        replacements = {name: self.reference.get(name) for name in names}
        with self.solution.substituted(replacements):
            yield

    def compose(self, task: Task) -> tuple[dict[str, Any], list[str]]:
        """The objects an integration task runs, and the names taken from the reference.

        A student name is used when every unit task grading it passed;
        otherwise the reference stands in, so the failure is charged to that
        unit task alone. A task whose names the student defines none of is
        not attempted.
        """
        if not any(self.solution.provides(name) for name in task.names):
            raise NotAttempted(f"none of {', '.join(task.names)} is defined")
        passed = self._passed_tasks()
        chosen: dict[str, Any] = {}
        replaced: list[str] = []
        for name in task.names:
            own_tasks = _unit_tasks_grading(name)
            if self.solution.provides(name) and all(t in passed for t in own_tasks):
                chosen[name] = self.solution.get(name)
            else:
                chosen[name] = self.reference.get(name)
                replaced.append(name)
        return chosen, replaced

    def source_files(self) -> frozenset[str]:
        """Files whose code is the student's (for the allowed-libraries audit)."""
        return self.solution.source_files()
