"""A hung task costs that task only: it is reported as a timeout and the rest is graded.

In a worker (the default for submissions) the grader stops waiting and kills
the worker; in-process (``--isolation none``) a signal interrupts the check.
"""

from __future__ import annotations

import sys

import pytest

from fmlgrade.harness.grading import grade_paths
from fmlgrade.harness.isolation import IsolationSettings

HANGS_IN_PADDING = """
import numpy as np

def add_padding(images, padding):
    size = images.shape[1]
    while size != -1:  # a wrong condition: the loop never ends
        size += 1
"""

SWALLOWS_EVERYTHING = """
import numpy as np

def add_padding(images, padding):
    size = images.shape[1]
    while size != -1:
        try:
            size += 1
        except BaseException:  # trying to swallow the grader's interrupt
            pass
"""


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(HANGS_IN_PADDING, id="endless-loop"),
        pytest.param(SWALLOWS_EVERYTHING, id="loop-swallowing-baseexception"),
    ],
)
@pytest.mark.parametrize("isolation", ["worker", "none"])
def test_hung_task_is_a_timeout_and_other_tasks_still_graded(write_submission, source, isolation):
    if isolation == "none" and source is SWALLOWS_EVERYTHING and sys.version_info < (3, 11):
        pytest.skip("Python 3.10 runs a loop around try/except without handling signals (in-process only)")
    path = write_submission(source)
    report = grade_paths(
        [path], profile="quick", parts=(1,), task_timeout=1.5, isolation=IsolationSettings(mode=isolation)
    )
    by_id = {task.id: task for task in report.tasks}
    assert by_id["1.6"].status == "timeout"
    assert "took longer than 1.5 s" in by_id["1.6"].feedback
    assert "not run: an earlier check of this task already ran out of time" in by_id["1.6"].feedback
    assert by_id["1.7"].status == "not_attempted"


def test_no_limit_when_zero(write_submission):
    path = write_submission("def add_padding(images, padding):\n    raise NotImplementedError\n")
    report = grade_paths([path], profile="quick", parts=(1,), task_timeout=0)
    assert {t.id: t.status for t in report.tasks}["1.6"] == "not_attempted"
