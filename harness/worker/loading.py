"""Running a submission's source as fresh modules (in the worker, or in-process for trusted code).

Each file becomes a new module, never imported by name, so two submissions
with the same file name never collide. The grader's copies of the skeleton's
data names are put into every module, so a student's copy of the skeleton
cannot change the data.
"""

from __future__ import annotations

import contextlib
import io
import sys
import traceback
from pathlib import Path
from types import ModuleType

from .solution import SourceFile


def _provided_names() -> dict[str, object]:
    from fmlgrade.spec.worker import skeleton

    return {
        "Layer": skeleton.Layer,
        "get_training_data_myneuralnet": skeleton.get_training_data_myneuralnet,
        "KERNELS": skeleton.KERNELS,
    }


#: Skeleton names whose grader version always wins over a student's copy.
_FORCED_NAMES = ("get_training_data_myneuralnet", "KERNELS")


def _student_frame_line(exc: BaseException, filename: str) -> str:
    """The line number of the deepest traceback frame inside ``filename``."""
    line = "?"
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = str(frame.lineno)
    return line


def _run_code(code, module: ModuleType, label: str) -> str | None:
    """Execute compiled or source ``code`` in ``module``; a one-line problem or ``None``.

    What the code prints is swallowed: a student's leftover prints (or fake
    "passed" lines) never mix with the grader's output.
    """
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            exec(compile(code, label, "exec"), vars(module))
    except SyntaxError as exc:
        return f"{label}:{exc.lineno}: syntax error: {exc.msg}; nothing in this file was graded"
    except BaseException as exc:  # noqa: BLE001 - student code may raise anything, even SystemExit
        if isinstance(exc, KeyboardInterrupt):
            raise
        line = _student_frame_line(exc, label)
        return (
            f"{label}:{line}: running it raised {type(exc).__name__}: {exc}; "
            "only the names defined before that line were graded"
        )
    return None


def run_source(
    source: SourceFile, module_name: str, *, folder: str | None = None
) -> tuple[ModuleType, list[str], list[str]]:
    """Execute ``source`` as a new module; return it, its problems and extra left-out notes.

    Names defined before an error stay in the module, so a file that crashes
    half-way still gets graded on what it defined. A notebook's cells run one
    by one: a failing cell is left out and the next cells still run. Sibling
    modules are imported from ``folder`` (default: the file's own folder).
    """
    module = ModuleType(module_name)
    module.__file__ = source.path
    provided = _provided_names()
    vars(module).update(provided)
    folder = folder or str(Path(source.path).resolve().parent)
    sys.modules[module_name] = module
    sys.path.insert(0, folder)
    problems: list[str] = []
    left_out: list[str] = []
    try:
        if source.chunks:
            module.__fmlgrade_files__ = tuple(chunk.label for chunk in source.chunks)
            for chunk in source.chunks:
                problem = _run_code(chunk.tree, module, chunk.label)
                if problem:
                    left_out.append(problem.replace("only the names defined before that line were graded",
                                                    "the rest of this cell was left out"))
        else:
            problem = _run_code(source.code, module, source.path)
            if problem:
                problems.append(problem)
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    for name in _FORCED_NAMES:
        vars(module)[name] = provided[name]
    return module, problems, left_out
