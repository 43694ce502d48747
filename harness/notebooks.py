"""Read Jupyter notebooks as submissions: keep the definitions, leave out the work.

A handed-in notebook still holds the student's training runs, plots, prints,
``%magics`` and ``!shell`` lines. Running those while grading is slow at best
and harmful at worst, so each code cell is parsed and only its definitions
are kept: imports, functions, classes and simple constant assignments (plus
``try`` blocks of imports). Every statement left out is reported in one line,
and each cell runs on its own, so a cell that fails is reported and skipped
without losing the cells after it.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from fmlgrade.spec.hookspecs import hookimpl

from .solution import SourceChunk, SourceFile

#: Calls allowed in a kept assignment: cheap constructors of constants.
_CONSTANT_CALLS = frozenset(
    {
        "array", "asarray", "tensor", "as_tensor", "device", "dtype", "zeros", "ones", "eye",
        "full", "arange", "linspace", "float32", "float64", "int64", "Path", "join",
        "dict", "list", "tuple", "set", "frozenset", "range", "float", "int", "str", "bool",
        "sqrt", "exp", "log",
    }
)
_SNIPPET = 60


class NotebookError(ValueError):
    """The file is not a readable Jupyter notebook."""


def _is_simple_value(node: ast.AST) -> bool:
    """Constants, names, containers, arithmetic and constant-constructor calls only."""
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            callee = child.func
            name = callee.attr if isinstance(callee, ast.Attribute) else getattr(callee, "id", None)
            if name not in _CONSTANT_CALLS:
                return False
        elif isinstance(child, (ast.Lambda, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return False
        elif isinstance(child, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return False
    return True


def _keep(statement: ast.stmt) -> str | None:
    """``None`` to keep a top-level statement, else why it is left out."""
    if isinstance(statement, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return None
    if isinstance(statement, (ast.Assign, ast.AnnAssign)):
        value = statement.value
        if value is None or isinstance(value, ast.Lambda) or _is_simple_value(value):
            return None  # a lambda is a definition: its body only runs when called
        return "assignment computed by a call (top-level work)"
    if isinstance(statement, ast.Try):
        body = statement.body + [s for h in statement.handlers for s in h.body]
        if all(isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass, ast.Assign)) for s in body):
            return None
        return "try block with work in it"
    if isinstance(statement, ast.Expr):
        if isinstance(statement.value, ast.Constant):
            return None  # a docstring or a bare string
        return "top-level expression or call (training, plotting, printing)"
    if isinstance(statement, ast.If):
        return "top-level if block"
    if isinstance(statement, (ast.For, ast.AsyncFor, ast.While)):
        return "top-level loop"
    if isinstance(statement, (ast.With, ast.AsyncWith)):
        return "top-level with block"
    if isinstance(statement, ast.AugAssign):
        return "top-level update of a variable"
    return f"top-level {type(statement).__name__.lower()} statement"


def _snippet(lines: list[str], lineno: int) -> str:
    text = lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 3] + "..."


def _strip_magics(source: str) -> tuple[str, list[int]]:
    """Blank out IPython ``%``/``!`` lines (keeping line numbers); return their line numbers."""
    lines = source.splitlines()
    magic_lines = []
    for index, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")) or (stripped.endswith("?") and not stripped.startswith("#")):
            magic_lines.append(index + 1)
            lines[index] = ""
    return "\n".join(lines), magic_lines


def cell_chunks(cells: list[tuple[int, str]], path: str) -> tuple[list[SourceChunk], list[str]]:
    """Turn numbered code cells into kept chunks and one-line notes on what was left out."""
    chunks: list[SourceChunk] = []
    notes: list[str] = []
    name = Path(path).name
    for number, source in cells:
        label = f"{name} cell {number}"
        if source.lstrip().startswith("%%"):
            notes.append(f"{label}: left out the whole cell (cell magic {source.split()[0]})")
            continue
        cleaned, magic_lines = _strip_magics(source)
        for line in magic_lines:
            notes.append(f"{label}, line {line}: left out an IPython magic or shell line")
        try:
            tree = ast.parse(cleaned, filename=label)
        except SyntaxError as exc:
            notes.append(f"{label}, line {exc.lineno}: left out the whole cell (syntax error: {exc.msg})")
            continue
        lines = cleaned.splitlines()
        kept = []
        for statement in tree.body:
            reason = _keep(statement)
            if reason is None:
                kept.append(statement)
            else:
                snippet = _snippet(lines, statement.lineno)
                notes.append(f"{label}, line {statement.lineno}: left out {reason}: {snippet}")
        if kept:
            module = ast.Module(body=kept, type_ignores=[])
            chunks.append(SourceChunk(label=label, tree=module))
    return chunks, notes


def read_notebook(path: Path) -> SourceFile:
    """Read ``path`` with nbformat and keep the definitions of its code cells."""
    import nbformat

    try:
        text = path.read_text(encoding="utf-8")
        json.loads(text)
    except UnicodeDecodeError:
        raise NotebookError(f"{path} is not a notebook: it is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"{path} is not a valid notebook: not valid JSON (line {exc.lineno}: {exc.msg}); "
            "re-save it from Jupyter or hand in a .py file"
        ) from None
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises several kinds
        raise NotebookError(f"{path} is JSON but not a Jupyter notebook ({type(exc).__name__}: {exc})") from None
    cells = []
    for index, cell in enumerate(notebook.get("cells", []), start=1):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            cells.append((index, "".join(source) if isinstance(source, list) else source))
    chunks, notes = cell_chunks(cells, str(path))
    return SourceFile(path=str(path), code="", left_out=tuple(notes), chunks=tuple(chunks))


class NotebookReader:
    """The ``fmlgrade_read_source`` plugin for ``.ipynb`` files."""

    @hookimpl
    def fmlgrade_read_source(self, path: Path) -> SourceFile | None:
        if path.suffix != ".ipynb":
            return None
        return read_notebook(path)
