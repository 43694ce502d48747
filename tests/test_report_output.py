"""Reports are written where the grader decides, whatever was planted there.

Bad ``--json``/``--gradescope`` paths are one-line errors before grading; a
folder or symbolic link put at the path while grading is neither followed nor
removed, and the report is written beside it under a fresh name, with a line
saying where.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from fmlgrade.harness import batch, grading
from fmlgrade.harness.cli import main
from fmlgrade.harness.report import Report, check_destination, write_output
from fmlgrade.spec.tasks import TASKS


def _report(name: str = "sub.py") -> Report:
    return Report.from_checks(name, [], parts=(1,), profile="quick")


def _one_line_error(capsys, code: int) -> str:
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.count("\n") == 1 and captured.err.startswith("fmlgrade: error: ")
    assert "Traceback" not in captured.out + captured.err
    return captured.err


@pytest.fixture
def never_graded(monkeypatch):
    """Grading that fails the test: bad output paths must be refused before any grading."""

    def grade_paths(*args, **kwargs):
        raise AssertionError("graded although the output path is bad")

    monkeypatch.setattr(grading, "grade_paths", grade_paths)


@pytest.mark.parametrize("option", ["--json", "--gradescope"])
def test_a_folder_as_destination_is_a_one_line_error(option, tmp_path, capsys, never_graded):
    submission = tmp_path / "sub.py"
    submission.write_text("x = 1\n")
    folder = tmp_path / "reports"
    folder.mkdir()
    err = _one_line_error(capsys, main(["check", str(submission), option, str(folder)]))
    assert option in err and "is a folder" in err


def test_bad_destinations_are_one_line_errors(tmp_path, capsys, never_graded):
    submission = tmp_path / "sub.py"
    submission.write_text("x = 1\n")
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    err = _one_line_error(capsys, main(["check", str(submission), "--json", str(a_file / "report.json")]))
    assert "--json" in err and "is not a folder" in err
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "elsewhere.json")
    err = _one_line_error(capsys, main(["check", str(submission), "--gradescope", str(link)]))
    assert "--gradescope" in err and "symbolic link" in err
    same = tmp_path / "same.json"
    err = _one_line_error(capsys, main(["check", str(submission), "--json", str(same), "--gradescope", str(same)]))
    assert "both name" in err
    assert not (tmp_path / "elsewhere.json").exists() and not same.exists()


def test_a_missing_folder_is_made_before_grading(tmp_path):
    path = check_destination(tmp_path / "new" / "deeper" / "report.json", "--json")
    assert path.parent.is_dir() and not path.exists()


def test_a_folder_and_a_link_planted_during_grading_are_left_alone(tmp_path, monkeypatch, capsys):
    """The worker plants a folder at the --json path and a link at --gradescope's while it is graded."""
    submission = tmp_path / "sub.py"
    submission.write_text("x = 1\n")
    out = tmp_path / "out"
    out.mkdir()
    report_path, results_path = out / "report.json", out / "results.json"
    victim = tmp_path / "victim.txt"
    victim.write_text("the grader's own file\n")

    def planting_grade_paths(paths, **kwargs):
        report_path.mkdir()
        (report_path / "inside.txt").write_text("planted\n")
        results_path.symlink_to(victim)
        return _report()

    monkeypatch.setattr(grading, "grade_paths", planting_grade_paths)
    code = main(["check", str(submission), "--json", str(report_path), "--gradescope", str(results_path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    # what was planted is untouched, and nothing was written through the link
    assert report_path.is_dir() and (report_path / "inside.txt").read_text() == "planted\n"
    assert results_path.is_symlink() and os.readlink(results_path) == str(victim)
    assert victim.read_text() == "the grader's own file\n"
    # the reports were written beside, and the output says where
    [report_file] = out.glob("report-*.json")
    [results_file] = out.glob("results-*.json")
    assert json.loads(report_file.read_text())["submission"] == "sub.py"
    assert [t["number"] for t in json.loads(results_file.read_text())["tests"]] == [t.id for t in TASKS]
    warnings = [line for line in captured.err.splitlines() if "taken by a folder or link" in line]
    assert len(warnings) == 2
    assert str(report_file) in warnings[0] and str(results_file) in warnings[1]
    assert "Traceback" not in captured.err
    assert not list(out.glob(".*partial"))  # no temporary file is left behind


def test_write_output_replaces_files_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old")
    (tmp_path / "report.json.partial").mkdir()  # the old fixed temporary name: irrelevant now
    assert write_output(path, "new") == path
    assert path.read_text() == "new" and oct(path.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "report.json.partial"]


def test_write_output_does_not_follow_a_link_to_a_folder(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    path = tmp_path / "report.json"
    path.symlink_to(target)
    written = write_output(path, "data")
    assert written != path and written.parent == tmp_path and written.read_text() == "data"
    assert list(target.iterdir()) == [] and path.is_symlink()


def test_write_output_survives_a_folder_arriving_just_before_the_rename(tmp_path, monkeypatch):
    path = tmp_path / "report.json"
    real_replace = os.replace
    calls = []

    def racing_replace(source, destination):
        if not calls:
            Path(destination).mkdir()  # planted between the check and the rename
        calls.append(destination)
        return real_replace(source, destination)

    monkeypatch.setattr(os, "replace", racing_replace)
    written = write_output(path, "data")
    assert path.is_dir() and list(path.iterdir()) == []
    assert written.read_text() == "data" and written.name.startswith("report-")


def test_batch_publishes_reports_beside_what_was_planted(tmp_path, monkeypatch, capsys):
    """A batch whose children find folders and links planted in its output folder still writes every report."""
    submissions = tmp_path / "class"
    submissions.mkdir()
    (submissions / "alice.py").write_text("x = 1\n")
    out = tmp_path / "out"
    folder = out / "alice.py"
    folder.mkdir(parents=True)
    (folder / "log.txt").mkdir()  # planted before the run
    (out / "grades.csv").mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("mine\n")

    def child(command, **kwargs):
        """The child grader: writes its reports where told, while the worker plants things."""
        report_at = Path(command[command.index("--json") + 1])
        results_at = Path(command[command.index("--gradescope") + 1])
        assert report_at.parent != folder  # the child writes into a folder of its own
        (folder / "report.json").mkdir()
        (folder / "results.json").symlink_to(victim)
        code = main(["check", command[4], "--json", str(report_at), "--gradescope", str(results_at), "--quiet"])
        return subprocess.CompletedProcess(command, code)

    monkeypatch.setattr(grading, "grade_paths", lambda paths, **kwargs: _report("alice.py"))
    monkeypatch.setattr(batch.subprocess, "run", child)
    [outcome] = batch.grade_class(submissions, out, batch.BatchSettings(parts=(1,), profile="quick"))
    assert outcome.report.submission == "alice.py" and not outcome.report.problems
    assert (folder / "report.json").is_dir() and not list((folder / "report.json").iterdir())
    assert (folder / "results.json").is_symlink() and victim.read_text() == "mine\n"
    [report_file] = folder.glob("report-*.json")
    assert json.loads(report_file.read_text())["submission"] == "alice.py"
    assert len(list(folder.glob("results-*.json"))) == 1
    assert len(list(folder.glob("log-*.txt"))) == 1
    assert not list(folder.glob(".grading-*"))  # the child's folder is cleaned up
    assert sum("taken by a folder or link" in note for note in outcome.notes) == 3
    assert (out / "grades.csv").is_dir()
    [grades] = out.glob("grades-*.csv")
    assert "alice.py" in grades.read_text()
    assert "grades.csv was taken" in capsys.readouterr().err
