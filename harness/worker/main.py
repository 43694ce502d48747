"""The worker process: where a submission's code runs, and nothing of the grader's answers.

The grader starts it (see :mod:`fmlgrade.harness.isolation`) with one end of a
channel. The worker reads its settings, limits itself, puts up its guards,
runs the submission's files and then answers requests: look a name up, call
or inspect an object, run an observer, seed the generators, audit library
calls. It never imports the reference solutions or the checks.
"""

from __future__ import annotations

import os
import random
import sys
import types
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from .channel import Codec, Endpoint, dumps_plain
from .remote_objects import OBJECT_OPS, ObjectTable, ProxyCache, apply_op, ref_of

#: Outcome exceptions of the spec that keep their meaning across the channel.
OUTCOME_KINDS = ("NotAttempted", "PrerequisiteFailed")


class Worker:
    """The worker's side of the channel and the submission it holds."""

    def __init__(self, connection: Connection, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.objects = ObjectTable("worker", settings["generation"])
        self.endpoint = Endpoint(connection, self.handle, trusted_peer=True, describe_failure=self.describe)
        self.proxies = ProxyCache(self._request)
        self.codec = Codec("worker", self.objects.export, self.objects.resolve, self.proxies.proxy, ref_of)
        self.solution: Any = None
        self.student_files: set[str] = set()
        self._substitutions: dict[int, Any] = {}
        self._audit: Any = None
        self._stand_in_modules: dict[str, types.ModuleType] = {}
        self._stand_in_texts: dict[str, str] = {}

    # -- the grader's objects, seen from here ---------------------------------
    def _request(self, kind: str, target: Any, op: str, args: tuple) -> Any:
        answer = self.endpoint.request(kind, self.codec.encode(target), op, self.codec.encode(args))
        return self.codec.decode(answer)

    # -- loading -------------------------------------------------------------
    def load(self) -> dict[str, Any]:
        """Run the submission's files; report what happened."""
        from .loading import run_source
        from .solution import Solution

        solution = Solution(name=self.settings["name"], origin=self.settings["origin"],
                            contract_names=tuple(self.settings["contract_names"]))
        for index, source in enumerate(self.settings["sources"]):
            folder = submission_folder(self.settings["workdir"], index)
            module, problems, left_out = run_source(source, f"fmlgrade_submission_{index}", folder=folder)
            solution.modules.append(module)
            solution.problems.extend(problems)
            solution.left_out.extend(left_out)
            self.student_files.update((source.path, *getattr(module, "__fmlgrade_files__", ())))
        self.solution = solution
        return {"problems": solution.problems, "left_out": solution.left_out, "names": sorted(solution.names())}

    # -- answering -----------------------------------------------------------
    def handle(self, op: str, args: tuple) -> Any:
        if os.getpid() != self.settings["pid"]:
            os._exit(0)  # a forked copy of the worker must never answer
        return self.codec.encode(self._dispatch(op, self.codec.decode(args)))

    def _dispatch(self, op: str, args: list) -> Any:
        if op == "object":
            target, object_op, object_args = args
            if object_op not in OBJECT_OPS:
                raise ValueError(f"unknown operation {object_op!r}")
            return apply_op(target, object_op, tuple(object_args))
        if op == "lookup":
            (name,) = args
            return (True, self.solution.get(name)) if self.solution.provides(name) else (False, None)
        if op == "names":
            return sorted(self.solution.names())
        if op == "substitute":
            grader_objects, stand_in_sources = args
            self._remember_stand_ins(stand_in_sources)
            replacements = {**grader_objects, **{
                name: self._stand_in(module, attribute) for name, (module, attribute, _) in stand_in_sources.items()
            }}
            manager = self.solution.substituted(replacements)
            manager.__enter__()
            self._substitutions[id(manager)] = manager
            return id(manager)
        if op == "restore":
            (token,) = args
            manager = self._substitutions.pop(token, None)
            if manager is not None:
                manager.__exit__(None, None, None)
            return None
        if op == "observe":
            from .student_view import StudentView, resolve_observer

            path, positional, keywords, stand_in_sources = args
            self._remember_stand_ins(stand_in_sources)
            stand_ins = {
                name: (lambda module=module, attribute=attribute: self._stand_in(module, attribute))
                for name, (module, attribute, _) in stand_in_sources.items()
            }
            return resolve_observer(path)(StudentView(self.solution, stand_ins), *positional, **keywords)
        if op == "seed":
            seed(args[0])
            return None
        if op == "release":
            self.objects.release([number for number in args[0] if isinstance(number, int)])
            return None
        if op == "audit_start":
            from .library_audit import LibraryAudit

            libraries, also_allowed = args
            self._audit = LibraryAudit(self.student_files, libraries, also_allowed=also_allowed)
            self._audit.__enter__()
            return None
        if op == "audit_stop":
            audit, self._audit = self._audit, None
            if audit is None:
                return []
            audit.__exit__(None, None, None)
            return [(r.library, r.target, r.filename, r.lineno, r.function) for r in audit.findings]
        if op == "ping":
            return "pong"
        raise ValueError(f"unknown request {op!r}")

    def _remember_stand_ins(self, sources: dict) -> None:
        for module_name, _, source in sources.values():
            if source is not None:
                self._stand_in_texts.setdefault(module_name, source)

    def _stand_in(self, module_name: str, attribute: str) -> Any:
        """A stand-in from the source text the grader sent, run into a module of its own.

        The module is kept out of ``sys.modules``: student code cannot import it.
        """
        module = self._stand_in_modules.get(module_name)
        if module is None:
            source = self._stand_in_texts.get(module_name)
            if source is None:
                raise LookupError(f"the stand-in module {module_name} was never sent")
            module = types.ModuleType(module_name)
            module.__file__ = f"<stand-in {module_name}>"
            exec(compile(source, module.__file__, "exec"), vars(module))
            self._stand_in_modules[module_name] = module
        return getattr(module, attribute)

    def describe(self, exc: BaseException) -> tuple[str, str]:
        """How the grader should read ``exc``: its kind and the student's line that raised it."""
        from .tracebacks import traceback_location

        kind = type(exc).__name__ if type(exc).__name__ in OUTCOME_KINDS else "error"
        try:
            return kind, traceback_location(exc, self.student_files)
        except Exception:  # noqa: BLE001 - a hostile traceback
            return kind, ""


def submission_folder(workdir: str, index: int) -> str:
    """Where the grader puts a copy of the submission's ``index``-th file (its sibling imports come from there)."""
    return os.path.join(workdir, "submission", str(index))


def seed(value: int) -> None:
    """Seed Python's, NumPy's and (when loaded) torch's global generators."""
    random.seed(value)
    import numpy as np

    np.random.seed(value % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(value)


def main(fd: int) -> None:
    """Entry point: ``python -c 'from fmlgrade.harness.worker.main import main; main(FD)'``."""
    import pickle

    from . import guards, limits

    connection = Connection(fd)
    settings = pickle.loads(connection.recv_bytes())
    settings["pid"] = os.getpid()
    limits.die_with_parent()
    limits.limit_worker(settings["limits"], settings.get("process_cap"))
    os.chdir(settings["workdir"])
    os.register_at_fork(after_in_child=lambda: _forked_child(connection))
    import numpy  # noqa: F401 - imported before the guards: the grader's copy, not one from the working folder

    preload(settings.get("preload", ()), settings["limits"].threads)
    import_observers()
    guards.install(settings["policy"], settings["worker_prefixes"], settings["parent_packages"])
    worker = Worker(connection, settings)
    try:
        report = worker.load()
    except BaseException as exc:  # noqa: BLE001 - report, then exit
        report = {"problems": [f"the submission could not be loaded: {type(exc).__name__}: {exc}"],
                  "left_out": [], "names": []}
    connection.send_bytes(dumps_plain(("ready", worker.codec.encode(report))))
    worker.endpoint.serve_forever()
    os._exit(0)


def preload(modules: Sequence[str], threads: int) -> None:
    """Import libraries before the guards go up: torch loads native code in ways the guards refuse."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def import_observers() -> None:
    """Import the observers before student code runs, when torch is loaded: what they capture of torch
    at import (its own descriptors and functions) then predates anything the submission patches."""
    if "torch" not in sys.modules:
        return
    import importlib

    from .student_view import OBSERVER_MODULES

    for name in OBSERVER_MODULES:
        importlib.import_module(name)


def _forked_child(connection: Connection) -> None:
    """In a child forked by student code: cut it off from the grader's channel."""
    try:
        os.close(connection.fileno())
    except OSError:
        pass
