"""The ``fmlgrade`` command line.

``fmlgrade check FILE...`` grades one submission and prints a table;
``fmlgrade solutions`` lists the installed solution plugins. Mistakes in the
command line or the files get a one-line message, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .gradcheck_command import add_gradcheck_parser, gradcheck_command
from .isolation import ISOLATION_MODES, IsolationSettings
from .process_limits import DEFAULT_MEMORY_MB, WorkerLimits
from .profiles import DEFAULT_PROFILE, PROFILES
from .reference_train import add_reference_train_parser, reference_train_command
from .sandbox import IsolationUnavailable

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_GRADER = 3


def _add_grading_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default=DEFAULT_PROFILE,
        help="quick (fast feedback), grade (default; derandomized, same score every run) "
        "or thorough (many fresh examples, for instructors testing the suite)",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where torch checks run (auto: the CPU, and CUDA too when a GPU is present)",
    )
    parser.add_argument("--rubric", type=Path, help="a JSON rubric overriding points and policies")
    parser.add_argument(
        "--task-timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="wall-clock limit of each task (all its checks together); a task that runs out of time "
        "is reported as 'timeout' and its remaining checks are not run (default 120, 0 for none)",
    )
    parser.add_argument(
        "--isolation",
        choices=ISOLATION_MODES,
        default="auto",
        help="where submitted code runs: auto (default: submissions in a worker process of their own, "
        "the grader's own solutions in-process), worker (everything in a worker) or none (in-process; "
        "only for code you trust)",
    )
    parser.add_argument(
        "--sandbox",
        choices=("auto", "namespace", "user", "process"),
        default="auto",
        help="how the worker is walled off: namespace (bubblewrap: a file system holding nothing of the "
        "grader's, no network, own PIDs), user (an unprivileged user the answers are unreadable to), "
        "process (Python hooks only); auto (default): the strongest this machine allows",
    )
    parser.add_argument(
        "--require-isolation",
        choices=("none", "process", "user", "namespace"),
        default="none",
        metavar="LEVEL",
        help="refuse to grade submissions below this isolation level (none, process, user, namespace; "
        "default none: grade at whatever level is available, which every report names)",
    )
    parser.add_argument(
        "--memory-limit",
        type=int,
        default=DEFAULT_MEMORY_MB,
        metavar="MIB",
        help=f"memory limit of the worker process in MiB (default {DEFAULT_MEMORY_MB}; 0 for none)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="numpy/torch threads of the worker process (default 1: results independent of the machine)",
    )
    parser.add_argument(
        "--worker-user",
        default="auto",
        metavar="USER",
        help="user the worker runs as (default auto: 'nobody' when the grader runs as root, else the "
        "grader's own user; 'self' for the grader's user)",
    )
    parser.add_argument(
        "--part",
        type=int,
        action="append",
        choices=(1, 2, 3),
        help="grade only this part of the assignment (repeatable; default: all parts)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fmlgrade",
        description="Grade submissions of the FML neural-network assignment.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="grade one submission (files or a folder)")
    check.add_argument("submission", nargs="+", type=Path, help=".py files, notebooks or folders")
    check.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    check.add_argument("--name", help="the submission's name in the report (default: file names)")
    check.add_argument(
        "--gradescope", type=Path, metavar="FILE", help="also write Gradescope's results.json to FILE"
    )
    check.add_argument("--quiet", action="store_true", help="print no table (with --json/--gradescope)")
    _add_grading_options(check)

    batch = commands.add_parser("batch", help="grade a whole class: every file or folder in DIR")
    batch.add_argument("directory", type=Path, metavar="DIR", help="one entry (file or folder) per submission")
    batch.add_argument("--out", type=Path, required=True, metavar="OUTDIR", help="where reports go")
    batch.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    batch.add_argument("--force", action="store_true", help="regrade submissions that are unchanged")
    batch.add_argument(
        "--timeout", type=float, default=900.0, help="seconds one submission may take (default 900)"
    )
    _add_grading_options(batch)

    commands.add_parser("solutions", help="list the installed solution plugins")
    isolation = commands.add_parser(
        "isolation", help="say which isolation level submissions would be graded at here, and why"
    )
    isolation.add_argument(
        "--secret-paths",
        action="store_true",
        help="instead, list fmlgrade's secret files and folders, one per line (for chmod -R o-rwx)",
    )
    isolation.add_argument("--worker-user", default="auto", metavar="USER", help="as for check (default auto)")
    add_reference_train_parser(commands)
    add_gradcheck_parser(commands)
    return parser


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"fmlgrade: error: {message}", file=sys.stderr)
    return code


def _require_device(device: str) -> None:
    """``--device cuda`` without a GPU is a mistake to report up front, not a page of skips."""
    if device != "cuda":
        return
    try:
        import torch
    except ImportError:
        raise ValueError("--device cuda needs torch, which is not installed; use --device cpu") from None
    if not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available here; use --device cpu or auto")


def _isolation(args: argparse.Namespace) -> IsolationSettings:
    return IsolationSettings(
        mode=args.isolation,
        limits=WorkerLimits(memory_mb=args.memory_limit, threads=args.threads),
        user=args.worker_user,
        sandbox=args.sandbox,
        require=args.require_isolation,
    )


def _check(args: argparse.Namespace) -> int:
    from .adapters import SubmissionError
    from .grading import grade_paths
    from .report import check_destination, relocation_note, render
    from .runner import GraderError
    from .scoring import DEFAULT_RUBRIC, load_rubric
    from .untrusted_text import neutralize

    started = time.perf_counter()
    try:
        # Where the reports go is decided, and checked, before any submitted code runs.
        for option, destination in (("--json", args.json), ("--gradescope", args.gradescope)):
            if destination is not None:
                check_destination(destination, option)
        if args.json and args.gradescope and args.json.resolve() == args.gradescope.resolve():
            raise ValueError(f"--json and --gradescope both name {args.json}; give two files")
        _require_device(args.device)
        rubric = load_rubric(args.rubric) if args.rubric else DEFAULT_RUBRIC
        report = grade_paths(
            args.submission,
            profile=args.profile,
            device=args.device,
            rubric=rubric,
            parts=tuple(sorted(set(args.part))) if args.part else (1, 2, 3),
            name=args.name,
            task_timeout=args.task_timeout,
            isolation=_isolation(args),
        )
    except (SubmissionError, ValueError, KeyError, IsolationUnavailable) as exc:
        # Messages may quote the submission (its file names, what it raised): neutralized.
        return _fail(neutralize(str(exc).strip("'\"")))
    except GraderError as exc:
        return _fail(neutralize(str(exc)), EXIT_GRADER)
    if not args.quiet:
        render(report)
    code = EXIT_OK
    if args.json:
        try:
            written = report.write_json(args.json)
        except OSError as exc:
            code = _fail(f"--json {args.json}: the report could not be written ({exc})", EXIT_GRADER)
        else:
            note = relocation_note(args.json, written)
            if note:
                print(note, file=sys.stderr)
            if not args.quiet:
                print(f"report written to {written}")
    if args.gradescope:
        from .gradescope import write_gradescope

        try:
            written = write_gradescope(report, args.gradescope, execution_time=time.perf_counter() - started)
        except OSError as exc:
            code = _fail(f"--gradescope {args.gradescope}: results.json could not be written ({exc})", EXIT_GRADER)
        else:
            note = relocation_note(args.gradescope, written, "Gradescope's results.json")
            if note:
                print(note, file=sys.stderr)
    return code


def _batch(args: argparse.Namespace) -> int:
    from .adapters import SubmissionError
    from .batch import BatchSettings, run_with_progress

    settings = BatchSettings(
        profile=args.profile,
        device=args.device,
        parts=tuple(sorted(set(args.part))) if args.part else (1, 2, 3),
        rubric=str(args.rubric.resolve()) if args.rubric else None,
        jobs=args.jobs,
        timeout=args.timeout,
        force=args.force,
        task_timeout=args.task_timeout,
        isolation=args.isolation,
        memory_limit=args.memory_limit,
        threads=args.threads,
        worker_user=args.worker_user,
        sandbox=args.sandbox,
        require_isolation=args.require_isolation,
    )
    try:
        outcomes = run_with_progress(args.directory, args.out, settings)
    except (SubmissionError, ValueError) as exc:
        return _fail(str(exc))
    print(f"{len(outcomes)} submissions graded; class table in {args.out / 'grades.csv'}")
    return EXIT_OK


def _solutions(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from .plugins import installed_solutions, make_plugin_manager

    manager = make_plugin_manager()
    table = Table(title="installed fmlgrade solution plugins")
    for column in ("name", "origin", "names provided", "problems"):
        table.add_column(column)
    for solution in installed_solutions(manager):
        table.add_row(
            solution.name,
            solution.origin,
            str(len(solution.names())),
            "; ".join(solution.problems) or "-",
        )
    Console().print(table)
    return EXIT_OK


def _isolation_command(args: argparse.Namespace) -> int:
    from . import boundary, process_limits, sandbox

    if args.secret_paths:
        for path in boundary.secret_paths():
            print(path)
        return EXIT_OK
    try:
        user = process_limits.choose_worker_user(args.worker_user)
    except ValueError as exc:
        return _fail(str(exc))
    level, why = sandbox.available_level(user)
    print(f"isolation: {level}")
    if why:
        print(f"not stronger because: {why}")
    print("worker folders: " + ", ".join(f"{p.name} ({p.folder})" for p in boundary.worker_packages()))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        "check": _check,
        "batch": _batch,
        "solutions": _solutions,
        "isolation": _isolation_command,
        "reference-train": reference_train_command,
        "gradcheck": gradcheck_command,
    }
    return handlers[args.command](args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
