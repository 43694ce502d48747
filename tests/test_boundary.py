"""The trust boundary is drawn by the folders: worker-side code never reaches a secret module."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fmlgrade.harness import boundary


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module name ``path`` imports (absolute, relative ones resolved), with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = _module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def _module_name(path: Path) -> str:
    for package in boundary.worker_packages():
        if package.folder in path.parents:
            rest = path.relative_to(package.folder).with_suffix("").parts
            return ".".join([package.name, *rest]).removesuffix(".__init__")
    raise AssertionError(f"{path} is not in a worker folder")


def _worker_files() -> list[Path]:
    return sorted(p for package in boundary.worker_packages() for p in package.folder.rglob("*.py"))


def test_the_worker_folders_are_found() -> None:
    names = {package.name for package in boundary.worker_packages()}
    assert names == {"fmlgrade.harness.worker", "fmlgrade.spec.worker"}
    assert _worker_files()


@pytest.mark.parametrize("path", _worker_files(), ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}/{p.name}")
def test_worker_side_code_imports_no_secret_module(path: Path) -> None:
    """Statically: every fmlgrade import in a worker folder names a worker-side module (lazy ones too)."""
    secret = []
    for line, name in _imports(path):
        # ``from fmlgrade.spec.worker import x`` lists ``fmlgrade.spec.worker.x``: only modules matter.
        if boundary.is_secret_module(name):
            secret.append(f"line {line}: {name}")
    assert not secret, f"{path} imports secret modules: {secret}"


def test_secret_modules_are_everything_outside_the_worker_folders() -> None:
    assert boundary.is_secret_module("fmlgrade.solutions.reference.part1")
    assert boundary.is_secret_module("fmlgrade.spec.part1.oracles")
    assert boundary.is_secret_module("fmlgrade.spec.stand_ins")
    assert boundary.is_secret_module("fmlgrade.harness.isolation")
    assert boundary.is_secret_module("fmlgrade.fixtures.casting")
    assert not boundary.is_secret_module("fmlgrade.spec.worker.skeleton")
    assert not boundary.is_secret_module("fmlgrade.harness.worker.main")
    assert not boundary.is_secret_module("numpy")
    # A secret path list for permissions: the answers are on it, the worker folders are not.
    paths = {str(p) for p in boundary.secret_paths()}
    assert any(p.endswith("solutions") for p in paths)
    assert not any(p.endswith("/worker") for p in paths)


def test_importing_every_worker_module_loads_nothing_secret() -> None:
    """Dynamically, in a fresh interpreter: import each worker module, then list the fmlgrade modules loaded."""
    modules = [_module_name(p) for p in _worker_files()]
    script = textwrap.dedent(
        f"""
        import importlib, sys
        for name in {modules!r}:
            try:
                importlib.import_module(name)
            except ImportError as exc:  # torch missing (part1 environments)
                if "torch" not in str(exc):
                    raise
        print("\\n".join(m for m in sys.modules if m.startswith("fmlgrade")))
        """
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    secret = [name for name in loaded if boundary.is_secret_module(name)]
    assert not secret, f"importing the worker side loaded secret modules: {secret}"
