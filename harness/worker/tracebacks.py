"""Where in the student's code an exception was raised, for feedback (used on both sides)."""

from __future__ import annotations

import traceback
from collections.abc import Iterable


def traceback_location(exc: BaseException, student_files: Iterable[str]) -> str:
    """'file.py, line N, in function: code' for the deepest frame of ``exc``'s traceback in student code."""
    files = set(student_files)
    where = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename in files:
            where = f"{frame.filename}, line {frame.lineno}, in {frame.name}"
            if frame.line:
                where += f": {frame.line.strip()}"
    return where
