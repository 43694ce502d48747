"""Time `fmlgrade check` on the reference solution, per profile and part.

Prints wall time (median of --repeat runs) and the peak resident memory of
the grading process. Run from the repository root:

    .venv/bin/python benchmarks/bench_check.py [--parts 1] [--profiles quick grade] [--repeat 3]

Figures are for reading, not asserting: machines are noisy.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTION_FILES = {
    1: ROOT / "solutions" / "reference" / "part1.py",
    2: ROOT / "solutions" / "reference" / "part2.py",
    3: ROOT / "solutions" / "reference" / "part3.py",
}


def fmlgrade_command() -> list[str]:
    """The installed console script, or the module as a fallback."""
    script = shutil.which("fmlgrade", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "fmlgrade.harness"]


def run_once(parts: list[int], profile: str) -> tuple[float, float]:
    """One graded run; returns (wall seconds, peak RSS in MiB of that child)."""
    files = [str(SOLUTION_FILES[p]) for p in parts]
    command = [*fmlgrade_command(), "check", *files, "--profile", profile]
    for part in parts:
        command += ["--part", str(part)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if completed.returncode != 0:
        raise SystemExit(f"fmlgrade failed:\n{completed.stderr[-2000:]}")
    return wall, max(peak, before) / 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, nargs="+", default=[1], choices=[1, 2, 3])
    parser.add_argument("--profiles", nargs="+", default=["quick", "grade"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    label = "+".join(map(str, args.parts))
    print(f"fmlgrade check of the reference solution, part(s) {label}, {args.repeat} run(s) each")
    print(f"{'profile':<10} {'median s':>9} {'min s':>7} {'max s':>7} {'peak MiB':>9}")
    for profile in args.profiles:
        walls, peaks = [], []
        for _ in range(args.repeat):
            wall, peak = run_once(args.parts, profile)
            walls.append(wall)
            peaks.append(peak)
        print(
            f"{profile:<10} {statistics.median(walls):>9.2f} {min(walls):>7.2f} "
            f"{max(walls):>7.2f} {max(peaks):>9.0f}"
        )


if __name__ == "__main__":
    main()
