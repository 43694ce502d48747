"""The limits a worker puts on itself before any student code runs.

Memory, processes, file sizes and core dumps are rlimits, set by the worker on
itself and enforced by the kernel from then on (an unprivileged process can
lower them but never raise them again). The grader decides their values
(:class:`WorkerLimits`) and sends them with the worker's settings.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import sys
from dataclasses import dataclass

#: Defaults sized for a 2-core, 4 GB grading container (the grader itself takes about 1.3 GB).
DEFAULT_MEMORY_MB = 2048
#: Processes (threads count too) the worker's user may have beyond those it has at start.
DEFAULT_EXTRA_PROCESSES = 64
#: Largest file the worker may write.
MAX_FILE_BYTES = 1 << 30


@dataclass(frozen=True)
class WorkerLimits:
    """The limits one worker runs under; ``memory_mb`` of 0 means no memory limit."""

    memory_mb: int = DEFAULT_MEMORY_MB
    extra_processes: int = DEFAULT_EXTRA_PROCESSES
    threads: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.memory_mb, int) or self.memory_mb < 0:
            raise ValueError(f"memory_mb must be a whole number of MiB >= 0, got {self.memory_mb!r}")
        if self.memory_mb and self.memory_mb < 512:
            raise ValueError(
                f"memory_mb={self.memory_mb} is too small: the worker needs about 500 MiB for numpy "
                "and 1 GiB once torch is imported; give at least 512 (0 turns the limit off)"
            )
        if not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"threads must be a positive whole number, got {self.threads!r}")


def limit_worker(limits: WorkerLimits, process_cap: int | None = None) -> None:
    """Apply ``limits`` to the current process (the worker, before student code runs).

    ``process_cap`` is the most processes the worker's user may have (the
    grader counts them: inside a PID namespace the worker sees only its own).
    """
    if limits.memory_mb:
        size = limits.memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_DATA, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    if process_cap is not None and sys.platform.startswith("linux"):
        soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        if hard == resource.RLIM_INFINITY or process_cap < hard:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NPROC, (process_cap, process_cap))


def die_with_parent() -> None:
    """Ask the kernel to kill this process when its parent (the grader) dies (Linux).

    A grader killed from outside (a batch timeout, a cancelled job) then never
    leaves a worker spinning in a student's endless loop.
    """
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the grader died before the request took effect
        os._exit(1)
