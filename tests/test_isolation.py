"""The worker process: what student code can do there, and what the grader gets back."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from fmlgrade.harness.isolation import IsolatedSolution, WorkerClient, WorkerDied
from fmlgrade.harness.process_limits import WorkerLimits, children_of
from fmlgrade.harness.solution import SourceFile
from fmlgrade.harness.time_limit import CheckTimeout
from fmlgrade.solutions.reference import part1 as reference_part1


def _client(tmp_path: Path, code: str, **kwargs) -> WorkerClient:
    path = tmp_path / "student.py"
    path.write_text(code)
    return WorkerClient("student", str(path), [SourceFile(str(path), code)], **kwargs)


@pytest.fixture
def worker(tmp_path, request):
    clients = []

    def make(code: str, **kwargs) -> WorkerClient:
        client = _client(tmp_path, code, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


STUDENT = '''
import numpy as np

class Scale:
    def __init__(self, factor):
        self.factor = factor
    def forward(self, x):
        return x * self.factor
    def clip_in_place(self, x):
        x[x < 0] = 0
        return x
    def broken(self, x):
        return x.no_such_method()

def double(values):
    return [2 * v for v in values]
'''


def test_names_come_back_as_proxies_and_results_as_plain_data(worker):
    solution = IsolatedSolution(worker(STUDENT))
    assert solution.names() == frozenset()  # none of the contract's names
    scale = solution.get("Scale")(3.0)
    assert type(scale).__name__ == "Scale"
    result = scale.forward(np.arange(3.0))
    assert type(result) is np.ndarray
    np.testing.assert_array_equal(result, [0.0, 3.0, 6.0])
    assert scale.factor == 3.0
    scale.factor = 0.5
    np.testing.assert_array_equal(scale.forward(np.ones(2)), [0.5, 0.5])
    assert solution.get("double")([1, 2]) == [2, 4]


def test_in_place_changes_of_array_arguments_are_copied_back(worker):
    scale = IsolatedSolution(worker(STUDENT)).get("Scale")(1.0)
    x = np.array([-1.0, 2.0, -3.0])
    scale.clip_in_place(x)
    np.testing.assert_array_equal(x, [0.0, 2.0, 0.0])


def test_student_exceptions_keep_their_type_and_name_the_student_line(worker, tmp_path):
    scale = IsolatedSolution(worker(STUDENT)).get("Scale")(1.0)
    with pytest.raises(AttributeError) as caught:
        scale.broken(np.ones(2))
    assert f"{tmp_path / 'student.py'}, line 13, in broken" in caught.value.where


def test_an_endless_loop_runs_into_the_deadline_and_the_next_request_gets_a_new_worker(worker):
    client = worker("def spin():\n    while True:\n        pass\n\ndef ok():\n    return 7\n")
    solution = IsolatedSolution(client)
    spin = solution.get("spin")
    client.deadline = time.monotonic() + 1.0
    started = time.monotonic()
    with pytest.raises(CheckTimeout):
        spin()
    assert time.monotonic() - started < 10
    client.deadline = None
    assert solution.get("ok")() == 7
    assert client.generation == 2


def test_exiting_in_a_call_is_reported_and_the_worker_restarts(worker):
    client = worker("import os\n\ndef leave():\n    os._exit(3)\n\ndef ok():\n    return 1\n")
    solution = IsolatedSolution(client)
    with pytest.raises(WorkerDied, match="exited with status 3"):
        solution.get("leave")()
    assert solution.get("ok")() == 1


def test_exiting_at_import_leaves_nothing_to_grade_but_says_why(worker):
    solution = IsolatedSolution(worker("def MyReLU():\n    pass\n\nimport os\nos._exit(0)\n"))
    assert solution.names() == frozenset()
    assert "exited with status 0" in " ".join(solution.problems)


def test_sys_exit_at_import_keeps_the_names_defined_before(worker):
    solution = IsolatedSolution(worker("class MyReLU:\n    pass\n\nimport sys\nsys.exit(0)\n"))
    assert solution.names() == {"MyReLU"}
    assert "SystemExit" in " ".join(solution.problems)


PROBES = '''
import os

def attempt(action):
    try:
        return "done: " + str(action())
    except BaseException as exc:
        return f"refused: {type(exc).__name__}: {exc}"

def try_import():
    return attempt(lambda: __import__("fmlgrade.solutions.reference.part1"))

def try_read(path):
    return attempt(lambda: open(path).read(10))

def try_write(path):
    return attempt(lambda: open(path, "w").write("x"))

def try_delete(path):
    return attempt(lambda: os.remove(path))

def try_program():
    import subprocess
    return attempt(lambda: subprocess.run(["true"]))

def try_libc():
    import ctypes
    return attempt(lambda: ctypes.CDLL(None).getpid())

def where():
    return os.getcwd(), sorted(os.environ)
'''


def test_the_guards_refuse_the_graders_files_and_programs(worker, tmp_path):
    solution = IsolatedSolution(worker(PROBES))
    call = solution.get
    assert call("try_import")().startswith("refused: ImportError")
    assert call("try_read")(reference_part1.__file__).startswith("refused: PermissionError")
    canary = tmp_path / "canary.txt"
    canary.write_text("grader")
    assert call("try_read")(str(canary)).startswith("refused")
    assert call("try_write")(str(canary)).startswith("refused")
    assert call("try_delete")(str(canary)).startswith("refused")
    assert canary.read_text() == "grader"
    assert call("try_program")().startswith("refused: PermissionError")
    assert call("try_libc")().startswith("refused: PermissionError")
    assert call("try_write")("mine.txt") == "done: 1"  # its own working folder is fine
    cwd, environment = call("where")()
    assert Path(cwd).name.startswith("fmlgrade-worker-") and cwd != os.getcwd()
    assert not any(name.startswith(("PYTEST", "CI", "GITHUB")) for name in environment)


def test_the_working_folder_is_removed_afterwards(worker):
    client = worker(PROBES)
    solution = IsolatedSolution(client)
    cwd, _ = solution.get("where")()
    assert Path(cwd).is_dir()
    client.close()
    assert not Path(cwd).exists()


def test_memory_beyond_the_limit_is_refused(worker):
    code = "import numpy as np\n\ndef hog():\n    return float(np.ones(2_000_000_000).sum())\n"
    solution = IsolatedSolution(worker(code, limits=WorkerLimits(memory_mb=600)))
    with pytest.raises(MemoryError):
        solution.get("hog")()


def test_processes_left_behind_are_killed(worker):
    code = '''
import os, time

def leave_children():
    for _ in range(3):
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(600)
            os._exit(0)
    return "left"
'''
    client = worker(code)
    before = children_of(os.getpid())
    assert IsolatedSolution(client).get("leave_children")() == "left"
    client.close()
    time.sleep(0.2)
    assert children_of(os.getpid()) <= before


CALLS_BACK = '''
def use(layer, x):
    return layer.forward(x)

def peek(layer):
    return layer._private_state

def keep(layer):
    global KEPT
    KEPT = layer
    return "kept"

def use_kept(x):
    return KEPT.forward(x)
'''


def test_student_code_reaches_grader_objects_only_through_their_public_methods(worker):
    client = worker(CALLS_BACK)
    solution = IsolatedSolution(client)
    layer = reference_part1.MyReLU()
    np.testing.assert_array_equal(solution.get("use")(layer, np.array([-1.0, 2.0])), [0.0, 2.0])
    with pytest.raises(Exception, match="public attributes"):
        solution.get("peek")(layer)
    assert solution.get("keep")(layer) == "kept"
    client.end_check()  # what the grader handed over is revoked after each check
    with pytest.raises(Exception, match="no longer available"):
        solution.get("use_kept")(np.ones(2))


def _can_drop_to_nobody() -> bool:
    from fmlgrade.harness.process_limits import choose_worker_user

    return os.geteuid() == 0 and choose_worker_user("auto") is not None


@pytest.mark.skipif(not _can_drop_to_nobody(), reason="needs root and a Python installation readable by others")
def test_a_root_grader_runs_the_worker_as_nobody(worker, tmp_path):
    import pwd

    code = "import os\n\ndef who():\n    return os.getuid()\n\ndef read(path):\n    return open(path).read()\n"
    client = worker(code)
    solution = IsolatedSolution(client)
    assert solution.get("who")() == pwd.getpwnam("nobody").pw_uid
    # In its own folder the guards let it read; the operating system still refuses root's private file.
    private = Path(client.workdir) / "root_only.txt"
    private.write_text("root only")
    private.chmod(0o600)
    with pytest.raises(PermissionError, match="Errno 13"):
        solution.get("read")(str(private))


def test_stand_ins_are_neither_importable_nor_readable_by_student_code(worker):
    import importlib.util

    stand_in_file = importlib.util.find_spec("fmlgrade.spec.stand_ins.simplenet").origin  # torch not needed
    code = PROBES + (
        "\ndef try_stand_in():\n"
        "    return attempt(lambda: __import__('fmlgrade.spec.stand_ins.simplenet'))\n"
    )
    solution = IsolatedSolution(worker(code))
    assert solution.get("try_stand_in")().startswith("refused: ImportError")
    assert solution.get("try_read")(stand_in_file).startswith("refused: PermissionError")


def test_a_stand_in_is_only_offered_once_the_tasks_grading_its_name_are_final():
    from fmlgrade.harness.plugins import reference_solution
    from fmlgrade.harness.under_test import SubmissionUnderTest

    under_test = SubmissionUnderTest(reference_solution(), reference_solution(), dict)
    unit_tasks = {"1.1a", "1.1b", "1.1c", "1.2a", "1.2b", "2.1a", "2.1b", "3.1a", "3.1b", "3.2", "3.4"}
    under_test.final_tasks = unit_tasks - {"2.1b", "3.4"}
    under_test.current_task = "2.2"
    allowed = under_test.stand_ins_allowed()
    assert "SimpLeNet" not in allowed  # 2.1b has no final result yet
    assert "store_checkpoint" not in allowed
    assert {"MyLinearLayer", "MyReLU", "early_stopping_check", "AdaptedVGG"} <= allowed
    under_test.final_tasks = set(unit_tasks)
    assert "SimpLeNet" in under_test.stand_ins_allowed()
    under_test.current_task = "3.4"  # never while its own task is graded
    assert "store_checkpoint" not in under_test.stand_ins_allowed()


def test_each_stand_in_is_sent_as_its_own_module():
    from fmlgrade.spec.stand_ins import stand_in_modules, stand_in_source

    modules = stand_in_modules()
    assert len(set(modules.values())) == len(modules)
    module, attribute, source = stand_in_source("store_checkpoint")
    assert attribute == "store_checkpoint" and "def early_stopping_check" not in source
    assert "class AdaptedVGG" not in source
