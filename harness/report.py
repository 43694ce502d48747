"""A submission's report: building it, saving it as JSON, showing it as a table.

Every text of a report passes through :func:`~fmlgrade.harness.untrusted_text.neutralize`
when the report is built (:meth:`Report.__post_init__`, however the report is
made: from checks, from a saved JSON file, by the batch for a grader that
crashed), so that everything shown from it (the table, the JSON, Gradescope's
``results.json``, the class table) holds no control, escape or invisible
characters and no message longer than the bound. :meth:`Report.from_checks`
bounds each check's feedback on its own before checks are merged into tasks.

Reports are written where the grader says, whatever a submission planted
there: :func:`check_destination` refuses a bad path before grading, and
:func:`write_output` writes whole files through a temporary file of
unpredictable name, writing beside the path when a folder or a link has
taken it since (it neither follows nor removes what it finds).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .results import CheckResult
from .scoring import DEFAULT_RUBRIC, Rubric, TaskResult, score_checks
from .untrusted_text import MAX_MESSAGE, neutralize, neutralize_all

#: Left-out notebook statements printed under the table (the JSON report has all).
LEFT_OUT_SHOWN = 8
#: Longest submission name, task title and one-line note a report keeps.
NAME_LIMIT = 500
#: Longest feedback of one task (the feedback of its checks, each at most ``MAX_MESSAGE``).
TASK_FEEDBACK_LIMIT = 5 * MAX_MESSAGE

STATUS_STYLE = {
    "passed": "green",
    "failed": "red",
    "error": "magenta",
    "not_attempted": "yellow",
    "timeout": "magenta",
}


def grader_version() -> str:
    """The installed fmlgrade version (reports name it, reruns compare it)."""
    try:
        return version("fmlgrade")
    except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
        return "0+unknown"


@dataclass
class Report:
    """Everything a student or instructor needs to know about one graded submission."""

    submission: str
    tasks: list[TaskResult]
    grader_version: str = field(default_factory=grader_version)
    profile: str = "grade"
    problems: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    #: The isolation level the submission's code ran at (see :mod:`fmlgrade.harness.sandbox`), and why
    #: it was not stronger.
    isolation: str = "none"
    isolation_note: str = ""

    def __post_init__(self) -> None:
        # The one place where text becomes report data: whatever built the report, nothing in it
        # can drive a terminal, disguise itself or grow without bound.
        self.submission = neutralize(self.submission, NAME_LIMIT)
        self.tasks = [
            replace(
                task,
                title=neutralize(task.title, NAME_LIMIT),
                feedback=neutralize(task.feedback, TASK_FEEDBACK_LIMIT),
            )
            for task in self.tasks
        ]
        self.grader_version = neutralize(self.grader_version, NAME_LIMIT)
        self.profile = neutralize(self.profile, NAME_LIMIT)
        self.problems = neutralize_all(self.problems)
        self.left_out = neutralize_all(self.left_out)
        self.isolation = neutralize(self.isolation, NAME_LIMIT)
        self.isolation_note = neutralize(self.isolation_note)

    @property
    def score(self) -> float:
        return round(sum(task.score for task in self.tasks), 4)

    @property
    def max_score(self) -> float:
        return round(sum(task.max_score for task in self.tasks), 4)

    @classmethod
    def from_checks(
        cls,
        submission: str,
        checks: list[CheckResult],
        *,
        rubric: Rubric = DEFAULT_RUBRIC,
        profile: str = "grade",
        problems: list[str] | None = None,
        left_out: list[str] | None = None,
        parts: tuple[int, ...] = (1, 2, 3),
        isolation: str = "none",
        isolation_note: str = "",
    ) -> Report:
        # Each check's feedback is bounded on its own, so one flood cannot crowd out the others.
        checks = [
            replace(check, feedback=neutralize(check.feedback), description=neutralize(check.description, NAME_LIMIT))
            for check in checks
        ]
        return cls(
            submission=submission,
            tasks=score_checks(checks, rubric, parts),
            profile=profile,
            problems=list(problems or []),
            left_out=list(left_out or []),
            isolation=isolation,
            isolation_note=isolation_note,
        )

    def to_dict(self) -> dict:
        return {
            "submission": self.submission,
            "score": self.score,
            "max_score": self.max_score,
            "tasks": [task.to_dict() for task in self.tasks],
            "grader_version": self.grader_version,
            "profile": self.profile,
            "problems": self.problems,
            "left_out": self.left_out,
            "isolation": self.isolation,
            "isolation_note": self.isolation_note,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Report:
        """Rebuild a report from :meth:`to_dict`'s output (a saved JSON report)."""
        tasks = [TaskResult(**task) for task in data["tasks"]]
        return cls(
            submission=data["submission"],
            tasks=tasks,
            grader_version=data.get("grader_version", "unknown"),
            profile=data.get("profile", "grade"),
            problems=list(data.get("problems", [])),
            left_out=list(data.get("left_out", [])),
            isolation=str(data.get("isolation", "unknown")),
            isolation_note=str(data.get("isolation_note", "")),
        )

    def write_json(self, path: Path) -> Path:
        """Write the report as JSON with :func:`write_output`; return where it was written."""
        return write_output(path, json.dumps(self.to_dict(), indent=2) + "\n")


