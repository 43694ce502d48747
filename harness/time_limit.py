"""A wall-clock limit on one check, so that a hung task costs that task only.

The limit is enforced with ``SIGALRM`` in the grading process: the signal
handler raises :class:`CheckTimeout`, a ``BaseException`` so that a
student's ``except Exception`` cannot swallow it, and the timer keeps firing
every second until the check ends, so that even a bare ``except:`` only
delays it. Code stuck inside one C call is only interrupted when it returns;
grading in a separate process (``fmlgrade batch``) bounds that case.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class CheckTimeout(BaseException):
    """A check ran past its time limit."""


def can_limit() -> bool:
    """Whether limits work here: a Unix main thread."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str) -> Iterator[None]:
    """Raise :class:`CheckTimeout` in the block after ``seconds`` (no limit for ``None`` or 0)."""
    if not seconds or not can_limit():
        yield
        return

    def expire(signum, frame):
        raise CheckTimeout(f"{what} took longer than {seconds:g} s (an endless loop?) and was stopped")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
