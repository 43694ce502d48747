"""The threat model, proven: a hostile submission earns nothing beyond its honest code.

Every file ``tests/hostile/attack_*.py`` is a Part 1 submission with honest code
for some tasks and one attack (importing the reference, monkeypatching numpy or
pytest, ending the process, forging the report, lying return values, reading the
grader's files, endless loops, memory and fork bombs, deleting files, leaving
processes behind, broken files). Each is graded by the real command line,
``fmlgrade check FILE --part 1 --profile quick --json ...``, in a subprocess,
from a sandbox folder that holds what a grader has around a submission: other
students' work, earlier reports, notes, and grader-only values in the
environment. The test then asserts

* the command ends normally (exit code 0) within a time limit, without a traceback;
* the JSON report exists and is the grader's own (its structure, every task,
  the grader's version, nothing forged);
* no task scores more than the file's honest code earns (the expected set of
  passed tasks is stated per attack, and ``test_without_the_attack...`` checks
  that statement by grading the file with its attack lines removed), tasks
  the attack does not touch are still graded, and attacked tasks get the
  stated status (``timeout`` for an endless loop, say);
* nothing of the grader's is changed, deleted, added or leaked: every file
  of the sandbox is as it was, the only new file is the report, no value
  the grader keeps to itself shows up in the report, the output or a new file,
  and no fake result is printed;
* no process started by the submission is alive after grading.

Grading options that isolate submissions (``--task-timeout``, ``--memory-limit``)
are passed when ``fmlgrade check --help`` lists them; ``--isolation`` is left at
the grader's default (set ``FMLGRADE_THREAT_ISOLATION=none`` to see what each
attack does to in-process grading, or ``worker``). The attacks that would do
real harm in-process (deleting files, a memory bomb) always get
``--isolation worker``, and are skipped where the grader has no such option.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pytest

from fmlgrade.harness import cli
from fmlgrade.harness.report import grader_version
from fmlgrade.spec.tasks import TASKS

#: A line of the project's tests that the file-reading attack goes looking for.
PROJECT_CANARY = "tm-project-canary-e41d7c"
PROJECT = "a line of the project's tests"

pytestmark = pytest.mark.slow

HOSTILE = Path(__file__).parent / "hostile"
PART1 = tuple(task.id for task in TASKS if task.part == 1)
ALL = frozenset(PART1)
POINTS = {task.id: task.points for task in TASKS}

#: Soft limit of one check (the in-process time limit; also passed to a worker).
CHECK_TIMEOUT = 10
#: Limit of one task in a worker, when the grader has ``--task-timeout``.
TASK_TIMEOUT = 20
#: Memory of a worker in MiB, when the grader has ``--memory-limit``.
MEMORY_LIMIT = 2048
#: The forged report's and forged output's text (the attack files build it at run time).
FORGED = "FORGED-7f3a"
#: What the forged output says (an honest Part 1 run never totals more than 20/37).
FAKE_RESULTS = (FORGED, "total 37/37 (100%)")
#: A fixed path the file-reading attack leaks to; tests running at the same time share it, so
#: only this run's own random values count there.
EXFIL_FILE = Path("/tmp/fmlgrade-hostile-exfil.txt")
#: A fixed path the forging attack writes its report to (harmless there; removed afterwards).
FORGED_FILE = Path("/tmp/fmlgrade-hostile-forged-report.json")
#: The only file grading may add to the sandbox ...
REPORT = "out/report.json"
#: ... besides what hypothesis itself keeps in the grader's working folder (its cache of
#: constants; still searched for leaked values).
GRADER_LITTER = ("cwd/.hypothesis/",)
TASK_KEYS = {"id", "title", "status", "score", "max_score", "feedback"}
STATUSES = {"passed", "failed", "error", "not_attempted", "timeout"}
NOT_PASSED = frozenset(STATUSES - {"passed"})
CRASHED = frozenset({"error", "failed"})
#: Exit codes of a normal end: 0, and any documented "graded, not full marks" code.
OK_CODES = {cli.EXIT_OK} | {
    getattr(cli, name)
    for name in dir(cli)
    if name.startswith("EXIT_") and any(word in name for word in ("MARKS", "PARTIAL", "NOT_FULL", "INCOMPLETE"))
}


def but(*ids: str) -> frozenset[str]:
    return ALL - set(ids)


@dataclass(frozen=True)
class Attack:
    """One hostile file and what grading it must give."""

    file: str
    #: The tasks the file's code earns with its attack lines removed.
    honest: frozenset[str]
    #: The tasks that must still pass despite the attack (the grader survives and grades them).
    must_pass: frozenset[str]
    #: Attacked tasks and the statuses they may get.
    statuses: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: A pattern one of the report's problems must match.
    problem: str | None = None
    #: Grader options without which the attack is not run (it would do real harm in-process).
    needs: frozenset[str] = frozenset()
    #: The argv marker of processes the attack starts (``sleep 600.0917NN``).
    marker: str | None = None
    #: Seconds to wait after the grader ends before looking (late writers).
    settle: float = 0.0
    #: ``--task-timeout`` for this file.
    task_timeout: float = TASK_TIMEOUT

    def __str__(self) -> str:
        return self.file.removesuffix(".txt").removesuffix(".py").removeprefix("attack_")


W7 = but("1.7")
W78 = but("1.7", "1.8")
NOT_DEFINED = {"1.7": frozenset({"not_attempted"}), "1.8": frozenset({"not_attempted"})}
LOOP = {"1.6": frozenset({"timeout"})}

ATTACKS: tuple[Attack, ...] = (
    # the reference solution and the spec's internals
    Attack("attack_import_reference.py", W7, W7),
    Attack("attack_import_reference_importlib.py", W7, W7),
    Attack("attack_read_reference_source.py", W7, W7),
    # 1.1c and 1.2b fail, so 1.5 runs the student's network and training on the reference layers,
    # which a worker reaches through call-backs: about 12 s on its own, too close to 20 s.
    Attack("attack_import_spec_oracles.py", but("1.1c", "1.2b"), but("1.1c", "1.2b"), task_timeout=60),
    Attack("attack_grab_reference_at_runtime.py", W7, W7),
    Attack("attack_steal_expected_from_frames.py", W7, W7),
    # monkeypatching what the checks use
    Attack("attack_patch_libraries_at_import.py", W7, W7),
    Attack("attack_patch_numpy_in_call.py", W7, W7),
    Attack("attack_patch_hypothesis.py", W7, W7),
    Attack("attack_patch_pytest.py", W7, W7),
    Attack("attack_patch_harness_in_call.py", W7, W7),
    # ending the process
    # convolve is never defined, so 1.8 (which needs it) is not attempted either.
    Attack("attack_sys_exit_at_import.py", ALL, W78, NOT_DEFINED, problem="SystemExit"),
    Attack("attack_sys_exit_in_task.py", ALL, W7, {"1.7": CRASHED}),
    Attack("attack_os_exit_at_import.py", ALL, frozenset(), {"1.7": NOT_PASSED}, problem="."),
    Attack("attack_os_exit_in_task.py", ALL, W7, {"1.7": CRASHED}),
    Attack("attack_keyboard_interrupt_at_import.py", ALL, frozenset(), {"1.7": NOT_PASSED}, problem="."),
    Attack("attack_keyboard_interrupt_in_task.py", ALL, W7, {"1.7": CRASHED}),
    # 1.7 passes where the kill is refused (the honest code after it runs), fails where it lands.
    Attack("attack_kill_grader.py", ALL, W7, {"1.7": CRASHED | {"passed"}}),
    # forged output and lying results
    Attack("attack_forge_report.py", W7, W7, marker="600.091719", settle=2.0),
    Attack("attack_lying_objects.py", W7, W7),
    Attack("attack_lying_ndarray_subclass.py", W7, W7),
    Attack("attack_pickle_reduce.py", W7, W7),
    # the grader's files and secrets
    Attack("attack_read_grader_files.py", ALL, W7, {"1.7": CRASHED}),
    Attack("attack_delete_files.py", ALL, ALL, needs=frozenset({"--isolation"})),
    # time, memory and processes
    Attack("attack_endless_loop.py", ALL, but("1.6"), LOOP),
    Attack("attack_endless_loop_swallowing.py", ALL, but("1.6"), LOOP),
    Attack("attack_endless_loop_disarmed.py", ALL, but("1.6"), LOOP),
    Attack("attack_endless_c_call.py", ALL, but("1.6"), LOOP),
    Attack(
        "attack_memory_bomb.py", ALL, but("1.6", "1.7"),
        {"1.6": NOT_PASSED, "1.7": NOT_PASSED},
        needs=frozenset({"--isolation", "--memory-limit"}),
    ),
    Attack("attack_fork_bomb.py", ALL, ALL, marker="600.091711"),
    Attack("attack_background_process.py", ALL, ALL, marker="600.091713"),
    # broken files
    Attack(
        "attack_syntax_error.py.txt", W7, frozenset(), {t: frozenset({"not_attempted"}) for t in PART1},
        problem="syntax error",
    ),
    Attack("attack_import_error.py", ALL, W78, NOT_DEFINED, problem="not_a_module"),
    # what the submission says, aimed at the instructor: escape sequences, bidi overrides, NUL, 2 MB
    # (its import-time message is a problem, shown as visible escapes; tests/test_untrusted_text.py
    # checks that no such character reaches the output, the JSON or results.json)
    Attack("attack_escape_sequences.py", ALL, W7, {"1.7": CRASHED}, problem=r"\\x1b\]0;fmlgrade"),
)

HONEST = Attack("honest_part1.py", ALL, ALL)


# -- the grader's command line -----------------------------------------------------------------


@lru_cache(maxsize=1)
def cli_options() -> frozenset[str]:
    """The options ``fmlgrade check`` has (``--isolation`` and friends arrive with the worker)."""
    help_text = subprocess.run(
        [sys.executable, "-m", "fmlgrade.harness", "check", "--help"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    return frozenset(re.findall(r"--[a-z][a-z-]*", help_text))


def isolating() -> bool:
    return "--isolation" in cli_options()


def outer_timeout() -> float:
    """How long one grading may take before the test gives up on it (it hung)."""
    return 150.0 if "--task-timeout" in cli_options() else 90.0


def check_command(
    submission: Path, report: Path, *, force_worker: bool, task_timeout: float = TASK_TIMEOUT
) -> list[str]:
    options = cli_options()
    command = [
        sys.executable, "-m", "fmlgrade.harness", "check", str(submission),
        "--part", "1", "--profile", "quick", "--json", str(report),
    ]
    if "--check-timeout" in options:
        command += ["--check-timeout", str(CHECK_TIMEOUT)]
    if "--task-timeout" in options:
        command += ["--task-timeout", f"{task_timeout:g}"]
    if "--memory-limit" in options:
        command += ["--memory-limit", str(MEMORY_LIMIT)]
    isolation = "worker" if force_worker else os.environ.get("FMLGRADE_THREAT_ISOLATION")
    if isolation and "--isolation" in options:
        command += ["--isolation", isolation]
    return command


# -- the sandbox: what a grader has around a submission ----------------------------------------


def _reference_line() -> str:
    """A line of the reference convolve's source that no feedback would ever quote."""
    from fmlgrade.solutions.reference import part1

    lines = [line.strip() for line in inspect.getsource(part1.convolve).splitlines()]
    return next((line.strip('"') for line in lines if line.startswith('"""') and len(line) > 20), lines[0])


