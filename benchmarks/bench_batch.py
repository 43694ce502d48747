"""Time `fmlgrade batch` on 20 submissions with --jobs 1 and --jobs 2.

The class is made of copies of the sample submission's Part 1 (`part1.py`) and of Part 1 mutants
(tests/mutants/part1.py). Prints both wall times and their ratio; on a
2-core machine the 2-job run should take at most 0.6 of the 1-job time.

    .venv/bin/python benchmarks/bench_batch.py [--size 20] [--profile quick] [--parts 1]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from mutants import apply  # noqa: E402
from mutants.part1 import MUTANTS  # noqa: E402

from fmlgrade.harness.batch import BatchSettings, grade_class  # noqa: E402

SAMPLE = ROOT / "fixtures" / "submissions" / "sample_student" / "part1.py"


def make_class(folder: Path, size: int) -> None:
    """Write ``size`` submissions: every other one a copy of the sample, the rest mutants."""
    mutants = list(MUTANTS)
    for index in range(size):
        target = folder / f"student{index:02d}.py"
        if index % 2 == 0 or not mutants:
            shutil.copy(SAMPLE, target)
        else:
            target.write_text(apply(mutants.pop(0)), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20)
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--parts", type=int, nargs="+", default=[1])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        submissions = Path(tmp) / "class"
        submissions.mkdir()
        make_class(submissions, args.size)
        times = {}
        for jobs in (1, 2):
            settings = BatchSettings(profile=args.profile, parts=tuple(args.parts), jobs=jobs, force=True)
            start = time.perf_counter()
            grade_class(submissions, Path(tmp) / f"out{jobs}", settings)
            times[jobs] = time.perf_counter() - start
            print(f"--jobs {jobs}: {times[jobs]:.1f} s for {args.size} submissions "
                  f"({times[jobs] / args.size:.2f} s each)")
    print(f"ratio jobs2/jobs1: {times[2] / times[1]:.2f} (target <= 0.60)")


if __name__ == "__main__":
    main()
