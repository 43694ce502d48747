"""The assertions every part's meta-tests share: grade a mutant, blame one task."""

from __future__ import annotations

from pathlib import Path

from fmlgrade.harness.grading import grade_paths
from fmlgrade.harness.report import Report
from fmlgrade.spec.tasks import tasks_of_part

from . import Mutant

FEEDBACK_SHOWN = 2000


def part_tasks(report: Report, part: int) -> dict:
    """The report's task results of one part, by task id."""
    ids = {task.id for task in tasks_of_part(part)}
    return {task.id: task for task in report.tasks if task.id in ids}


def summary(report: Report, part: int, *, feedback_for: tuple[str, ...] = ()) -> str:
    """One line per task of ``part`` (status and points), with the feedback of the named tasks."""
    tasks = part_tasks(report, part)
    lines = [f"  {task_id:5} {task.status:14} {task.score:g}/{task.max_score:g}" for task_id, task in tasks.items()]
    for task_id, task in tasks.items():
        if task_id in feedback_for and task.feedback:
            feedback = task.feedback[:FEEDBACK_SHOWN] + (" ..." if len(task.feedback) > FEEDBACK_SHOWN else "")
            lines.append(f"--- feedback of {task_id}:\n{feedback}")
    lines.extend(f"problem: {problem}" for problem in report.problems)
    return "\n".join(lines)


def grade_source(source: str, folder: Path, part: int, *, profile: str = "quick") -> Report:
    """Grade ``source`` as a student's file, on one part."""
    path = folder / "student.py"
    path.write_text(source, encoding="utf-8")
    return grade_paths([path], profile=profile, parts=(part,))


def assert_caught_by_its_task_only(mutant: Mutant, report: Report) -> None:
    """The mutant's task loses points; every other task of its part passes, except the tasks
    the mutant blocks, which must explain that a step they need crashed."""
    tasks = part_tasks(report, mutant.part)
    target = tasks[mutant.task]
    wrongly_blamed = [
        t for t, task in tasks.items() if t != mutant.task and t not in mutant.blocks and task.status != "passed"
    ]
    text = summary(report, mutant.part, feedback_for=(mutant.task, *wrongly_blamed))
    assert not report.problems, f"mutant {mutant.id} did not load cleanly:\n{text}"
    assert target.status != "passed" and target.score < target.max_score, (
        f"mutant {mutant.id} ({mutant.description}) was not caught by task {mutant.task}:\n{text}"
    )
    assert not wrongly_blamed, (
        f"mutant {mutant.id} ({mutant.description}) belongs to task {mutant.task}, but tasks "
        f"{', '.join(wrongly_blamed)} did not pass either:\n{text}"
    )
    for blocked in mutant.blocks:
        assert tasks[blocked].status == "error" and "can only be checked once" in tasks[blocked].feedback, (
            f"mutant {mutant.id}: task {blocked} must report that {mutant.task}'s step crashed:\n{text}"
        )


def assert_full_marks(report: Report, part: int, what: str) -> None:
    """Every task of ``part`` passed, earning all its points, and the file loaded cleanly."""
    tasks = part_tasks(report, part)
    not_passed = tuple(t for t, task in tasks.items() if task.status != "passed")
    assert not not_passed and not report.problems, (
        f"{what} must get full marks on Part {part}:\n{summary(report, part, feedback_for=not_passed)}"
    )
    assert sum(task.score for task in tasks.values()) == sum(task.max_score for task in tasks.values())
