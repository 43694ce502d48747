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


# -- the grader is bounded against the channel: student code that writes to it directly ----------

CHANNEL = '''
import gc, os, pickle, struct, threading, time
from multiprocessing.connection import Connection

def _channel():
    return next(o for o in gc.get_objects() if isinstance(o, Connection) and not o.closed)

def _plain(value):  # a pickle without shared references, as the grader reads them
    import io
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=5)
    pickler.fast = True
    pickler.dump(value)
    return buffer.getvalue()

def garbage():
    _channel().send_bytes(b"this is not a pickle")
    return 1

def late_garbage():
    channel = _channel()
    def later():
        time.sleep(0.2)
        channel.send_bytes(_plain(("ok", 12345, "an answer to nothing")))
    threading.Thread(target=later).start()
    return 2

def bomb():
    value = [0]
    for _ in range(60):
        value = [value, value]  # 2**60 leaves in a few hundred bytes
    # a call into the grader: no request number to guess
    _channel().send_bytes(pickle.dumps(("req", 1, "object", (value, "call", ((), {})))))
    time.sleep(60)

def huge_header(length):
    os.write(_channel().fileno(), struct.pack("!i", length) + b"\\x80\\x05")
    time.sleep(60)

def never_read():
    channel = _channel()
    for number in range(1_000_000):
        channel.send_bytes(_plain(("req", number, "x" * 3000, ())))  # each answered with an error
    time.sleep(60)

def ok():
    return 7
'''


def _next_request_gets_a_new_worker(solution: IsolatedSolution, client: WorkerClient) -> None:
    client.deadline = None
    assert solution.get("ok")() == 7
    assert client.generation == 2


def test_a_garbage_frame_costs_its_request_and_the_next_gets_a_new_worker(worker):
    client = worker(CHANNEL)
    solution = IsolatedSolution(client)
    with pytest.raises(WorkerDied, match="malformed message"):
        solution.get("garbage")()
    _next_request_gets_a_new_worker(solution, client)


def test_a_message_nobody_asked_for_ends_the_worker_at_the_end_of_the_check(worker):
    client = worker(CHANNEL)
    solution = IsolatedSolution(client)
    assert solution.get("late_garbage")() == 2
    time.sleep(0.6)
    client.end_check()  # the plugin calls it after every check
    assert client.process is None
    _next_request_gets_a_new_worker(solution, client)


def test_a_tiny_message_that_decodes_to_a_huge_structure_is_refused_at_once(worker):
    import resource

    client = worker(CHANNEL)
    solution = IsolatedSolution(client)
    bomb = solution.get("bomb")
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    client.deadline = time.monotonic() + 30
    started = time.monotonic()
    with pytest.raises(WorkerDied, match="malformed message.*refused pickle operation"):
        bomb()
    assert time.monotonic() - started < 5  # refused on reading, not after the deadline
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 100 * 1024  # KiB
    _next_request_gets_a_new_worker(solution, client)


def test_a_frame_header_claiming_too_much_is_refused_at_once(worker):
    client = worker(CHANNEL)
    solution = IsolatedSolution(client)
    client.deadline = time.monotonic() + 30
    started = time.monotonic()
    with pytest.raises(WorkerDied, match="over the limit"):
        solution.get("huge_header")(2**31 - 1)
    assert time.monotonic() - started < 5
    _next_request_gets_a_new_worker(solution, client)


def test_a_message_that_never_finishes_runs_into_the_deadline(worker):
    client = worker(CHANNEL)
    solution = IsolatedSolution(client)
    huge_header = solution.get("huge_header")
    client.deadline = time.monotonic() + 1.5
    started = time.monotonic()
    with pytest.raises(CheckTimeout):
        huge_header(100_000)
    assert time.monotonic() - started < 10
    _next_request_gets_a_new_worker(solution, client)


def test_a_worker_that_never_reads_its_answers_gets_a_timeout_not_a_hang(worker):
    client = worker(CHANNEL)
    solution = IsolatedSolution(client)
    never_read = solution.get("never_read")
    client.deadline = time.monotonic() + 2.0
    started = time.monotonic()
    with pytest.raises(CheckTimeout):
        never_read()
    assert time.monotonic() - started < 12
    _next_request_gets_a_new_worker(solution, client)


CALLBACK_ABUSE = '''
import numpy as np

def build(cls, size):
    net = cls(size)
    return "built"

def rebind(obj):
    obj.forward = lambda self, x: x
    return "rebound"

def rebind_item(obj):
    obj[0] = 1
    return "rebound"

def forward(layer, x):
    return layer.forward(x)

def wait(obj, seconds):
    return obj.wait(seconds)

def ok():
    return 7
'''


def test_call_backs_refuse_huge_arguments_before_allocating_anything(worker):
    import resource

    solution = IsolatedSolution(worker(CALLBACK_ABUSE))
    build = solution.get("build")
    assert build(reference_part1.MyNeuralNet, 50) == "built"
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(PermissionError, match="ints up to"):
        build(reference_part1.MyNeuralNet, 10**9)  # would be 8 GB of weights in the grader
    with pytest.raises(PermissionError, match="numbers in one call"):
        solution.get("forward")(reference_part1.MyReLU(), np.zeros((10**6, 1)))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 100 * 1024  # KiB
    np.testing.assert_array_equal(solution.get("forward")(reference_part1.MyReLU(), np.array([[-1.0], [2.0]])),
                                  [[0.0], [2.0]])


def test_call_backs_cannot_rebind_the_graders_objects_or_classes(worker):
    solution = IsolatedSolution(worker(CALLBACK_ABUSE))
    forward_before = reference_part1.MyReLU.forward
    layer = reference_part1.MyReLU()
    for target in (layer, reference_part1.MyReLU):
        with pytest.raises(PermissionError, match="not 'setattr'"):
            solution.get("rebind")(target)
    with pytest.raises(PermissionError, match="not 'setitem'"):
        solution.get("rebind_item")(layer)
    assert reference_part1.MyReLU.forward is forward_before and "forward" not in vars(layer)


class _SlowGraderObject:
    def wait(self, seconds):
        time.sleep(seconds)
        return "woke"


def test_a_call_back_that_computes_for_long_ends_at_the_deadline(worker, monkeypatch):
    from fmlgrade.harness import isolation

    is_grader_object = isolation._is_grader_object
    monkeypatch.setattr(isolation, "_is_grader_object",
                        lambda obj: isinstance(obj, _SlowGraderObject) or is_grader_object(obj))
    client = worker(CALLBACK_ABUSE)
    solution = IsolatedSolution(client)
    wait = solution.get("wait")
    assert wait(_SlowGraderObject(), 0) == "woke"
    client.deadline = time.monotonic() + 1.5
    started = time.monotonic()
    with pytest.raises(CheckTimeout):
        wait(_SlowGraderObject(), 60)
    assert time.monotonic() - started < 10
    _next_request_gets_a_new_worker(solution, client)
