"""Scoring: task status from check outcomes, and the rubric's policies."""

from __future__ import annotations

import json

import pytest

from fmlgrade.harness.results import CheckResult
from fmlgrade.harness.scoring import Rubric, load_rubric, score_task


def check(status: str, kind: str = "behaviour", task: str = "1.7") -> CheckResult:
    return CheckResult("s", task, f"test_{status}", f"{status} check", status, f"{status} detail", kind)


def test_all_passed_earns_the_points():
    result = score_task("1.7", [check("passed"), check("passed")])
    assert (result.status, result.score, result.max_score) == ("passed", 3.0, 3.0)


def test_one_failure_costs_the_task_by_default():
    result = score_task("1.7", [check("passed"), check("failed")])
    assert (result.status, result.score) == ("failed", 0.0)
    assert "failed detail" in result.feedback


def test_partial_credit_when_the_rubric_grants_it():
    result = score_task("1.7", [check("passed"), check("failed"), check("passed")], Rubric(partial_credit=True))
    assert result.status == "failed" and result.score == pytest.approx(2.0)


def test_error_outranks_failure():
    assert score_task("1.7", [check("failed"), check("error")]).status == "error"


def test_all_not_attempted_is_not_attempted():
    result = score_task("1.7", [check("not_attempted"), check("not_attempted")])
    assert (result.status, result.score) == ("not_attempted", 0.0)


def test_partly_not_attempted_is_a_failure():
    assert score_task("1.7", [check("passed"), check("not_attempted")]).status == "failed"


def test_skipped_checks_do_not_count():
    assert score_task("1.7", [check("passed"), check("skipped")]).status == "passed"


def test_only_skipped_checks_mean_not_graded():
    result = score_task("1.7", [check("skipped")])
    assert result.status == "error" and "not graded" in result.feedback


def test_library_finding_costs_points_by_default_and_can_be_waived():
    checks = [check("passed"), check("failed", kind="libraries")]
    assert score_task("1.7", checks).status == "failed"
    waived = score_task("1.7", checks, Rubric(libraries_cost_points=False))
    assert waived.status == "passed" and waived.score == 3.0
    assert "[finding]" in waived.feedback


def test_rubric_points_override(tmp_path):
    path = tmp_path / "rubric.json"
    path.write_text(json.dumps({"points": {"1.7": 5}, "partial_credit": True}))
    rubric = load_rubric(path)
    assert score_task("1.7", [check("passed")], rubric).max_score == 5.0


@pytest.mark.parametrize(
    "content, message",
    [
        ("[1]", "must hold a JSON object"),
        ("{", "not valid JSON"),
        ('{"bonus": 1}', "unknown keys"),
        ('{"points": {"1.7": -1}}', "must be a number >= 0"),
    ],
)
def test_bad_rubrics_are_explained(tmp_path, content, message):
    path = tmp_path / "rubric.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_rubric(path)
