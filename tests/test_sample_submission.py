"""The bundled sample submission (the README's demo) keeps grading the way the README says.

``fixtures/submissions/sample_student/`` is a whole hand-in: ``part1.py`` and
the notebooks ``part2.ipynb`` and ``part3.ipynb`` (written by
``fixtures/submissions/make_sample_notebooks.py``). It holds exactly four bugs,
one task each; every other task must pass.
"""

from __future__ import annotations

import importlib.util
from importlib.resources import files
from pathlib import Path

import pytest

from fmlgrade.spec.tasks import TASKS

SUBMISSIONS = Path(str(files("fmlgrade.fixtures") / "submissions"))
SAMPLE = SUBMISSIONS / "sample_student"
GENERATOR = SUBMISSIONS / "make_sample_notebooks.py"

#: The sample's bugs: update averages db (1.1c), convolve rounds the output size up (1.7),
#: train never calls zero_grad (2.2), early stopping counts ties as rises (3.2).
FAILING = {"1.1c", "1.7", "2.2", "3.2"}


def _generator():
    spec = importlib.util.spec_from_file_location("make_sample_notebooks", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sample_folder_holds_the_three_parts():
    assert sorted(p.name for p in SAMPLE.iterdir() if not p.name.startswith((".", "__"))) == [
        "part1.py",
        "part2.ipynb",
        "part3.ipynb",
    ]


def test_sample_notebooks_are_what_the_generator_writes(tmp_path):
    pytest.importorskip("nbformat")
    for written in _generator().write_sample_notebooks(tmp_path):
        committed = SAMPLE / written.name
        assert written.read_bytes() == committed.read_bytes(), (
            f"{committed} is out of date: run .venv/bin/python {GENERATOR.relative_to(SUBMISSIONS.parents[1])}"
        )


@pytest.mark.slow
def test_sample_submission_fails_exactly_its_four_bugs():
    pytest.importorskip("nbformat")
    pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    from fmlgrade.harness.grading import grade_paths

    report = grade_paths([SAMPLE], profile="quick", device="cpu")

    statuses = {task.id: task.status for task in report.tasks}
    assert set(statuses) == {task.id for task in TASKS}
    assert {tid for tid, status in statuses.items() if status != "passed"} == FAILING, statuses
    assert all(statuses[tid] == "failed" for tid in FAILING), statuses
    assert report.score == sum(task.points for task in TASKS if task.id not in FAILING)
    assert report.problems == []

    # The notebooks' leftovers are left out and listed; no kept cell failed.
    notes = "\n".join(report.left_out)
    assert "part2.ipynb" in notes and "part3.ipynb" in notes
    assert "IPython magic or shell line" in notes
    assert "history = train(model, train_loader" in notes
    assert "vgg_model = AdaptedVGG()" in notes  # would download the ImageNet weights
    assert "plt.plot(" in notes
    assert "raised" not in notes and "syntax error" not in notes
