"""Shared helpers for fmlgrade's own tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

# Imported once up front: pytester's in-process runs restore sys.modules after
# each run, and numpy cannot be imported a second time into one process.
import fmlgrade.harness.pytest_plugin  # noqa: F401
import fmlgrade.solutions.alternative.part1  # noqa: F401
import fmlgrade.solutions.reference.part1  # noqa: F401
import fmlgrade.spec.worker.skeleton  # noqa: F401


@pytest.fixture
def write_submission(tmp_path: Path):
    """Write a student file from a snippet and return its path."""

    def write(code: str, name: str = "student.py") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(code), encoding="utf-8")
        return path

    return write
