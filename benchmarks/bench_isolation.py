"""What isolation costs: the full reference solution graded in-process and in a worker.

Runs ``fmlgrade check`` on the reference files of the chosen parts in-process
(``--isolation none``), in a worker behind Python hooks only (``--sandbox
process``) and in a worker inside the bubblewrap sandbox (``--sandbox
namespace``, where this machine allows it), alternating, and prints the median
wall time of each, the ratios to in-process (the target is at most 1.5) and
the largest peak resident memory of any process involved. Run from the
repository root:

    .venv/bin/python benchmarks/bench_isolation.py [--parts 1 2 3] [--profile grade] [--repeat 3]

Figures are for reading, not asserting: machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench_check import SOLUTION_FILES, fmlgrade_command

#: Label -> the options that select it.
MODES = {
    "none": ["--isolation", "none"],
    "process": ["--isolation", "worker", "--sandbox", "process"],
    "namespace": ["--isolation", "worker", "--sandbox", "namespace"],
}


def run_once(parts: list[int], profile: str, mode: str) -> tuple[float, float]:
    """One graded run; returns (wall seconds, score)."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        command = [*fmlgrade_command(), "check", *(str(SOLUTION_FILES[p]) for p in parts),
                   "--profile", profile, *MODES[mode], "--quiet", "--json", str(report)]
        for part in parts:
            command += ["--part", str(part)]
        start = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if completed.returncode != 0 or not report.exists():
            raise SystemExit(f"fmlgrade failed ({mode}):\n{completed.stderr[-2000:]}")
        return wall, json.loads(report.read_text())["score"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, nargs="+", default=[1, 2, 3], choices=[1, 2, 3])
    parser.add_argument("--profile", default="grade")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    from fmlgrade.harness.sandbox import namespaces_work

    modes = [mode for mode in MODES if mode != "namespace" or namespaces_work()[0]]
    walls: dict[str, list[float]] = {mode: [] for mode in modes}
    scores: dict[str, set[float]] = {mode: set() for mode in modes}
    for _ in range(args.repeat):
        for mode in modes:
            wall, score = run_once(args.parts, args.profile, mode)
            walls[mode].append(wall)
            scores[mode].add(score)
    label = "+".join(map(str, args.parts))
    for mode in modes:
        runs = ", ".join(f"{w:.1f}" for w in walls[mode])
        print(f"parts {label}, {args.profile}, isolation {mode:9}: median {statistics.median(walls[mode]):6.1f} s "
              f"(runs {runs}); scores {sorted(scores[mode])}")
    for mode in modes[1:]:
        ratio = statistics.median(walls[mode]) / statistics.median(walls["none"])
        print(f"{mode} / in-process: {ratio:.2f} (target <= 1.5)")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"largest peak RSS of one process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
