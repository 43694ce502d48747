"""Grading a submission whose code runs in a worker process of its own.

:class:`WorkerClient` starts the worker (:mod:`fmlgrade.harness.worker`) in a
fresh temporary folder, as an unprivileged user where the grader runs as
root, under the limits of :class:`~fmlgrade.harness.process_limits.WorkerLimits`,
and talks to it over the channel of :mod:`fmlgrade.harness.worker.channel`.
:class:`IsolatedSolution` is a :class:`~fmlgrade.harness.solution.Solution`
whose names live in that worker: the checks get proxies, and plain data
(arrays, tensors, numbers) is copied into the grader before any check looks
at it. A worker that dies or runs past its deadline is killed, with
everything it started, and a new one is started for the next task.
"""

from __future__ import annotations

import _signal  # signal's functions without its enum wrapping (which costs ~20 us a call)
import contextlib
import functools
import multiprocessing
import os
import pickle
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fmlgrade.spec.stand_ins import has_stand_in, stand_in_source
from fmlgrade.spec.tasks import STUDENT_NAMES
from fmlgrade.spec.worker.outcomes import NotAttempted, PrerequisiteFailed

from . import boundary, process_limits, sandbox
from .solution import Solution, SourceFile
from .tamper_scan import suspicious_lines
from .time_limit import CheckTimeout, _safe_to_interrupt, can_limit
from .worker.channel import KINDS, REF, ChannelError, Codec, DeadlineExceeded, Endpoint, PeerGone, RemoteFailure
from .worker.guards import FilePolicy
from .worker.main import submission_folder
from .worker.remote_objects import (
    CALLBACK_BUDGET,
    CALLBACK_MAX_OBJECTS,
    CALLBACK_OPS,
    ObjectTable,
    ProxyCache,
    apply_op,
    callback_cost,
    ref_of,
)

#: Seconds a worker may take to start and run the submission's files.
STARTUP_SECONDS = 120.0
#: Workers started for one submission before the grader gives up on it (one per task at most).
MAX_STARTS = 40


class WorkerFailure(BaseException):
    """The worker could not answer. A ``BaseException``, so hypothesis does not retry the example."""


class WorkerDied(WorkerFailure):
    """The worker process ended while the grader was waiting for it."""


class WorkerUnavailable(WorkerFailure):
    """The submission's worker cannot be (re)started."""


@functools.lru_cache(maxsize=1)
def _handed_out_folders() -> tuple[str, ...]:
    """Folders whose objects may be handed to student code: the spec's and the reference solutions'."""
    return tuple(str(root.folder) for root in boundary.package_roots()
                 if root.name in ("fmlgrade.spec", "fmlgrade.solutions"))


def _is_grader_object(obj: Any) -> bool:
    """Whether ``obj`` may be handed to student code: an object, class or function of the grader's spec or
    reference solutions (never a module, a builtin or anything reaching the grader's internals)."""
    if isinstance(obj, types.MethodType):
        return _is_grader_object(obj.__self__)
    if isinstance(obj, types.ModuleType):
        return False
    holder = obj if isinstance(obj, (type, types.FunctionType)) else type(obj)
    module = sys.modules.get(getattr(holder, "__module__", "") or "")
    filename = getattr(module, "__file__", None)
    if not filename:
        return False
    real = os.path.realpath(filename)
    return any(real.startswith(folder + os.sep) for folder in _handed_out_folders())


def file_policy(workdir: str, shared: Sequence[str], *, in_namespace: bool) -> FilePolicy:
    """Where the worker's hooks let it read and write: the Python installation, the worker folders,
    its own folder and the shared folders; never a secret path of the boundary.

    In the namespace sandbox the file system itself holds nothing else; the
    hooks are a second layer there.
    """
    readable = set(sandbox.python_installation())
    if in_namespace:
        readable.add(sandbox.WORKER_ROOT)
    else:
        readable.update(str(package.folder) for package in boundary.worker_packages())
        readable.update(str(root.folder) for root in boundary.package_roots())  # to reach the worker folders
    readable.add("/dev")
    return FilePolicy(
        readable=sorted(readable | {os.path.realpath(p) for p in shared}),
        writable=[os.path.realpath(workdir)],
        secret=[str(p) for p in boundary.secret_paths()],
    )


