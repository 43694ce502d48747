"""Run the spec's checks in-process with pytest and collect their outcomes.

``fmlgrade check`` and the project's own meta-tests both come through here:
pytest collects the installed spec tests, the grading session parametrizes
them over the given solutions, and the recorded checks come back as data.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

import fmlgrade.spec as spec_package
from fmlgrade.spec.tasks import TASKS

from .pytest_plugin import DEFAULT_TASK_TIMEOUT, GradingSession
from .results import CheckResult
from .solution import Solution

SPEC_DIR = Path(spec_package.__file__).resolve().parent
PARTS = (1, 2, 3)
#: Parts whose checks need torch (and torchvision for part 3).
_PART_NEEDS = {1: (), 2: ("torch",), 3: ("torch", "torchvision")}


class GraderError(RuntimeError):
    """The grader itself could not run its checks (a bug or a broken install, not the student's)."""


def missing_libraries(part: int) -> list[str]:
    """The libraries a part's checks need that are not importable here."""
    return [lib for lib in _PART_NEEDS[part] if importlib.util.find_spec(lib) is None]


def _pin_torch_threads(parts: Sequence[int]) -> None:
    """Run torch checks on FMLGRADE_TORCH_THREADS threads (default 1).

    One thread keeps results independent of the machine's core count and is
    much faster for the small tensors of the checks, especially when several
    submissions are graded at once.
    """
    if any(part in (2, 3) for part in parts) and not missing_libraries(2):
        import torch

        torch.set_num_threads(max(1, int(os.environ.get("FMLGRADE_TORCH_THREADS", "1"))))


def _keep_hypothesis_files_out_of_cwd() -> None:
    """Hypothesis caches files under ``./.hypothesis``; a grader must not litter the folder it runs in."""
    if "HYPOTHESIS_STORAGE_DIRECTORY" not in os.environ:
        from hypothesis.configuration import set_hypothesis_home_dir

        set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), f"fmlgrade-hypothesis-{os.getuid()}"))


def _pytest_args(paths: Iterable[Path], extra: Sequence[str]) -> list[str]:
    return [
        *map(str, paths),
        "-c", str(SPEC_DIR / "grading.ini"),
        "--rootdir", str(SPEC_DIR),
        "--import-mode=importlib",
        "-p", "fmlgrade.harness.pytest_plugin",
        "-p", "no:cacheprovider",
        "-p", "no:terminal",
        "-p", "no:xdist",
        "-p", "no:randomly",
        *extra,
    ]


def run_checks(
    solutions: Sequence[Solution],
    *,
    profile: str = "grade",
    device: str = "auto",
    parts: Sequence[int] = PARTS,
    keyword: str | None = None,
    task_timeout: float | None = DEFAULT_TASK_TIMEOUT,
) -> dict[str, list[CheckResult]]:
    """Run the checks of ``parts`` on every solution; return each one's check results.

    A part whose libraries are missing is not run; each of its tasks gets a
    skipped check saying what to install.
    """
    for part in parts:
        if part not in PARTS:
            raise ValueError(f"parts must be drawn from {PARTS}, got {part!r}")
    session = GradingSession(solutions, profile=profile, device=device, task_timeout=task_timeout)
    _pin_torch_threads(parts)
    _keep_hypothesis_files_out_of_cwd()
    for solution in solutions:  # workers load the submissions while pytest collects the checks
        client = getattr(solution, "client", None)
        if client is not None and client.process is None:
            with contextlib.suppress(Exception):  # a failure to start is reported at first use
                client.launch()
    runnable = [p for p in parts if not missing_libraries(p)]
    if runnable:
        extra = ["-k", keyword] if keyword else []
        paths = [SPEC_DIR / f"part{p}" for p in runnable]
        output = io.StringIO()
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            code = pytest.main(_pytest_args(paths, extra), plugins=[session])
        if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
            raise GraderError(
                f"the grader's own checks could not run (pytest exit code {int(code)}); "
                f"this is a grader problem, not the submission's. Output:\n{output.getvalue()[-3000:]}"
            )
    for part in parts:
        lacking = missing_libraries(part)
        if not lacking:
            continue
        for solution in solutions:
            for task in TASKS:
                if task.part == part:
                    session.results[solution.name].append(
                        CheckResult(
                            solution=solution.name,
                            task=task.id,
                            check="libraries-present",
                            description=f"Part {part} needs {', '.join(lacking)}",
                            status="skipped",
                            feedback=(
                                f"{', '.join(lacking)} is not installed where the grader runs; "
                                "install fmlgrade[torch] to grade this part"
                            ),
                        )
                    )
    return {solution.name: session.results[solution.name] for solution in solutions}
