"""Grade one submission: load it, run the checks, score them into a report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .plugins import make_plugin_manager, submission_from_paths
from .pytest_plugin import DEFAULT_CHECK_TIMEOUT
from .report import Report
from .runner import PARTS, run_checks
from .scoring import DEFAULT_RUBRIC, Rubric
from .solution import Solution


def grade_solution(
    solution: Solution,
    *,
    profile: str = "grade",
    device: str = "auto",
    rubric: Rubric = DEFAULT_RUBRIC,
    parts: Sequence[int] = PARTS,
    check_timeout: float | None = DEFAULT_CHECK_TIMEOUT,
) -> Report:
    """Grade an already loaded solution."""
    checks = run_checks(
        [solution], profile=profile, device=device, parts=parts, check_timeout=check_timeout
    )[solution.name]
    return Report.from_checks(
        solution.name,
        checks,
        rubric=rubric,
        profile=profile,
        problems=solution.problems,
        left_out=solution.left_out,
        parts=tuple(parts),
    )


def grade_paths(
    paths: Sequence[Path],
    *,
    profile: str = "grade",
    device: str = "auto",
    rubric: Rubric = DEFAULT_RUBRIC,
    parts: Sequence[int] = PARTS,
    name: str | None = None,
    check_timeout: float | None = DEFAULT_CHECK_TIMEOUT,
) -> Report:
    """Grade the files or folders at ``paths`` as one submission.

    Raises :class:`~fmlgrade.harness.adapters.SubmissionError` when a path
    does not exist; every other problem with the files ends up in the report.
    """
    solution = submission_from_paths(paths, make_plugin_manager(entry_points=False), name=name)
    return grade_solution(
        solution, profile=profile, device=device, rubric=rubric, parts=parts, check_timeout=check_timeout
    )
