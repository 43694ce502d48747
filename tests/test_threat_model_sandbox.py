"""The threat model against the operating-system sandbox: attacks written against the worker's hooks gain nothing.

The files ``tests/hostile/sandbox/attack_*.py`` are Part 1 submissions, each
with honest code and one attack that gets past the worker's Python hooks (the
audit hook, the import blocker) the way an attacker would, and then goes for
the grader's answers, files and secrets (issue 9):

* **path tricks**: ``os.open(relative, dir_fd=...)`` from a deep scratch folder,
  which the audit hook judges from the current folder and the kernel from the
  descriptor: reading the reference solution, writing outside the scratch
  folder, reading other processes' ``/proc/<pid>/mem``;
* **the guards changed from inside**: the file policy widened through ``gc``,
  the import blocker and the audit hook removed, programs started with
  ``_posixsubprocess.fork_exec``, the hook's state overwritten with ``ctypes``;
* **symbolic links** planted for the grader to follow when it shares files or
  removes the worker's folder;
* **secrets**: the environment of every process in sight, other students'
  work, earlier reports, the grader's working folder.

They are graded like the files of :mod:`test_threat_model` (whose machinery
this module uses: the sandbox of a grader's surroundings, the command line,
every check of the report and of what is left around the grader), at the
isolation the grader picks by default. Where that is below ``user`` only the
Python hooks stand in the way, which these attacks get past by design: the
tests are skipped there, naming the level.

``FMLGRADE_THREAT_SANDBOX`` (a ``--sandbox`` level) and
``FMLGRADE_THREAT_WORKER_USER`` (a ``--worker-user``) grade them at another
level instead (``FMLGRADE_THREAT_ISOLATION=none`` in-process, as for the other
threat-model tests), to see which attacks are real where: the tests then fail
for those that succeed. ``test_the_attack_is_real_where_only_hooks_stand``
does that for each attack at ``--sandbox process --worker-user self`` and
asserts that it *does* gain there, so that an attack that quietly stopped
working cannot pass for a sandbox that holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import test_threat_model as tm

from fmlgrade.harness import cli, sandbox
from fmlgrade.harness.isolation import IsolationSettings

pytestmark = pytest.mark.slow

HOSTILE = tm.HOSTILE / "sandbox"
Attack = tm.Attack
W7, ALL = tm.W7, tm.ALL
#: convolve raises what the attack collected, so that a leak lands in the report.
LEAKING = {"1.7": tm.CRASHED}

ATTACKS: tuple[Attack, ...] = (
    # path tricks past the audit hook
    Attack("attack_path_dir_fd_reference.py", W7, W7),
    Attack("attack_path_write_outside.py", ALL, ALL),
    Attack("attack_path_proc_mem.py", ALL, W7, LEAKING),
    # the guards changed from inside
    Attack("attack_guard_gc_policy.py", W7, W7),
    Attack("attack_guard_meta_path.py", W7, W7),
    Attack("attack_guard_fork_exec.py", W7, W7),
    Attack("attack_guard_ctypes.py", W7, W7),
    # symbolic links for the grader to follow
    Attack("attack_symlink_plant.py", ALL, ALL),
    # secrets
    Attack("attack_secrets_environ.py", ALL, W7, LEAKING),
    Attack("attack_secrets_grader_files.py", ALL, W7, LEAKING),
)

#: The attacks that gain something where only the worker's Python hooks stand (``--sandbox process`` with
#: the grader's own user). Part 1 shares no files, so the planted links have nothing to mislead there:
#: tests/test_sandbox.py plants them for a grader that shares.
REAL_WITH_HOOKS_ONLY = frozenset(a.file for a in ATTACKS) - {"attack_symlink_plant.py"}


# -- the level the attacks are graded at ---------------------------------------------------------


def requested_sandbox() -> str | None:
    return os.environ.get("FMLGRADE_THREAT_SANDBOX") or None


def requested_worker_user() -> str | None:
    return os.environ.get("FMLGRADE_THREAT_WORKER_USER") or None


def expected_isolation(sandbox_level: str | None, worker_user: str | None) -> str:
    """The level the grader reports for a submission at these settings."""
    if os.environ.get("FMLGRADE_THREAT_ISOLATION") == "none":
        return "none"
    settings = IsolationSettings(sandbox=sandbox_level or "auto", user=worker_user or "auto")
    return settings.worker_level()[0]


@pytest.fixture
def graded_at(monkeypatch):
    """Make :func:`test_threat_model.grade` pass ``--sandbox``/``--worker-user``; returns the level reported."""

    def use(sandbox_level: str | None, worker_user: str | None) -> str:
        original = tm.check_command

        def command(*args, **kwargs):
            extra = []
            if sandbox_level:
                extra += ["--sandbox", sandbox_level]
            if worker_user:
                extra += ["--worker-user", worker_user]
            return original(*args, **kwargs) + extra

        monkeypatch.setattr(tm, "check_command", command)
        return expected_isolation(sandbox_level, worker_user)

    return use


def isolation_violations(run: tm.Run, level: str) -> list[str]:
    """What is wrong with the report's statement of the isolation in force."""
    try:
        report = json.loads(run.report_text or "")
    except json.JSONDecodeError:
        return []  # reported by the threat model's checks
    if not isinstance(report, dict):
        return []
    problems = []
    if report.get("isolation") != level:
        problems.append(f"the report says isolation {report.get('isolation')!r}, but {level!r} was in force")
    if not isinstance(report.get("isolation_note"), str):
        problems.append(f"the report's isolation_note is {report.get('isolation_note')!r}, not a text")
    return problems


def _grade(tmp_path: Path, attack: Attack) -> tuple[tm.Sandbox, tm.Run]:
    grader_sandbox = tm.Sandbox.create(tmp_path, HOSTILE / attack.file)
    return grader_sandbox, tm.grade(grader_sandbox, attack)


