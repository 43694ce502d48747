"""The pytest plugin that runs the spec's checks against solutions.

Every spec test that asks for the ``submission`` argument is parametrized
over the selected solutions (ids are the solutions' names), each test must
carry a ``task`` marker, and every outcome is recorded as a
:class:`~fmlgrade.harness.results.CheckResult` for scoring. Use it directly::

    pytest --pyargs fmlgrade.spec -p fmlgrade.harness.pytest_plugin --solution my_file.py

or through ``fmlgrade check``, which drives the same plugin in-process.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import pytest

from fmlgrade.spec.tasks import TASKS, task_by_id

from .isolation import ISOLATION_MODES, WorkerFailure
from .process_limits import DEFAULT_MEMORY_MB, WorkerLimits
from .profiles import DEFAULT_PROFILE, PROFILES, load_profile
from .results import CheckResult, classify
from .solution import Solution
from .time_limit import CheckTimeout, time_limit
from .under_test import SubmissionUnderTest

SESSION_PLUGIN_NAME = "fmlgrade-session"
DEFAULT_TASK_TIMEOUT = 120.0
DEVICES = ("auto", "cpu", "cuda")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fmlgrade", "grading solutions of the FML assignment")
    group.addoption(
        "--solution",
        action="append",
        default=[],
        metavar="PATH",
        help="grade the .py file, notebook or folder at PATH (repeatable; one solution each)",
    )
    group.addoption(
        "--installed-solutions",
        action="store_true",
        help="also grade every solution plugin installed in the fmlgrade entry-point group",
    )
    group.addoption(
        "--fmlgrade-profile",
        choices=sorted(PROFILES),
        default=DEFAULT_PROFILE,
        help="hypothesis effort: quick, grade (default, derandomized) or thorough",
    )
    group.addoption(
        "--task-timeout",
        type=float,
        default=DEFAULT_TASK_TIMEOUT,
        metavar="SECONDS",
        help=f"wall-clock limit of each task, all its checks together (default {DEFAULT_TASK_TIMEOUT:g}; "
        "0 for none); a task that runs out of time is reported as 'timeout'",
    )
    group.addoption(
        "--isolation",
        choices=ISOLATION_MODES,
        default="auto",
        help="where --solution code runs: auto/worker (a worker process of its own, the default) or none "
        "(in-process, for trusted code only)",
    )
    group.addoption(
        "--sandbox",
        choices=("auto", "namespace", "user", "process"),
        default="auto",
        help="how the worker is walled off (auto: the strongest level this machine allows)",
    )
    group.addoption(
        "--require-isolation",
        choices=("none", "process", "user", "namespace"),
        default="none",
        help="refuse to grade --solution files below this isolation level",
    )
    group.addoption(
        "--memory-limit",
        type=int,
        default=DEFAULT_MEMORY_MB,
        metavar="MIB",
        help=f"memory limit of each worker process in MiB (default {DEFAULT_MEMORY_MB}; 0 for none)",
    )
    group.addoption(
        "--device",
        choices=DEVICES,
        default="auto",
        help="where torch checks run: cpu, cuda, or auto (cpu, plus cuda when present)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "task(id): the task of the registry this check grades")
    config.addinivalue_line(
        "markers", "check_kind(kind): 'behaviour' (default) or 'libraries' (allowed-library audit)"
    )
    if any(isinstance(p, GradingSession) for p in config.pluginmanager.get_plugins()):
        return  # fmlgrade check passed its own session
    from .adapters import read_submission
    from .isolation import IsolationSettings, isolated_sources
    from .plugins import installed_solutions, make_plugin_manager, solutions_from_paths

    paths = [Path(p) for p in config.getoption("--solution")]
    manager = make_plugin_manager(entry_points=True)
    isolation = IsolationSettings(
        mode=config.getoption("--isolation"), limits=WorkerLimits(memory_mb=config.getoption("--memory-limit")),
        sandbox=config.getoption("--sandbox"), require=config.getoption("--require-isolation"),
    )
    if isolation.mode == "none":
        solutions = solutions_from_paths(paths, manager)
    else:
        solutions = [
            isolated_sources(read_submission([path], manager.hook.fmlgrade_read_source), isolation)
            for path in paths
        ]
    if config.getoption("--installed-solutions") or not paths:
        solutions = installed_solutions(manager) + solutions
    session = GradingSession(
        solutions,
        profile=config.getoption("--fmlgrade-profile"),
        device=config.getoption("--device"),
        task_timeout=config.getoption("--task-timeout"),
    )
    config.pluginmanager.register(session, SESSION_PLUGIN_NAME)


def _task_marker(item: pytest.Item) -> str:
    markers = list(item.iter_markers("task"))
    if len(markers) != 1 or len(markers[0].args) != 1:
        raise pytest.UsageError(
            f"{item.nodeid}: every spec check needs exactly one @pytest.mark.task('<id>') marker"
        )
    return markers[0].args[0]


def _under_test_of(item: pytest.Item) -> SubmissionUnderTest | None:
    """The submission a collected check grades, if it grades one."""
    callspec = getattr(item, "callspec", None)
    under_test = callspec.params.get("submission") if callspec else None
    return under_test if isinstance(under_test, SubmissionUnderTest) else None


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


class GradingSession:
    """Parametrizes spec tests over solutions and records every check's outcome."""

    def __init__(
        self,
        solutions: Sequence[Solution],
        *,
        profile: str = DEFAULT_PROFILE,
        device: str = "auto",
        reference: Solution | None = None,
        task_timeout: float | None = DEFAULT_TASK_TIMEOUT,
    ) -> None:
        if device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
        if reference is None:
            from .plugins import reference_solution

            reference = reference_solution()
        self.solutions = list(solutions)
        self.reference = reference
        self.profile = profile
        self.device = device
        self.task_timeout = task_timeout
        #: (solution, task) pairs whose remaining checks are not run: the exception type to report, and why.
        self._abandoned: dict[tuple[str, str], tuple[type[BaseException], str]] = {}
        #: Seconds each (solution, task) pair has used of its time limit.
        self._task_seconds: dict[tuple[str, str], float] = defaultdict(float)
        self.results: dict[str, list[CheckResult]] = defaultdict(list)
        #: Checks not yet run per (solution, task).
        self._pending: dict[tuple[str, str], int] = defaultdict(int)
        self._under_test = {
            solution.name: SubmissionUnderTest(
                solution, reference, self._task_statuses_of(solution.name), device
            )
            for solution in self.solutions
        }
        load_profile(profile)

    def _task_statuses_of(self, name: str):
        def statuses() -> dict[str, str]:
            by_task: dict[str, list[str]] = defaultdict(list)
            for check in self.results[name]:
                if check.kind == "behaviour" and check.status != "skipped":
                    by_task[check.task].append(check.status)
            summary = {}
            for task, seen in by_task.items():
                if all(s == "passed" for s in seen):
                    summary[task] = "passed"
                elif all(s == "not_attempted" for s in seen):
                    summary[task] = "not_attempted"
                else:
                    summary[task] = "failed"
            return summary

        return statuses

    def devices(self) -> list:
        """The parameter values of the ``device`` argument of torch checks."""
        if self.device == "cpu":
            return ["cpu"]
        cuda = pytest.param(
            "cuda",
            marks=pytest.mark.skipif(not _cuda_available(), reason="no CUDA device here"),
        )
        return [cuda] if self.device == "cuda" else ["cpu", cuda]

    # -- collection ------------------------------------------------------
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "submission" in metafunc.fixturenames:
            names = [s.name for s in self.solutions]
            if len(set(names)) != len(names):
                raise pytest.UsageError(f"solution names must be unique, got {names}")
            metafunc.parametrize(
                "submission", [self._under_test[n] for n in names], ids=names, scope="session"
            )
        if "device" in metafunc.fixturenames:
            metafunc.parametrize("device", self.devices(), scope="session")

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        position = {task.id: index for index, task in enumerate(TASKS)}

        def order(item: pytest.Item) -> tuple[int, int]:
            task = task_by_id(_task_marker(item))
            return (1 if task.kind == "integration" else 0, position[task.id])

        # Stable sort: unit checks in handout order, then integration checks. A
        # task that borrows reference names thus only runs after their tasks.
        items.sort(key=order)
        # Count each (solution, task)'s checks; a task is final once all have run (see _check_done).
        self._pending.clear()
        for item in items:
            under_test = _under_test_of(item)
            if under_test is not None:
                self._pending[(under_test.name, _task_marker(item))] += 1
        for under_test in self._under_test.values():
            under_test.final_tasks = {
                task.id for task in TASKS if self._pending[(under_test.name, task.id)] == 0
            }

    # -- running ---------------------------------------------------------
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item):
        callspec = getattr(item, "callspec", None)
        under_test = callspec.params.get("submission") if callspec else None
        if not isinstance(under_test, SubmissionUnderTest):
            yield
            return
        key = (under_test.name, _task_marker(item))
        remaining = None
        if self.task_timeout:
            remaining = self.task_timeout - self._task_seconds[key]
        if remaining is not None and remaining <= 0:
            self._abandoned.setdefault(key, (CheckTimeout, f"the task's {self.task_timeout:g} s were used up by its "
                                                           "earlier checks"))
        if key in self._abandoned:
            # A hung or crashed task costs its own checks once, not once per check.
            item.obj = _not_run(*self._abandoned[key])
        client = under_test._client()
        under_test.current_task = key[1]
        cwd = os.getcwd()
        started = time.monotonic()
        try:
            if client is not None:
                client.deadline = None if remaining is None else started + max(remaining, 0.001)
                client.time_limit = self.task_timeout
                outcome = yield
            else:
                limit = None if remaining is None else max(remaining, 0.001)
                with time_limit(limit, f"task {key[1]}", under_test.source_files):
                    outcome = yield
        finally:
            os.chdir(cwd)  # a student's os.chdir must not move the grader
            self._task_seconds[key] += time.monotonic() - started
            if client is not None:
                client.deadline = None
                client.end_check()
        excinfo = outcome.excinfo
        if excinfo is not None and isinstance(excinfo[1], CheckTimeout):
            self._abandoned.setdefault(key, (CheckTimeout, "an earlier check of this task already ran out of time"))
        elif excinfo is not None and isinstance(excinfo[1], WorkerFailure):
            self._abandoned.setdefault(key, (WorkerFailure, f"an earlier check of this task: {excinfo[1]}"))

    def pytest_sessionfinish(self) -> None:
        for solution in self.solutions:
            client = getattr(solution, "client", None)
            if client is not None:
                client.close()

    # -- recording -------------------------------------------------------
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report = outcome.get_result()
        under_test = _under_test_of(item)
        if under_test is None:
            return
        if call.when == "teardown":
            self._check_done(under_test, _task_marker(item))
        if call.when == "setup" and report.passed:
            return
        if call.when == "teardown" and (report.passed or report.skipped):
            return
        kind_marker = item.get_closest_marker("check_kind")
        kind = kind_marker.args[0] if kind_marker else "behaviour"
        doc = (getattr(item, "obj", None).__doc__ or "").strip().splitlines()
        description = doc[0] if doc else item.name
        if report.passed:
            status, feedback = "passed", ""
        elif report.skipped and call.excinfo is not None and not _is_ours(call.excinfo.value):
            status, feedback = "skipped", str(call.excinfo.value)
        elif call.excinfo is not None:
            status, feedback = classify(call.excinfo.value, under_test.source_files())
        else:
            status, feedback = "error", str(report.longrepr)
        if status == "not_attempted":
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1] or 0, f"not attempted: {feedback}")
        self.results[under_test.name].append(
            CheckResult(
                solution=under_test.name,
                task=_task_marker(item),
                check=item.name,
                description=description,
                status=status,
                feedback=feedback,
                kind=kind,
                duration=report.duration,
            )
        )

    def _check_done(self, under_test: SubmissionUnderTest, task: str) -> None:
        key = (under_test.name, task)
        self._pending[key] -= 1
        if self._pending[key] <= 0:
            under_test.final_tasks.add(task)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.results:
            return
        from .scoring import score_checks

        terminalreporter.section("fmlgrade scores")
        for solution in self.solutions:
            tasks = score_checks(self.results[solution.name])
            total = sum(t.score for t in tasks)
            maximum = sum(t.max_score for t in tasks)
            failed = [t.id for t in tasks if t.status != "passed"]
            line = f"{solution.name}: {total:g}/{maximum:g}"
            if failed:
                line += "  (not passed: " + ", ".join(failed) + ")"
            terminalreporter.write_line(line)


def _not_run(kind: type[BaseException], reason: str):
    def not_run(*args, **kwargs) -> None:
        raise kind(f"not run: {reason}")

    return not_run


def _is_ours(exc: BaseException) -> bool:
    from fmlgrade.spec.worker.outcomes import NotAttempted

    return isinstance(exc, (NotAttempted, NotImplementedError))
