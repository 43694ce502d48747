"""Meta-tests: the Part 3 checks catch realistic mistakes, each in its own task.

Every mutant of ``tests/mutants/part3.py`` is written to a fresh file and
graded like a student's submission (Part 3 only, ``quick`` profile). The
grader must fail the mutant's task and pass every other task of Part 3. The
reference and alternative solutions must get full Part 3 marks under the
``grade`` profile.

Each grading builds two VGG-11 models (``AdaptedVGG`` and
``DropoutAdaptedVGG``, ~1.2 s of CPU and ~500 MB each, one at a time), so these are
the slowest meta-tests; they are meant to run under ``pytest -n 2``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mutants import Mutant, apply
from mutants.part3 import MUTANTS

pytest.importorskip("torchvision")

import fmlgrade.solutions.alternative.part3 as alternative_part3  # noqa: E402
import fmlgrade.solutions.reference.part3 as reference_part3  # noqa: E402
from fmlgrade.harness.grading import grade_paths
from fmlgrade.harness.report import Report
from fmlgrade.spec.tasks import tasks_of_part

pytestmark = pytest.mark.meta

PART3 = tuple(task.id for task in tasks_of_part(3))


def _part3(report: Report) -> dict:
    return {task.id: task for task in report.tasks if task.id in PART3}


def _summary(report: Report, *, feedback_for: tuple[str, ...] = ()) -> str:
    """One line per Part 3 task (status and points), with the feedback of the named tasks."""
    lines = []
    for task_id, task in _part3(report).items():
        lines.append(f"  {task_id:5} {task.status:14} {task.score:g}/{task.max_score:g}")
    for task_id, task in _part3(report).items():
        if task_id in feedback_for and task.feedback:
            feedback = task.feedback if len(task.feedback) < 1500 else task.feedback[:1500] + " ..."
            lines.append(f"--- feedback of {task_id}:\n{feedback}")
    for problem in report.problems:
        lines.append(f"problem: {problem}")
    return "\n".join(lines)


def _grade_source(source: str, folder: Path, *, profile: str = "quick") -> Report:
    path = folder / "student.py"
    path.write_text(source, encoding="utf-8")
    return grade_paths([path], profile=profile, parts=(3,))


@pytest.mark.slow
@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.id for m in MUTANTS])
def test_mutant_is_caught_by_its_task_only(mutant: Mutant, tmp_path: Path) -> None:
    report = _grade_source(apply(mutant), tmp_path)
    tasks = _part3(report)
    target = tasks[mutant.task]
    wrongly_blamed = [t for t in PART3 if t != mutant.task and tasks[t].status != "passed"]
    summary = _summary(report, feedback_for=(mutant.task, *wrongly_blamed))
    assert not report.problems, f"mutant {mutant.id} did not load cleanly:\n{summary}"
    assert target.status != "passed" and target.score < target.max_score, (
        f"mutant {mutant.id} ({mutant.description}) was not caught by task {mutant.task}:\n"
        f"{summary}"
    )
    assert not wrongly_blamed, (
        f"mutant {mutant.id} ({mutant.description}) belongs to task {mutant.task}, but tasks "
        f"{', '.join(wrongly_blamed)} did not pass either:\n{summary}"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "module", [reference_part3, alternative_part3], ids=["reference", "alternative"]
)
def test_solutions_get_full_part3_marks(module) -> None:
    report = grade_paths([Path(module.__file__)], parts=(3,))
    tasks = _part3(report)
    not_passed = tuple(t for t, task in tasks.items() if task.status != "passed")
    assert not not_passed and not report.problems, (
        f"{module.__name__} must get full marks on Part 3 under the grade profile:\n"
        f"{_summary(report, feedback_for=not_passed)}"
    )
    assert sum(task.score for task in tasks.values()) == sum(
        task.max_score for task in tasks.values()
    )


def test_mutant_catalogue_is_well_formed() -> None:
    ids = [m.id for m in MUTANTS]
    assert len(ids) == len(set(ids)), "mutant ids must be unique"
    for task_id in PART3:
        count = sum(m.task == task_id for m in MUTANTS)
        assert count >= 2, f"task {task_id} needs at least two mutants, has {count}"
    for mutant in MUTANTS:
        assert mutant.part == 3 and mutant.description
        apply(mutant)  # raises MutantError if the reference no longer contains the snippet
