"""The threat model, proven for the channel: student code that writes to the grader's channel itself.

The files ``tests/hostile/attack_channel_*.py`` are Part 1 submissions with the
honest code of ``honest_part1.py`` (or one stated mistake) and one attack on
the channel between their worker and the grader, as a real student file could
mount it: find the worker's end of the channel with ``gc`` and send the grader
a garbage frame, a pickle of a few hundred bytes that decodes to 2**60 values,
a frame header that promises 256 MiB and never delivers, or a flood of requests
while never reading an answer; or, through the grader's objects that a check
hands to student code, build a reference network of a billion hidden units in
the grader or rebind the grader's reference class to forge a fit.

They are graded and judged exactly like the files of
``tests/test_threat_model.py``, with its machinery (imported from there; see its
docstring for what is asserted): the grader ends normally within a time limit,
writes its own report, no task scores beyond the honest code, the tasks the
attack does not touch are still graded (a broken channel costs the task that
broke it, not every later one), nothing around the grader changes and nothing
the submission started outlives the grading. The attacks need a worker, so each
file is graded with ``--isolation worker``.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from test_threat_model import (
    ALL,
    HOSTILE,
    NOT_PASSED,
    PART1,
    Attack,
    Sandbox,
    _code_key,
    _fail_with,
    all_violations,
    but,
    check_command,
    cli_options,
    defused,
    grade,
    outer_timeout,
)

from fmlgrade.harness import cli

pytestmark = pytest.mark.slow

WORKER = frozenset({"--isolation"})
#: The worker that broke the channel is replaced: its task errors, the next tasks get a new worker.
BROKEN = {"1.7": frozenset({"error"})}
#: Waiting on the worker (to read its message, or to send it an answer) ends at the task's deadline.
STALLED = {"1.7": frozenset({"timeout"})}

ATTACKS: tuple[Attack, ...] = (
    Attack("attack_channel_garbage_frame.py", ALL, but("1.7"), BROKEN, needs=WORKER),
    Attack("attack_channel_memo_bomb.py", ALL, but("1.7"), BROKEN, needs=WORKER),
    Attack("attack_channel_huge_header.py", ALL, but("1.7"), STALLED, needs=WORKER),
    Attack("attack_channel_stop_reading.py", ALL, but("1.7"), STALLED, needs=WORKER),
    # call-backs: the grader's objects handed to student code are read and called only, with bounded arguments
    Attack("attack_channel_callback_huge_network.py", ALL, ALL, needs=WORKER),
    Attack("attack_channel_callback_rebind.py", but("1.4"), but("1.4"), {"1.4": NOT_PASSED}, needs=WORKER),
)


def test_every_channel_attack_file_has_its_expectations():
    files = {path.name for path in HOSTILE.iterdir() if path.name.startswith("attack_channel_")}
    assert files == {attack.file for attack in ATTACKS}
    for attack in ATTACKS:
        assert attack.must_pass <= attack.honest, attack.file
        assert set(attack.statuses) <= set(PART1), attack.file


@pytest.mark.parametrize("attack", ATTACKS, ids=str)
def test_a_channel_attack_gains_nothing_and_costs_its_task_only(attack, tmp_path):
    missing = sorted(attack.needs - cli_options())
    if missing:
        pytest.skip(f"needs the grader's {', '.join(missing)}")
    sandbox = Sandbox.create(tmp_path, HOSTILE / attack.file)
    run = grade(sandbox, attack)
    _fail_with(all_violations(run, sandbox, attack), run, attack)


def _defused_groups() -> list[tuple[Attack, ...]]:
    groups: dict[str, list[Attack]] = {}
    for attack in ATTACKS:
        groups.setdefault(_code_key(defused((HOSTILE / attack.file).read_text())), []).append(attack)
    return [tuple(group) for group in groups.values()]


@pytest.mark.parametrize(
    "group", _defused_groups(), ids=lambda group: f"{group[0]}" + (f"+{len(group) - 1}" if len(group) > 1 else "")
)
def test_without_the_attack_the_file_earns_exactly_its_honest_tasks(group, tmp_path):
    """Grades each distinct attack-free version once (in a worker, as the attacks are)."""
    honest = {attack.honest for attack in group}
    assert len(honest) == 1, f"files with the same honest code state different honest tasks: {group}"
    submission = tmp_path / "defused.py"
    submission.write_text(defused((HOSTILE / group[0].file).read_text()))
    report = tmp_path / "report.json"
    command = check_command(submission, report, force_worker="--isolation" in cli_options(),
                            task_timeout=max(a.task_timeout for a in group))
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=outer_timeout())
    assert result.returncode == cli.EXIT_OK, result.stderr[-2000:]
    tasks = {t["id"]: t["status"] for t in json.loads(report.read_text())["tasks"]}
    passed = {tid for tid, status in tasks.items() if status == "passed"}
    assert passed == honest.pop(), {tid: tasks[tid] for tid in PART1}