def _torch_home() -> str:
    home = os.environ.get("TORCH_HOME")
    if home:
        return os.path.realpath(home)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.realpath(os.path.join(cache, "torch"))


_LIVE_CLIENTS: set[WorkerClient] = set()
#: How the worker's interpreter starts: put the search path first, then run the worker's main.
_BOOTSTRAP = (
    "import sys; sys.path[:0] = sys.argv[2].split(__import__('os').pathsep); "
    "from fmlgrade.harness.worker.main import main; main(int(sys.argv[1]))"
)
KINDS.update(NotAttempted=NotAttempted, PrerequisiteFailed=PrerequisiteFailed)


class WorkerClient:
    """The grader's end of one submission's worker process."""

    def __init__(
        self,
        name: str,
        origin: str,
        sources: Sequence[SourceFile] = (),
        *,
        limits: process_limits.WorkerLimits | None = None,
        user: str | None = "auto",
        preload: Sequence[str] = (),
        level: str = "process",
    ) -> None:
        self.name, self.origin = name, origin
        self.preload = tuple(preload)
        self.sources = list(sources)
        self.limits = limits or process_limits.WorkerLimits()
        if level not in ("process", "user", "namespace"):
            raise ValueError(f"a worker runs at isolation process, user or namespace, not {level!r}")
        #: The isolation level this worker runs at (see :mod:`fmlgrade.harness.sandbox`).
        self.level = level
        self.user = None if level == "namespace" else process_limits.choose_worker_user(user)
        if level == "user" and self.user is None:
            raise sandbox.IsolationUnavailable("isolation 'user' needs a worker user of its own (run as root)")
        self.generation = 0
        self.starts = 0
        self.process: subprocess.Popen | None = None
        self.endpoint: Endpoint | None = None
        self.workdir: str | None = None
        self.shared_root: str | None = None
        self.report: dict[str, Any] | None = None
        self.exports = ObjectTable("grader")
        self.proxies = ProxyCache(self._object_request)
        self.codec = Codec("grader", self._export, self.exports.resolve, self.proxies.proxy, ref_of)
        self.shared: dict[str, str] = {}
        self.deadline: float | None = None
        #: The task's time limit in seconds (for messages); the session sets it with the deadline.
        self.time_limit: float | None = None
        self._spared: set[int] = set()
        self._stderr: Any = None
        self._sent_modules: set[str] = set()
        self._launched_at = 0.0

    # -- life cycle ----------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None and self.endpoint is not None

    def _make_workdir(self) -> str:
        workdir = tempfile.mkdtemp(prefix="fmlgrade-worker-")
        # Files the grader shares go to a folder of its own that the worker can only read, so
        # nothing the worker plants (a symlink where the next copy goes, say) is ever followed.
        self.shared_root = tempfile.mkdtemp(prefix="fmlgrade-shared-")
        os.chmod(self.shared_root, 0o755)
        for index, source in enumerate(self.sources):
            folder = submission_folder(workdir, index)
            os.makedirs(folder)
            with open(os.path.join(folder, Path(source.path).name), "w", encoding="utf-8") as handle:
                handle.write(source.code)
        self._hand_over(workdir)
        return workdir

    def _hand_over(self, folder: str) -> None:
        """Make ``folder`` and everything in it the worker user's (when the worker has a user of its own)."""
        if self.user is None:
            return
        for root, dirs, files in os.walk(folder):
            for entry in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(entry, *self.user, follow_symlinks=False)

    def start(self) -> None:
        """Start a worker and run the submission's files in it; wait until it has."""
        self.launch()
        self._wait_until_ready()

    def launch(self) -> None:
        """Start a worker without waiting for it (it loads while the grader collects its checks)."""
        if self.starts >= MAX_STARTS:
            raise WorkerUnavailable(
                f"the submission's process was started {MAX_STARTS} times and ended each time; "
                "the remaining checks are not run"
            )
        self.close()
        self.starts += 1
        self.generation += 1
        self.exports = ObjectTable("grader", self.generation)
        self.proxies = ProxyCache(self._object_request)
        self.codec = Codec("grader", self._export, self.exports.resolve, self.proxies.proxy, ref_of)
        self.workdir = self._make_workdir()
        self.shared = {}
        self._sent_modules = set()
        process_limits.become_subreaper()
        self._spared = process_limits.children_of(os.getpid()) | {
            c.process.pid for c in _LIVE_CLIENTS if c.process is not None
        }
        ours, theirs = multiprocessing.Pipe(duplex=True)
        # Not a pipe: processes the submission leaves behind would keep a pipe open forever.
        self._stderr = tempfile.TemporaryFile()
        environment = process_limits.worker_environment(self.workdir, self.limits, _torch_home())
        popen: dict[str, Any] = {}
        if self.level == "namespace":
            search_path = sandbox.worker_search_path()
            command = sandbox.bwrap_command(
                [sys.executable, "-I", "-S", "-c", _BOOTSTRAP, str(theirs.fileno()), os.pathsep.join(search_path)],
                workdir=self.workdir, environment=environment, read_only=[_torch_home(), self.shared_root],
            )
            # bubblewrap's own process is PID 1 in the sandbox, and its /proc/1/environ is readable
            # there: it gets nothing of the grader's environment either.
            popen["env"] = {"PATH": "/usr/bin:/bin"}
        else:
            search_path = [p for p in sys.path if p and os.path.realpath(p) != os.path.realpath(os.getcwd())]
            command = [sys.executable, "-I", "-c", _BOOTSTRAP, str(theirs.fileno()), os.pathsep.join(search_path)]
            popen["env"] = environment
            if self.user is not None:
                popen.update(user=self.user[0], group=self.user[1], extra_groups=[])
        self.process = subprocess.Popen(
            command,
            pass_fds=[theirs.fileno()],
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            start_new_session=True,
            **popen,
        )
        theirs.close()
        _LIVE_CLIENTS.add(self)
        settings = {
            "generation": self.generation,
            "name": self.name,
            "origin": self.origin,
            "sources": self.sources,
            "limits": self.limits,
            "preload": self.preload,
            "workdir": self.workdir,
            "policy": file_policy(self.workdir, [_torch_home(), self.shared_root],
                                  in_namespace=self.level == "namespace"),
            "contract_names": STUDENT_NAMES,
            "worker_prefixes": boundary.worker_module_prefixes(),
            "parent_packages": boundary.parent_packages(),
            "process_cap": self._process_cap(),
            "level": self.level,
        }
        ours.send_bytes(pickle.dumps(settings))
        self.endpoint = Endpoint(ours, self._serve, trusted_peer=False)
        self.report = None
        self._launched_at = time.monotonic()

    def _process_cap(self) -> int | None:
        """The worker user's process limit; ``None`` where the kernel would not apply one (root)."""
        uid = self.user[0] if self.user is not None else os.geteuid()
        if uid == 0:
            return None
        return process_limits.process_cap(uid, self.limits.extra_processes)

    def _wait_until_ready(self) -> None:
        assert self.endpoint is not None
        self.endpoint.deadline = self._launched_at + STARTUP_SECONDS
        try:
            message = self.endpoint._receive()
            report = self.codec.decode(message[1]) if message[0] == "ready" and len(message) == 2 else None
        except (PeerGone, DeadlineExceeded) as exc:
            timed_out = isinstance(exc, DeadlineExceeded)
            why = self._bury(timed_out=timed_out, exited=not timed_out)
            raise WorkerDied(f"the submission's process {why} before its files finished running") from None
        except (ChannelError, LookupError) as exc:
            raise self._malformed(exc, "before its files finished running") from None
        finally:
            if self.endpoint is not None:
                self.endpoint.deadline = None
        if type(report) is not dict:
            self._bury()
            raise WorkerDied("the submission's process sent something else than its loading report")
        self.report = report

    def _bury(self, *, timed_out: bool = False, exited: bool = False) -> str:
        """Kill the worker and what it started; say how it ended.

        ``exited``: the channel closed, so the worker is ending by itself; give it (and bubblewrap
        around it, which passes its exit status on) a moment, so the report names its own exit.
        """
        process = self.process
        why = "ran out of time" if timed_out else "ended"
        if process is not None:
            if exited:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=2)
            process_limits.kill_group(process.pid)
            try:
                code = process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                code = None
            process_limits.kill_strays(self._spared)
            stderr = self._stderr_tail()
            if not timed_out and code is not None:
                why = _describe_exit(code, stderr, self.limits)
        self.process = None
        if self.endpoint is not None:
            with contextlib.suppress(OSError):
                self.endpoint.connection.close()
        self.endpoint = None
        _LIVE_CLIENTS.discard(self)
        return why

    def _stderr_tail(self, size: int = 2000) -> str:
        """The end of what the worker wrote to its standard error (then the file is closed)."""
        handle, self._stderr = self._stderr, None
        if handle is None:
            return ""
        with contextlib.suppress(OSError, ValueError):
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - size))
            text = handle.read().decode("utf-8", "replace")
            handle.close()
            return text
        return ""

    def close(self) -> None:
        """Stop the worker (if running) and remove its folder."""
        if self.process is not None:
            self._bury(timed_out=False)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        if self.shared_root is not None:
            shutil.rmtree(self.shared_root, ignore_errors=True)
            self.shared_root = None

    def ensure_started(self) -> None:
        """Start the worker unless it runs; wait for a launched one to be ready."""
        if not self.alive:
            self.start()
        elif self.report is None:
            self._wait_until_ready()

    # -- requests ------------------------------------------------------------
    def request(self, op: str, *args: Any) -> Any:
        """Ask the worker for ``op``; decode the answer. Raises on timeouts, deaths and malformed answers.

        Sending, waiting, reading and decoding all count against ``deadline``.
        """
        self.ensure_started()
        assert self.endpoint is not None
        self.endpoint.deadline = self.deadline
        if self.proxies.dropped:
            dropped, self.proxies.dropped = self.proxies.dropped, []
            numbers = [n for generation, n in dropped if generation == self.generation]
            if numbers:
                self._raw_request("release", numbers)
        answer = self._raw_request(op, *[self.codec.encode(a) for a in args])
        try:
            value = self.codec.decode(answer)
        except ChannelError as exc:
            raise self._malformed(exc) from None
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise self._timeout()
        return value

    def _raw_request(self, op: str, *args: Any) -> Any:
        assert self.endpoint is not None
        try:
            return self.endpoint.request(op, *args)
        except DeadlineExceeded:
            self._bury(timed_out=True)
            raise self._timeout(ended=True) from None
        except PeerGone:
            why = self._bury(exited=True)
            raise WorkerDied(f"the submission's process {why}") from None
        except ChannelError as exc:
            raise self._malformed(exc) from None

    def _timeout(self, *, ended: bool = False) -> CheckTimeout:
        limit = f" {self.time_limit:g} s" if self.time_limit else " its time limit"
        return CheckTimeout(
            f"the task took longer than{limit} (an endless loop?) and was stopped"
            + ("; its process was ended" if ended else "")
        )

    def _malformed(self, exc: BaseException, when: str = "") -> WorkerDied:
        """End a worker whose channel broke or fell out of step (the next request starts a new one)."""
        self._bury()
        return WorkerDied(
            f"the submission's process sent a malformed message{' ' + when if when else ''} ({exc}); "
            "it was ended"
        )

    def _object_request(self, kind: str, target: Any, op: str, args: tuple) -> Any:
        return self.request(kind, target, op, args)

    # -- the grader's objects, asked for by the worker -----------------------------
    def _export(self, obj: Any) -> Any:
        if not _is_grader_object(obj):
            raise TypeError(f"the grader does not hand objects of type {type(obj).__name__} to student code")
        return self.exports.export(obj)

    #: What student code's calls into the grader's objects cost during this check (see ``callback_cost``).
    _callback_spent = 0

    def _serve(self, op: str, args: tuple) -> Any:
        """Answer student code's call into one of the grader's objects.

        It may read and call them (:data:`CALLBACK_OPS`), never rebind anything;
        the arguments' sizes are bounded per call and per check, and the call
        runs under the task's deadline.
        """
        if op != "object" or len(args) != 3:
            raise PermissionError(f"the worker may not ask the grader for {op[:100]!r}")
        if not (type(args[0]) is tuple and len(args[0]) == 6 and args[0][0] == REF and args[0][1] == "grader"):
            raise PermissionError("student code may only ask the grader's objects that were handed to it")
        target, object_op, object_args = self.codec.decode(args)
        if type(object_op) is not str or type(object_args) is not tuple:
            raise PermissionError("a malformed call into the grader's objects")
        if object_op not in CALLBACK_OPS:
            raise PermissionError(
                f"student code may read and call the grader's objects, not {object_op[:40]!r} them "
                "(they cannot be changed from student code)"
            )
        if object_op in ("getattr", "method") and (
            not object_args or type(object_args[0]) is not str or object_args[0].startswith("_")
        ):
            raise PermissionError("student code may only use public attributes of the grader's objects")
        cost = callback_cost(object_args)
        if self._callback_spent + cost > CALLBACK_BUDGET or len(self.exports) >= CALLBACK_MAX_OBJECTS:
            raise PermissionError(
                "student code asked more of the grader's objects in this check than the grader allows "
                f"({CALLBACK_BUDGET} numbers passed, {CALLBACK_MAX_OBJECTS} objects held)"
            )
        self._callback_spent += cost
        try:
            result = self._until_deadline(apply_op, target, object_op, object_args)
        except CheckTimeout:
            self._bury(timed_out=True)
            raise self._timeout(ended=True) from None
        return self.codec.encode(result)

    def _until_deadline(self, function: Any, *args: Any) -> Any:
        """``function(*args)``, interrupted with :class:`CheckTimeout` at the deadline (by ``SIGALRM``, in the
        grader's objects' code only, never in the harness). Where another limit runs already (a nested
        call-back, an in-process check), that one bounds it."""
        if self.deadline is None or not can_limit():
            return function(*args)
        if _signal.getsignal(_signal.SIGALRM) not in (_signal.SIG_DFL, _signal.SIG_IGN, None):
            return function(*args)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded("the task's time was up before the call into the grader's objects")
        previous = _signal.signal(_signal.SIGALRM, self._interrupt_grader_code)
        _signal.setitimer(_signal.ITIMER_REAL, remaining, 1.0)
        try:
            return function(*args)
        finally:
            _signal.setitimer(_signal.ITIMER_REAL, 0)
            _signal.signal(_signal.SIGALRM, previous)

    @staticmethod
    def _interrupt_grader_code(signum: int, frame: Any) -> None:
        if _safe_to_interrupt(frame):
            raise CheckTimeout("a call into the grader's objects ran past the deadline")

    def end_check(self) -> None:
        """Revoke what the grader handed over during a check, and reset its call-back allowance.

        A worker that sent something nobody asked for (an extra frame, an
        answer to nothing) is out of step with the grader: it is ended here, so
        that the next check gets a new one instead of a stale message.
        """
        self.exports.clear()
        self._callback_spent = 0
        endpoint = self.endpoint
        if endpoint is not None and self.report is not None and self.alive and endpoint.has_unread():
            self._bury()

    def stand_in_sources(self, names: Iterable[str]) -> dict[str, tuple[str, str, str | None]]:
        """What the worker needs to build the stand-ins ``names``: (module, attribute, source text);
        the source only the first time this worker gets that module."""
        sources = {}
        for name in sorted(names):
            module, attribute, source = stand_in_source(name)
            sources[name] = (module, attribute, None if module in self._sent_modules else source)
            self._sent_modules.add(module)
        return sources

    def share(self, path: str) -> str:
        """Copy ``path`` into the folder the worker reads shared files from (once); return the copy's path.

        That folder is the grader's and read-only to the worker (bound read-only
        into the sandbox), so the copy never meets anything the worker made.
        """
        self.ensure_started()
        assert self.shared_root is not None
        source = os.path.realpath(path)
        if source not in self.shared:
            holder = tempfile.mkdtemp(prefix=f"{len(self.shared)}-", dir=self.shared_root)  # fresh, never planted
            target = os.path.join(holder, os.path.basename(source))
            if os.path.isdir(source):
                shutil.copytree(source, target, symlinks=True)
            else:
                shutil.copy2(source, target, follow_symlinks=True)
            for root, folders, files in os.walk(holder):
                for name in [*folders, *files]:
                    entry = os.path.join(root, name)
                    if not os.path.islink(entry):
                        os.chmod(entry, 0o755 if os.path.isdir(entry) else 0o644)
            os.chmod(holder, 0o755)
            self.shared[source] = target
        return self.shared[source]

    def read_files(self, folder: str, *, max_bytes: int = 64 * 2**20, max_files: int = 256) -> dict[str, bytes]:
        """The regular files under ``folder`` of the worker's scratch folder, as bytes (relative path -> bytes).

        Read without following any symbolic link the worker made (every
        component is opened with ``O_NOFOLLOW`` relative to its parent), and
        bounded: at most ``max_files`` files and ``max_bytes`` together.
        Raises ``ValueError`` for a folder outside the scratch folder and
        ``OSError`` when it is missing or over the bounds.
        """
        assert self.workdir is not None
        base = os.path.realpath(self.workdir)
        wanted = os.path.normpath(os.path.join(base, folder))
        if wanted != base and not wanted.startswith(base + os.sep):
            raise ValueError(f"{folder!r} is outside the submission's scratch folder")
        parts = [p for p in os.path.relpath(wanted, base).split(os.sep) if p not in ("", ".")]
        return read_regular_files(base, parts, max_bytes=max_bytes, max_files=max_files)


