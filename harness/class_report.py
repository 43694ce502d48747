"""What an instructor gets for a whole class: a grade table, a summary, a histogram.

The texts come from reports, whose submission-made parts were neutralized when
the reports were built (:mod:`fmlgrade.harness.untrusted_text`); text cells of
the CSV that a spreadsheet would take for a formula get a leading ``'``. Every
file is written with :func:`~fmlgrade.harness.report.write_output`: whole, and
beside its name when a folder or link has taken it. The writers return where
each file went.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Sequence
from pathlib import Path

from fmlgrade.spec.tasks import TASKS

from .report import Report, write_output

#: What a spreadsheet reads as the start of a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    """A text cell a spreadsheet shows as text."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_grades_csv(reports: Sequence[Report], path: Path) -> Path:
    """One row per submission, one column per task, then total, maximum and percent."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["submission", *[t.id for t in TASKS], "total", "max_score", "percent", "problems"])
    for report in sorted(reports, key=lambda r: r.submission):
        by_id = {task.id: task for task in report.tasks}
        percent = 100 * report.score / report.max_score if report.max_score else 0.0
        writer.writerow(
            [
                _cell(report.submission),
                *[f"{by_id[t.id].score:g}" if t.id in by_id else "" for t in TASKS],
                f"{report.score:g}",
                f"{report.max_score:g}",
                f"{percent:.1f}",
                _cell(" | ".join(report.problems)),
            ]
        )
    return write_output(Path(path), buffer.getvalue())


def class_summary(reports: Sequence[Report]) -> dict:
    """Per-task pass rate and mean points, and the distribution of totals."""
    totals = [report.score for report in reports]
    tasks = []
    for task in TASKS:
        results = [r for report in reports for r in report.tasks if r.id == task.id]
        statuses = [r.status for r in results]
        tasks.append(
            {
                "id": task.id,
                "title": task.title,
                "pass_rate": round(statuses.count("passed") / len(statuses), 4) if statuses else 0.0,
                "mean_points": round(statistics.fmean(r.score for r in results), 4) if results else 0.0,
                "max_score": results[0].max_score if results else task.points,
                "statuses": {s: statuses.count(s) for s in sorted(set(statuses))},
            }
        )
    return {
        "submissions": len(reports),
        "total": {
            "mean": round(statistics.fmean(totals), 4) if totals else 0.0,
            "median": statistics.median(totals) if totals else 0.0,
            "min": min(totals, default=0.0),
            "max": max(totals, default=0.0),
            "max_score": reports[0].max_score if reports else sum(t.points for t in TASKS),
        },
        "tasks": tasks,
    }


def write_summary(reports: Sequence[Report], out: Path, written: dict[Path, Path] | None = None) -> dict:
    """Write ``summary.json``, ``summary.md`` and ``totals.png`` into ``out``; return the summary.

    ``written``, if given, gets each file's intended path mapped to where it was written.
    """
    out = Path(out)
    written = {} if written is None else written
    summary = class_summary(reports)
    path = out / "summary.json"
    written[path] = write_output(path, json.dumps(summary, indent=2) + "\n")
    lines = [
        f"# Class summary ({summary['submissions']} submissions)",
        "",
        f"Total: mean {summary['total']['mean']:g}, median {summary['total']['median']:g}, "
        f"min {summary['total']['min']:g}, max {summary['total']['max']:g} of {summary['total']['max_score']:g}",
        "",
        "| task | title | pass rate | mean points |",
        "|---|---|---|---|",
    ]
    for task in summary["tasks"]:
        lines.append(
            f"| {task['id']} | {task['title']} | {100 * task['pass_rate']:.0f}% | "
            f"{task['mean_points']:g}/{task['max_score']:g} |"
        )
    path = out / "summary.md"
    written[path] = write_output(path, "\n".join(lines) + "\n")
    path = out / "totals.png"
    written[path] = plot_totals([r.score for r in reports], summary["total"]["max_score"], path)
    return summary


def plot_totals(totals: Sequence[float], max_score: float, path: Path) -> Path:
    """A histogram of total scores (matplotlib's Figure API, no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 3.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    bins = max(5, min(20, int(max_score) + 1))
    axes.hist(list(totals), bins=bins, range=(0, max_score), color="#4477aa", edgecolor="white")
    axes.set_xlabel("total score")
    axes.set_ylabel("submissions")
    axes.set_title(f"Totals of {len(totals)} submissions")
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=100)
    return write_output(Path(path), image.getvalue())
