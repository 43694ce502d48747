"""Grade a whole class: one child process per submission, N at a time.

Every submission is graded by ``fmlgrade check`` in a process of its own, so
one that crashes the interpreter, exhausts memory or hangs costs only its own
report (written with status ``error`` or ``timeout``), never the others'. A
rerun skips submissions whose files, grader version and settings are
unchanged since their report was written, unless ``force`` is set.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

from fmlgrade.spec.tasks import TASKS

from .adapters import SubmissionError, submission_files
from .class_report import write_grades_csv, write_summary
from .gradescope import write_gradescope
from .report import Report, grader_version, relocation_note, write_output
from .scoring import TaskResult

#: Environment for graders: one thread per numeric library, so parallel jobs do not fight.
#: Open flags that never follow a symbolic link or wait on a FIFO (where the system has them).
_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)

THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "FMLGRADE_TORCH_THREADS": "1",
}


@dataclass(frozen=True)
class BatchSettings:
    """Everything that changes a grade, plus how to run the batch."""

    profile: str = "grade"
    device: str = "auto"
    parts: tuple[int, ...] = (1, 2, 3)
    rubric: str | None = None
    jobs: int = 1
    timeout: float = 900.0
    force: bool = False
    task_timeout: float = 120.0
    isolation: str = "auto"
    memory_limit: int = 2048
    threads: int = 1
    worker_user: str = "auto"
    sandbox: str = "auto"
    require_isolation: str = "none"

    def validate(self) -> None:
        if self.jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {self.jobs}; use --jobs 1 for one at a time")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, got {self.timeout}")


@dataclass
class Outcome:
    """What happened to one submission in a batch."""

    name: str
    report: Report
    seconds: float
    skipped: bool = False
    #: Lines to show: outputs written beside their usual name, because a folder or link had taken it.
    notes: list[str] = field(default_factory=list)


def discover(directory: Path) -> list[Path]:
    """Every non-hidden file or folder directly in ``directory`` is one submission."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SubmissionError(f"{directory} is not a folder; give the folder that holds one entry per submission")
    entries = [p for p in sorted(directory.iterdir()) if not p.name.startswith((".", "_"))]
    return [p for p in entries if p.is_dir() or p.suffix in (".py", ".ipynb")]


def safe_name(path: Path) -> str:
    """A folder name for a submission's outputs."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", path.name).strip("._") or "submission"


def fingerprint(path: Path, settings: BatchSettings) -> str:
    """A hash of the submission's files, the grader version and the grading settings."""
    digest = hashlib.sha256()
    digest.update(grader_version().encode())
    graded_by = ("profile", "device", "parts", "rubric", "task_timeout", "memory_limit")
    key = {k: v for k, v in asdict(settings).items() if k in graded_by}
    digest.update(json.dumps(key, sort_keys=True).encode())
    if settings.rubric:
        digest.update(Path(settings.rubric).read_bytes())
    for file in submission_files(path):
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _failed_report(name: str, status: str, message: str, profile: str) -> Report:
    tasks = [TaskResult(t.id, t.title, status, 0.0, float(t.points), message) for t in TASKS]
    return Report(submission=name, tasks=tasks, profile=profile, problems=[message])


def _child_command(path: Path, report_path: Path, results_path: Path, name: str, settings: BatchSettings) -> list[str]:
    command = [
        sys.executable, "-m", "fmlgrade.harness", "check", str(path),
        "--json", str(report_path), "--gradescope", str(results_path),
        "--name", name, "--profile", settings.profile, "--device", settings.device, "--quiet",
        "--task-timeout", str(settings.task_timeout),
        "--isolation", settings.isolation, "--memory-limit", str(settings.memory_limit),
        "--worker-user", settings.worker_user, "--threads", str(settings.threads),
        "--sandbox", settings.sandbox, "--require-isolation", settings.require_isolation,
    ]
    for part in settings.parts:
        command += ["--part", str(part)]
    if settings.rubric:
        command += ["--rubric", settings.rubric]
    return command


def _read_text(path: Path) -> str | None:
    """The text of the regular file at ``path`` (never through a link, never a FIFO), or ``None``."""
    try:
        handle = os.open(path, os.O_RDONLY | _NO_FOLLOW)
    except OSError:
        return None
    with os.fdopen(handle, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            return None
        return stream.read().decode("utf-8", errors="replace")


def _read_json(path: Path) -> object:
    text = _read_text(path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _report_from(text: str | None) -> Report | None:
    """The report ``text`` holds as JSON, or ``None`` when it holds none (or not one of ours)."""
    try:
        data = json.loads(text) if text is not None else None
        return Report.from_dict(data) if isinstance(data, dict) else None
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _remove_file(path: Path) -> None:
    """Remove a regular file left by an earlier run; a folder or link found there is left alone."""
    if path.is_file() and not path.is_symlink():
        path.unlink(missing_ok=True)


def _output_folder(out: Path, name: str, notes: list[str]) -> Path:
    """``out/name``, or a fresh folder beside it when something that is not a folder took the name."""
    folder = out / name
    with contextlib.suppress(FileExistsError):
        folder.mkdir(parents=True, exist_ok=True)
    if folder.is_dir() and not folder.is_symlink():
        return folder
    fresh = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=out))
    notes.append(f"fmlgrade: warning: {folder} is not a folder (left as it is); {name}'s outputs are in {fresh}")
    return fresh


