"""One check's outcome, and how an exception becomes a status and feedback.

A check is one spec test run against one solution. Its feedback is written
for a student: the message of the failed assertion, the smallest input
hypothesis found, and where in their own file an exception came from. Much of
it is the submission's own text (its exception messages, reprs of its values),
so :func:`classify` hands it back neutralized and bounded
(:mod:`fmlgrade.harness.untrusted_text`); reports neutralize everything again
when they are built, whatever the source of a check's feedback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Literal

from fmlgrade.spec.worker.outcomes import NotAttempted, PrerequisiteFailed

from .isolation import WorkerFailure
from .time_limit import CheckTimeout
from .untrusted_text import MAX_MESSAGE, neutralize
from .worker.channel import RemoteFailure
from .worker.tracebacks import traceback_location

if sys.version_info < (3, 11):  # pragma: no cover - hypothesis brings the backport
    from exceptiongroup import BaseExceptionGroup

CheckStatus = Literal["passed", "failed", "error", "not_attempted", "skipped", "timeout"]

#: Longest feedback kept per check; hypothesis can print large arrays, a submission huge messages.
MAX_FEEDBACK = MAX_MESSAGE


@dataclass
class CheckResult:
    """The outcome of one check of one task on one solution."""

    solution: str
    task: str
    check: str
    description: str
    status: CheckStatus
    feedback: str = ""
    kind: str = "behaviour"
    duration: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _hypothesis_notes(exc: BaseException) -> list[str]:
    """The 'Falsifying example' notes, without the harness's own arguments."""
    lines: list[str] = []
    for note in getattr(exc, "__notes__", []) or []:
        for line in str(note).splitlines():
            stripped = line.strip()
            if stripped.startswith(("submission=", "device=", "tmp_path=", "reference=")):
                continue
            if "reproduce_failure" in stripped or stripped.startswith("You can reproduce"):
                continue
            lines.append(line)
    if lines and lines[0].startswith(("Falsifying example", "Failing test case")):
        lines[0] = "Smallest failing input:"
        if lines[-1].strip() == ")":
            lines.pop()
    return lines


def _student_location(exc: BaseException, student_files: Iterable[str]) -> str:
    """'file.py, line N, in function' for the deepest frame in student code."""
    if isinstance(exc, RemoteFailure):
        return exc.where  # raised in the worker, which named the student's line
    return traceback_location(exc, student_files)


def classify(exc: BaseException, student_files: Iterable[str]) -> tuple[CheckStatus, str]:
    """Map an exception raised by a check to a status and student-facing feedback.

    The feedback is neutralized and at most :data:`MAX_FEEDBACK` characters long.
    """
    status, feedback = _classify(exc, student_files)
    return status, neutralize(feedback.strip(), MAX_FEEDBACK)


def _classify(exc: BaseException, student_files: Iterable[str]) -> tuple[CheckStatus, str]:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        inner = exc.exceptions[0]
        status, feedback = _classify(inner, student_files)
        feedback = neutralize(feedback.strip(), MAX_FEEDBACK - 100)  # room for the line below
        return status, f"{feedback}\n(the failure did not reproduce reliably: {type(exc).__name__})"
    notes = _hypothesis_notes(exc)
    if isinstance(exc, CheckTimeout):
        where = _student_location(exc, student_files)
        return "timeout", str(exc) + (f"\n  it was running {where}" if where else "")
    if isinstance(exc, NotAttempted):
        return "not_attempted", str(exc)
    if isinstance(exc, NotImplementedError):
        where = _student_location(exc, student_files)
        return "not_attempted", "raises NotImplementedError" + (f" ({where})" if where else "")
    if isinstance(exc, PrerequisiteFailed):
        return "error", str(exc)
    if isinstance(exc, AssertionError):
        message = str(exc) or "a check failed"
        return "failed", "\n".join([message, *notes])
    if isinstance(exc, WorkerFailure):
        return "error", str(exc)
    where = _student_location(exc, student_files)
    type_name = exc.type_name if isinstance(exc, RemoteFailure) else type(exc).__name__
    message = f"{type_name}: {exc}"
    if where:
        message += f"\n  raised at {where}"
    return "error", "\n".join([message, *notes])
