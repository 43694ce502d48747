"""Meta-tests: the Part 1 checks catch realistic mistakes, each in its own task.

Every mutant of ``tests/mutants/part1.py`` is written to a fresh file and
graded like a student's submission. The grader must fail the mutant's task
and pass every other task of Part 1: a mistake that goes unseen means a
check is too weak, one that is blamed on another task breaks the promise
that one bug costs points in one task only.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mutants import Mutant, MutantError, apply, reference_source
from mutants.meta import assert_caught_by_its_task_only, assert_full_marks, grade_source, summary
from mutants.part1 import MUTANTS

import fmlgrade.solutions.alternative.part1 as alternative_part1
import fmlgrade.solutions.reference.part1 as reference_part1
from fmlgrade.harness.grading import grade_paths
from fmlgrade.harness.report import Report
from fmlgrade.spec.tasks import tasks_of_part

pytestmark = pytest.mark.meta

PART1 = tuple(task.id for task in tasks_of_part(1))


def _summary(report: Report, *, feedback_for: tuple[str, ...] = ()) -> str:
    return summary(report, 1, feedback_for=feedback_for)


def _grade_source(source: str, folder: Path, *, profile: str = "quick") -> Report:
    return grade_source(source, folder, 1, profile=profile)


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.id for m in MUTANTS])
def test_mutant_is_caught_by_its_task_only(mutant: Mutant, tmp_path: Path) -> None:
    assert_caught_by_its_task_only(mutant, _grade_source(apply(mutant), tmp_path))


@pytest.mark.parametrize(
    "module", [reference_part1, alternative_part1], ids=["reference", "alternative"]
)
def test_solutions_get_full_part1_marks(module) -> None:
    report = grade_paths([Path(module.__file__)], parts=(1,))
    assert_full_marks(report, 1, f"{module.__name__} under the grade profile")


def test_grading_a_mutant_is_deterministic(tmp_path: Path) -> None:
    mutant = next(m for m in MUTANTS if m.id == "linear-update-bias-mean")
    source = apply(mutant)
    first = _grade_source(source, tmp_path)
    second = _grade_source(source, tmp_path)
    assert first.to_dict() == second.to_dict(), (
        f"grading {mutant.id} twice gave different reports:\n"
        f"first:\n{_summary(first, feedback_for=PART1)}\nsecond:\n"
        f"{_summary(second, feedback_for=PART1)}"
    )


def test_apply_rejects_a_snippet_that_does_not_occur() -> None:
    missing = Mutant(
        id="missing", task="1.1a", description="snippet not in the reference",
        old="return x @ self.w + self.b + 1", new="return x",
    )
    with pytest.raises(MutantError, match="does not occur"):
        apply(missing)


def test_apply_rejects_a_snippet_that_occurs_twice() -> None:
    ambiguous = Mutant(
        id="ambiguous", task="1.1a", description="snippet occurs many times",
        old="self.w", new="self.weights",
    )
    with pytest.raises(MutantError, match="times"):
        apply(ambiguous)


def test_apply_changes_exactly_the_snippet() -> None:
    mutant = MUTANTS[0]
    source = reference_source(1)
    mutated = apply(mutant)
    assert mutated != source
    assert mutated.replace(mutant.new, mutant.old, 1) == source


def test_mutant_catalogue_is_well_formed() -> None:
    ids = [m.id for m in MUTANTS]
    assert len(ids) == len(set(ids)), "mutant ids must be unique"
    for task_id in PART1:
        count = sum(m.task == task_id for m in MUTANTS)
        assert count >= 2, f"task {task_id} needs at least two mutants, has {count}"
    for mutant in MUTANTS:
        assert mutant.part == 1 and mutant.description
        apply(mutant)  # raises MutantError if the reference no longer contains the snippet