_NOFOLLOW_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def read_regular_files(base: str, parts: Sequence[str], *, max_bytes: int, max_files: int) -> dict[str, bytes]:
    """Regular files below ``base``/``parts`` (relative path -> bytes), following no symbolic link."""
    descriptor = os.open(base, _NOFOLLOW_READ | os.O_DIRECTORY)
    try:
        for part in parts:
            inner = os.open(part, _NOFOLLOW_READ | os.O_DIRECTORY, dir_fd=descriptor)
            os.close(descriptor)
            descriptor = inner
        found: dict[str, bytes] = {}
        _collect(descriptor, "", found, [max_bytes], max_files, depth=0)
        return found
    finally:
        os.close(descriptor)


def _collect(folder: int, prefix: str, found: dict[str, bytes], budget: list[int], max_files: int,
             depth: int) -> None:
    if depth > 8:
        raise OSError(f"folders nested deeper than 8 levels under {prefix or '.'}")
    for name in sorted(os.listdir(folder)):
        try:
            handle = os.open(name, _NOFOLLOW_READ, dir_fd=folder)
        except OSError:
            continue  # a symbolic link (ELOOP) or something else unreadable: not evidence
        try:
            info = os.fstat(handle)
            if stat.S_ISDIR(info.st_mode):
                _collect(handle, f"{prefix}{name}/", found, budget, max_files, depth + 1)
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            if len(found) >= max_files or info.st_size > budget[0]:
                raise OSError(f"more than {max_files} files or {budget[0]} bytes under the folder")
            chunks, size = [], 0
            while chunk := os.read(handle, min(1 << 20, info.st_size + 1 - size) or 1):
                chunks.append(chunk)
                size += len(chunk)
                if size > info.st_size:
                    raise OSError(f"{prefix}{name} grew while it was read")
            data = b"".join(chunks)
            budget[0] -= len(data)
            found[prefix + name] = data
        finally:
            os.close(handle)


