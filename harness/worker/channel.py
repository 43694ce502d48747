"""The narrow channel between the grader and a submission's worker process.

Messages travel over a :mod:`multiprocessing.connection` ``Connection`` as
pickles. What the *worker* sends is read with an unpickler that resolves no
class or function at all, so a message can only hold built-in values
(numbers, strings, bytes, lists, tuples, dicts, sets): a hostile worker
cannot make the grader run code by sending crafted bytes. Arrays, tensors
and references to objects that stay on one side are written as tagged
tuples of such values (see :func:`encode` and :class:`Codec`).

Both ends run the same :class:`Endpoint`: a request waits for its answer
while serving the other side's requests, so calls may nest (the worker's
code calling back into a reference layer that lives in the grader).
"""

from __future__ import annotations

import io
import itertools
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

#: Longest message the grader accepts from a worker (bytes).
MAX_MESSAGE = 512 * 2**20
#: Deepest nesting of containers a value may have.
MAX_DEPTH = 64

ND, NP, PT, CX, REF = "\x00nd", "\x00np", "\x00pt", "\x00cx", "\x00ref"
_NUMERIC_KINDS = frozenset("biufc")


class ChannelError(RuntimeError):
    """A message could not be encoded, decoded or delivered."""


class PeerGone(ChannelError):
    """The other end closed the channel (the worker exited or was killed)."""


class DeadlineExceeded(ChannelError):
    """No answer came before the caller's deadline."""


@dataclass(frozen=True)
class Ref:
    """A reference to an object living on one side: ``owner`` is ``"worker"`` or ``"grader"``.

    ``type_names`` are the qualified names of the object's type and its bases
    (for messages), ``methods`` the public methods of its type, which a proxy
    calls in one round trip.
    """

    owner: str
    id: int
    generation: int
    type_names: tuple[str, ...] = ()
    methods: frozenset[str] = frozenset()


