"""Adapters that turn plain student files into a :class:`Solution`.

A student hands in files that just define the contract's names; this module
runs each file as a fresh module (never through ``import``, so two
submissions with the same file name never collide) and wraps the result.
The grader's own versions of the skeleton's data names are put into every
module, so that a student's copy of the skeleton cannot change the data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fmlgrade.spec.hookspecs import hookimpl

from .solution import Solution, SourceFile
from .worker.loading import run_source

#: Folders never searched for submission files.
_SKIPPED_DIRS = {"__pycache__", ".ipynb_checkpoints", ".git", "checkpoints"}


class SubmissionError(ValueError):
    """A submission path cannot be graded at all (it does not exist, say)."""


class PythonFileReader:
    """Reads ``.py`` files as they are."""

    @hookimpl(trylast=True)
    def fmlgrade_read_source(self, path: Path) -> SourceFile | None:
        if path.suffix != ".py":
            return None
        return SourceFile(path=str(path), code=path.read_text(encoding="utf-8", errors="replace"))


def submission_files(path: Path) -> list[Path]:
    """The files of one submission path: the file itself, or a folder's files in name order."""
    if not path.exists():
        raise SubmissionError(
            f"{path}: no such file or folder; give the path of a .py file, a notebook or a folder of them"
        )
    if path.is_file():
        return [path]
    files = []
    for candidate in sorted(path.rglob("*")):
        relative = candidate.relative_to(path).parts
        if any(part in _SKIPPED_DIRS or part.startswith(".") for part in relative):
            continue
        if candidate.is_file():
            files.append(candidate)
    return files


def _module_name(path: Path, salt: str) -> str:
    digest = hashlib.sha1(f"{salt}:{path.resolve()}".encode()).hexdigest()[:10]
    stem = "".join(ch if ch.isalnum() else "_" for ch in path.stem)
    return f"fmlgrade_submission_{digest}_{stem}"


@dataclass
class SubmissionSources:
    """What the readers made of a submission's files, before any of its code runs."""

    name: str
    origin: str
    sources: list[SourceFile] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


def read_submission(paths: Sequence[Path], read_source, *, name: str | None = None) -> SubmissionSources:
    """Read the files at ``paths`` (files or folders) with the reader plugins; run nothing.

    ``read_source`` is the plugin manager's ``fmlgrade_read_source`` hook
    caller. Unreadable files become entries of ``problems``; a path that does
    not exist raises :class:`SubmissionError`.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise SubmissionError("no submission given; name at least one .py file, notebook or folder")
    files = [file for path in paths for file in submission_files(path)]
    label = name or ", ".join(path.name for path in paths)
    read = SubmissionSources(name=label, origin=", ".join(str(p) for p in paths))
    for file in files:
        try:
            source = read_source(path=file)
        except Exception as exc:  # noqa: BLE001 - a reader plugin's message is the feedback
            read.problems.append(f"{file}: {exc}")
            continue
        if source is None:
            continue
        read.left_out.extend(source.left_out)
        read.sources.append(source)
    if not read.sources and not read.problems:
        read.problems.append(
            f"{label}: no Python file or notebook found; a submission is a .py file, "
            "a .ipynb notebook, or a folder of them"
        )
    return read


def load_submission(paths: Sequence[Path], read_source, *, name: str | None = None) -> Solution:
    """Load the files at ``paths`` as one submission, running them in this process."""
    read = read_submission(paths, read_source, name=name)
    solution = Solution(name=read.name, origin=read.origin, problems=list(read.problems), left_out=list(read.left_out))
    salt = str(id(solution))
    for source in read.sources:
        module, problems, left_out = run_source(source, _module_name(Path(source.path), salt))
        solution.modules.append(module)
        solution.problems.extend(problems)
        solution.left_out.extend(left_out)
    return solution
