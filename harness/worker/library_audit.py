"""The allowed-libraries audit: which libraries student code reaches while it runs.

Each part of the handout allows some libraries (Part 1: numpy only) besides the
standard library. Importing a library is not the offence (a notebook often
imports torch at the top for later parts); *calling* it from a graded function
is. So the audit watches calls, not imports: while a :class:`LibraryAudit` is
active, a profile function (``sys.setprofile``, and ``threading.setprofile`` for
threads started meanwhile) sees every call and keeps those made *from* a frame
of a student file *into* a module whose top-level package is not allowed:

* a Python function (a ``call`` event): the callee's module is its frame's
  ``__name__`` global, the caller is ``frame.f_back``. ``tensor.backward()``
  and ``torch.autograd.grad(...)`` are caught here.
* a C function (a ``c_call`` event): its ``__module__``, or for a bound method
  of an object (``tensor.sum()``) the module of the object's type. ``torch.tensor``,
  ``torch.from_numpy`` and tensor methods are caught here.

Allowed are: the task's libraries, the standard library (``sys.stdlib_module_names``,
builtins included), the student's own files, the skeleton (``fmlgrade.spec``),
and modules a check names because it handed the student objects from them (a
reference network given to ``train_myneuralnet``, say). Only calls made directly
by student code count: what numpy does inside is numpy's business.

Known blind spots, accepted: C-level slots (``tensor + tensor`` makes no call
event, but getting a tensor needs one), calling a C type (``torch.Tensor(...)``
directly), and code compiled from strings (``eval``). The audit costs about a
microsecond per call while active, so checks switch it on around small
exercises only.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

#: Top-level modules every part allows: the standard library (builtins, sys, math, ...).
STANDARD_LIBRARY = frozenset(sys.stdlib_module_names) | {"builtins", "__main__"}
#: The grader's skeleton: the provided names (``Layer``, ``get_training_data_myneuralnet``, ...).
SKELETON_PREFIX = "fmlgrade.spec"
#: At most this many different findings are kept per audit.
MAX_FINDINGS = 20


@dataclass(frozen=True)
class Reach:
    """One call from student code into a library the task does not allow."""

    #: The top-level package reached, such as ``"torch"``.
    library: str
    #: What was called, such as ``"torch.autograd.grad"`` or ``"torch.Tensor.sum"``.
    target: str
    #: The student's file and line that made the call, and the function it is in.
    filename: str
    lineno: int
    function: str

    def describe(self) -> str:
        """``MyLinearLayer.backward reaches torch (torch.autograd.grad at student.py line 12)``."""
        return (
            f"{self.function} reaches {self.library} ({self.target} at "
            f"{Path(self.filename).name} line {self.lineno})"
        )


def _function_name(frame: FrameType) -> str:
    code = frame.f_code
    return getattr(code, "co_qualname", code.co_name)  # co_qualname: Python 3.11+


def _c_target(function: Any) -> tuple[str | None, str]:
    """The module and a readable name of a C function about to be called."""
    name = getattr(function, "__name__", None) or type(function).__name__
    owner = getattr(function, "__self__", None)
    module = getattr(function, "__module__", None)
    if owner is None or isinstance(owner, ModuleType):
        if not module and isinstance(owner, ModuleType):
            module = owner.__name__
        return module, f"{module}.{name}" if module else name
    # A bound method: name it after the object's type (``torch.Tensor.sum``).
    owner_type = owner if isinstance(owner, type) else type(owner)
    type_module = getattr(owner_type, "__module__", None)
    type_name = getattr(owner_type, "__qualname__", owner_type.__name__)
    target = f"{type_module}.{type_name}.{name}" if type_module else f"{type_name}.{name}"
    return module or type_module, target


class LibraryAudit:
    """Records calls from student files into libraries that are not allowed, while active.

    Use as a context manager; read :attr:`findings` afterwards. ``student_files``
    are the ``co_filename`` values of student code; ``libraries`` the task's allowed
    top-level packages; ``also_allowed`` extra module names (exact, or a package
    whose submodules are allowed too).
    """

    def __init__(
        self,
        student_files: Iterable[str],
        libraries: Iterable[str],
        *,
        also_allowed: Iterable[str] = (),
    ) -> None:
        self.student_files = frozenset(student_files)
        self.libraries = frozenset(libraries)
        self.also_allowed = tuple(also_allowed) + (SKELETON_PREFIX,)
        self.findings: list[Reach] = []
        self._seen: set[tuple[str, str, str, int]] = set()
        self._verdicts: dict[str, bool] = {}
        self._previous: tuple[Any, Any] | None = None
        self._gc_was_enabled = False

    def summary(self) -> str:
        """The findings grouped by student function and library, for feedback:
        ``MyLinearLayer.backward reaches torch (torch.tensor at student.py line 9,
        torch.autograd.grad at student.py line 11)``; ``""`` when there are none."""
        groups: dict[tuple[str, str], list[str]] = {}
        for reach in self.findings:
            where = f"{reach.target} at {Path(reach.filename).name} line {reach.lineno}"
            groups.setdefault((reach.function, reach.library), []).append(where)
        return "; ".join(
            f"{function} reaches {library} ({', '.join(calls)})"
            for (function, library), calls in groups.items()
        )

    # -- deciding ----------------------------------------------------------
    def is_allowed(self, module: str) -> bool:
        """Whether a call into ``module`` (a dotted name) is allowed."""
        verdict = self._verdicts.get(module)
        if verdict is None:
            top = module.partition(".")[0]
            verdict = (
                top in self.libraries
                or top in STANDARD_LIBRARY
                or any(module == m or module.startswith(m + ".") for m in self.also_allowed)
            )
            self._verdicts[module] = verdict
        return verdict

    def _record(self, module: str, target: str, caller: FrameType) -> None:
        if len(self.findings) >= MAX_FINDINGS:
            return
        key = (module, target, caller.f_code.co_filename, caller.f_lineno)
        if key in self._seen:
            return
        self._seen.add(key)
        self.findings.append(
            Reach(
                library=module.partition(".")[0],
                target=target,
                filename=caller.f_code.co_filename,
                lineno=caller.f_lineno,
                function=_function_name(caller),
            )
        )

    def _profile(self, frame: FrameType, event: str, arg: Any) -> None:
        try:
            if event == "call":
                caller = frame.f_back
                if caller is None or caller.f_code.co_filename not in self.student_files:
                    return
                if frame.f_code.co_filename in self.student_files:
                    return  # the student's own code
                module = frame.f_globals.get("__name__")
                if isinstance(module, str) and not self.is_allowed(module):
                    target = f"{module}.{_function_name(frame)}"
                    self._record(module, target, caller)
            elif event == "c_call":
                if frame.f_code.co_filename not in self.student_files:
                    return
                module, target = _c_target(arg)
                if isinstance(module, str) and module and not self.is_allowed(module):
                    self._record(module, target, frame)
        except Exception:  # noqa: BLE001 - an audit must never break the code it watches
            return

    # -- switching on and off ---------------------------------------------
    def __enter__(self) -> LibraryAudit:
        # A garbage collection inside student code would run finalizers of unrelated
        # objects (left by earlier checks) as if the student frame had called them; with
        # the collector off, none runs while the audit is on.
        self._gc_was_enabled = gc.isenabled()
        gc.disable()
        self._previous = (sys.getprofile(), threading.getprofile())
        threading.setprofile(self._profile)
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc_info: object) -> None:
        previous_sys, previous_threading = self._previous or (None, None)
        sys.setprofile(previous_sys)
        threading.setprofile(previous_threading)
        self._previous = None
        if self._gc_was_enabled:
            gc.enable()
