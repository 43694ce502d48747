"""Meta-tests: the Part 2 checks catch realistic mistakes, each in its own task.

Every mutant of ``tests/mutants/part2.py`` is written to a fresh file and
graded like a student's submission (profile ``quick``, Part 2 only). The
grader must fail the mutant's task and pass every other Part 2 task. The
correct variants (``EQUIVALENTS``) and both installed solutions must get full
Part 2 marks. 2.3 has no mutant by design (see ``tests/mutants/part2.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from mutants import Mutant, apply  # noqa: E402
from mutants.meta import assert_caught_by_its_task_only, assert_full_marks, grade_source, summary  # noqa: E402
from mutants.part2 import EQUIVALENTS, MUTANTS  # noqa: E402

import fmlgrade.solutions.alternative.part2 as alternative_part2  # noqa: E402
import fmlgrade.solutions.reference.part2 as reference_part2  # noqa: E402
from fmlgrade.harness.grading import grade_paths  # noqa: E402
from fmlgrade.harness.report import Report  # noqa: E402
from fmlgrade.spec.tasks import tasks_of_part  # noqa: E402

pytestmark = pytest.mark.meta

PART2 = tuple(task.id for task in tasks_of_part(2))
UNIT_TASKS = tuple(task.id for task in tasks_of_part(2) if task.kind == "unit")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Two xdist workers on two cores: torch's OpenMP threads would fight over them."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _summary(report: Report, *, feedback_for: tuple[str, ...] = ()) -> str:
    return summary(report, 2, feedback_for=feedback_for)


def _grade_source(source: str, folder: Path, *, profile: str = "quick") -> Report:
    return grade_source(source, folder, 2, profile=profile)


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.id for m in MUTANTS])
def test_mutant_is_caught_by_its_task_only(mutant: Mutant, tmp_path: Path) -> None:
    assert_caught_by_its_task_only(mutant, _grade_source(apply(mutant), tmp_path))


@pytest.mark.parametrize("variant", EQUIVALENTS, ids=[m.id for m in EQUIVALENTS])
def test_correct_variant_gets_full_marks(variant: Mutant, tmp_path: Path) -> None:
    report = _grade_source(apply(variant), tmp_path)
    assert_full_marks(report, 2, f"the correct variant {variant.id} ({variant.description})")


@pytest.mark.parametrize(
    "module", [reference_part2, alternative_part2], ids=["reference", "alternative"]
)
def test_solutions_get_full_part2_marks(module) -> None:
    report = grade_paths([Path(module.__file__)], profile="grade", parts=(2,))
    assert_full_marks(report, 2, f"{module.__name__} under the grade profile")


def test_grading_a_mutant_is_deterministic(tmp_path: Path) -> None:
    mutant = next(m for m in MUTANTS if m.id == "forward-missing-relu")
    source = apply(mutant)
    first = _grade_source(source, tmp_path)
    second = _grade_source(source, tmp_path)
    assert first.to_dict() == second.to_dict(), (
        f"grading {mutant.id} twice gave different reports:\n"
        f"first:\n{_summary(first, feedback_for=PART2)}\nsecond:\n"
        f"{_summary(second, feedback_for=PART2)}"
    )


def test_mutant_catalogue_is_well_formed() -> None:
    ids = [m.id for m in MUTANTS + EQUIVALENTS]
    assert len(ids) == len(set(ids)), "mutant ids must be unique"
    for task_id in UNIT_TASKS:
        count = sum(m.task == task_id for m in MUTANTS)
        assert count >= 2, f"task {task_id} needs at least two mutants, has {count}"
    for mutant in MUTANTS + EQUIVALENTS:
        assert mutant.part == 2 and mutant.description
        apply(mutant)  # raises MutantError if the reference no longer contains the snippet