def _describe_exit(code: int, stderr: str, limits: process_limits.WorkerLimits) -> str:
    if code < 0:
        text = f"was killed by signal {-code}"
        if -code == 9 and limits.memory_mb:
            text += f" (it may have gone over its memory limit of {limits.memory_mb} MiB)"
        return text
    text = f"exited with status {code}"
    if "MemoryError" in stderr:
        text += f" after running out of memory (limit {limits.memory_mb} MiB)"
    return text + " (sys.exit or os._exit in the submission's code?)" if "Traceback" not in stderr else text


class IsolatedSolution(Solution):
    """A solution whose code runs in a worker; names come back as proxies."""

    def __init__(self, client: WorkerClient) -> None:
        super().__init__(name=client.name, origin=client.origin, trusted=False)
        self.client = client
        self._load_failed = ""
        self._report_merged = False
        self._active: list[frozenset[str]] = []

    def _loaded(self) -> dict[str, Any]:
        if self._load_failed:
            return {"problems": [], "left_out": [], "names": []}
        try:
            self.client.ensure_started()
        except WorkerFailure as exc:
            self._load_failed = str(exc)
            self.problems.append(f"{exc}; nothing could be graded")
            return {"problems": [], "left_out": [], "names": []}
        report = self.client.report or {}
        if not self._report_merged:  # the first load's messages; a restart repeats them
            self._report_merged = True
            self.problems.extend(str(p) for p in report.get("problems", []))
            self.left_out.extend(str(p) for p in report.get("left_out", []))
        return report

    def load_all(self) -> None:
        self._loaded()

    def provides(self, name: str) -> bool:
        return name in self._loaded().get("names", ()) or self._substituted_here(name)

    def _substituted_here(self, name: str) -> bool:
        return any(name in names for names in self._active)

    def names(self) -> frozenset[str]:
        return frozenset(self._loaded().get("names", ()))

    def get(self, name: str) -> Any:
        self._loaded()
        found, value = self.client.request("lookup", name)
        if not found:
            from .solution import MissingName

            raise MissingName(f"{self.name} does not define {name!r}")
        return value

    def source_files(self) -> frozenset[str]:
        return frozenset(source.path for source in self.client.sources) | frozenset(
            chunk.label for source in self.client.sources for chunk in source.chunks
        )

    @contextlib.contextmanager
    def substituted(self, replacements: Mapping[str, Any]) -> Iterator[None]:
        self._loaded()
        if self._load_failed:
            yield
            return
        stand_ins = self.client.stand_in_sources([name for name in replacements if has_stand_in(name)])
        grader_objects = {name: value for name, value in replacements.items() if name not in stand_ins}
        token = self.client.request("substitute", grader_objects, stand_ins)
        generation = self.client.generation
        self._active = [*self._active, frozenset(replacements)]
        try:
            yield
        finally:
            self._active = self._active[:-1]
            if self.client.alive and self.client.generation == generation:
                with contextlib.suppress(RemoteFailure, WorkerDied, CheckTimeout):
                    self.client.request("restore", token)


