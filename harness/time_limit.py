"""A wall-clock limit on one check, so that a hung task costs that task only.

The limit is enforced with ``SIGALRM`` in the grading process: the signal
handler raises :class:`CheckTimeout`, a ``BaseException`` so that a
student's ``except Exception`` cannot swallow it. The timer keeps firing
every second until the check ends; from the second firing on, a trace
function also raises on every line run in the student's files, so that a
loop around ``except BaseException: pass`` cannot swallow it either (the
raise lands inside the handler and leaves the loop). Python 3.10 does not
handle signals inside a loop around ``try``/``except`` at all, and code stuck
inside one C call is only interrupted when it returns; grading in a separate
process (``fmlgrade batch``) bounds those cases.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Collection, Iterator


class CheckTimeout(BaseException):
    """A check ran past its time limit."""


# Code that must never be interrupted half-way: the test runner, the plugin
# system, this harness (its clean-up included) and module imports.


def _safe_to_interrupt(frame) -> bool:
    """Whether raising in ``frame`` leaves the grader intact (not inside pytest, an import, ...)."""
    if frame is None:
        return False
    module = frame.f_globals.get("__name__", "") or ""
    if module.split(".")[0] in ("_pytest", "pluggy") or module.startswith("fmlgrade.harness"):
        return False
    while frame is not None:  # an import half done leaves a broken module behind
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return False
        frame = frame.f_back
    return True


def can_limit() -> bool:
    """Whether limits work here: a Unix main thread."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def time_limit(
    seconds: float | None, what: str, student_files: Callable[[], Collection[str]] = frozenset
) -> Iterator[None]:
    """Raise :class:`CheckTimeout` in the block after ``seconds`` (no limit for ``None`` or 0).

    ``student_files`` names the files whose lines the insistent second stage
    may interrupt (never the grader's own code).
    """
    if not seconds or not can_limit():
        yield
        return
    message = f"{what} took longer than {seconds:g} s (an endless loop?) and was stopped"
    firings = 0
    files: Collection[str] = ()

    def interrupt_student_lines(frame, event, arg):
        if frame.f_code.co_filename in files and event in ("call", "line"):
            raise CheckTimeout(message)
        return interrupt_student_lines

    def expire(signum, frame):
        nonlocal firings, files
        if not _safe_to_interrupt(frame):
            return  # the timer fires again in a second
        firings += 1
        if firings == 2:  # the first interrupt was swallowed: insist on every student line
            files = set(student_files())
            sys.settrace(interrupt_student_lines)
            while frame is not None:
                if frame.f_code.co_filename in files:
                    frame.f_trace = interrupt_student_lines
                frame = frame.f_back
        raise CheckTimeout(message)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        while True:  # a last firing may interrupt the clean-up itself: retry until it is done
            try:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
                if firings >= 2:
                    sys.settrace(None)
                break
            except CheckTimeout:
                continue
