"""Student files become solutions: names found, problems reported, skeleton names enforced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fmlgrade.harness.adapters import SubmissionError
from fmlgrade.harness.plugins import submission_from_paths
from fmlgrade.spec.worker import skeleton


def test_plain_file_provides_its_names(write_submission):
    path = write_submission(
        """
        import numpy as np
        def add_padding(images, padding):
            return np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
        """
    )
    solution = submission_from_paths([path])
    assert solution.names() == {"add_padding"}
    assert solution.problems == []
    padded = solution.get("add_padding")(np.ones((1, 2, 2, 1)), 1)
    assert padded.shape == (1, 4, 4, 1)


def test_syntax_error_is_one_line_problem(write_submission):
    path = write_submission("def add_padding(images, padding)\n    return images\n")
    solution = submission_from_paths([path])
    assert solution.names() == frozenset()
    assert len(solution.problems) == 1
    assert "syntax error" in solution.problems[0] and ":1:" in solution.problems[0]


def test_crash_at_import_keeps_earlier_names(write_submission):
    path = write_submission(
        """
        def add_padding(images, padding):
            return images
        raise RuntimeError("training crashed")
        def convolve(kernels, images, stride):
            return images
        """
    )
    solution = submission_from_paths([path])
    assert solution.names() == {"add_padding"}
    assert "RuntimeError: training crashed" in solution.problems[0]
    assert ":4:" in solution.problems[0]


def test_sys_exit_at_import_does_not_stop_the_grader(write_submission):
    path = write_submission("import sys\ndef add_padding(i, p):\n    return i\nsys.exit(0)\n")
    solution = submission_from_paths([path])
    assert solution.provides("add_padding")
    assert "SystemExit" in solution.problems[0]


def test_missing_path_raises_submission_error(tmp_path):
    with pytest.raises(SubmissionError, match="no such file or folder"):
        submission_from_paths([tmp_path / "nope.py"])


def test_folder_is_one_submission_later_files_override(tmp_path):
    (tmp_path / "a_part1.py").write_text("def add_padding(i, p):\n    return 'first'\n")
    (tmp_path / "b_part1.py").write_text("def add_padding(i, p):\n    return 'second'\n")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "junk.py").write_text("raise SystemExit\n")
    solution = submission_from_paths([tmp_path])
    assert solution.get("add_padding")(None, 0) == "second"
    assert solution.problems == []


def test_empty_folder_is_reported(tmp_path):
    solution = submission_from_paths([tmp_path])
    assert "no Python file or notebook" in solution.problems[0]


def test_student_copy_of_training_data_is_replaced(write_submission):
    path = write_submission(
        """
        import numpy as np
        def get_training_data_myneuralnet(N):
            return np.zeros((N, 1)), np.zeros((N, 1))
        def train_myneuralnet(net, epochs, batch_size, learn_rate, N):
            return get_training_data_myneuralnet(N)
        """
    )
    solution = submission_from_paths([path])
    x, y = solution.get("train_myneuralnet")(None, 1, 1, 0.1, 5)
    expected_x, expected_y = skeleton.get_training_data_myneuralnet(5)
    np.testing.assert_array_equal(x, expected_x)
    np.testing.assert_array_equal(y, expected_y)


def test_two_submissions_with_the_same_file_name_do_not_collide(tmp_path):
    first = tmp_path / "one" / "student.py"
    second = tmp_path / "two" / "student.py"
    for path, value in ((first, 1), (second, 2)):
        path.parent.mkdir()
        path.write_text(f"def add_padding(i, p):\n    return {value}\n")
    a = submission_from_paths([first])
    b = submission_from_paths([second])
    assert a.get("add_padding")(None, 0) == 1
    assert b.get("add_padding")(None, 0) == 2


def test_substitution_is_undone(write_submission):
    path = write_submission("def helper():\n    return 'student'\ndef add_padding(i, p):\n    return helper()\n")
    solution = submission_from_paths([path])
    with solution.substituted({"helper": lambda: "reference"}):
        assert solution.get("add_padding")(None, 0) == "reference"
    assert solution.get("add_padding")(None, 0) == "student"


def test_source_files_name_the_student_file(write_submission):
    path = write_submission("x = 1\n")
    assert solution_files(path) == {str(path)}


def solution_files(path: Path) -> frozenset[str]:
    return submission_from_paths([path]).source_files()


def test_prints_while_loading_do_not_reach_the_grader_output(write_submission, capsys):
    path = write_submission("print('1.1a passed')\nimport sys\nprint('all passed', file=sys.stderr)\n")
    submission_from_paths([path])
    captured = capsys.readouterr()
    assert "passed" not in captured.out + captured.err
