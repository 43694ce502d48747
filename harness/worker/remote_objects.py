"""Objects that stay on one side of the channel, and the proxies the other side holds.

Plain data crosses the channel by value; any other object stays where it
was made and the other side gets a :class:`Proxy`, whose attribute reads,
calls and item access become requests. The grader holds proxies of student
objects; the worker holds proxies of the few grader objects a check hands to
student code (reference layers for ``MyNeuralNet``, say), and the grader
answers those requests under the limits below (:data:`CALLBACK_OPS`,
:func:`callback_cost`): student code may read and call the grader's objects,
with arguments of bounded size, and never rebind anything of theirs.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import sys
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from .channel import Ref, RemoteFailure

#: Operations a proxy can ask of the object behind it.
OBJECT_OPS = frozenset(
    {"call", "method", "getattr", "setattr", "getitem", "setitem", "len", "iter", "next", "repr", "bool", "array"}
)
#: The operations student code may ask of the grader's objects: read and call them, never rebind anything.
CALLBACK_OPS = frozenset({"call", "method", "getattr", "len", "repr", "bool"})
#: Largest int student code may pass to the grader's objects (a layer's or network's width, say).
CALLBACK_MAX_INT = 2**10
#: Most numbers (array elements, ints, floats, containers; a string counts one per 8 characters) the
#: arguments of one call into the grader may hold.
CALLBACK_MAX_VALUES = 2**14
#: Largest product of one call's int arguments (what a constructor may allocate from them).
CALLBACK_MAX_PRODUCT = 2**20
#: Most numbers all calls into the grader during one check may carry, their ints' products included:
#: what the grader's objects may keep of them (a record of calls, the layers built) stays bounded.
CALLBACK_BUDGET = 2**24
#: Most of the grader's objects student code may hold at a time during one check.
CALLBACK_MAX_OBJECTS = 4096


def callback_cost(args: Any) -> int:
    """What the arguments of one call into the grader may cost it: the numbers they hold, plus the
    product of their ints. Raises ``PermissionError`` where they are over the limits above."""
    values, product, pending = 8, 1, [args]
    while pending:
        value = pending.pop()
        kind = type(value)
        if kind is int or (isinstance(value, np.generic) and value.dtype.kind in "iu"):
            size = abs(int(value))
            if size > CALLBACK_MAX_INT:
                raise PermissionError(
                    f"student code may pass the grader's objects ints up to {CALLBACK_MAX_INT}, not {size:.3g}"
                )
            product *= max(size, 1)
            values += 1
        elif kind in (str, bytes):
            values += 1 + len(value) // 8
        elif kind in (list, tuple, set, frozenset):
            values += 1
            pending.extend(value)
        elif kind is dict:
            values += 1
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, np.ndarray):
            values += value.size
        else:
            torch = sys.modules.get("torch")
            tensor = torch is not None and not isinstance(value, Proxy) and isinstance(value, torch.Tensor)
            values += int(value.numel()) if tensor else 1
        if values > CALLBACK_MAX_VALUES:
            raise PermissionError(
                f"student code may pass the grader's objects at most {CALLBACK_MAX_VALUES} numbers in one call"
            )
    if product > CALLBACK_MAX_PRODUCT:
        raise PermissionError(
            f"student code may pass the grader's objects ints whose product is at most {CALLBACK_MAX_PRODUCT}"
        )
    return values + product


def type_names(obj: Any) -> tuple[str, ...]:
    """Qualified names of ``type(obj)`` and its bases, most derived first."""
    names = []
    for cls in type(obj).__mro__:
        names.append(f"{cls.__module__}.{cls.__qualname__}")
    return tuple(names)


def public_methods(obj: Any) -> frozenset[str]:
    """Names of the public functions defined on ``type(obj)`` (not on ``object``)."""
    if isinstance(obj, type) or inspect.isroutine(obj):
        return frozenset()
    names = set()
    for cls in type(obj).__mro__[:-1]:
        for name, value in vars(cls).items():
            if not name.startswith("_") and inspect.isfunction(value):
                names.add(name)
    return frozenset(names)


class ObjectTable:
    """The objects of one side that the other side holds references to."""

    def __init__(self, owner: str, generation: int = 0) -> None:
        self.owner = owner
        self.generation = generation
        self._objects: dict[int, Any] = {}
        self._ids_by_identity: dict[int, int] = {}
        self._next = itertools.count(1)

    def export(self, obj: Any) -> Ref:
        """A reference to ``obj``, the same one each time ``obj`` is exported."""
        number = self._ids_by_identity.get(id(obj))
        if number is None or self._objects.get(number) is not obj:
            number = next(self._next)
            self._objects[number] = obj
            self._ids_by_identity[id(obj)] = number
        return Ref(self.owner, number, self.generation, type_names(obj), public_methods(obj))

    def resolve(self, ref: Ref) -> Any:
        """The object behind one of this side's refs."""
        if ref.generation != self.generation or ref.id not in self._objects:
            raise LookupError(
                "an object handed over earlier is no longer available (it belonged to an earlier "
                "check or to a worker process that has since been restarted)"
            )
        return self._objects[ref.id]

    def release(self, numbers: list[int]) -> None:
        """Forget objects the other side no longer holds."""
        for number in numbers:
            obj = self._objects.pop(number, None)
            if obj is not None and self._ids_by_identity.get(id(obj)) == number:
                del self._ids_by_identity[id(obj)]

    def __len__(self) -> int:
        return len(self._objects)

    def clear(self) -> None:
        """Forget every object (the refs the other side holds stop working)."""
        self._objects.clear()
        self._ids_by_identity.clear()


