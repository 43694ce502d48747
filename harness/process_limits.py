"""Operating-system limits of the worker process, and cleaning up after it.

The worker limits itself before any student code runs (memory, processes,
file sizes, core dumps); the grader decides which user it runs as and, when
it ends, kills whatever processes the submission left behind.
"""

from __future__ import annotations

import os
import pwd
import signal
import stat
import sys
from pathlib import Path

from .worker.limits import DEFAULT_EXTRA_PROCESSES, DEFAULT_MEMORY_MB, MAX_FILE_BYTES, WorkerLimits

__all__ = ["DEFAULT_EXTRA_PROCESSES", "DEFAULT_MEMORY_MB", "MAX_FILE_BYTES", "WorkerLimits"]

#: Environment variables that pin native thread pools to one thread.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS")


def process_cap(uid: int, extra: int) -> int | None:
    """The process limit for a worker running as ``uid``: what that user has now plus ``extra``.

    ``None`` for root outside a user namespace, which the kernel does not limit.
    """
    if not sys.platform.startswith("linux"):
        return None
    return _count_processes(uid) + extra


def _count_processes(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                continue
    return count


def worker_environment(workdir: str, limits: WorkerLimits, torch_home: str | None) -> dict[str, str]:
    """The worker's environment: no secrets of the grader's, caches and temp files in ``workdir``."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
        "XDG_CACHE_HOME": os.path.join(workdir, ".cache"),
        "MPLCONFIGDIR": os.path.join(workdir, ".matplotlib"),
        "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "LANG": "C.UTF-8",
        "FMLGRADE_TORCH_THREADS": str(limits.threads),
    }
    env.update({name: str(limits.threads) for name in THREAD_VARIABLES})
    if torch_home:
        env["TORCH_HOME"] = torch_home
    for name in ("CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _readable_by_others(path: Path) -> bool:
    """Whether a user other than the owner can reach ``path`` (every folder above it searchable)."""
    try:
        path = path.resolve()
        for part in [path, *path.parents]:
            mode = part.stat().st_mode
            needed = stat.S_IXOTH if stat.S_ISDIR(mode) else stat.S_IROTH
            if not mode & needed:
                return False
    except OSError:
        return False
    return True


def choose_worker_user(requested: str | None) -> tuple[int, int] | None:
    """The (uid, gid) the worker runs as, or ``None`` for the grader's own user.

    ``requested`` is a user name; ``"auto"`` (or ``None``) means ``nobody``
    when the grader runs as root and the Python installation is readable by
    others, otherwise the grader's own user; ``"self"`` always means the
    grader's own user.
    """
    if requested in (None, "auto"):
        if os.geteuid() != 0:
            return None
        import fmlgrade.harness as harness_package

        needed = [Path(sys.executable), Path(harness_package.__file__), Path(os.__file__)]
        if not all(_readable_by_others(p) for p in needed):
            return None
        requested = "nobody"
    if requested == "self":
        return None
    try:
        entry = pwd.getpwnam(requested)
    except KeyError:
        raise ValueError(f"worker user {requested!r} does not exist; name an existing user, 'auto' or 'self'") from None
    if entry.pw_uid != os.geteuid() and os.geteuid() != 0:
        raise ValueError(f"only root can run the worker as another user ({requested!r}); use 'auto' or 'self'")
    return entry.pw_uid, entry.pw_gid


def children_of(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(entry.name))
    return found


def become_subreaper() -> bool:
    """Make orphans of our descendants our children (Linux), so they can be found and killed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def kill_group(process_group: int) -> None:
    """Kill every process of ``process_group`` (the worker and what it forked without leaving it)."""
    try:
        os.killpg(process_group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_strays(spared: set[int]) -> int:
    """Kill our child processes not in ``spared`` (orphans re-parented to us); return how many."""
    killed = 0
    for _ in range(20):  # orphans keep arriving while their parents die
        strays = children_of(os.getpid()) - spared
        if not strays:
            break
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    return killed
