"""Notebook submissions: definitions kept, work left out and reported, same score as .py."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

from fmlgrade.fixtures.notebooks import LEFTOVER_CELLS, notebook_from_python, write_notebook  # noqa: E402
from fmlgrade.harness.grading import grade_paths  # noqa: E402
from fmlgrade.harness.plugins import submission_from_paths  # noqa: E402

REFERENCE_PART1 = Path(__file__).resolve().parents[1] / "solutions" / "reference" / "part1.py"


def test_definitions_kept_and_work_left_out(tmp_path):
    path = write_notebook(
        tmp_path / "nb.ipynb",
        [
            "import numpy as np\nSCALE = 2.0\nKERNEL = np.array([[0, 1], [1, 0]])",
            "def add_padding(images, padding):\n    return SCALE",
            "result = add_padding(None, 1)\nprint(result)",
            "from google.colab import drive",
            "def convolve(kernels, images, stride):\n    return 'later cell'",
        ],
        leftovers=LEFTOVER_CELLS,
    )
    solution = submission_from_paths([path])
    assert solution.get("add_padding")(None, 0) == 2.0
    notes = "\n".join(solution.left_out)
    assert "IPython magic or shell line" in notes
    assert "top-level expression or call" in notes and "print(result)" in notes
    assert "assignment computed by a call" in notes and "result = add_padding(None, 1)" in notes
    assert "top-level loop" in notes
    # A kept statement that fails at run time: reported, and later cells still run.
    assert "ModuleNotFoundError" in notes and "the rest of this cell was left out" in notes
    assert solution.get("convolve")(None, None, 1) == "later cell"
    assert all("\n" not in note for note in solution.left_out)
    assert solution.problems == []


def test_cell_magic_and_syntax_error_cells_are_left_out(tmp_path):
    path = write_notebook(
        tmp_path / "nb.ipynb",
        [
            "%%time\ndef convolve(k, i, s):\n    return 1",
            "def add_padding(i, p)\n    return 0",
            "def add_padding(i, p):\n    return 3",
        ],
    )
    solution = submission_from_paths([path])
    assert not solution.provides("convolve")
    assert solution.get("add_padding")(None, 0) == 3
    notes = "\n".join(solution.left_out)
    assert "cell magic %%time" in notes and "syntax error" in notes


@pytest.mark.parametrize("content, message", [("{not json", "not valid JSON"), ('{"a": 1}', "not a Jupyter notebook")])
def test_broken_notebooks_get_a_clear_message(tmp_path, content, message):
    path = tmp_path / "broken.ipynb"
    path.write_text(content)
    solution = submission_from_paths([path])
    assert len(solution.problems) == 1 and message in solution.problems[0]


def test_notebook_and_python_file_get_the_same_score(tmp_path):
    notebook = notebook_from_python(REFERENCE_PART1, tmp_path / "part1.ipynb")
    from_py = grade_paths([REFERENCE_PART1], profile="quick", parts=(1,))
    from_nb = grade_paths([notebook], profile="quick", parts=(1,))
    assert [(t.id, t.status, t.score) for t in from_nb.tasks] == [(t.id, t.status, t.score) for t in from_py.tasks]
    assert from_nb.score == from_py.score > 0
    assert from_nb.left_out  # the leftovers were reported
