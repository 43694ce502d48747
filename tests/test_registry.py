"""The task registry and the protocols agree with the contract and each other."""

from __future__ import annotations

import pytest

from fmlgrade.harness.plugins import reference_solution
from fmlgrade.spec.protocols import PROTOCOLS
from fmlgrade.spec.tasks import STUDENT_NAMES, TASKS, task_by_id, tasks_of_part

CONTRACT_TASK_IDS = (
    "1.1a 1.1b 1.1c 1.2a 1.2b 1.3a 1.3b 1.3c 1.4 1.5 1.6 1.7 1.8 "
    "2.1a 2.1b 2.2 2.3 3.1a 3.1b 3.2 3.3 3.4 3.5 3.6"
).split()


def test_registry_has_every_contract_task_once_in_order():
    assert [task.id for task in TASKS] == CONTRACT_TASK_IDS


def test_every_student_name_has_a_protocol():
    assert set(PROTOCOLS) == set(STUDENT_NAMES)


def test_borrowed_names_are_student_names():
    for task in TASKS:
        assert set(task.reference) <= set(STUDENT_NAMES), task.id


def test_part1_allows_only_numpy():
    assert {task.libraries for task in tasks_of_part(1)} == {("numpy",)}


def test_unknown_task_id_names_the_known_ones():
    with pytest.raises(KeyError, match="known ids: 1.1a"):
        task_by_id("4.2")


def test_reference_defines_every_student_name():
    pytest.importorskip("torchvision")
    assert reference_solution().names() == set(STUDENT_NAMES)