def _call_noting_changes(function: Callable[..., Any], positional: Any, keywords: Any) -> tuple[Any, list]:
    """Call ``function``; also return the array arguments it changed in place, as (position, value).

    The caller's own arrays are copies on the other side of the channel, so
    in-place changes (a mistake some checks look for) are sent back and copied
    into them: both sides then see what one process would have seen.
    """
    positional, keywords = list(positional), dict(keywords)
    before = [(i, a.copy()) for i, a in enumerate(positional) if type(a) is np.ndarray]
    before += [(k, a.copy()) for k, a in keywords.items() if type(a) is np.ndarray]
    result = function(*positional, **keywords)
    changes = []
    for key, old in before:
        now = positional[key] if isinstance(key, int) else keywords[key]
        if now.shape != old.shape or not np.array_equal(now, old, equal_nan=old.dtype.kind in "fc"):
            changes.append((key, now))
    return result, changes


def apply_changes(changes: Any, positional: tuple, keywords: dict) -> None:
    """Copy the other side's in-place changes into the caller's arrays (same shape and dtype only)."""
    if type(changes) is not list:
        return
    for entry in changes:
        if type(entry) is not tuple or len(entry) != 2:
            continue
        key, value = entry
        original = positional[key] if type(key) is int and 0 <= key < len(positional) else keywords.get(key)
        if type(original) is np.ndarray and isinstance(value, np.ndarray) and original.shape == value.shape:
            with contextlib.suppress(TypeError, ValueError):
                np.copyto(original, value, casting="same_kind")


def apply_op(obj: Any, op: str, args: tuple) -> Any:
    """Carry out proxy operation ``op`` on the local object ``obj``."""
    if op == "call":
        positional, keywords = args
        return _call_noting_changes(obj, positional, keywords)
    if op == "method":
        name, positional, keywords = args
        return _call_noting_changes(getattr(obj, name), positional, keywords)
    if op == "getattr":
        return getattr(obj, args[0])
    if op == "setattr":
        setattr(obj, args[0], args[1])
        return None
    if op == "getitem":
        return obj[args[0]]
    if op == "setitem":
        obj[args[0]] = args[1]
        return None
    if op == "len":
        return len(obj)
    if op == "iter":
        return iter(obj)
    if op == "next":
        return next(obj)
    if op == "repr":
        return repr(obj)[:2000]
    if op == "bool":
        return bool(obj)
    if op == "array":
        return np.array(obj, dtype=args[0] if args else None)
    raise ValueError(f"unknown operation {op!r}")


