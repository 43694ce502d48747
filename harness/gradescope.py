"""Gradescope's autograder output format (``results.json``).

Gradescope reads ``/autograder/results/results.json``: a top-level ``score``
and ``tests``, each test with ``name``, ``number``, ``score``, ``max_score``,
``status`` and ``output``. One test per task keeps the rubric visible to
students exactly as fmlgrade scores it.
"""

from __future__ import annotations

import json
from pathlib import Path

from .report import Report, write_output

_STATUS_TEXT = {
    "passed": "Passed.",
    "failed": "Failed.",
    "error": "Your code raised an error.",
    "not_attempted": "Not attempted.",
    "timeout": "Timed out.",
}


def to_gradescope(report: Report, *, execution_time: float | None = None, visibility: str = "visible") -> dict:
    """Convert a report into Gradescope's ``results.json`` structure."""
    tests = []
    for task in report.tasks:
        output = _STATUS_TEXT[task.status]
        if task.feedback:
            output += "\n\n" + task.feedback
        tests.append(
            {
                "name": f"{task.id} {task.title}",
                "number": task.id,
                "score": task.score,
                "max_score": task.max_score,
                "status": "passed" if task.status == "passed" else "failed",
                "output": output,
                "visibility": visibility,
                "tags": [f"part{task.id.split('.')[0]}", task.status],
            }
        )
    summary = [f"fmlgrade {report.grader_version}, profile {report.profile}: {report.score:g}/{report.max_score:g}"]
    summary += [f"Problem: {problem}" for problem in report.problems]
    summary += [f"Left out: {note}" for note in report.left_out]
    results = {
        "score": report.score,
        "output": "\n".join(summary),
        "visibility": visibility,
        "stdout_visibility": "hidden",
        "tests": tests,
    }
    if execution_time is not None:
        results["execution_time"] = round(execution_time, 2)
    return results


def write_gradescope(report: Report, path: Path, *, execution_time: float | None = None) -> Path:
    """Write ``results.json`` for ``report`` with :func:`~fmlgrade.harness.report.write_output`.

    Returns where it was written: ``path``, or a fresh name beside it when a folder or link had taken
    ``path``. Its texts are the report's, neutralized when the report was built.
    """
    text = json.dumps(to_gradescope(report, execution_time=execution_time), indent=2) + "\n"
    return write_output(Path(path), text)