class _BuiltinsOnly(pickle.Unpickler):
    """Unpickles built-in values only: every class or function lookup is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused to load {module}.{name} from a worker message")


def loads_untrusted(data: bytes) -> Any:
    """Read a message from an untrusted peer."""
    return _BuiltinsOnly(io.BytesIO(data)).load()


def _array_tag(array: np.ndarray) -> tuple:
    base = np.asarray(array).view(np.ndarray)
    if not base.flags.c_contiguous:
        base = base.copy(order="C")
    if base.dtype.kind not in _NUMERIC_KINDS:
        raise ChannelError(f"arrays of dtype {base.dtype} cannot be sent, only numbers and booleans")
    return (ND, base.dtype.str, tuple(int(n) for n in base.shape), base.tobytes())


def _array_from(tag: tuple) -> np.ndarray:
    if len(tag) != 4:
        raise ChannelError("malformed array")
    _, dtype_text, shape, data = tag
    dtype = np.dtype(str(dtype_text))
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ChannelError(f"refused array dtype {dtype_text!r}")
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ChannelError("malformed array shape")
    if not isinstance(data, bytes) or int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != len(data):
        raise ChannelError("array data does not match its shape")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


class Codec:
    """Turns values into channel form and back, for one side of the channel.

    ``side`` is this end (``"worker"`` or ``"grader"``); ``export`` turns a
    local object that is not plain data into a :class:`Ref`, ``resolve_local``
    finds the object behind one of this side's refs and ``proxy`` makes the
    local stand-in for a ref owned by the other side.
    """

    def __init__(
        self,
        side: str,
        export: Callable[[Any], Ref],
        resolve_local: Callable[[Ref], Any],
        proxy: Callable[[Ref], Any],
        is_proxy: Callable[[Any], Ref | None],
    ) -> None:
        self.side = side
        self._export = export
        self._resolve_local = resolve_local
        self._proxy = proxy
        self._is_proxy = is_proxy

    def encode(self, value: Any, depth: int = 0) -> Any:
        """``value`` in channel form: built-in values, tagged tuples and refs."""
        if depth > MAX_DEPTH:
            raise ChannelError(f"value nested deeper than {MAX_DEPTH} levels")
        if value is None or type(value) in (bool, int, float, str, bytes):
            return value
        if type(value) is complex:
            return (CX, value.real, value.imag)
        if type(value) in (list, tuple, set, frozenset):
            items = [self.encode(item, depth + 1) for item in value]
            return items if type(value) is list else (tuple(items) if type(value) is tuple else type(value)(items))
        if type(value) is dict:
            return {self.encode(k, depth + 1): self.encode(v, depth + 1) for k, v in value.items()}
        ref = self._is_proxy(value)
        if ref is not None:
            return _ref_tag(ref)
        if isinstance(value, np.ndarray):
            return _array_tag(value)
        if isinstance(value, np.generic) and value.dtype.kind in _NUMERIC_KINDS:
            return (NP, *_array_tag(np.asarray(value))[1:])
        tensor = _tensor_tag(value)
        if tensor is not None:
            return tensor
        return _ref_tag(self._export(value))

    def decode(self, value: Any, depth: int = 0) -> Any:
        """The local value for channel form ``value``."""
        if depth > MAX_DEPTH:
            raise ChannelError(f"value nested deeper than {MAX_DEPTH} levels")
        kind = type(value)
        if value is None or kind in (bool, int, float, str, bytes):
            return value
        if kind is list:
            return [self.decode(item, depth + 1) for item in value]
        if kind in (set, frozenset):
            return kind(self.decode(item, depth + 1) for item in value)
        if kind is dict:
            return {self.decode(k, depth + 1): self.decode(v, depth + 1) for k, v in value.items()}
        if kind is not tuple:
            raise ChannelError(f"unexpected {kind.__name__} in a message")
        tag = value[0] if value and type(value[0]) is str else None
        if tag == ND:
            return _array_from(value)
        if tag == NP:
            return _array_from((ND, *value[1:]))[()]
        if tag == PT:
            return _tensor_from(value)
        if tag == CX and len(value) == 3:
            return complex(float(value[1]), float(value[2]))
        if tag == REF and len(value) == 6:
            ref = Ref(str(value[1]), int(value[2]), int(value[3]), tuple(map(str, value[4])),
                      frozenset(map(str, value[5])))
            return self._resolve_local(ref) if ref.owner == self.side else self._proxy(ref)
        return tuple(self.decode(item, depth + 1) for item in value)


def _ref_tag(ref: Ref) -> tuple:
    return (REF, ref.owner, ref.id, ref.generation, ref.type_names, tuple(sorted(ref.methods)))


def _tensor_tag(value: Any) -> tuple | None:
    torch = _torch_if_loaded()
    if torch is None or not isinstance(value, torch.Tensor):
        return None
    plain = torch.Tensor.detach(value).cpu()
    if plain.dtype == torch.bfloat16:
        plain = plain.float()
    return (PT, *_array_tag(plain.numpy())[1:], bool(value.requires_grad))


def _tensor_from(tag: tuple) -> Any:
    import torch

    if len(tag) != 5:
        raise ChannelError("malformed tensor")
    tensor = torch.from_numpy(_array_from((ND, *tag[1:4])))
    if tag[4] and tensor.is_floating_point():
        tensor.requires_grad_(True)
    return tensor


def _torch_if_loaded() -> Any:
    import sys

    return sys.modules.get("torch")


class RemoteFailure(Exception):
    """An exception raised on the other side, as plain data.

    ``where`` names the student's line that raised it (if any); ``kind``
    is how the raising side classified it (``error``, or the name of one of
    the spec's outcome exceptions).
    """

    def __init__(self, type_name: str, message: str, where: str = "", kind: str = "error") -> None:
        super().__init__(type_name, message)
        self.type_name, self.message, self.where, self.kind = type_name, message, where, kind

    def __str__(self) -> str:
        return self.message


#: Built-in exception types a remote failure may take on, so ``except ValueError`` still works.
_MIRRORED = {
    cls.__name__: cls
    for cls in (ValueError, TypeError, IndexError, KeyError, AttributeError, ZeroDivisionError, RuntimeError,
                NotImplementedError, AssertionError, ArithmeticError, LookupError, MemoryError, RecursionError,
                FloatingPointError, OverflowError, NameError, UnboundLocalError, OSError, PermissionError,
                FileNotFoundError)
}
#: Exception types by the ``kind`` the raising side gave (the spec's outcomes; filled in by the grader).
KINDS: dict[str, type[BaseException]] = {}
_FAILURE_TYPES: dict[tuple[str, str], type[RemoteFailure]] = {}


def remote_failure(type_name: str, message: str, where: str = "", kind: str = "error") -> RemoteFailure:
    """A :class:`RemoteFailure` that is also an instance of the matching local exception type."""
    base = KINDS.get(kind) or _MIRRORED.get(type_name)
    key = (type_name, base.__name__ if base else "")
    cls = _FAILURE_TYPES.get(key)
    if cls is None:
        bases = (RemoteFailure, base) if base is not None else (RemoteFailure,)
        cls = type(type_name if base is not None else "RemoteFailure", bases, {"__module__": "remote"})
        _FAILURE_TYPES[key] = cls
    return cls(type_name, message, where, kind)


class Endpoint:
    """One end of the channel: send requests, answer the other side's requests.

    ``handle(op, args)`` answers a request (returning its channel-form
    result, or raising). ``trusted_peer`` says whether messages from the
    other side may be unpickled in full (only the worker trusts its peer).
    """

    def __init__(
        self,
        connection: Connection,
        handle: Callable[[str, tuple], Any],
        *,
        trusted_peer: bool,
        describe_failure: Callable[[BaseException], tuple[str, str]] = lambda exc: ("error", ""),
    ) -> None:
        self.connection = connection
        self._handle = handle
        self._describe_failure = describe_failure
        self._loads = pickle.loads if trusted_peer else loads_untrusted
        self._ids = itertools.count(1)
        self.deadline: float | None = None
        #: What the last request ran into, to report a dead peer helpfully.
        self.busy_with = ""

    def _send(self, message: tuple) -> None:
        try:
            self.connection.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
        except (OSError, ValueError) as exc:
            raise PeerGone(f"the channel is closed ({exc})") from None

    def _receive(self) -> tuple:
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            try:
                ready = remaining > 0 and self.connection.poll(remaining)
            except (OSError, ValueError) as exc:
                raise PeerGone(f"the channel is closed ({exc})") from None
            if not ready:
                raise DeadlineExceeded("no answer before the deadline")
        try:
            data = self.connection.recv_bytes(MAX_MESSAGE)
        except (EOFError, OSError, ValueError) as exc:
            raise PeerGone(f"the channel is closed ({type(exc).__name__})") from None
        try:
            message = self._loads(data)
        except Exception as exc:  # noqa: BLE001 - any malformed message is the peer's fault
            raise ChannelError(f"unreadable message: {exc}") from None
        if not (type(message) is tuple and len(message) >= 2 and type(message[0]) is str):
            raise ChannelError("malformed message")
        return message

    def request(self, op: str, *args: Any) -> Any:
        """Send request ``op`` and return the peer's (channel-form) answer, serving nested requests."""
        number = next(self._ids)
        self._send(("req", number, op, args))
        while True:
            message = self._receive()
            if message[0] == "req":
                self.serve_one(message)
                continue
            if message[1] != number:
                raise ChannelError(f"answer to request {message[1]!r} while waiting for {number}")
            if message[0] == "ok" and len(message) == 3:
                return message[2]
            if message[0] == "err" and len(message) == 6:
                _, _, kind, type_name, text, where = message
                raise remote_failure(str(type_name), str(text), str(where), str(kind))
            raise ChannelError("malformed answer")

    def serve_one(self, message: tuple) -> None:
        """Answer one request message from the peer."""
        if len(message) != 4 or type(message[3]) is not tuple:
            raise ChannelError("malformed request")
        _, number, op, args = message
        try:
            result = self._handle(str(op), args)
        except RemoteFailure as failure:
            self._send(("err", number, failure.kind, failure.type_name, failure.message, failure.where))
        except PeerGone:
            raise
        except BaseException as exc:  # noqa: BLE001 - every failure goes back as data
            if isinstance(exc, KeyboardInterrupt):
                raise
            kind, where = self._describe_failure(exc)
            self._send(("err", number, kind, type(exc).__name__, _message(exc), where))
        else:
            self._send(("ok", number, result))

    def serve_forever(self) -> None:
        """Answer requests until the peer closes the channel."""
        while True:
            try:
                message = self._receive()
            except PeerGone:
                return
            if message[0] != "req":
                raise ChannelError("an answer arrived while nothing was asked")
            self.serve_one(message)


def _message(exc: BaseException) -> str:
    try:
        return str(exc)[:4000]
    except Exception:  # noqa: BLE001 - a hostile __str__
        return "(its message could not be read)"

