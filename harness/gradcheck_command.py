"""``fmlgrade gradcheck FILE NAME``: property-based check of one layer's or function's gradients.

``NAME`` is a layer class of ``FILE`` (``forward(x)``, ``backward(gradient)``,
``update(learn_rate)`` if it has parameters), or a function whose hand-written
VJP is ``NAME_vjp`` (or ``--vjp``). The file runs as a fresh module, as a
submission's file does (with the skeleton's ``Layer`` available), but in this
process: it is your own code. The check is :mod:`fmlgrade.spec.gradients`
under the ``quick`` profile by default. Exit status: 0 when the gradients
agree, 1 with the smallest counterexample when they do not, 2 with one line
(``fmlgrade: error: ...``) when the check cannot run.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import sys
from pathlib import Path
from typing import Any

from hypothesis import settings as Settings

from .profiles import _COMMON, PROFILES

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def add_gradcheck_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``gradcheck`` command to the ``fmlgrade`` command line's subparsers."""
    parser = subparsers.add_parser(
        "gradcheck",
        help="check a layer's or function's hand-written gradients against central differences",
        description=(
            "Check the backward pass of layer class NAME (or the VJP of function NAME) in FILE against "
            "float64 central differences, on inputs drawn by hypothesis; see fmlgrade.spec.gradients."
        ),
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="the .py file (or notebook) that defines NAME")
    parser.add_argument("name", metavar="NAME", help="a layer class, or a function with a VJP")
    parser.add_argument(
        "--args", nargs="+", default=[], metavar="VALUE",
        help="arguments to build the layer, NAME(VALUE, ...), as Python literals (e.g. --args 3 4)",
    )
    parser.add_argument(
        "--input-shape", metavar="D,...",
        help="the shape of one sample, without the batch axis (default: (n,), n drawn from 1 to 4)",
    )
    parser.add_argument(
        "--kinks", metavar="X,...", help="input values where NAME is not differentiable (e.g. 0 for a ReLU)"
    )
    parser.add_argument(
        "--parameters", metavar="NAME,...",
        help="the layer's parameters (default: its float array attributes; '' for none)",
    )
    parser.add_argument(
        "--input-range", nargs=2, type=float, metavar=("LOW", "HIGH"), help="range of the inputs (default -10 10)"
    )
    parser.add_argument("--vjp", metavar="VJP", help="for a function: the name of its VJP in FILE (default NAME_vjp)")
    parser.add_argument(
        "--torch", metavar="EXPR",
        help="the name of a torch expression in FILE to compare with by torch.autograd, where torch is installed",
    )
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="what NAME is given")
    parser.add_argument(
        "--profile", choices=sorted(PROFILES), default="quick", help="how many examples (default quick)"
    )
    return parser


class _Usage(Exception):
    """A problem with the command line or the file: one line, exit status 2."""


#: The library's hints (keyword arguments), as this command's options.
_HINTS = (
    ("input_shape=, sizes= or args=", "--input-shape or --args"),
    ("args= or sizes=", "--args"),
    ("(input_range=, kinks=)", "(--input-range, --kinks)"),
    ("parameters=()", "--parameters ''"),
)


def _fail(message: str) -> int:
    first = str(message).strip().splitlines()[0] if str(message).strip() else "the check could not run"
    for hint, option in _HINTS:
        first = first.replace(hint, option)
    print(f"fmlgrade: error: {first}", file=sys.stderr)
    return EXIT_USAGE


