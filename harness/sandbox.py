"""The operating-system sandbox a worker runs in, and the isolation levels.

Levels, weakest first:

``none``
    the submission runs in the grader's own process (trusted code only);
``process``
    a worker process as the grader's own user: only the worker's Python
    hooks stand between student code and the grader's files;
``user``
    a worker process as an unprivileged user (``nobody``) that the operating
    system refuses every secret file (checked before grading, see
    :func:`secrets_unreadable_to`);
``namespace``
    a worker inside bubblewrap (``bwrap``): its own mount namespace whose file
    system holds the Python runtime, the worker folders of fmlgrade
    (:mod:`fmlgrade.harness.boundary`) and the submission's scratch folder,
    nothing else of ours; its own PID, IPC, UTS, cgroup and network
    namespaces (no network, the grader's processes invisible); no
    capabilities; the rlimits of :mod:`fmlgrade.harness.worker.limits`.

``auto`` picks the strongest level this machine allows; ``--require-isolation``
refuses to grade below a level. Every report names the level in force.
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping, Sequence

from . import boundary, process_limits

#: Isolation levels, weakest first.
LEVELS = ("none", "process", "user", "namespace")
#: Where the worker folders appear inside the sandbox (first on the worker's ``sys.path``).
WORKER_ROOT = "/fmlgrade-worker"
#: The uid/gid the worker has inside its user namespace.
SANDBOX_ID = 65534


class IsolationUnavailable(RuntimeError):
    """The isolation level asked for cannot be had on this machine."""


def level_at_least(level: str, required: str) -> bool:
    """Whether ``level`` is as strong as ``required``."""
    return LEVELS.index(level) >= LEVELS.index(required)


def check_level(name: str, value: str, *, allow_auto: bool = False) -> str:
    """``value`` if it names a level; otherwise a ``ValueError`` naming ``name`` and the choices."""
    choices = LEVELS + (("auto",) if allow_auto else ())
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def bwrap_path() -> str | None:
    """The bubblewrap program, if installed."""
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=1)
def namespaces_work() -> tuple[bool, str]:
    """Whether bubblewrap can create the worker's namespaces here, and if not, why."""
    program = bwrap_path()
    if program is None:
        return False, "bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
    try:
        probe = subprocess.run(
            [program, *_namespace_flags(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"],
            capture_output=True, timeout=30, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bubblewrap could not run: {exc}"
    if probe.returncode != 0:
        why = probe.stderr.decode("utf-8", "replace").strip().splitlines()
        return False, f"the kernel refused bubblewrap's namespaces ({why[-1] if why else probe.returncode})"
    return True, ""


def _namespace_flags() -> list[str]:
    return ["--unshare-all", "--unshare-user", "--uid", str(SANDBOX_ID), "--gid", str(SANDBOX_ID),
            "--die-with-parent", "--new-session", "--cap-drop", "ALL"]


def secrets_unreadable_to(uid: int, gid: int) -> tuple[bool, str]:
    """Whether the operating system keeps every secret path of the boundary from ``uid``/``gid``.

    Judged from the permission bits as the kernel would for an unprivileged
    user that is neither owner nor in the group (``nobody``).
    """
    for path in boundary.secret_paths():
        try:
            info = path.stat()
        except OSError:
            continue
        if info.st_uid == uid or info.st_gid == gid:
            return False, f"{path} belongs to the worker's user or group"
        if info.st_mode & 0o004 or (path.is_dir() and info.st_mode & 0o001):
            return False, (f"{path} is readable by other users "
                           "(fmlgrade isolation --secret-paths | xargs chmod -R o-rwx)")
    return True, ""


def available_level(worker_user: tuple[int, int] | None) -> tuple[str, str]:
    """The strongest level this machine allows for a worker of ``worker_user``, and why not stronger."""
    works, why_not = namespaces_work()
    if works:
        return "namespace", ""
    if worker_user is not None:
        unreadable, why = secrets_unreadable_to(*worker_user)
        if unreadable:
            return "user", why_not
        return "process", f"{why_not}; the worker's user could read the grader's files: {why}"
    return "process", f"{why_not}; and the worker runs as the grader's own user"


def resolve_level(requested: str, required: str, worker_user: tuple[int, int] | None) -> tuple[str, str]:
    """The level to grade at for ``requested`` (a level or ``auto``), refusing anything below ``required``.

    Returns the level and, where it is below ``namespace``, why.
    """
    best, why = available_level(worker_user)
    level = best if requested == "auto" else requested
    if requested != "auto" and requested not in ("none", "process") and not level_at_least(best, requested):
        raise IsolationUnavailable(f"isolation {requested!r} is not available here: {why}")
    if not level_at_least(level, required):
        raise IsolationUnavailable(
            f"grading needs isolation {required!r} or stronger, but only {level!r} is in force here"
            + (f" ({why})" if why else "") + "; install bubblewrap, run as root, or lower --require-isolation"
        )
    return level, why if level != "namespace" else ""


def python_installation() -> list[str]:
    """The folders of the Python that runs the worker: base installation, virtual environment, libraries."""
    folders = {os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix, sys.prefix, sys.exec_prefix)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            folders.add(os.path.realpath(path))
    folders.add(os.path.dirname(os.path.realpath(sys.executable)))
    folders = {f for f in folders if f != "/" and os.path.isdir(f)}
    # Keep the outermost folders only.
    return sorted(f for f in folders if not any(f != g and f.startswith(g + os.sep) for g in folders))


def worker_search_path() -> list[str]:
    """The worker's ``sys.path``: its own folders first, then the standard library and site-packages."""
    installation = python_installation()
    path = [WORKER_ROOT]
    for entry in sys.path:
        real = os.path.realpath(entry) if entry else ""
        if real and os.path.exists(real) and any(real == f or real.startswith(f + os.sep) for f in installation):
            path.append(real)
    return path


def _system_binds() -> list[str]:
    args: list[str] = []
    for name in ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin"):
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    for name in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives"):
        if os.path.exists(name):
            args += ["--ro-bind", name, name]
    return args


def _gpu_binds() -> list[str]:
    devices = sorted(glob.glob("/dev/nvidia*")) + sorted(glob.glob("/dev/dri/*"))
    args: list[str] = []
    for device in devices:
        args += ["--dev-bind", device, device]
    if devices:
        args += ["--ro-bind-try", "/sys", "/sys"]
    return args


def _masks(bound: Sequence[str]) -> list[str]:
    """Empty folders (and empty files) over every secret path that a bound folder would otherwise show."""
    args: list[str] = []
    for path in [*boundary.secret_folders(), *boundary.secret_paths()]:
        real = str(path.resolve())
        if not any(real == b or real.startswith(b.rstrip(os.sep) + os.sep) for b in bound):
            continue
        if os.path.isdir(real):
            args += ["--tmpfs", real]
        elif os.path.exists(real):
            args += ["--ro-bind", "/dev/null", real]
    return args


def _worker_tree() -> list[str]:
    """Bind each worker folder at its package path under :data:`WORKER_ROOT` (its parents namespace packages)."""
    args = ["--dir", WORKER_ROOT]
    made = {WORKER_ROOT}
    for package in boundary.worker_packages():
        parts = package.name.split(".")
        for n in range(1, len(parts)):
            folder = "/".join([WORKER_ROOT, *parts[:n]])
            if folder not in made:
                args += ["--dir", folder]
                made.add(folder)
        args += ["--ro-bind", str(package.folder), "/".join([WORKER_ROOT, *parts])]
    return args


def bwrap_command(
    command: Sequence[str],
    *,
    workdir: str,
    environment: Mapping[str, str],
    read_only: Sequence[str] = (),
    keep_fds: Sequence[int] = (),
) -> list[str]:
    """The bubblewrap command line that runs ``command`` in the worker's sandbox.

    ``workdir`` is bound writable at the same path (the worker's scratch
    folder); ``read_only`` folders are bound read-only if they exist (a
    shared torch cache, say). File descriptors in ``keep_fds`` stay open.
    """
    program = bwrap_path()
    if program is None:
        raise IsolationUnavailable("bubblewrap (bwrap) is not installed")
    installation = python_installation()
    # /proc, /dev and a private /tmp first: the runtime may itself live under /tmp (a clone there, say),
    # and a later tmpfs would hide it.
    args = [program, *_namespace_flags(), *_system_binds(), "--proc", "/proc", "--dev", "/dev", *_gpu_binds(),
            "--tmpfs", "/tmp"]
    for folder in installation:
        args += ["--ro-bind", folder, folder]
    args += _masks(installation)
    args += _worker_tree()
    for folder in read_only:
        args += ["--ro-bind-try", folder, folder]
    # Whatever a read-only folder is (a cache above the checkout, say), the secret folders stay hidden.
    args += _masks([os.path.realpath(f) for f in read_only if os.path.isdir(f)])
    args += ["--bind", workdir, workdir, "--chdir", workdir, "--clearenv"]
    for name, value in environment.items():
        args += ["--setenv", name, value]
    del keep_fds  # bubblewrap passes on every descriptor not marked close-on-exec
    return [*args, "--", *command]


def worker_user_for(level: str, requested: str | None) -> tuple[int, int] | None:
    """The (uid, gid) a worker runs as outside any namespace at ``level`` (``None``: the grader's own)."""
    if level == "namespace":
        return None  # the namespace maps it to SANDBOX_ID inside
    return process_limits.choose_worker_user(requested)
