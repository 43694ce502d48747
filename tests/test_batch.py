"""Grading a class: reports per submission, class table, survival of broken ones, reruns."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from fmlgrade.harness.batch import BatchSettings, grade_class
from fmlgrade.harness.cli import main
from fmlgrade.spec.tasks import TASKS

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_PART1 = ROOT / "solutions" / "reference" / "part1.py"
PART1_IDS = [t.id for t in TASKS if t.part == 1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """A small class with a good, a broken, a crashing and a hanging submission, graded once."""
    root = tmp_path_factory.mktemp("class")
    submissions = root / "submissions"
    submissions.mkdir()
    shutil.copy(REFERENCE_PART1, submissions / "alice.py")
    folder = submissions / "bob"
    folder.mkdir()
    shutil.copy(REFERENCE_PART1, folder / "part1.py")
    (submissions / "carol.py").write_text("def add_padding(images, padding)\n")
    (submissions / "dave.py").write_text("import os\nos._exit(3)\n")
    (submissions / "notes.txt").write_text("not a submission")
    out = root / "out"
    settings = BatchSettings(profile="quick", parts=(1,), jobs=2, timeout=300)
    outcomes = grade_class(submissions, out, settings)
    return submissions, out, settings, {o.name: o for o in outcomes}


def test_every_submission_gets_both_reports(graded_class):
    _, out, _, outcomes = graded_class
    assert sorted(outcomes) == ["alice.py", "bob", "carol.py", "dave.py"]
    for name in outcomes:
        report = json.loads((out / name / "report.json").read_text())
        results = json.loads((out / name / "results.json").read_text())
        assert [t["id"] for t in report["tasks"]] == [t.id for t in TASKS]
        assert {"score", "tests"} <= set(results)
        for test in results["tests"]:
            assert {"name", "number", "score", "max_score", "status", "output", "visibility"} <= set(test)


def test_good_submissions_get_full_part1_marks_whatever_their_shape(graded_class):
    _, _, _, outcomes = graded_class
    for name in ("alice.py", "bob"):
        statuses = {t.id: t.status for t in outcomes[name].report.tasks if t.id in PART1_IDS}
        assert set(statuses.values()) == {"passed"}, (name, statuses)


def test_broken_crashing_and_hanging_submissions_are_reported(graded_class):
    _, _, _, outcomes = graded_class
    assert "syntax error" in outcomes["carol.py"].report.problems[0]
    # os._exit at import ends the worker, not the grader: a report that says why, nothing graded
    assert {t.status for t in outcomes["dave.py"].report.tasks} == {"not_attempted"}
    assert "exited with status 3" in outcomes["dave.py"].report.problems[0]


def test_a_hanging_submission_times_out_without_losing_the_others(tmp_path):
    submissions = tmp_path / "class"
    submissions.mkdir()
    (submissions / "erin.py").write_text("while True:\n    pass\n")
    (submissions / "frank.py").write_text("def add_padding(images, padding):\n    return images\n")
    settings = BatchSettings(profile="quick", parts=(1,), jobs=2, timeout=8)
    outcomes = {o.name: o for o in grade_class(submissions, tmp_path / "out", settings)}
    assert {t.status for t in outcomes["erin.py"].report.tasks} == {"timeout"}
    assert "longer than 8 s" in outcomes["erin.py"].report.problems[0]
    assert (tmp_path / "out" / "erin.py" / "results.json").exists()
    assert outcomes["frank.py"].report.tasks  # graded (its own time is not limited by erin's)


def test_class_table_and_summary(graded_class):
    _, out, _, outcomes = graded_class
    with (out / "grades.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["submission"] for row in rows] == sorted(outcomes)
    assert set(rows[0]) >= {*[t.id for t in TASKS], "total", "max_score", "percent"}
    alice = next(row for row in rows if row["submission"] == "alice.py")
    assert float(alice["total"]) == outcomes["alice.py"].report.score
    summary = json.loads((out / "summary.json").read_text())
    assert summary["submissions"] == 4
    padding = next(t for t in summary["tasks"] if t["id"] == "1.6")
    assert padding["pass_rate"] == pytest.approx(2 / 4)
    assert (out / "totals.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "summary.md").exists()


def test_rerun_skips_unchanged_and_regrades_changed(graded_class):
    submissions, out, settings, first = graded_class
    quick = BatchSettings(profile="quick", parts=(1,), jobs=2, timeout=300)
    (submissions / "carol.py").write_text("def add_padding(images, padding):\n    return images\n")
    again = {o.name: o for o in grade_class(submissions, out, quick)}
    assert again["alice.py"].skipped and again["bob"].skipped
    assert not again["carol.py"].skipped and not again["carol.py"].report.problems
    assert again["alice.py"].report.score == first["alice.py"].report.score


def test_batch_scores_equal_single_check(graded_class, tmp_path):
    submissions, out, _, outcomes = graded_class
    single = tmp_path / "single.json"
    assert main(["check", str(submissions / "alice.py"), "--part", "1", "--profile", "quick",
                 "--json", str(single), "--quiet"]) == 0
    alone = json.loads(single.read_text())
    batch = json.loads((out / "alice.py" / "report.json").read_text())
    assert [(t["id"], t["status"], t["score"]) for t in alone["tasks"]] == [
        (t["id"], t["status"], t["score"]) for t in batch["tasks"]
    ]


def test_bad_batch_arguments_are_one_line_errors(tmp_path, capsys):
    assert main(["batch", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "o"), "--jobs", "0"]) == 2
    assert "jobs must be at least 1" in capsys.readouterr().err