class OutputPathError(ValueError):
    """A path given for a report cannot hold one (a folder, a link, a folder that cannot be made)."""


def check_destination(path: Path, option: str) -> Path:
    """Make sure a report can be written to ``path``, before grading; raise :class:`OutputPathError` if not.

    ``option`` names the path in the one-line message (``--json``). A missing folder is created (as
    the grader always did); the path must not be a folder, a symbolic link (the grader does not write
    through links) or anything but a regular file.
    """
    path = Path(path)
    where = f"{option} {path}"
    if path.name in ("", ".", ".."):
        raise OutputPathError(f"{where}: give a file name, such as {path / 'report.json'}")
    if path.is_symlink():
        raise OutputPathError(f"{where} is a symbolic link; give the path of the file itself")
    if path.is_dir():
        raise OutputPathError(f"{where} is a folder; give a file name, such as {path / 'report.json'}")
    if path.exists() and not path.is_file():
        raise OutputPathError(f"{where} is not a regular file")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise OutputPathError(f"{where}: {parent} is not a folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise OutputPathError(f"{where}: its folder {parent} does not exist and cannot be made ({why})") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"{where}: the folder {parent} is not writable")
    return path


def _taken(path: Path) -> bool:
    """Whether something the grader must not replace sits at ``path``: a folder or a link."""
    return path.is_symlink() or path.is_dir()


def write_output(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` whole or not at all; return the path it was written to.

    The data goes to a new file of unpredictable name in the same folder (created exclusively, never
    an existing one), which then replaces ``path``. If a folder or a symbolic link has been put at
    ``path`` (planted by a submission while it was graded, say), it is neither followed nor removed:
    the file keeps a fresh name beside it (``report-k2j4h1.json`` for ``report.json``), which is
    returned; the caller says where. A missing folder is created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)
        if not _taken(path):
            try:
                os.replace(temporary, path)  # renames over a file, never writes through a link
                return path
            except OSError:
                if not _taken(path):  # a folder arrived in between; anything else is a real error
                    raise
        handle, name = tempfile.mkstemp(prefix=f"{path.stem}-", suffix=path.suffix, dir=path.parent)
        os.close(handle)
        os.replace(temporary, name)
        return Path(name)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def relocation_note(wanted: Path, written: Path, what: str = "the report") -> str | None:
    """The line to print when :func:`write_output` had to write beside ``wanted``, else ``None``."""
    if Path(written) == Path(wanted):
        return None
    return (
        f"fmlgrade: warning: {wanted} was taken by a folder or link while grading (left as it is); "
        f"{what} was written to {written}"
    )


def render(report: Report, console=None) -> None:
    """Print the report as a table with each failure's feedback underneath."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    for problem in report.problems:
        console.print(f"[bold red]problem:[/] {escape(problem)}")
    table = Table(
        title=f"fmlgrade {report.grader_version}: {escape(report.submission)}",
        caption=f"isolation: {report.isolation}"
        + (f" ({escape(report.isolation_note)})" if report.isolation_note else ""),
    )
    table.add_column("task")
    table.add_column("title")
    table.add_column("status")
    table.add_column("points", justify="right")
    for task in report.tasks:
        style = STATUS_STYLE.get(task.status, "white")
        status = task.status.replace("_", " ")
        table.add_row(
            task.id, escape(task.title), f"[{style}]{status}[/]", f"{task.score:g}/{task.max_score:g}"
        )
    table.add_row("", "[bold]total[/]", "", f"[bold]{report.score:g}/{report.max_score:g}[/]")
    console.print(table)
    if report.left_out:
        shown = report.left_out[:LEFT_OUT_SHOWN]
        console.print(f"[dim]left out of the notebooks ({len(report.left_out)} statements):[/]")
        for note in shown:
            console.print(f"[dim]  {escape(note)}[/]", highlight=False)
        if len(report.left_out) > len(shown):
            more = len(report.left_out) - len(shown)
            console.print(f"[dim]  ... and {more} more (all listed in the --json report)[/]\n")
    skipped = [task.id for task in report.tasks if task.status == "not_attempted"]
    if skipped:
        console.print(f"[yellow]not attempted or not graded:[/] {', '.join(skipped)}\n")
    for task in report.tasks:
        if task.status == "not_attempted" or (task.status == "passed" and not task.feedback):
            continue
        if task.status == "passed" and task.feedback:
            header = f"[bold]{task.id} {escape(task.title)}[/] (passed, with findings)"
        elif task.status == "not_attempted":
            header = f"[bold]{task.id} {escape(task.title)}[/]: not attempted"
        else:
            header = f"[bold]{task.id} {escape(task.title)}[/]: {task.status.replace('_', ' ')}"
        console.print(header)
        console.print(escape(task.feedback), highlight=False)
        console.print()