class Proxy:
    """An object of the other side. Use it like the object; each use is a request.

    Proxies compare by identity and are never truthy-by-default on this
    side: ``bool``, ``len``, ``repr``, item access and ``np.asarray`` all ask
    the object itself.
    """

    __slots__ = ("_fml_ref", "_fml_request", "__weakref__")

    def __init__(self, ref: Ref, request: Callable[..., Any]) -> None:
        object.__setattr__(self, "_fml_ref", ref)
        object.__setattr__(self, "_fml_request", request)

    def _fml_op(self, op: str, *args: Any) -> Any:
        return self._fml_request("object", self, op, args)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        if name in self._fml_ref.methods:
            return _BoundMethod(self, name)
        return self._fml_op("getattr", name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._fml_op("setattr", name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _returned(self._fml_op("call", args, kwargs), args, kwargs)

    def __getitem__(self, key: Any) -> Any:
        return self._fml_op("getitem", key)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._fml_op("setitem", key, value)

    def __len__(self) -> int:
        length = self._fml_op("len")
        if type(length) is not int or length < 0:
            raise TypeError("len() of the object is not a non-negative int")
        return length

    def __iter__(self) -> Any:
        iterator = self._fml_op("iter")
        return _Iteration(iterator) if isinstance(iterator, Proxy) else iter(iterator)

    def __bool__(self) -> bool:
        return bool(self._fml_op("bool") is True)

    def __repr__(self) -> str:
        text = self._fml_op("repr")
        return text if type(text) is str else f"<{self._fml_ref.type_names[0]}>"

    __str__ = __repr__

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        result = self._fml_op("array", *( [np.dtype(dtype).str] if dtype is not None else []))
        if not isinstance(result, np.ndarray):
            raise TypeError(f"a {self._fml_ref.type_names[0]} cannot be read as an array")
        return result

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


def _returned(answer: Any, positional: tuple, keywords: dict) -> Any:
    """The result of a remote call, after copying its in-place changes into our arguments."""
    if type(answer) is not tuple or len(answer) != 2:
        raise TypeError("malformed answer to a call")
    result, changes = answer
    apply_changes(changes, positional, keywords)
    return result


class _BoundMethod:
    """``proxy.name`` for a public method: calling it is one request."""

    __slots__ = ("_proxy", "_name")

    def __init__(self, proxy: Proxy, name: str) -> None:
        self._proxy, self._name = proxy, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _returned(self._proxy._fml_op("method", self._name, args, kwargs), args, kwargs)

    def __repr__(self) -> str:
        return f"<method {self._name} of {self._proxy._fml_ref.type_names[0]}>"


class _Iteration:
    """Iterates a remote iterator one ``next`` at a time."""

    def __init__(self, iterator: Proxy) -> None:
        self._iterator = iterator

    def __iter__(self) -> _Iteration:
        return self

    def __next__(self) -> Any:
        try:
            return self._iterator._fml_op("next")
        except RemoteFailure as failure:
            if failure.type_name == "StopIteration":
                raise StopIteration from None
            raise


_PROXY_TYPES: dict[str, type] = {}
#: Most proxy types kept (a worker may make up any number of type names; later ones share one type).
_MAX_PROXY_TYPES = 1024


def proxy_type(ref: Ref) -> type:
    """A :class:`Proxy` subclass named like the remote type, so messages read naturally."""
    qualified = ref.type_names[0] if ref.type_names else "object"
    cls = _PROXY_TYPES.get(qualified)
    if cls is None:
        if len(_PROXY_TYPES) >= _MAX_PROXY_TYPES:
            qualified = "remote.object"
            cls = _PROXY_TYPES.get(qualified)
            if cls is not None:
                return cls
        name = qualified.rpartition(".")[2] or "object"
        cls = type(name, (Proxy,), {"__slots__": (), "__module__": "remote"})
        _PROXY_TYPES[qualified] = cls
    return cls


class ProxyCache:
    """One proxy per remote object, so ``require(x) is require(x)`` holds; notes dropped ones."""

    def __init__(self, request: Callable[..., Any]) -> None:
        self._request = request
        self._proxies: weakref.WeakValueDictionary[tuple[int, int], Proxy] = weakref.WeakValueDictionary()
        self.dropped: list[tuple[int, int]] = []

    def proxy(self, ref: Ref) -> Proxy:
        key = (ref.generation, ref.id)
        existing = self._proxies.get(key)
        if existing is not None:
            return existing
        made = proxy_type(ref)(ref, self._request)
        self._proxies[key] = made
        weakref.finalize(made, self.dropped.append, (ref.generation, ref.id))
        return made


def ref_of(value: Any) -> Ref | None:
    """The ref behind ``value`` if it is a proxy."""
    return object.__getattribute__(value, "_fml_ref") if isinstance(value, Proxy) else None
