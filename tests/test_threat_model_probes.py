"""Parts 2 and 3 decide from evidence the submission cannot forge: forging submissions gain nothing.

Every file ``tests/hostile/part2/attack_*.py`` and ``tests/hostile/part3/attack_*.py`` is a whole
submission of its part that breaks one clause of the contract and forges what a check once judged:

* the observers module's results, or the observers module itself;
* the parameters and modules a model reports (``named_parameters()``, ``requires_grad``);
* the gradient mode a validation or evaluation pass shows (``torch.is_grad_enabled``, hooks);
* the records the grader keeps of a training run;
* the history ``train`` returns;
* checkpoint files as seen from inside the submission's process.

Each file is graded by the real command line (``fmlgrade check FILE --part N --profile quick
--json OUT``, in a subprocess, at the grader's default isolation), and

* the broken tasks do not pass and every other task of the part does, so the forging costs the
  honest code nothing and earns the broken code nothing;
* the contract-correct version of the files gets every task of the part, so the checks that the
  attacks fail are not simply failing everything. That version is the file with each line
  marked ``# contract: CODE`` replaced by ``CODE``, a marker alone on its line turned into that
  code, and the lines between ``# forge: begin`` and ``# forge: end`` removed. All files of a
  part share it, so it is graded once.

Forging code reaches into the grader's machinery, so its report may hold "for the instructor:"
notes (see ``harness/tamper_scan.py``); the contract version's report holds no problem at all.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from fmlgrade.spec.tasks import TASKS

pytestmark = pytest.mark.slow

HOSTILE = Path(__file__).parent / "hostile"
#: How long one grading may take before the test gives up on it (it hung).
OUTER_TIMEOUT = 600
#: What each part's checks need installed.
NEEDS = {2: "torch", 3: "torchvision"}


def _tasks_of(part: int) -> frozenset[str]:
    return frozenset(task.id for task in TASKS if task.part == part)


@dataclass(frozen=True)
class Attack:
    """One hostile file of a part and the tasks it breaks."""

    part: int
    file: str
    broken: frozenset[str]

    @property
    def path(self) -> Path:
        return HOSTILE / f"part{self.part}" / self.file

    def __str__(self) -> str:
        return self.file.removeprefix("attack_").removesuffix(".py")


def _attack(part: int, file: str, *broken: str) -> Attack:
    return Attack(part, file, frozenset(broken))


ATTACKS = (
    _attack(2, "attack_2_1a_observers_patched.py", "2.1a"),
    _attack(2, "attack_2_1a_parameters_overridden.py", "2.1a"),
    _attack(2, "attack_2_2_grad_mode_forged.py", "2.2"),
    _attack(2, "attack_2_2_records_rewritten.py", "2.2"),
    _attack(2, "attack_2_2_history_forged.py", "2.2"),
    _attack(3, "attack_3_1a_forged_freezing.py", "3.1a"),
    _attack(3, "attack_3_4_forged_checkpoint_files.py", "3.4"),
    _attack(3, "attack_3_5_forged_training_records.py", "3.5"),
    _attack(3, "attack_3_6_forged_eval_mode.py", "3.6"),
    _attack(3, "attack_3_observers_replaced.py", "3.1a", "3.4", "3.6"),
)
PARTS = sorted({attack.part for attack in ATTACKS})

_MARKER = re.compile(r"^(?P<indent>\s*)(?P<code>.*?)\s*# contract:(?P<fix>.*)$")


def contract_version(source: str) -> str:
    """``source`` as the contract wants it: broken lines fixed, forging blocks removed."""
    lines, forging = [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == "# forge: begin":
            forging = True
        elif stripped == "# forge: end":
            forging = False
        elif not forging:
            match = _MARKER.match(line)
            if match is None:
                lines.append(line)
            elif match["code"]:  # broken code with its fix after the marker (nothing: the line goes)
                if match["fix"].strip():
                    lines.append(match["indent"] + match["fix"].strip())
            else:  # a marker alone: the fix is a line that the broken version leaves out
                lines.append(match["indent"] + match["fix"][1:])
    assert not forging, "a forging block is not closed"
    return "\n".join(lines) + "\n"


def _code_key(source: str) -> str:
    """The code of ``source`` without docstrings and comments: equal keys grade alike."""
    tree = ast.parse(source)
    if tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant):
        tree.body = tree.body[1:]
    return ast.dump(tree)


def _needs(part: int) -> None:
    if importlib.util.find_spec(NEEDS[part]) is None:
        pytest.skip(f"Part {part}'s checks need {NEEDS[part]}, which is not installed")


def grade(submission: Path, part: int, *, honest: bool) -> dict[str, dict]:
    """Grade ``submission``'s part ``part`` with the command line; the report's tasks by id."""
    report = submission.parent / "report.json"
    command = [
        sys.executable, "-m", "fmlgrade.harness", "check", str(submission),
        "--part", str(part), "--profile", "quick", "--json", str(report), "--quiet",
    ]
    result = subprocess.run(command, cwd=submission.parent, capture_output=True, text=True, timeout=OUTER_TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    data = json.loads(report.read_text())
    problems = [p for p in data.get("problems", []) if honest or not str(p).startswith("for the instructor:")]
    assert not problems, problems
    return {task["id"]: task for task in data["tasks"] if task["id"] in _tasks_of(part)}


def _summary(tasks: dict[str, dict]) -> str:
    return "\n".join(
        f"{tid}: {task['status']}\n    " + task.get("feedback", "")[:1200].replace("\n", "\n    ")
        for tid, task in sorted(tasks.items())
    )


@pytest.mark.parametrize("attack", ATTACKS, ids=str)
def test_the_forgery_earns_nothing(attack: Attack, tmp_path: Path) -> None:
    _needs(attack.part)
    submission = tmp_path / f"part{attack.part}.py"
    submission.write_text(attack.path.read_text())
    tasks = grade(submission, attack.part, honest=False)
    passed = {tid for tid, task in tasks.items() if task["status"] == "passed"}
    assert not passed & attack.broken, f"{attack}: a broken task passed:\n{_summary(tasks)}"
    expected = _tasks_of(attack.part) - attack.broken
    assert passed == expected, f"{attack}: an honest task did not pass:\n{_summary(tasks)}"


@pytest.mark.parametrize("part", PARTS)
def test_every_attack_file_of_a_part_has_the_same_contract_version(part: int) -> None:
    attacks = [attack for attack in ATTACKS if attack.part == part]
    keys = {attack.file: _code_key(contract_version(attack.path.read_text())) for attack in attacks}
    assert len(set(keys.values())) == 1, f"the contract versions of the Part {part} attack files differ"
    for attack in attacks:
        source = attack.path.read_text()
        assert contract_version(source) != source, f"{attack} marks nothing as broken"
    on_disk = {path.name for path in (HOSTILE / f"part{part}").glob("attack_*.py")}
    assert on_disk == {attack.file for attack in attacks}


@pytest.mark.parametrize("part", PARTS)
def test_the_contract_version_gets_every_task_of_the_part(part: int, tmp_path: Path) -> None:
    _needs(part)
    first = next(attack for attack in ATTACKS if attack.part == part)
    submission = tmp_path / f"part{part}.py"
    submission.write_text(contract_version(first.path.read_text()))
    tasks = grade(submission, part, honest=True)
    failing = {tid: task for tid, task in tasks.items() if task["status"] != "passed"}
    assert not failing, _summary(failing)
    assert set(tasks) == _tasks_of(part)
