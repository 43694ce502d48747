"""Grade a whole class: one child process per submission, N at a time.

Every submission is graded by ``fmlgrade check`` in a process of its own, so
one that crashes the interpreter, exhausts memory or hangs costs only its own
report (written with status ``error`` or ``timeout``), never the others'. A
rerun skips submissions whose files, grader version and settings are
unchanged since their report was written, unless ``force`` is set.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

from fmlgrade.spec.tasks import TASKS

from .adapters import SubmissionError, submission_files
from .class_report import write_grades_csv, write_summary
from .gradescope import write_gradescope
from .report import Report, grader_version
from .scoring import TaskResult

#: Environment for graders: one thread per numeric library, so parallel jobs do not fight.
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


def grade_one(path: Path, out: Path, settings: BatchSettings) -> Outcome:
    """Grade one submission in a child process and make sure both of its reports exist."""
    name = safe_name(path)
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    report_path, results_path, meta_path = folder / "report.json", folder / "results.json", folder / "meta.json"
    stamp = fingerprint(path, settings)
    if not settings.force and report_path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("fingerprint") == stamp:
            report = Report.from_dict(json.loads(report_path.read_text()))
            return Outcome(name, report, 0.0, skipped=True)
    for stale in (report_path, results_path, meta_path):
        stale.unlink(missing_ok=True)
    env = {**os.environ, **THREAD_ENV}
    start = time.perf_counter()
    log = folder / "log.txt"
    scratch = tempfile.mkdtemp(prefix="fmlgrade-work-")  # the student's code runs in an empty folder
    try:
        with log.open("w", encoding="utf-8") as handle:
            completed = subprocess.run(
                _child_command(path.resolve(), report_path.resolve(), results_path.resolve(), name, settings),
                stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, timeout=settings.timeout, cwd=scratch,
            )
        code = completed.returncode
    except subprocess.TimeoutExpired:
        code = None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - start
    if report_path.exists():
        report = Report.from_dict(json.loads(report_path.read_text()))
    elif code is None:
        message = f"grading took longer than {settings.timeout:g} s and was stopped"
        report = _failed_report(name, "timeout", message, settings.profile)
    else:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] or ["no output"]
        message = f"the grader process ended with code {code}: {tail[0]}"
        report = _failed_report(name, "error", message, settings.profile)
    if not report_path.exists():
        report.write_json(report_path)
    if not results_path.exists():
        write_gradescope(report, results_path, execution_time=seconds)
    meta_path.write_text(json.dumps({"fingerprint": stamp, "seconds": round(seconds, 2)}) + "\n")
    return Outcome(name, report, seconds)


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
    write_grades_csv(reports, out / "grades.csv")
    write_summary(reports, out)
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
                f"{outcome.name}: {outcome.report.score:g}/{outcome.report.max_score:g} ({note})"
            )
            progress.update(bar, advance=1, description=outcome.name)

        return grade_class(directory, out, settings, on_done=done)