ISOLATION_MODES = ("auto", "worker", "none")


@dataclass(frozen=True)
class IsolationSettings:
    """How submissions are run.

    ``mode``: ``auto`` (untrusted code in a worker, the grader's own solutions
    in-process), ``worker`` (everything in a worker) or ``none`` (everything
    in-process, for debugging trusted code only). ``sandbox``: the worker's
    isolation level (see :mod:`fmlgrade.harness.sandbox`), ``auto`` for the
    strongest this machine allows. ``require``: the weakest level at which
    untrusted code may be graded at all.
    """

    mode: str = "auto"
    limits: process_limits.WorkerLimits = field(default_factory=process_limits.WorkerLimits)
    user: str = "auto"
    sandbox: str = "auto"
    require: str = "none"

    def __post_init__(self) -> None:
        if self.mode not in ISOLATION_MODES:
            raise ValueError(f"isolation must be one of {', '.join(ISOLATION_MODES)}, not {self.mode!r}")
        if self.sandbox not in ("auto", "process", "user", "namespace"):
            raise ValueError(f"sandbox must be one of auto, process, user, namespace, not {self.sandbox!r}")
        sandbox.check_level("require", self.require)

    def applies_to(self, solution: Solution) -> bool:
        """Whether ``solution`` runs in a worker under these settings."""
        return self.mode == "worker" or (self.mode == "auto" and not solution.trusted)

    def worker_level(self) -> tuple[str, str]:
        """The level workers run at, and why it is below ``namespace`` (raises
        :class:`~fmlgrade.harness.sandbox.IsolationUnavailable` below ``require``)."""
        user = None if self.user == "self" else process_limits.choose_worker_user(self.user)
        return sandbox.resolve_level(self.sandbox, self.require, user)

    def in_process_level(self, solution: Solution) -> str:
        """The level of a solution graded in the grader's process; refuses untrusted code below ``require``."""
        if not solution.trusted and not sandbox.level_at_least("none", self.require):
            raise sandbox.IsolationUnavailable(
                f"grading needs isolation {self.require!r} or stronger, but --isolation none runs the "
                "submission in the grader's own process"
            )
        return "none"


