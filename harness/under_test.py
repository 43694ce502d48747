"""What a spec test sees of the solution it grades.

The ``submission`` fixture is a :class:`SubmissionUnderTest`: the only way a
check reaches student objects, reference replacements and the outcome of
other tasks. Keeping that surface narrow is what lets the harness move
student code elsewhere without touching the spec.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from fmlgrade.spec.stand_ins import has_stand_in, stand_in, stand_in_names
from fmlgrade.spec.tasks import TASKS, Task
from fmlgrade.spec.worker.outcomes import NotAttempted

from .solution import Solution
from .worker.student_view import StudentView, observer_path

if TYPE_CHECKING:
    from .worker.library_audit import LibraryAudit


def _unit_tasks_grading(name: str) -> tuple[str, ...]:
    return tuple(task.id for task in TASKS if task.kind == "unit" and name in task.names)


class SubmissionUnderTest:
    """A solution as a check uses it, with the reference beside it."""

    def __init__(
        self,
        solution: Solution,
        reference: Solution,
        task_statuses: Callable[[], dict[str, str]],
        device_choice: str = "auto",
    ) -> None:
        self.solution = solution
        self.reference = reference
        self._task_statuses = task_statuses
        self.device_choice = device_choice
        #: The task whose check is running (set by the grading session).
        self.current_task: str | None = None
        #: Tasks whose every check has run (set by the grading session; tasks it does not grade count as
        #: final): decides which stand-ins may reach the student's side.
        self.final_tasks: set[str] = set()

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
        """Make the student's code call grader versions of ``names`` for the block.

        A name with a stand-in (:mod:`fmlgrade.spec.stand_ins`) gets the
        stand-in, which runs beside the student's code; any other name gets
        the reference object itself.
        """
        allowed = self.stand_ins_allowed()
        refused = [name for name in names if has_stand_in(name) and name not in allowed]
        if refused:
            raise RuntimeError(
                f"task {self.current_task} may not run student code beside stand-ins for {refused}: "
                "the tasks grading them have no final result yet"
            )
        replacements = {
            name: stand_in(name) if has_stand_in(name) else self.reference.get(name) for name in names
        }
        with self.solution.substituted(replacements):
            yield

    def observe(self, observer: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``observer(view, *args, **kwargs)`` beside the student's code; return its result.

        ``observer`` must be a module-level function of an observers module
        (see :mod:`fmlgrade.harness.worker.student_view`); ``view`` is a
        :class:`~fmlgrade.harness.worker.student_view.StudentView`. Arguments and
        results are plain data (numbers, strings, containers, arrays, tensors);
        any other object comes back as an opaque handle that may only be
        passed to a later ``observe`` call.
        """
        path = observer_path(observer)  # the same rule as in the worker, so mistakes show here too
        allowed = self.stand_ins_allowed()
        client = self._client()
        if client is not None:
            return client.request("observe", path, args, kwargs, client.stand_in_sources(allowed))
        stand_ins = {name: (lambda name=name: stand_in(name)) for name in allowed}
        return observer(StudentView(self.solution, stand_ins), *args, **kwargs)

    def stand_ins_allowed(self) -> frozenset[str]:
        """The names whose stand-ins may run beside student code now.

        A stand-in is a correct implementation of its name, so it may reach the
        student's side only once every task that grades that name has its final
        result, and never while one of them is graded.
        """
        allowed = set()
        for name in stand_in_names():
            own = _unit_tasks_grading(name)
            if self.current_task not in own and all(task in self.final_tasks for task in own):
                allowed.add(name)
        return frozenset(allowed)

    def share(self, path: str | os.PathLike[str]) -> str:
        """A path under which the student's side can read the file or folder ``path``."""
        client = self._client()
        return client.share(os.fspath(path)) if client is not None else os.fspath(path)

    def worker_files(self, folder: str, *, max_bytes: int = 64 * 2**20) -> dict[str, bytes]:
        """The regular files under ``folder`` (relative to the student's working folder), read by the grader.

        Evidence the grader reads itself: symbolic links the student's code made
        are not followed, and the total is bounded by ``max_bytes``.
        """
        client = self._client()
        if client is not None:
            return client.read_files(folder, max_bytes=max_bytes)
        from .isolation import read_regular_files

        base = os.path.realpath(os.getcwd())
        parts = [p for p in os.path.normpath(folder).split(os.sep) if p not in ("", ".")]
        if os.path.isabs(folder) or ".." in parts:
            raise ValueError(f"{folder!r} is outside the working folder")
        return read_regular_files(base, parts, max_bytes=max_bytes, max_files=256)

    def seed(self, seed: int) -> None:
        """Seed the global generators (Python's and NumPy's) of the grader and of the student's side.

        In-process both are the same generators; a worker gets the same seed
        (and seeds torch too, if the student's code loaded it).
        """
        random.seed(seed)
        np.random.seed(seed)
        client = self._client()
        if client is not None:
            client.request("seed", seed)

    def _client(self) -> Any:
        """The worker client when the solution runs isolated, else ``None``."""
        return getattr(self.solution, "client", None)

    def compose(self, task: Task) -> tuple[dict[str, Any], list[str]]:
        """The objects an integration task runs, and the names taken from the reference.

        Every name of the task must be defined and implemented by the student
        (otherwise the task is not attempted; a name whose own tasks were all
        not attempted, such as a stub raising ``NotImplementedError``, counts
        as missing). A student name is used when every unit task
        grading it passed; otherwise the reference stands in, so the failure
        is charged to that unit task alone.
        """
        statuses = self._task_statuses()

        def attempted(name: str) -> bool:
            own = _unit_tasks_grading(name)
            stub = own and all(statuses.get(t) == "not_attempted" for t in own)
            return self.solution.provides(name) and not stub

        missing = [name for name in task.names if not attempted(name)]
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            raise NotAttempted(f"{', '.join(missing)} {verb} not defined or not implemented")
        chosen: dict[str, Any] = {}
        replaced: list[str] = []
        for name in task.names:
            own_tasks = _unit_tasks_grading(name)
            if all(statuses.get(t) == "passed" for t in own_tasks):
                chosen[name] = self.solution.get(name)
            else:
                chosen[name] = self.reference.get(name)
                replaced.append(name)
        return chosen, replaced

    def source_files(self) -> frozenset[str]:
        """Files whose code is the student's (for the allowed-libraries audit)."""
        return self.solution.source_files()

    @contextlib.contextmanager
    def reached_libraries(
        self, task: Task, *, also_allowed: Iterable[str] = ()
    ) -> Iterator[LibraryAudit]:
        """Record, while active, the calls student code makes into libraries ``task`` does not allow.

        Allowed are ``task.libraries``, the standard library, the student's own
        files, the skeleton (``fmlgrade.spec``) and the modules in
        ``also_allowed`` (those of objects the check hands to student code, such
        as a reference network). Yields the :class:`LibraryAudit`; read its
        ``findings`` after the block. Only the modules loaded so far count as the
        student's files: a lazily imported module (Part 2 of an installed
        solution, say) has no code running yet, and loading it here would import
        torch into a Part 1 run.
        """
        from .worker.library_audit import LibraryAudit, Reach

        client = self._client()
        if client is not None:
            audit = LibraryAudit((), task.libraries)
            client.request("audit_start", list(task.libraries),
                           [*also_allowed, "fmlgrade.harness.worker.remote_objects"])
            try:
                yield audit
            finally:
                found = client.request("audit_stop") if client.alive else []
                audit.findings.extend(Reach(*map(_plain, entry)) for entry in found if len(entry) == 5)
            return
        files = frozenset(
            module.__file__
            for module in self.solution.modules
            if getattr(module, "__file__", None)
        )
        with LibraryAudit(files, task.libraries, also_allowed=also_allowed) as audit:
            yield audit


def _plain(value: Any) -> Any:
    """A finding's field as the worker claimed it, forced to str or int."""
    return value if type(value) in (str, int) else str(value)