def _open_log(folder: Path, notes: list[str]) -> tuple[Path, BinaryIO]:
    """``folder/log.txt`` opened for writing without following a link; a fresh name if it is taken."""
    path = folder / "log.txt"
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NO_FOLLOW, 0o644)
        if stat.S_ISREG(os.fstat(handle).st_mode):
            return path, os.fdopen(handle, "wb")
        os.close(handle)
    except OSError:
        pass
    handle, name = tempfile.mkstemp(prefix="log-", suffix=".txt", dir=folder)
    notes.append(f"fmlgrade: warning: {path} was taken by a folder or link (left as it is); the log is in {name}")
    return Path(name), os.fdopen(handle, "wb")


def _staged(staging: Path, name: str) -> str | None:
    """What the child wrote as ``name`` in ``staging``, or beside it if it found that name taken."""
    stem, _, suffix = name.rpartition(".")
    candidates = [staging / name, *sorted(staging.glob(f"{stem}-*.{suffix}"))]
    for candidate in candidates:
        text = _read_text(candidate)
        if text:
            return text
    return None


def grade_one(path: Path, out: Path, settings: BatchSettings) -> Outcome:
    """Grade one submission in a child process and make sure both of its reports exist.

    The child writes its reports into a folder of its own with an unpredictable name; they are then
    published as ``report.json`` and ``results.json`` with
    :func:`~fmlgrade.harness.report.write_output`, beside those names if a folder or link took them.
    Nothing found in the output folder is followed or removed, except regular files of an earlier run.
    """
    name = safe_name(path)
    notes: list[str] = []
    folder = _output_folder(out, name, notes)
    report_path, results_path, meta_path = folder / "report.json", folder / "results.json", folder / "meta.json"
    stamp = fingerprint(path, settings)
    if not settings.force:
        meta = _read_json(meta_path)
        if isinstance(meta, dict) and meta.get("fingerprint") == stamp:
            report = _report_from(_read_text(report_path))
            if report is not None:
                return Outcome(name, report, 0.0, skipped=True)
    for stale in (report_path, results_path, meta_path):
        _remove_file(stale)
    env = {**os.environ, **THREAD_ENV}
    start = time.perf_counter()
    staging = Path(tempfile.mkdtemp(prefix=".grading-", dir=folder))
    scratch = tempfile.mkdtemp(prefix="fmlgrade-work-")  # the student's code runs in an empty folder
    log, handle = _open_log(folder, notes)
    try:
        with handle:
            completed = subprocess.run(
                _child_command(
                    path.resolve(), (staging / "report.json").resolve(), (staging / "results.json").resolve(),
                    name, settings,
                ),
                stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, timeout=settings.timeout, cwd=scratch,
            )
        code = completed.returncode
    except subprocess.TimeoutExpired:
        code = None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - start
    staged_report, staged_results = _staged(staging, "report.json"), _staged(staging, "results.json")
    shutil.rmtree(staging, ignore_errors=True)
    report = _report_from(staged_report)
    if report is None:
        staged_results = None  # results.json must tell the same story as report.json
        if code is None:
            message = f"grading took longer than {settings.timeout:g} s and was stopped"
            report = _failed_report(name, "timeout", message, settings.profile)
        else:
            tail = (_read_text(log) or "").strip().splitlines()[-1:] or ["no output"]
            message = f"the grader process ended with code {code}: {tail[0]}"
            report = _failed_report(name, "error", message, settings.profile)
    written = report.write_json(report_path)
    notes.append(relocation_note(report_path, written) or "")
    if staged_results is not None:
        written = write_output(results_path, staged_results)
    else:
        written = write_gradescope(report, results_path, execution_time=seconds)
    notes.append(relocation_note(results_path, written, "Gradescope's results.json") or "")
    written = write_output(meta_path, json.dumps({"fingerprint": stamp, "seconds": round(seconds, 2)}) + "\n")
    notes.append(relocation_note(meta_path, written, "meta.json") or "")
    return Outcome(name, report, seconds, notes=[note for note in notes if note])


def grade_class(
    directory: Path,
    out: Path,
    settings: BatchSettings,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Grade every submission in ``directory`` into ``out``; write the class CSV and summary."""
    settings.validate()
    submissions = discover(directory)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = [safe_name(p) for p in submissions]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SubmissionError(f"two submissions map to the same output name: {sorted(duplicates)}; rename them")
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=settings.jobs) as pool:
        futures = [pool.submit(grade_one, path, out, settings) for path in submissions]
        for future in as_completed(futures):
            outcome = future.result()
            outcomes.append(outcome)
            if on_done:
                on_done(outcome)
    outcomes.sort(key=lambda o: o.name)
    reports = [o.report for o in outcomes]
    written = {out / "grades.csv": write_grades_csv(reports, out / "grades.csv")}
    write_summary(reports, out, written)
    for wanted, where in written.items():
        note = relocation_note(wanted, where, wanted.name)
        if note:
            print(note, file=sys.stderr)
    return outcomes


def count(directory: Path) -> int:
    """How many submissions ``directory`` holds (for a progress bar)."""
    return len(discover(directory))


def run_with_progress(directory: Path, out: Path, settings: BatchSettings) -> list[Outcome]:
    """:func:`grade_class` with a rich progress bar and a line per finished submission."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    total = count(directory)
    with Progress(
        TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"),
    ) as progress:
        bar = progress.add_task("", total=total)

        def done(outcome: Outcome) -> None:
            note = "unchanged, skipped" if outcome.skipped else f"{outcome.seconds:.1f} s"
            progress.console.print(
                f"{outcome.name}: {outcome.report.score:g}/{outcome.report.max_score:g} ({note})",
                markup=False, highlight=False,
            )
            for line in outcome.notes:
                progress.console.print(line, markup=False, highlight=False)
            progress.update(bar, advance=1, description=outcome.name)

        return grade_class(directory, out, settings, on_done=done)
