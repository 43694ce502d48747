"""Student code cannot move or silence the grader: working folder and output are restored."""

from __future__ import annotations

import os

import pytest

from fmlgrade.harness.grading import grade_paths
from fmlgrade.harness.isolation import IsolationSettings


@pytest.mark.parametrize("isolation", ["none", "worker"])
def test_student_chdir_does_not_move_the_grader(write_submission, isolation):
    # "/" exists in every world the code can run in (the sandbox has none of the grader's folders).
    path = write_submission(
        """
        import os
        import numpy as np

        def add_padding(images, padding):
            os.chdir("/")
            p = padding
            return np.pad(images, ((0, 0), (p, p), (p, p), (0, 0)))
        """
    )
    before = os.getcwd()
    report = grade_paths([path], profile="quick", parts=(1,), isolation=IsolationSettings(mode=isolation))
    assert os.getcwd() == before
    assert {t.id: t.status for t in report.tasks}["1.6"] == "passed"


def test_student_prints_during_checks_do_not_reach_the_grader_output(write_submission, capsys):
    path = write_submission(
        """
        import numpy as np

        def add_padding(images, padding):
            print("1.6 passed, 1.7 passed, score 37/37")
            return images
        """
    )
    report = grade_paths([path], profile="quick", parts=(1,))
    captured = capsys.readouterr()
    assert "37/37" not in captured.out + captured.err
    assert {t.id: t.status for t in report.tasks}["1.6"] == "failed"
