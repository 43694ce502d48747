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
from mutants.meta import assert_caught_by_its_task_only, assert_full_marks, grade_source
from mutants.part3 import MUTANTS

pytest.importorskip("torchvision")

import fmlgrade.solutions.alternative.part3 as alternative_part3  # noqa: E402
import fmlgrade.solutions.reference.part3 as reference_part3  # noqa: E402
from fmlgrade.harness.grading import grade_paths
from fmlgrade.harness.report import Report
from fmlgrade.spec.tasks import tasks_of_part

pytestmark = pytest.mark.meta

PART3 = tuple(task.id for task in tasks_of_part(3))


def _grade_source(source: str, folder: Path, *, profile: str = "quick") -> Report:
    return grade_source(source, folder, 3, profile=profile)


@pytest.mark.slow
@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.id for m in MUTANTS])
def test_mutant_is_caught_by_its_task_only(mutant: Mutant, tmp_path: Path) -> None:
    assert_caught_by_its_task_only(mutant, _grade_source(apply(mutant), tmp_path))


@pytest.mark.slow
@pytest.mark.parametrize(
    "module", [reference_part3, alternative_part3], ids=["reference", "alternative"]
)
def test_solutions_get_full_part3_marks(module) -> None:
    report = grade_paths([Path(module.__file__)], parts=(3,))
    assert_full_marks(report, 3, f"{module.__name__} under the grade profile")


def test_mutant_catalogue_is_well_formed() -> None:
    ids = [m.id for m in MUTANTS]
    assert len(ids) == len(set(ids)), "mutant ids must be unique"
    for task_id in PART3:
        count = sum(m.task == task_id for m in MUTANTS)
        assert count >= 2, f"task {task_id} needs at least two mutants, has {count}"
    for mutant in MUTANTS:
        assert mutant.part == 3 and mutant.description
        apply(mutant)  # raises MutantError if the reference no longer contains the snippet
