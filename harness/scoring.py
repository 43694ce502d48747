"""From check outcomes to task scores, under a rubric.

A task's status is the worst of its scoring checks (error over failed over
not attempted over passed); it earns its points only when all of them pass,
unless the rubric grants partial credit. Allowed-library findings cost the
task's points only when the rubric says so (the default).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from fmlgrade.spec.tasks import TASKS, task_by_id

from .results import CheckResult

TaskStatus = Literal["passed", "failed", "error", "not_attempted", "timeout"]
_SEVERITY = {"timeout": 4, "error": 3, "failed": 2, "not_attempted": 1, "passed": 0}


@dataclass(frozen=True)
class Rubric:
    """How checks turn into points. Load one with :func:`load_rubric`."""

    #: Points per task id, overriding the registry's defaults.
    points: Mapping[str, float] = field(default_factory=dict)
    #: Grant ``points * passed/total`` instead of all or nothing.
    partial_credit: bool = False
    #: Whether reaching a forbidden library costs the task's points.
    libraries_cost_points: bool = True

    def points_for(self, task_id: str) -> float:
        return float(self.points.get(task_id, task_by_id(task_id).points))


DEFAULT_RUBRIC = Rubric()


def load_rubric(path: Path) -> Rubric:
    """Read a rubric from a JSON file such as ``{"points": {"1.7": 4}, "partial_credit": true}``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"rubric file {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"rubric file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"rubric file {path} must hold a JSON object")
    unknown = set(data) - {"points", "partial_credit", "libraries_cost_points"}
    if unknown:
        raise ValueError(
            f"rubric file {path} has unknown keys {sorted(unknown)}; "
            "allowed: points, partial_credit, libraries_cost_points"
        )
    points = data.get("points", {})
    for task_id, value in points.items():
        task_by_id(task_id)  # raises with the known ids
        if not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"rubric points for {task_id} must be a number >= 0, not {value!r}")
    return Rubric(
        points=points,
        partial_credit=bool(data.get("partial_credit", False)),
        libraries_cost_points=bool(data.get("libraries_cost_points", True)),
    )


@dataclass
class TaskResult:
    """A task's line in a report."""

    id: str
    title: str
    status: TaskStatus
    score: float
    max_score: float
    feedback: str

    def to_dict(self) -> dict:
        return asdict(self)


def _feedback(checks: list[CheckResult], findings: list[CheckResult]) -> str:
    parts = []
    for check in checks:
        if check.status in ("passed", "skipped"):
            continue
        label = {"not_attempted": "not attempted", "error": "error"}.get(check.status, "failed")
        parts.append(f"[{label}] {check.description}\n{check.feedback}".rstrip())
    for finding in findings:
        if finding.status != "passed" and finding.status != "skipped":
            parts.append(f"[finding] {finding.description}\n{finding.feedback}".rstrip())
    return "\n\n".join(parts)


def score_task(task_id: str, checks: Iterable[CheckResult], rubric: Rubric = DEFAULT_RUBRIC) -> TaskResult:
    """Score one task from its checks."""
    task = task_by_id(task_id)
    checks = list(checks)
    behaviour = [c for c in checks if c.kind == "behaviour" and c.status != "skipped"]
    audits = [c for c in checks if c.kind == "libraries" and c.status != "skipped"]
    scoring = behaviour + (audits if rubric.libraries_cost_points else [])
    findings = [] if rubric.libraries_cost_points else audits
    max_score = rubric.points_for(task_id)
    if not scoring:
        skipped = [c.feedback for c in checks if c.status == "skipped"]
        reason = skipped[0] if skipped else "this grader version has no checks for this task"
        status: TaskStatus = "error" if skipped else "not_attempted"
        return TaskResult(task.id, task.title, status, 0.0, max_score, f"not graded: {reason}")
    statuses = [c.status for c in scoring]
    if all(s == "not_attempted" for s in statuses):
        status = "not_attempted"
    else:
        worst = max(statuses, key=lambda s: _SEVERITY.get(s, 3))
        status = "failed" if worst == "not_attempted" else worst
    passed = sum(s == "passed" for s in statuses)
    if status == "passed":
        score = max_score
    elif rubric.partial_credit and status != "not_attempted":
        score = max_score * passed / len(statuses)
    else:
        score = 0.0
    return TaskResult(task.id, task.title, status, round(score, 4), max_score, _feedback(scoring, findings))


def score_checks(
    checks: Iterable[CheckResult],
    rubric: Rubric = DEFAULT_RUBRIC,
    parts: Iterable[int] = (1, 2, 3),
) -> list[TaskResult]:
    """Score every task of the registry, in handout order; tasks outside ``parts`` were not run."""
    parts = set(parts)
    by_task: dict[str, list[CheckResult]] = defaultdict(list)
    for check in checks:
        by_task[check.task].append(check)
    results = []
    for task in TASKS:
        if task.part in parts:
            results.append(score_task(task.id, by_task.get(task.id, []), rubric))
        else:
            note = f"not graded: this run graded only part(s) {', '.join(map(str, sorted(parts)))}"
            results.append(
                TaskResult(task.id, task.title, "not_attempted", 0.0, rubric.points_for(task.id), note)
            )
    return results
