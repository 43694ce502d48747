"""The command line: one-line errors for bad input, complete JSON reports."""

from __future__ import annotations

import json

import pytest

from fmlgrade.harness.cli import main
from fmlgrade.spec.tasks import TASKS

TASK_KEYS = {"id", "title", "status", "score", "max_score", "feedback"}
STATUSES = {"passed", "failed", "error", "not_attempted", "timeout"}


def test_missing_path_is_a_one_line_error(tmp_path, capsys):
    code = main(["check", str(tmp_path / "missing.py"), "--part", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "no such file or folder" in err
    assert "Traceback" not in err


def test_syntax_error_gets_a_report_not_a_traceback(write_submission, tmp_path, capsys):
    path = write_submission("def add_padding(images, padding)\n")
    report_path = tmp_path / "report.json"
    code = main(["check", str(path), "--part", "1", "--profile", "quick", "--json", str(report_path)])
    out = capsys.readouterr()
    assert code == 0
    assert "syntax error" in out.out and "Traceback" not in out.out + out.err
    report = json.loads(report_path.read_text())
    assert report["problems"] and "syntax error" in report["problems"][0]
    assert report["score"] == 0


def test_json_report_lists_every_task_in_the_documented_format(write_submission, tmp_path):
    path = write_submission(
        """
        import numpy as np
        def add_padding(images, padding):
            p = padding
            return np.pad(images, ((0, 0), (p, p), (p, p), (0, 0)))
        """
    )
    report_path = tmp_path / "out" / "report.json"
    assert main(["check", str(path), "--part", "1", "--profile", "quick", "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert {"submission", "score", "max_score", "tasks", "grader_version"} <= set(report)
    assert [t["id"] for t in report["tasks"]] == [t.id for t in TASKS]
    for task in report["tasks"]:
        assert set(task) == TASK_KEYS
        assert task["status"] in STATUSES
        assert 0 <= task["score"] <= task["max_score"]
    by_id = {t["id"]: t for t in report["tasks"]}
    assert by_id["1.6"]["status"] == "passed" and by_id["1.6"]["score"] == by_id["1.6"]["max_score"]
    assert by_id["1.7"]["status"] == "not_attempted"
    assert report["score"] == by_id["1.6"]["score"]
    assert report["max_score"] == sum(t.points for t in TASKS)


def test_bad_rubric_is_a_one_line_error(write_submission, tmp_path, capsys):
    rubric = tmp_path / "rubric.json"
    rubric.write_text('{"points": {"9.9": 1}}')
    code = main(["check", str(write_submission("x = 1\n")), "--rubric", str(rubric)])
    err = capsys.readouterr().err
    assert code == 2 and "unknown task id '9.9'" in err


def test_unknown_profile_is_rejected_by_the_parser(write_submission, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["check", str(write_submission("x = 1\n")), "--profile", "turbo"])
    assert exc.value.code == 2
    assert "invalid choice: 'turbo'" in capsys.readouterr().err


def test_solutions_lists_the_installed_plugins(capsys):
    assert main(["solutions"]) == 0
    out = capsys.readouterr().out
    assert "reference" in out and "alternative" in out


def test_cuda_without_a_gpu_is_a_one_line_error(write_submission, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code = main(["check", str(write_submission("x = 1\n")), "--device", "cuda"])
    err = capsys.readouterr().err
    assert code == 2 and "no CUDA device is available" in err and err.count("\n") == 1