def libraries_to_preload(sources: Sequence[SourceFile], parts: Sequence[int]) -> tuple[str, ...]:
    """torch (and torchvision) when a graded part needs them or the submission mentions them.

    They are imported before the worker's guards go up, because loading
    them uses native-library calls the guards refuse to student code.
    """
    text = "\n".join(source.code for source in sources)
    wanted = []
    if any(part in (2, 3) for part in parts) or "torch" in text:
        wanted.append("torch")
    if 3 in parts or "torchvision" in text:
        wanted.append("torchvision")
    return tuple(wanted)


def isolated_sources(read: Any, settings: IsolationSettings, parts: Sequence[int] = (1, 2, 3)) -> IsolatedSolution:
    """A solution for the files a reader read (:class:`~fmlgrade.harness.adapters.SubmissionSources`)."""
    level, why = settings.worker_level()
    client = WorkerClient(read.name, read.origin, read.sources, limits=settings.limits, user=settings.user,
                          preload=libraries_to_preload(read.sources, parts), level=level)
    solution = IsolatedSolution(client)
    solution.isolation, solution.isolation_note = level, why
    solution.problems.extend(read.problems)
    solution.problems.extend(suspicious_lines(read.sources))
    solution.left_out.extend(read.left_out)
    return solution


def isolated_modules(
    solution: Solution, settings: IsolationSettings, parts: Sequence[int] = (1, 2, 3)
) -> IsolatedSolution:
    """An installed (module-based) solution run in a worker: its modules' files are sent as files."""
    import importlib.util

    names = [m.__name__ for m in solution.modules] + list(solution.pending)
    sources = []
    for module_name in names:
        spec = importlib.util.find_spec(module_name)
        origin = getattr(spec, "origin", None)
        if origin and origin.endswith(".py"):
            sources.append(SourceFile(path=origin, code=Path(origin).read_text(encoding="utf-8")))
    level, why = settings.worker_level()
    client = WorkerClient(solution.name, solution.origin, sources, limits=settings.limits, user=settings.user,
                          preload=libraries_to_preload(sources, parts), level=level)
    isolated = IsolatedSolution(client)
    isolated.isolation, isolated.isolation_note = level, why
    return isolated
