"""A submission's report: building it, saving it as JSON, showing it as a table."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .results import CheckResult
from .scoring import DEFAULT_RUBRIC, Rubric, TaskResult, score_checks

#: Left-out notebook statements printed under the table (the JSON report has all).
LEFT_OUT_SHOWN = 8

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

    def write_json(self, path: Path) -> None:
        """Write the report as JSON (written whole to a temporary name first, then renamed)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        partial.replace(path)


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
