"""Part 3's verdicts rest on evidence the submission cannot forge: hostile submissions gain nothing.

Every file ``tests/hostile/part3/attack_*.py`` is a whole Part 3 submission that breaks a
clause of the contract and forges what a check used to judge: ``requires_grad`` flags and
parameter lists (3.1a), the checkpoint files as seen from inside the submission's process
(3.4), the records the grader's model keeps of a training run (3.5), the mode and gradient
state of evaluation (3.6), and the observers module itself. Each is graded by the real
command line (``fmlgrade check FILE --part 3 --profile quick --json OUT``, in a subprocess,
at the grader's default isolation), and

* the broken tasks do not pass, the others do (the forging costs the honest code nothing and
  earns the broken code nothing);
* the contract-correct version of the file (each line marked ``# contract: CODE`` replaced by
  ``CODE``, a marker alone on its line turned into that code, the lines between
  ``# forge: begin`` and ``# forge: end`` removed) gets every Part 3 task: the checks the
  attacks fail are not failing everything. All files share that version, so it is graded once.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("torchvision")

from fmlgrade.spec.tasks import TASKS  # noqa: E402

pytestmark = pytest.mark.slow

HOSTILE = Path(__file__).parent / "hostile" / "part3"
PART3 = frozenset(task.id for task in TASKS if task.part == 3)
#: How long one grading may take before the test gives up on it (it hung).
OUTER_TIMEOUT = 600


@dataclass(frozen=True)
class Attack:
    """One hostile file and the tasks it breaks."""

    file: str
    broken: frozenset[str]

    def __str__(self) -> str:
        return self.file.removeprefix("attack_").removesuffix(".py")


ATTACKS = (
    Attack("attack_3_1a_forged_freezing.py", frozenset({"3.1a"})),
    Attack("attack_3_4_forged_checkpoint_files.py", frozenset({"3.4"})),
    Attack("attack_3_5_forged_training_records.py", frozenset({"3.5"})),
    Attack("attack_3_6_forged_eval_mode.py", frozenset({"3.6"})),
    Attack("attack_3_observers_replaced.py", frozenset({"3.1a", "3.4", "3.6"})),
)

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


def grade(submission: Path, folder: Path, *, honest: bool = False) -> dict[str, dict]:
    """Grade ``submission``'s Part 3 with the command line; the report's tasks by id.

    Its problems may only be notes for the instructor about code that reaches into the grader
    (none for an ``honest`` file).
    """
    report = folder / "report.json"
    command = [
        sys.executable, "-m", "fmlgrade.harness", "check", str(submission),
        "--part", "3", "--profile", "quick", "--json", str(report), "--quiet",
    ]
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=OUTER_TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    data = json.loads(report.read_text())
    problems = data.get("problems", [])
    assert not [p for p in problems if honest or not p.startswith("for the instructor:")], problems
    return {task["id"]: task for task in data["tasks"] if task["id"] in PART3}


def _summary(tasks: dict[str, dict]) -> str:
    return "\n".join(
        f"{tid}: {task['status']}\n    " + task.get("feedback", "")[:800].replace("\n", "\n    ")
        for tid, task in sorted(tasks.items())
    )


@pytest.mark.parametrize("attack", ATTACKS, ids=str)
def test_the_forgery_earns_nothing(attack: Attack, tmp_path: Path) -> None:
    submission = tmp_path / "part3.py"
    submission.write_text((HOSTILE / attack.file).read_text())
    tasks = grade(submission, tmp_path)
    passed = {tid for tid, task in tasks.items() if task["status"] == "passed"}
    assert not passed & attack.broken, f"{attack}: a broken task passed:\n{_summary(tasks)}"
    assert passed == PART3 - attack.broken, f"{attack}: an honest task did not pass:\n{_summary(tasks)}"


def test_every_attack_file_has_the_same_contract_version() -> None:
    keys = {attack.file: _code_key(contract_version((HOSTILE / attack.file).read_text())) for attack in ATTACKS}
    assert len(set(keys.values())) == 1, "the contract versions of the attack files differ"
    for attack in ATTACKS:
        source = (HOSTILE / attack.file).read_text()
        assert contract_version(source) != source, f"{attack} marks nothing as broken"
    assert {path.name for path in HOSTILE.glob("attack_*.py")} == {attack.file for attack in ATTACKS}


def test_the_contract_version_gets_every_part3_task(tmp_path: Path) -> None:
    submission = tmp_path / "part3.py"
    submission.write_text(contract_version((HOSTILE / ATTACKS[0].file).read_text()))
    tasks = grade(submission, tmp_path, honest=True)
    failing = {tid: task for tid, task in tasks.items() if task["status"] != "passed"}
    assert not failing, _summary(failing)
    assert set(tasks) == PART3