def _shadow_line() -> str | None:
    try:
        first = Path("/etc/shadow").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return first if len(first) > 8 else None


@dataclass
class Sandbox:
    root: Path
    submission: Path
    cwd: Path
    report: Path
    logs: Path
    run_id: str
    #: name -> value of everything the grader keeps to itself.
    secrets: dict[str, str]
    #: The names of the secrets that are random for this run.
    per_run: frozenset[str] = frozenset()
    before: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, tmp_path: Path, source: Path) -> Sandbox:
        run_id = uuid.uuid4().hex
        token = lambda what: f"tm-{what}-{uuid.uuid4().hex[:16]}"  # noqa: E731
        secrets = {
            "an environment variable": token("env"),
            "another student's submission": token("student"),
            "the grader's notes in its working folder": token("notes"),
            "another student's report": token("report"),
            PROJECT: PROJECT_CANARY,
            "the reference solution's source": _reference_line(),
        }
        shadow = _shadow_line()
        if shadow:
            secrets["/etc/shadow"] = shadow
        root = tmp_path / "hostile-sandbox"
        submissions, cwd, out = root / "submissions", root / "cwd", root / "out"
        for folder in (submissions, cwd, out / "other_student"):
            folder.mkdir(parents=True)
        submission = submissions / source.name.removesuffix(".txt")
        shutil.copyfile(source, submission)
        other = secrets["another student's submission"]
        (submissions / "other_student.py").write_text(f'SECRET_ANSWER = "{other}"\n\ndef add_padding(x, p): ...\n')
        (cwd / "grader_notes.txt").write_text(secrets["the grader's notes in its working folder"] + "\n")
        (out / "other_student" / "report.json").write_text(
            json.dumps({"submission": "other_student.py", "note": secrets["another student's report"]})
        )
        for folder in (root, submissions, cwd, out):
            (folder / "CANARY.txt").write_text(f"grader file in {folder.name}\n")
        logs = tmp_path / "logs"
        logs.mkdir()
        per_run = frozenset(name for name, value in secrets.items() if value.startswith("tm-") and name != PROJECT)
        sandbox = cls(root, submission, cwd, out / "report.json", logs, run_id, secrets, per_run)
        sandbox.before = sandbox.snapshot()
        return sandbox

    def snapshot(self) -> dict[str, str]:
        files = {}
        for path in sorted(self.root.rglob("*")):
            try:
                if path.is_file() and not path.is_symlink():
                    files[path.relative_to(self.root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                continue
        return files


# -- processes ---------------------------------------------------------------------------------


def processes_of_run(run_id: str, marker: str | None) -> dict[int, str]:
    """Live processes that inherited this run's environment or carry the attack's argv marker."""
    needle = f"FMLGRADE_HOSTILE_RUN={run_id}".encode()
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        base = f"/proc/{entry}"
        try:
            with open(f"{base}/stat") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    continue
            with open(f"{base}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
        except (OSError, IndexError):
            continue
        hit = marker is not None and marker.encode() in argv
        if not hit:
            try:
                with open(f"{base}/environ", "rb") as handle:
                    hit = needle in handle.read()
            except OSError:
                pass
        if hit:
            found[int(entry)] = b" ".join(argv).decode(errors="replace").strip()
    return found


def kill_processes_of_run(run_id: str, marker: str | None) -> None:
    """SIGKILL what the run left behind (all of it carries this run's id or marker)."""
    for _ in range(20):
        alive = processes_of_run(run_id, marker)
        if not alive:
            return
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.2)


# -- one grading -------------------------------------------------------------------------------


@dataclass
class Run:
    code: int | None  # None: killed after the outer time limit
    seconds: float
    stdout: str
    stderr: str
    report_text: str | None
    leftovers: dict[int, str]
    after: dict[str, str]


def grade(sandbox: Sandbox, attack: Attack) -> Run:
    """Grade the sandbox's submission with the command line; collect everything to check."""
    command = check_command(
        sandbox.submission, sandbox.report, force_worker=bool(attack.needs), task_timeout=attack.task_timeout
    )
    env = {
        **os.environ,
        "FMLGRADE_HOSTILE_RUN": sandbox.run_id,
        "FMLGRADE_HOSTILE_SECRET_TOKEN": sandbox.secrets["an environment variable"],
        "OMP_NUM_THREADS": "1",
    }
    started = time.monotonic()
    # Output goes to files, never pipes: a process the submission leaves behind may hold them open.
    with open(sandbox.logs / "stdout", "wb") as out, open(sandbox.logs / "stderr", "wb") as err:
        process = subprocess.Popen(
            command, cwd=sandbox.cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            start_new_session=True,
        )
        try:
            code: int | None = process.wait(timeout=outer_timeout())
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
            code = None
    seconds = time.monotonic() - started
    if attack.settle:
        time.sleep(attack.settle)
    leftovers = processes_of_run(sandbox.run_id, attack.marker)
    kill_processes_of_run(sandbox.run_id, attack.marker)
    report_text = None
    if sandbox.report.is_file():
        report_text = sandbox.report.read_text(errors="replace")
    return Run(
        code=code,
        seconds=seconds,
        stdout=(sandbox.logs / "stdout").read_text(errors="replace"),
        stderr=(sandbox.logs / "stderr").read_text(errors="replace"),
        report_text=report_text,
        leftovers=leftovers,
        after=sandbox.snapshot(),
    )


# -- what must hold ----------------------------------------------------------------------------


def report_violations(run: Run, sandbox: Sandbox, attack: Attack) -> list[str]:
    """What is wrong with the report: missing, not the grader's, or more points than earned."""
    if run.report_text is None:
        return ["no JSON report was written"]
    try:
        report = json.loads(run.report_text)
    except json.JSONDecodeError as exc:
        return [f"the report is not JSON ({exc})"]
    problems: list[str] = []
    if not isinstance(report, dict) or not isinstance(report.get("tasks"), list):
        return [f"the report is not the grader's: {run.report_text[:300]!r}"]
    for key in ("submission", "score", "max_score", "tasks", "grader_version", "profile", "problems", "left_out"):
        if key not in report:
            problems.append(f"the report lacks {key!r}")
    if "forged" in report or FORGED in run.report_text:
        problems.append("the report is the forged one")
    if report.get("grader_version") != grader_version():
        problems.append(f"grader_version {report.get('grader_version')!r}, not {grader_version()!r}")
    if report.get("profile") != "quick":
        problems.append(f"profile {report.get('profile')!r}, not 'quick'")
    if report.get("submission") != sandbox.submission.name:
        problems.append(f"submission {report.get('submission')!r}, not {sandbox.submission.name!r}")
    tasks = report["tasks"]
    if [t.get("id") for t in tasks if isinstance(t, dict)] != [task.id for task in TASKS]:
        return [*problems, f"the report's tasks are not the grader's: {[t.get('id') for t in tasks]}"]
    by_id = {t["id"]: t for t in tasks}
    for task in TASKS:
        entry = by_id[task.id]
        if not TASK_KEYS <= set(entry) or entry["status"] not in STATUSES:
            problems.append(f"{task.id}: not a task entry of the grader: {entry}")
            continue
        if entry["max_score"] != task.points or not 0 <= entry["score"] <= entry["max_score"]:
            problems.append(f"{task.id}: score {entry['score']}/{entry['max_score']} (the task has {task.points})")
    if abs(report.get("score", -1) - sum(t["score"] for t in tasks)) > 1e-6:
        problems.append(f"the total {report.get('score')} is not the sum of the task scores")
    if abs(report.get("max_score", -1) - sum(POINTS.values())) > 1e-6:
        problems.append(f"max_score {report.get('max_score')}, not {sum(POINTS.values())}")
    passed = {tid for tid, t in by_id.items() if t["status"] == "passed"}
    stolen = sorted(tid for tid, t in by_id.items() if tid not in attack.honest and (tid in passed or t["score"] > 0))
    if stolen:
        problems.append(f"points beyond the honest code: {', '.join(stolen)} (honest: {sorted(attack.honest)})")
    not_graded = sorted(attack.must_pass - passed)
    if not_graded:
        shown = ", ".join(f"{tid} {by_id[tid]['status']}" for tid in not_graded)
        problems.append(f"honest tasks no longer graded: {shown}")
    for tid, allowed in attack.statuses.items():
        if by_id[tid]["status"] not in allowed:
            problems.append(f"{tid} is {by_id[tid]['status']!r}, expected one of {sorted(allowed)}")
    if attack.problem is not None:
        listed = [p for p in report.get("problems", []) if isinstance(p, str)]
        if not any(re.search(attack.problem, p) for p in listed):
            problems.append(f"no problem in the report matches {attack.problem!r}: {listed}")
    return problems


def after_effects(run: Run, sandbox: Sandbox, attack: Attack) -> list[str]:
    """What the attack changed around the grader: files, output, secrets, processes."""
    problems: list[str] = []
    for name, digest in sandbox.before.items():
        if name not in run.after:
            problems.append(f"grader file deleted: {name}")
        elif run.after[name] != digest:
            problems.append(f"grader file changed: {name}")
    new_files = sorted(set(run.after) - set(sandbox.before) - {REPORT})
    added = [name for name in new_files if not name.startswith(GRADER_LITTER)]
    if added:
        problems.append(f"files added around the grader: {', '.join(added)}")
    fakes = [fake for fake in FAKE_RESULTS if fake in run.stdout]
    if fakes:
        problems.append(f"fake results in the grader's output: {fakes}")
    places = {"the report": run.report_text or "", "the output": run.stdout + run.stderr}
    for name in new_files + [n for n in sandbox.before if n in run.after and run.after[n] != sandbox.before[n]]:
        try:
            places[name] = (sandbox.root / name).read_text(errors="replace")
        except OSError:
            pass
    try:
        shared = EXFIL_FILE.read_text(errors="replace")
    except OSError:
        shared = ""
    for what, secret in sandbox.secrets.items():
        leaked = [place for place, text in places.items() if secret in text]
        if what in sandbox.per_run and secret in shared:
            leaked.append(str(EXFIL_FILE))
        if leaked:
            problems.append(f"{what} leaked into {', '.join(leaked)}")
    if run.leftovers:
        shown = "; ".join(f"{pid}: {cmd[:80]}" for pid, cmd in list(run.leftovers.items())[:5])
        problems.append(f"{len(run.leftovers)} processes of the submission alive after grading ({shown})")
    return problems


def remove_shared_leftovers(sandbox: Sandbox) -> None:
    """Remove what an attack left in /tmp (the leak file only when it holds this run's values)."""
    try:
        shared = EXFIL_FILE.read_text(errors="replace")
    except OSError:
        shared = ""
    if any(sandbox.secrets[name] in shared for name in sandbox.per_run):
        EXFIL_FILE.unlink(missing_ok=True)
    FORGED_FILE.unlink(missing_ok=True)


def all_violations(run: Run, sandbox: Sandbox, attack: Attack) -> list[str]:
    effects = after_effects(run, sandbox, attack)
    remove_shared_leftovers(sandbox)
    problems: list[str] = []
    if run.code is None:
        problems.append(f"the grader did not finish within {outer_timeout():g} s and was killed")
    elif run.code not in OK_CODES:
        problems.append(f"the grader exited with code {run.code}")
    if "Traceback (most recent call last)" in run.stderr:
        problems.append("the grader printed a traceback: " + run.stderr.strip().splitlines()[-1][:200])
    return problems + report_violations(run, sandbox, attack) + effects


def _fail_with(problems: list[str], run: Run, attack: Attack) -> None:
    if problems:
        tail = (run.stdout[-1500:] + "\n--- stderr ---\n" + run.stderr[-1500:]).strip()
        pytest.fail(
            f"{attack.file} ({run.seconds:.0f} s):\n  - " + "\n  - ".join(problems) + f"\n\noutput (tail):\n{tail}",
            pytrace=False,
        )


# -- the tests ---------------------------------------------------------------------------------


def test_every_hostile_file_has_its_expectations():
    """Every attack file in tests/hostile/ is graded by this module or by the channel attacks' module."""
    from test_threat_model_channel import ATTACKS as CHANNEL_ATTACKS

    files = {path.name for path in HOSTILE.iterdir() if path.name.startswith("attack_")}
    assert files == {attack.file for attack in (*ATTACKS, *CHANNEL_ATTACKS)}
    for attack in ATTACKS:
        assert attack.must_pass <= attack.honest, attack.file
        assert set(attack.statuses) <= ALL, attack.file


def test_the_honest_baseline_gets_full_part1_marks_and_leaves_nothing_behind(tmp_path):
    """The same sandbox and checks on honest code: every Part 1 task, no violation (no false alarms)."""
    sandbox = Sandbox.create(tmp_path, HOSTILE / HONEST.file)
    run = grade(sandbox, HONEST)
    _fail_with(all_violations(run, sandbox, HONEST), run, HONEST)


@pytest.mark.parametrize("attack", ATTACKS, ids=str)
def test_a_hostile_submission_gains_nothing_and_the_grader_survives(attack, tmp_path):
    missing = sorted(attack.needs - cli_options())
    if missing:
        pytest.skip(f"needs the grader's {', '.join(missing)}: without isolation it would do real harm here")
    sandbox = Sandbox.create(tmp_path, HOSTILE / attack.file)
    run = grade(sandbox, attack)
    _fail_with(all_violations(run, sandbox, attack), run, attack)


# -- the expectations themselves: without its attack, each file earns its honest tasks ---------

ATTACK_START, ATTACK_END = "# >>> attack", "# <<< attack"


def defused(source: str) -> str:
    """``source`` without its attack lines (from ``# >>> attack`` to ``# <<< attack``)."""
    kept, inside = [], False
    for line in source.splitlines(keepends=True):
        if line.strip() == ATTACK_START:
            inside = True
        elif line.strip() == ATTACK_END:
            inside = False
        elif not inside:
            kept.append(line)
    assert not inside, "an attack block is not closed"
    return "".join(kept)


def _code_key(source: str) -> str:
    """The code of ``source`` without its docstring and comments: files with equal keys grade alike."""
    tree = ast.parse(source)
    if tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant):
        tree.body = tree.body[1:]
    return ast.dump(tree)


def _defused_groups() -> list[tuple[Attack, ...]]:
    groups: dict[str, list[Attack]] = {}
    for attack in ATTACKS:
        groups.setdefault(_code_key(defused((HOSTILE / attack.file).read_text())), []).append(attack)
    return [tuple(group) for group in groups.values()]


@pytest.mark.parametrize(
    "group", _defused_groups(), ids=lambda group: f"{group[0]}" + (f"+{len(group) - 1}" if len(group) > 1 else "")
)
def test_without_the_attack_the_file_earns_exactly_its_honest_tasks(group, tmp_path):
    """Grades each distinct attack-free version once; all files sharing it must state the same honest set."""
    honest = {attack.honest for attack in group}
    assert len(honest) == 1, f"files with the same honest code state different honest tasks: {group}"
    submission = tmp_path / "defused.py"
    submission.write_text(defused((HOSTILE / group[0].file).read_text()))
    report = tmp_path / "report.json"
    command = check_command(submission, report, force_worker=False, task_timeout=max(a.task_timeout for a in group))
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=outer_timeout())
    assert result.returncode == cli.EXIT_OK, result.stderr[-2000:]
    tasks = {t["id"]: t["status"] for t in json.loads(report.read_text())["tasks"]}
    passed = {tid for tid, status in tasks.items() if status == "passed"}
    assert passed == honest.pop(), {tid: tasks[tid] for tid in PART1}