def _numbers(text: str | None, option: str, kind: type) -> tuple[Any, ...] | None:
    if text is None:
        return None
    try:
        return tuple(kind(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise _Usage(f"{option} takes numbers separated by commas, such as 3,4; not {text!r}") from None


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise _Usage(f"--args: {text!r} is not a Python literal (a number, string, tuple, ...)") from None


def _load(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Run ``path`` as a fresh module; its names and one line per problem met while loading."""
    from .worker.loading import run_source
    from .worker.solution import SourceFile

    if not path.is_file():
        raise _Usage(f"{path}: no such file; give the path of a .py file or notebook")
    if path.suffix == ".ipynb":
        from .notebooks import NotebookError, read_notebook

        try:
            source = read_notebook(path)
        except (NotebookError, ImportError) as exc:
            raise _Usage(str(exc)) from None
    elif path.suffix == ".py":
        source = SourceFile(path=str(path), code=path.read_text(encoding="utf-8", errors="replace"))
    else:
        raise _Usage(f"{path}: gradcheck reads a .py file or a notebook (.ipynb)")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    module, problems, left_out = run_source(source, f"fmlgrade_gradcheck_{digest}")
    return vars(module), [*problems, *left_out]


def _defined(names: dict[str, Any], kind: str) -> str:
    found = sorted(n for n, v in names.items() if not n.startswith("_") and callable(v)
                   and getattr(v, "__module__", None) == names.get("__name__"))
    return f"{kind} defines: {', '.join(found)}" if found else f"{kind} defines no classes or functions"


def _lookup(names: dict[str, Any], name: str, path: Path, what: str) -> Any:
    if name not in names:
        raise _Usage(f"{path} has no {what} {name!r} ({_defined(names, 'it')})")
    return names[name]


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"dtype": args.dtype}
    shape = _numbers(args.input_shape, "--input-shape", int)
    kinks = _numbers(args.kinks, "--kinks", float)
    if kinks is not None:
        options["kinks"] = kinks
    if args.input_range is not None:
        options["input_range"] = tuple(args.input_range)
    return options | ({"shape": shape} if shape is not None else {})


def _run(args: argparse.Namespace, names: dict[str, Any]) -> Any:
    from fmlgrade.spec import gradients

    subject = _lookup(names, args.name, args.file, "layer or function")
    torch_expression = _lookup(names, args.torch, args.file, "torch expression") if args.torch else None
    if torch_expression is not None and not gradients.torch_available():
        print("fmlgrade: note: torch is not installed; comparing with central differences only", file=sys.stderr)
    options = _options(args)
    shape = options.pop("shape", None)
    profile = Settings(**_COMMON, **PROFILES[args.profile])
    if isinstance(subject, type) or (callable(getattr(subject, "forward", None)) and not callable(subject)):
        if shape is not None:
            options["input_shape"] = shape
        if args.parameters is not None:
            options["parameters"] = tuple(n.strip() for n in args.parameters.split(",") if n.strip())
        return gradients.check_layer(
            subject, args=tuple(_literal(a) for a in args.args), torch_forward=torch_expression,
            settings=profile, **options,
        )
    if callable(subject):
        if args.args:
            raise _Usage(f"--args builds a layer, but {args.name} is a function")
        vjp_name = args.vjp or f"{args.name}_vjp"
        vjp = _lookup(names, vjp_name, args.file, "VJP" + ("" if args.vjp else " (name it with --vjp)"))
        parameters = gradients._parameters_of(subject) or {}
        inputs = [n for n, p in parameters.items() if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                  p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if not inputs:
            raise _Usage(f"{args.name} takes no arguments to differentiate")
        feature = shape if shape is not None else ("features",)
        return gradients.check_vjp(
            subject, vjp, inputs={n: ("batch", *feature) for n in inputs}, torch_function=torch_expression,
            settings=profile, **options,
        )
    raise _Usage(
        f"{args.name} is a {type(subject).__name__}, not a layer (a class with forward(x) and backward(gradient)) "
        "or a function"
    )


def gradcheck_command(args: argparse.Namespace) -> int:
    """Run ``fmlgrade gradcheck``; return the exit status (0 agree, 1 disagree, 2 cannot check)."""
    from fmlgrade.spec.gradients import InvalidArgument, UncheckableExample

    from .results import classify

    try:
        names, problems = _load(args.file)
        for problem in problems:
            print(f"fmlgrade: note: {problem}", file=sys.stderr)
        summary = _run(args, names)
    except (_Usage, InvalidArgument, UncheckableExample) as exc:
        return _fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - a wrong gradient, or the checked code raised
        status, feedback = classify(exc, [str(args.file)])
        print(f"{args.name}: {'FAILED' if status == 'failed' else 'ERROR'} ({args.dtype})")
        print(feedback)
        return EXIT_FAILED
    print(f"{summary} ({args.dtype})")
    return EXIT_OK