# -- the tests ------------------------------------------------------------------------------------


def test_every_sandbox_attack_has_its_expectations():
    files = {path.name for path in HOSTILE.iterdir() if path.name.startswith("attack_")}
    assert files == {attack.file for attack in ATTACKS}
    for attack in ATTACKS:
        assert attack.must_pass <= attack.honest, attack.file
        assert set(attack.statuses) <= ALL, attack.file
        text = (HOSTILE / attack.file).read_text()
        assert text.count(tm.ATTACK_START) == text.count(tm.ATTACK_END) >= 1, attack.file
    assert REAL_WITH_HOOKS_ONLY <= files


@pytest.mark.parametrize("attack", ATTACKS, ids=str)
def test_a_sandbox_attack_gains_nothing(attack, tmp_path, graded_at):
    level = graded_at(requested_sandbox(), requested_worker_user())
    if level in ("process",) and requested_sandbox() is None:
        pytest.skip(
            f"the grader's default isolation here is {level!r} ({sandbox.namespaces_work()[1]}): only the "
            "worker's Python hooks stand in the way, which these attacks get past by design"
        )
    grader_sandbox, run = _grade(tmp_path, attack)
    tm._fail_with(tm.all_violations(run, grader_sandbox, attack) + isolation_violations(run, level), run, attack)


@pytest.mark.parametrize("attack", sorted(REAL_WITH_HOOKS_ONLY), ids=lambda f: f.removesuffix(".py")[7:])
def test_the_attack_is_real_where_only_hooks_stand(attack, tmp_path, graded_at):
    """At ``--sandbox process`` as the grader's own user the attack gets past the hooks and gains something.

    Proves the files attack for real: a sandbox attack that stopped working would otherwise pass for a
    sandbox that holds. Every gain it makes here stays inside the test's own folders.
    """
    if os.environ.get("FMLGRADE_THREAT_ISOLATION") == "none":
        pytest.skip("FMLGRADE_THREAT_ISOLATION=none grades in-process")
    entry = next(a for a in ATTACKS if a.file == attack)
    level = graded_at("process", "self")
    grader_sandbox, run = _grade(tmp_path, entry)
    problems = tm.all_violations(run, grader_sandbox, entry)
    assert not isolation_violations(run, level)
    gained = [p for p in problems if p.startswith(("points beyond", "grader file", "files added"))
              or " leaked into " in p]
    assert gained, (
        f"{attack} gained nothing at --sandbox process, where only the worker's Python hooks stand: "
        f"the attack no longer works ({problems or 'no violation at all'})"
    )


@pytest.mark.parametrize(
    ("sandbox_level", "worker_user"), [(None, None), ("process", "self")], ids=["default", "process"]
)
def test_the_report_names_the_isolation_in_force(sandbox_level, worker_user, tmp_path, graded_at):
    level = graded_at(sandbox_level, worker_user)
    honest = tm.HONEST
    grader_sandbox = tm.Sandbox.create(tmp_path, tm.HOSTILE / honest.file)
    run = tm.grade(grader_sandbox, honest)
    problems = tm.all_violations(run, grader_sandbox, honest) + isolation_violations(run, level)
    if run.report_text is not None and "isolation" not in json.loads(run.report_text):
        problems.append("the report has no 'isolation' field")
    tm._fail_with(problems, run, honest)


def test_grading_below_the_required_isolation_is_refused(tmp_path):
    """``--require-isolation`` above what is in force: no grading, no report, a message naming the level."""
    submission = tmp_path / "honest.py"
    submission.write_text((tm.HOSTILE / tm.HONEST.file).read_text())
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "fmlgrade.harness", "check", str(submission), "--part", "1",
               "--profile", "quick", "--json", str(report)]
    refused = subprocess.run([*command, "--isolation", "none", "--require-isolation", "process"],
                             capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert refused.returncode == cli.EXIT_USAGE, refused.stderr[-2000:]
    assert "process" in refused.stderr and "Traceback" not in refused.stderr
    assert not report.exists()
    refused = subprocess.run([*command, "--sandbox", "process", "--require-isolation", "namespace"],
                             capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert refused.returncode == cli.EXIT_USAGE, refused.stderr[-2000:]
    assert "namespace" in refused.stderr and not report.exists()


# -- the expectations themselves: without its attack, each file earns its honest tasks ------------


def _defused_groups() -> list[tuple[Attack, ...]]:
    groups: dict[str, list[Attack]] = {}
    for attack in ATTACKS:
        groups.setdefault(tm._code_key(tm.defused((HOSTILE / attack.file).read_text())), []).append(attack)
    return [tuple(group) for group in groups.values()]


@pytest.mark.parametrize(
    "group", _defused_groups(), ids=lambda group: f"{group[0]}" + (f"+{len(group) - 1}" if len(group) > 1 else "")
)
def test_without_the_attack_the_file_earns_exactly_its_honest_tasks(group, tmp_path):
    honest = {attack.honest for attack in group}
    assert len(honest) == 1, f"files with the same honest code state different honest tasks: {group}"
    submission = tmp_path / "defused.py"
    submission.write_text(tm.defused((HOSTILE / group[0].file).read_text()))
    report = tmp_path / "report.json"
    command = tm.check_command(submission, report, force_worker=False)
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=tm.outer_timeout())
    assert result.returncode == cli.EXIT_OK, result.stderr[-2000:]
    tasks = {t["id"]: t["status"] for t in json.loads(report.read_text())["tasks"]}
    passed = {tid for tid, status in tasks.items() if status == "passed"}
    assert passed == honest.pop(), {tid: tasks[tid] for tid in tm.PART1}
