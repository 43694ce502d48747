"""A static reading of a submission for code that reaches into the grader's machinery.

No verdict depends on the worker's Python-level state, but code that imports
fmlgrade's own modules, walks the garbage collector's objects, rewrites
``sys.modules`` or the import system, or starts programs behind the audit
hook has no place in an honest hand-in. The grader reads the source (never
running it) and lists such lines in the report's problems, so an instructor
sees the attempt even where it gained nothing.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator

from .solution import SourceFile

#: Modules an honest submission never imports (prefix match).
_MODULES = ("fmlgrade", "_posixsubprocess", "ctypes")
#: The handout's provided code, which a solution may import (our references do).
_PROVIDED = ("fmlgrade.spec.worker.skeleton", "fmlgrade.spec.worker.data", "fmlgrade.spec.worker.pretrained")
#: Functions of ``gc`` that find other code's objects (``gc.collect`` is fine).
_GC_FINDERS = frozenset({"get_objects", "get_referrers", "get_referents"})
#: ``module.attribute`` uses that only tampering needs.
_ATTRIBUTES = {
    ("gc", "get_objects"), ("gc", "get_referrers"), ("gc", "get_referents"),
    ("sys", "meta_path"), ("sys", "path_hooks"), ("sys", "addaudithook"),
    ("sys", "_getframe"), ("os", "fork"), ("os", "forkpty"), ("os", "setsid"),
}
#: At most this many lines are listed per submission.
MOST = 12


def _trees(source: SourceFile) -> Iterator[tuple[str, ast.AST]]:
    if source.chunks:
        for chunk in source.chunks:
            yield chunk.label, chunk.tree
        return
    try:
        yield source.path, ast.parse(source.code, source.path)
    except (SyntaxError, ValueError):
        return  # the loader reports syntax errors


def _findings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in _MODULES and alias.name not in _PROVIDED:
                    yield node.lineno, f"imports {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = {alias.name for alias in node.names}
            provided = node.module in _PROVIDED or (
                node.module == "fmlgrade.spec.worker" and all(f"{node.module}.{n}" in _PROVIDED for n in names)
            )
            if (node.module.split(".")[0] in _MODULES and not provided) or (
                node.module == "gc" and names & _GC_FINDERS
            ):
                yield node.lineno, f"imports {', '.join(sorted(names))} from {node.module}"
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)):
            target = node.value
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and (
                target.value.id, target.attr) == ("sys", "modules"):
                yield node.lineno, "rebinds an entry of sys.modules"
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in _ATTRIBUTES:
                yield node.lineno, f"uses {node.value.id}.{node.attr}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "/proc/" in node.value:
            yield node.lineno, "names a /proc path"


def suspicious_lines(sources: Iterable[SourceFile]) -> list[str]:
    """One line per place in ``sources`` that reaches into the grader's machinery (at most :data:`MOST`)."""
    lines: list[str] = []
    for source in sources:
        for label, tree in _trees(source):
            for lineno, what in sorted(set(_findings(tree))):
                lines.append(
                    f"for the instructor: {label}, line {lineno} {what}: no grade depends on it, "
                    "but an honest submission has no use for it"
                )
    if len(lines) > MOST:
        lines = [*lines[:MOST], f"for the instructor: ... and {len(lines) - MOST} more such lines"]
    return lines
