"""Grade one submission: load it, run the checks, score them into a report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .adapters import load_submission, read_submission
from .isolation import IsolatedSolution, IsolationSettings, isolated_modules, isolated_sources
from .plugins import make_plugin_manager
from .pytest_plugin import DEFAULT_TASK_TIMEOUT
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
    task_timeout: float | None = DEFAULT_TASK_TIMEOUT,
    isolation: IsolationSettings | None = None,
) -> Report:
    """Grade an already loaded solution (moved into a worker if ``isolation`` says so)."""
    isolation = isolation or IsolationSettings()
    if isolation.applies_to(solution) and not isinstance(solution, IsolatedSolution):
        solution = isolated_modules(solution, isolation, parts)
    elif not isinstance(solution, IsolatedSolution):
        solution.isolation = isolation.in_process_level(solution)
    checks = run_checks(
        [solution], profile=profile, device=device, parts=parts, task_timeout=task_timeout
    )[solution.name]
    return Report.from_checks(
        solution.name,
        checks,
        rubric=rubric,
        profile=profile,
        problems=solution.problems,
        left_out=solution.left_out,
        parts=tuple(parts),
        isolation=solution.isolation,
        isolation_note=solution.isolation_note,
    )


def grade_paths(
    paths: Sequence[Path],
    *,
    profile: str = "grade",
    device: str = "auto",
    rubric: Rubric = DEFAULT_RUBRIC,
    parts: Sequence[int] = PARTS,
    name: str | None = None,
    task_timeout: float | None = DEFAULT_TASK_TIMEOUT,
    isolation: IsolationSettings | None = None,
) -> Report:
    """Grade the files or folders at ``paths`` as one submission.

    The files are read here and, unless ``isolation.mode`` is ``"none"``,
    run in a worker process. Raises
    :class:`~fmlgrade.harness.adapters.SubmissionError` when a path does not
    exist; every other problem with the files ends up in the report.
    """
    isolation = isolation or IsolationSettings()
    read_source = make_plugin_manager(entry_points=False).hook.fmlgrade_read_source
    if isolation.mode == "none":
        solution: Solution = load_submission(paths, read_source, name=name)
    else:
        solution = isolated_sources(read_submission(paths, read_source, name=name), isolation, parts)
    return grade_solution(
        solution, profile=profile, device=device, rubric=rubric, parts=parts, task_timeout=task_timeout,
        isolation=isolation,
    )
