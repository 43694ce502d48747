"""Guards the worker puts up before any student code runs.

An audit hook (:pep:`578`, which Python code cannot remove) refuses, for the
rest of the worker's life:

* opening files outside the places the worker needs (the Python installation,
  its own working folder, folders the grader shared) and any of the grader's
  secret files (reference solutions, the checks, oracles), for reading or
  writing; writing anywhere but the working folder;
* deleting, renaming or changing files outside the working folder;
* starting programs (``subprocess``, ``os.system``, ``os.exec*``,
  ``os.posix_spawn``): a new program would run without this hook;
* loading native libraries by name with ``ctypes`` (``CDLL(None)``,
  ``CDLL("libc.so.6")``), the usual way around audit hooks.

An import hook also refuses the grader's secret modules by name. These are
the in-process layers; the operating system's (an unprivileged user, rlimits)
come from :mod:`fmlgrade.harness.process_limits`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_SPAWN_EVENTS = frozenset(
    {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.startfile", "pty.spawn"}
)
_CHANGE_EVENTS = frozenset(
    {"os.remove", "os.rmdir", "os.rename", "os.truncate", "os.chmod", "os.chown", "os.link", "os.symlink",
     "os.mkdir", "os.utime", "shutil.rmtree", "shutil.move", "shutil.copyfile", "os.chflags", "os.lchown"}
)


def is_secret_module(name: str, worker_prefixes: Sequence[str], parents: Sequence[str]) -> bool:
    """Whether module ``name`` is fmlgrade's and outside the worker folders (see :mod:`fmlgrade.harness.boundary`,
    which computes ``worker_prefixes`` and ``parents`` in the grader)."""
    if name != "fmlgrade" and not name.startswith("fmlgrade."):
        return False
    return name not in parents and not any(name == p or name.startswith(p + ".") for p in worker_prefixes)


@dataclass
class FilePolicy:
    """Where the worker may read and write.

    ``readable``: folders whose files may be read; ``writable``: folders
    where files may also be written; ``secret``: files and folders that are
    never opened, even inside a readable folder; ``allowed_files``: single
    files that may be read although a secret folder holds them.
    """

    readable: list[str] = field(default_factory=list)
    writable: list[str] = field(default_factory=list)
    secret: list[str] = field(default_factory=list)
    allowed_files: set[str] = field(default_factory=set)

    def _real(self, path: object) -> str | None:
        if isinstance(path, int):
            return None  # an already open descriptor
        try:
            text = os.fsdecode(path)
        except TypeError:
            return None
        return os.path.realpath(text)

    @staticmethod
    def _inside(path: str, folders: Iterable[str]) -> bool:
        return any(path == folder or path.startswith(folder.rstrip(os.sep) + os.sep) for folder in folders)

    def may_read(self, path: object) -> bool:
        real = self._real(path)
        if real is None:
            return True
        if real in self.allowed_files or self._cached_allowed(real):
            return True
        if self._inside(real, self.secret):
            return False
        return self._inside(real, self.readable) or self._inside(real, self.writable)

    def _cached_allowed(self, real: str) -> bool:
        folder, name = os.path.split(real)
        if os.path.basename(folder) != "__pycache__":
            return False
        stem = name.split(".", 1)[0]
        return os.path.join(os.path.dirname(folder), stem + ".py") in self.allowed_files

    def may_write(self, path: object) -> bool:
        real = self._real(path)
        if real is None:
            return True
        if real == os.devnull:
            return True
        return self._inside(real, self.writable) and not self._inside(real, self.secret)


class _SecretImportBlocker:
    """A meta-path finder that refuses the grader's secret modules by name."""

    def __init__(self, worker_prefixes: Sequence[str], parents: Sequence[str]) -> None:
        self._worker_prefixes, self._parents = tuple(worker_prefixes), tuple(parents)

    def find_spec(self, name: str, path: Sequence[str] | None = None, target: object = None) -> None:
        if is_secret_module(name, self._worker_prefixes, self._parents):
            raise ImportError(f"a submission may not import {name} (it is part of the grader)")
        return None


def install(policy: FilePolicy, worker_prefixes: Sequence[str] = (), parents: Sequence[str] = ()) -> None:
    """Put up the guards for the rest of this process's life: the audit hook on files, programs and
    native code, and an import hook refusing fmlgrade modules outside ``worker_prefixes``."""

    def refuse(what: str) -> None:
        raise PermissionError(f"a submission may not {what} while it is graded")

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, 0))[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writing and not policy.may_write(path):
                refuse(f"write {path!r} (only files in its working folder)")
            if not writing and not policy.may_read(path):
                refuse(f"read {path!r}")
        elif event in _SPAWN_EVENTS:
            refuse("start other programs")
        elif event in _CHANGE_EVENTS:
            for path in args[:2]:
                if isinstance(path, (str, bytes, os.PathLike)) and not policy.may_write(path):
                    refuse(f"change {os.fsdecode(path)!r} (only files in its working folder)")
        elif event in ("os.listdir", "os.scandir") and args and not policy.may_read(args[0] or "."):
            refuse(f"list {args[0]!r}")
        elif event == "ctypes.dlopen":
            name = args[0] if args else None
            if not (isinstance(name, str) and os.path.isabs(name) and policy.may_read(name)):
                refuse(f"load the native library {name!r}")
        elif event in ("ctypes.dlsym", "ctypes.dlsym/handle"):
            refuse("look up native functions with ctypes")
        elif event == "sys.addaudithook":
            refuse("add audit hooks")

    sys.meta_path.insert(0, _SecretImportBlocker(worker_prefixes, parents))
    sys.addaudithook(hook)
