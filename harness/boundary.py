"""The trust boundary between the grader and a submission, drawn by the folders.

A folder named ``worker`` directly inside one of fmlgrade's packages
(``harness/worker/`` is ``fmlgrade.harness.worker``, ``spec/worker/`` is
``fmlgrade.spec.worker``) holds what may run beside student code. Everything
else of fmlgrade is *secret* to a submission: checks, oracles, stand-ins,
reference solutions, the grader's own machinery. Nobody lists secret modules
by hand: a new module is secret unless it is put into a ``worker`` folder.

This module is the one place that turns the folders into sets. The sandbox
binds only the worker folders into the worker's file system, the worker's
import guard refuses every other ``fmlgrade`` module, ``fmlgrade isolation
--secret-paths`` lists what to make unreadable to an unprivileged worker user
(Gradescope), and the boundary test (``tests/test_boundary.py``) fails when
worker-side code imports a secret module.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path

from .worker import guards

#: The namespace every fmlgrade package lives under.
NAMESPACE = "fmlgrade"
#: fmlgrade's packages (one per top-level folder of the source tree).
PACKAGES = ("fmlgrade.harness", "fmlgrade.spec", "fmlgrade.solutions", "fmlgrade.fixtures")
#: The name of a folder whose contents may run beside student code.
WORKER_FOLDER = "worker"


@dataclass(frozen=True)
class Package:
    """An importable package and the folder it is loaded from."""

    name: str
    folder: Path


@functools.lru_cache(maxsize=1)
def package_roots() -> tuple[Package, ...]:
    """fmlgrade's packages and their folders, as installed (editable or not)."""
    roots = []
    for name in PACKAGES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # a partial installation (a student edition, say)
            continue
        for folder in getattr(module, "__path__", ()):
            roots.append(Package(name, Path(folder).resolve()))
    return tuple(roots)


@functools.lru_cache(maxsize=1)
def worker_packages() -> tuple[Package, ...]:
    """The worker-side packages: each package's ``worker`` folder that exists."""
    found = []
    for root in package_roots():
        folder = root.folder / WORKER_FOLDER
        if (folder / "__init__.py").is_file():
            found.append(Package(f"{root.name}.{WORKER_FOLDER}", folder))
    return tuple(found)


def worker_module_prefixes() -> tuple[str, ...]:
    """Dotted names under which a module is worker-side."""
    return tuple(package.name for package in worker_packages())


def parent_packages() -> tuple[str, ...]:
    """The packages above the worker-side ones (``fmlgrade``, ``fmlgrade.harness``, ...): containers only."""
    parents = {NAMESPACE}
    for prefix in worker_module_prefixes():
        parts = prefix.split(".")
        parents.update(".".join(parts[:n]) for n in range(1, len(parts)))
    return tuple(sorted(parents))


def is_worker_module(name: str) -> bool:
    """Whether module ``name`` lives in a worker folder."""
    return any(name == prefix or name.startswith(prefix + ".") for prefix in worker_module_prefixes())


def is_secret_module(name: str) -> bool:
    """Whether module ``name`` is fmlgrade's and may not exist in the worker's world."""
    return guards.is_secret_module(name, worker_module_prefixes(), parent_packages())


def secret_paths() -> list[Path]:
    """Every file and folder of fmlgrade that is secret, as the folders stand (outermost first).

    A worker folder's parents stay traversable (it must reach its folder), so
    what is listed is each package folder's entries other than the worker
    folder; for a package without one, the package folder itself.
    """
    paths: list[Path] = list(_rest_of_checkout())
    worker_folders = {package.folder for package in worker_packages()}
    for root in package_roots():
        if root.folder / WORKER_FOLDER not in worker_folders:
            paths.append(root.folder)
            continue
        for entry in sorted(root.folder.iterdir()):
            if entry.name == WORKER_FOLDER or (entry.name == "__init__.py"):
                continue
            paths.append(entry)
    return paths


def source_checkout() -> Path | None:
    """The source tree fmlgrade runs from, when it runs from one (an editable install): its packages'
    common parent holding a ``pyproject.toml``."""
    parents = {root.folder.parent for root in package_roots()}
    if len(parents) != 1:
        return None
    (parent,) = parents
    return parent if (parent / "pyproject.toml").is_file() else None


def _rest_of_checkout() -> list[Path]:
    """A source checkout's other entries (tests with mutants of the answers, ``.git`` with their history,
    docs): secret too, except a Python installation inside it (a ``.venv``), which the worker needs."""
    checkout = source_checkout()
    if checkout is None:
        return []
    import sys

    packages = {root.folder for root in package_roots()}
    runtime = {Path(p).resolve() for p in (sys.prefix, sys.exec_prefix, sys.base_prefix)}
    rest = []
    for entry in sorted(checkout.iterdir()):
        real = entry.resolve()
        if real in packages or any(real == r or real in r.parents for r in runtime):
            continue
        rest.append(entry)
    return rest


def secret_folders() -> list[Path]:
    """Folders that hold anything secret: the package folders (each one's worker folder excepted) and,
    in a source checkout, its other folders."""
    return [root.folder for root in package_roots()] + [p for p in _rest_of_checkout() if p.is_dir()]
