"""The narrow channel between the grader and a submission's worker process.

Messages travel over the socket of a :mod:`multiprocessing.connection`
``Connection`` (its framing: a 4-byte length, then the message) as pickles.
What the *worker* sends is untrusted, and the grader reads it under limits
(see :func:`loads_untrusted`): before the pickle is unpickled, its operations
are checked one by one, and only those that make built-in values (numbers,
strings, bytes, lists, tuples) are accepted, at most :data:`MAX_VALUES` of
them. No class or function is ever looked up, no dict or set is built by the
unpickler (their keys are hashed later, with a check against colliding keys),
and nothing is shared (the memo operations are refused): a message of a few
hundred bytes cannot decode to a huge structure. Arrays, tensors, dicts, sets
and references to objects that stay on one side are written as tagged tuples
of such values (see :class:`Codec`).

Both ends run the same :class:`Endpoint`: a request waits for its answer
while serving the other side's requests, so calls may nest (the worker's
code calling back into a reference layer that lives in the grader). The
grader's end reads and writes without blocking, so that a deadline bounds
every wait, sending included: a worker that stops reading cannot hold the
grader up past it.
"""

from __future__ import annotations

import io
import itertools
import math
import os
import pickle
import select
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

#: Longest message the grader accepts from a worker (bytes): array data, mostly.
MAX_MESSAGE = 512 * 2**20
#: Most pickle operations (each makes at most one value) a worker's message may hold. Checking,
#: unpickling and decoding the largest such message takes under a second and about 200 MiB in the grader.
MAX_VALUES = 2**20
#: Deepest nesting of containers a value may have.
MAX_DEPTH = 64
#: Most keys of a dict or items of a set that may share a hash value (more: crafted to collide).
MAX_SHARED_HASHES = 8
#: Longest type name and exception text taken from a failure message.
MAX_TYPE_NAME, MAX_FAILURE_TEXT, MAX_WHERE = 200, 4000, 2000

ND, NP, PT, CX, REF = "\x00nd", "\x00np", "\x00pt", "\x00cx", "\x00ref"
DC, ST, FS, TU = "\x00dc", "\x00st", "\x00fs", "\x00tu"
_NUMERIC_KINDS = frozenset("biufc")


class ChannelError(RuntimeError):
    """A message could not be encoded, decoded or delivered."""


class PeerGone(ChannelError):
    """The other end closed the channel (the worker exited or was killed)."""


class DeadlineExceeded(ChannelError):
    """No answer came (or a message could not be sent) before the caller's deadline."""


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


# -- reading what a worker sends ---------------------------------------------------------------

#: The pickle operations a worker's message may use, and the bytes of their fixed argument.
_FIXED_ARGUMENT = {
    op[0]: size
    for op, size in (
        (pickle.FRAME, 8), (pickle.MARK, 0), (pickle.NONE, 0), (pickle.NEWTRUE, 0), (pickle.NEWFALSE, 0),
        (pickle.BININT, 4), (pickle.BININT1, 1), (pickle.BININT2, 2), (pickle.BINFLOAT, 8),
        (pickle.EMPTY_LIST, 0), (pickle.APPEND, 0), (pickle.APPENDS, 0), (pickle.LIST, 0),
        (pickle.EMPTY_TUPLE, 0), (pickle.TUPLE, 0), (pickle.TUPLE1, 0), (pickle.TUPLE2, 0), (pickle.TUPLE3, 0),
    )
}
#: ... and those followed by a length (of so many bytes) and that many bytes of data.
_SIZED_ARGUMENT = {
    op[0]: size
    for op, size in (
        (pickle.LONG1, 1),  # ints up to 255 bytes; LONG4 (longer ones) is refused
        (pickle.SHORT_BINUNICODE, 1), (pickle.BINUNICODE, 4), (pickle.BINUNICODE8, 8),
        (pickle.SHORT_BINBYTES, 1), (pickle.BINBYTES, 4), (pickle.BINBYTES8, 8),
    )
}
_STOP, _REFUSED = -1, -2
#: By operation code: the size of its fixed argument (>= 0), -2 - the size of its length (sized ones),
#: _STOP, or _REFUSED.
_OPERATIONS = [_REFUSED] * 256
for _op, _size in _FIXED_ARGUMENT.items():
    _OPERATIONS[_op] = _size
for _op, _size in _SIZED_ARGUMENT.items():
    _OPERATIONS[_op] = -2 - _size
_OPERATIONS[pickle.STOP[0]] = _STOP


def check_untrusted(data: bytes | bytearray) -> None:
    """Refuse a pickle that does more than build at most :data:`MAX_VALUES` built-in values.

    Accepted are the operations that push a number, string, bytes, ``None``
    or a boolean, and those that build lists and tuples from them. Refused
    are, among others, every class or function lookup, the memo (shared
    references: the "billion laughs" of pickles, and a memo index that makes
    the unpickler allocate gigabytes), dicts and sets (their keys would be
    hashed before anyone could look: crafted colliding keys take quadratic
    time), and ints longer than 255 bytes. Each operation takes at least a
    byte, so only messages longer than :data:`MAX_VALUES` bytes need counting.
    """
    end, at, table = len(data), 0, _OPERATIONS
    if end >= 2 and data[0] == pickle.PROTO[0]:
        if data[1] > pickle.HIGHEST_PROTOCOL:
            raise pickle.UnpicklingError("unknown pickle protocol")
        at = 2
    left = MAX_VALUES if end > MAX_VALUES else -1
    while at < end:
        size = table[data[at]]
        at += 1
        if size >= 0:
            at += size
        elif size < _REFUSED:
            at += -2 - size + int.from_bytes(data[at:at - 2 - size], "little")
        elif size == _STOP:
            if at != end:
                raise pickle.UnpicklingError("data after the end of the message")
            return
        else:
            raise pickle.UnpicklingError(f"refused pickle operation {bytes([data[at - 1]])!r} at byte {at - 1}")
        if left > 0:
            left -= 1
            if left == 0:
                raise pickle.UnpicklingError(f"the message holds more than {MAX_VALUES} values")
    raise pickle.UnpicklingError("the message is truncated")


class _BuiltinsOnly(pickle.Unpickler):
    """Unpickles built-in values only: every class or function lookup is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused to load {module}.{name} from a worker message")


def loads_untrusted(data: bytes | bytearray) -> Any:
    """Read a message from an untrusted peer (see :func:`check_untrusted`)."""
    check_untrusted(data)
    return _BuiltinsOnly(io.BytesIO(data)).load()


def dumps_plain(value: Any) -> bytes:
    """``value`` (plain data) pickled so that :func:`loads_untrusted` accepts it: no shared references."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=5)
    pickler.fast = True  # no memo: every value is written out where it occurs
    pickler.dump(value)
    return buffer.getvalue()


# -- values in channel form --------------------------------------------------------------------


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
    if type(dtype_text) is not str or len(dtype_text) > 16:
        raise ChannelError("malformed array dtype")
    dtype = np.dtype(dtype_text)
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ChannelError(f"refused array dtype {dtype_text!r}")
    if not isinstance(shape, tuple) or len(shape) > 32 or not all(type(n) is int and 0 <= n < 2**62 for n in shape):
        raise ChannelError("malformed array shape")
    if type(data) is not bytes or math.prod(shape) * dtype.itemsize != len(data):
        raise ChannelError("array data does not match its shape")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def _refuse_colliding(keys: list) -> None:
    """Refuse dict keys or set items crafted to share hash values (building them would take quadratic time)."""
    if len(keys) > MAX_SHARED_HASHES and len({hash(key) for key in keys}) < len(keys) - MAX_SHARED_HASHES:
        raise ChannelError("too many keys with the same hash value")


class Codec:
    """Turns values into channel form and back, for one side of the channel.

    ``side`` is this end (``"worker"`` or ``"grader"``); ``export`` turns a
    local object that is not plain data into a :class:`Ref`, ``resolve_local``
    finds the object behind one of this side's refs and ``proxy`` makes the
    local stand-in for a ref owned by the other side.

    Channel form is built of ``None``, bools, ints, floats, strings, bytes,
    lists and tuples only; a tuple whose first item is one of the tags
    (``ND`` ...) stands for an array, a tensor, a complex number, a dict, a
    set or a reference.
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
        kind = type(value)
        if value is None or kind in (bool, int, float, str, bytes):
            return value
        if kind is list:
            return [self.encode(item, depth + 1) for item in value]
        if kind is tuple:
            items = tuple([self.encode(item, depth + 1) for item in value])
            # A tuple that would read as a tag is wrapped in one of its own.
            return (TU, items) if value and type(value[0]) is str and value[0][:1] == "\x00" else items
        if kind is dict:
            items = list(value.items())
            return (DC, tuple([self.encode(k, depth + 1) for k, _ in items]),
                    tuple([self.encode(v, depth + 1) for _, v in items]))
        if kind in (set, frozenset):
            return (ST if kind is set else FS, tuple([self.encode(item, depth + 1) for item in value]))
        if kind is complex:
            return (CX, value.real, value.imag)
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

    def decode(self, value: Any) -> Any:
        """The local value for channel form ``value``; :class:`ChannelError` if it is malformed."""
        try:
            return self._decode(value, 0)
        except (TypeError, ValueError, OverflowError, RecursionError, MemoryError) as exc:
            if isinstance(exc, ChannelError):
                raise
            raise ChannelError(f"malformed value ({type(exc).__name__}: {str(exc)[:200]})") from None

    def _decode(self, value: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ChannelError(f"value nested deeper than {MAX_DEPTH} levels")
        kind = type(value)
        if value is None or kind in (bool, int, float, str, bytes):
            return value
        if kind is list:
            return [self._decode(item, depth + 1) for item in value]
        if kind is not tuple:
            raise ChannelError(f"unexpected {kind.__name__} in a message")
        tag = value[0] if value and type(value[0]) is str else None
        if tag is None or tag[:1] != "\x00":
            return tuple([self._decode(item, depth + 1) for item in value])
        if tag == ND:
            return _array_from(value)
        if tag == NP:
            return _array_from((ND, *value[1:]))[()]
        if tag == PT:
            return _tensor_from(value)
        if tag == CX and len(value) == 3 and type(value[1]) is float and type(value[2]) is float:
            return complex(value[1], value[2])
        if tag == DC and len(value) == 3 and type(value[1]) is tuple and type(value[2]) is tuple \
                and len(value[1]) == len(value[2]):
            keys = [self._decode(key, depth + 1) for key in value[1]]
            _refuse_colliding(keys)
            return dict(zip(keys, [self._decode(item, depth + 1) for item in value[2]], strict=True))
        if tag in (ST, FS) and len(value) == 2 and type(value[1]) is tuple:
            items = [self._decode(item, depth + 1) for item in value[1]]
            _refuse_colliding(items)
            return set(items) if tag == ST else frozenset(items)
        if tag == REF:
            return self._decode_ref(value)
        if tag == TU and len(value) == 2 and type(value[1]) is tuple:
            return tuple([self._decode(item, depth + 1) for item in value[1]])
        if tag in (ND, NP, PT, CX, DC, ST, FS, TU, REF):
            raise ChannelError(f"malformed {tag[1:]} value")
        return tuple([self._decode(item, depth + 1) for item in value])

    def _decode_ref(self, value: tuple) -> Any:
        if not (len(value) == 6 and type(value[1]) is str and type(value[2]) is int and type(value[3]) is int
                and type(value[4]) is tuple and type(value[5]) is tuple and len(value[4]) <= 64
                and len(value[5]) <= 1024 and all(type(n) is str for n in value[4] + value[5])):
            raise ChannelError("malformed reference")
        ref = Ref(value[1], value[2], value[3], tuple(n[:MAX_TYPE_NAME] for n in value[4]),
                  frozenset(value[5]))
        return self._resolve_local(ref) if ref.owner == self.side else self._proxy(ref)


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
    """The tensor; its values as an array where this process does not use torch (a message cannot make
    the grader import torch: seconds and hundreds of MiB)."""
    if len(tag) != 5 or type(tag[4]) is not bool:
        raise ChannelError("malformed tensor")
    array = _array_from((ND, *tag[1:4]))
    torch = _torch_if_loaded()
    if torch is None:
        return array
    tensor = torch.from_numpy(array)
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
#: Most failure types kept for reuse (a worker may make up any number of type names).
_MAX_FAILURE_TYPES = 256


def remote_failure(type_name: str, message: str, where: str = "", kind: str = "error") -> RemoteFailure:
    """A :class:`RemoteFailure` that is also an instance of the matching local exception type."""
    base = KINDS.get(kind) or _MIRRORED.get(type_name)
    key = (type_name, base.__name__ if base else "")
    cls = _FAILURE_TYPES.get(key)
    if cls is None:
        bases = (RemoteFailure, base) if base is not None else (RemoteFailure,)
        cls = type(type_name if base is not None else "RemoteFailure", bases, {"__module__": "remote"})
        if len(_FAILURE_TYPES) < _MAX_FAILURE_TYPES:
            _FAILURE_TYPES[key] = cls
    return cls(type_name, message, where, kind)


#: Bytes read from the socket at a time.
_CHUNK = 1 << 20


class Endpoint:
    """One end of the channel: send requests, answer the other side's requests.

    ``handle(op, args)`` answers a request (returning its channel-form
    result, or raising). ``trusted_peer`` says whether messages from the
    other side may be unpickled in full (only the worker trusts its peer).

    The grader's end (``trusted_peer=False``) reads messages under the limits
    of :func:`loads_untrusted` and :data:`MAX_MESSAGE`, and both reads and
    writes without blocking: each wait for the socket ends at ``deadline``
    (seconds of ``time.monotonic()``; ``None`` waits without end) with
    :class:`DeadlineExceeded`. An exception that is not an ``Exception``
    (a time-out, the worker's death) raised while answering a request
    passes through to the grader instead of going back to the worker.
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
        self._guarded = not trusted_peer
        self._loads = pickle.loads if trusted_peer else loads_untrusted
        # The worker writes what the grader reads with loads_untrusted; the grader writes for a trusting peer.
        self._dumps = dumps_plain if trusted_peer else _dumps_full
        self._ids = itertools.count(1)
        self.deadline: float | None = None
        #: What the last request ran into, to report a dead peer helpfully.
        self.busy_with = ""
        if self._guarded:
            self._fd = connection.fileno()
            os.set_blocking(self._fd, False)
            self._inbox = bytearray()
            self._readable, self._writable = select.poll(), select.poll()
            self._readable.register(self._fd, select.POLLIN)
            self._writable.register(self._fd, select.POLLOUT)

    # -- frames ----------------------------------------------------------------------------------
    def _send(self, message: tuple) -> None:
        data = self._dumps(message)
        if self._guarded:
            self._write_frame(data)
            return
        try:
            self.connection.send_bytes(data)
        except (OSError, ValueError) as exc:
            raise PeerGone(f"the channel is closed ({exc})") from None

    def _wait(self, poller: select.poll, doing: str) -> None:
        """Wait until the socket is ready for ``doing``; :class:`DeadlineExceeded` at the deadline."""
        if self.deadline is None:
            timeout = None
        else:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlineExceeded(f"{doing} did not finish before the deadline")
            timeout = math.ceil(remaining * 1000)
        try:
            poller.poll(timeout)
        except (OSError, ValueError) as exc:
            raise PeerGone(f"the channel is closed ({exc})") from None

    def _write_frame(self, data: bytes) -> None:
        size = len(data)
        header = struct.pack("!i", size) if size <= 0x7FFFFFFF else struct.pack("!iQ", -1, size)
        for chunk in ((header + data,) if size <= 65536 else (header, data)):
            view = memoryview(chunk)
            while view:
                try:
                    view = view[os.write(self._fd, view):]
                except BlockingIOError:
                    self._wait(self._writable, "sending to the submission's process")
                except (OSError, ValueError) as exc:
                    raise PeerGone(f"the channel is closed ({type(exc).__name__})") from None

    def _take(self, size: int) -> bytes | bytearray:
        """The next ``size`` bytes from the socket."""
        inbox = self._inbox
        while len(inbox) < size:
            try:
                chunk = os.read(self._fd, min(max(size - len(inbox), 65536), _CHUNK))
            except BlockingIOError:
                self._wait(self._readable, "reading the submission's message")
                continue
            except (OSError, ValueError) as exc:
                raise PeerGone(f"the channel is closed ({type(exc).__name__})") from None
            if not chunk:
                raise PeerGone("the channel is closed")
            inbox += chunk
        if len(inbox) == size:
            self._inbox = bytearray()
            return inbox
        data = bytes(inbox[:size])
        del inbox[:size]
        return data

    def _read_frame(self) -> bytes | bytearray:
        (size,) = struct.unpack("!i", self._take(4))
        if size == -1:
            (size,) = struct.unpack("!Q", self._take(8))
        if size < 0:
            raise ChannelError(f"malformed message header (length {size})")
        if size > MAX_MESSAGE:
            raise ChannelError(f"a message of {size} bytes, over the limit of {MAX_MESSAGE}")
        return self._take(size)

    def has_unread(self) -> bool:
        """Whether the peer sent something nobody asked for (the grader's end only)."""
        if not self._guarded:
            return False
        if self._inbox:
            return True
        try:
            return bool(self._readable.poll(0))
        except (OSError, ValueError):
            return True

    def _receive(self) -> tuple:
        if self._guarded:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                raise DeadlineExceeded("no answer before the deadline")
            data = self._read_frame()
        else:
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
            raise ChannelError(f"unreadable message: {_message(exc)[:300]}") from None
        finally:
            del data
        if not (type(message) is tuple and len(message) >= 2 and type(message[0]) is str):
            raise ChannelError("malformed message")
        if self._guarded and self.deadline is not None and time.monotonic() > self.deadline:
            raise DeadlineExceeded("reading the message took until past the deadline")
        return message

    # -- requests --------------------------------------------------------------------------------
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
            if message[0] == "err" and len(message) == 6 and all(type(part) is str for part in message[2:]):
                _, _, kind, type_name, text, where = message
                raise remote_failure(type_name[:MAX_TYPE_NAME], text[:MAX_FAILURE_TEXT], where[:MAX_WHERE],
                                     kind[:MAX_TYPE_NAME])
            raise ChannelError("malformed answer")

    def serve_one(self, message: tuple) -> None:
        """Answer one request message from the peer."""
        if len(message) != 4 or type(message[2]) is not str or type(message[3]) is not tuple:
            raise ChannelError("malformed request")
        _, number, op, args = message
        try:
            result = self._handle(op, args)
        except RemoteFailure as failure:
            self._send(("err", number, failure.kind, failure.type_name, failure.message, failure.where))
        except (PeerGone, DeadlineExceeded):
            raise
        except BaseException as exc:  # noqa: BLE001 - every failure goes back as data
            if isinstance(exc, KeyboardInterrupt) or (self._guarded and not isinstance(exc, Exception)):
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


def _dumps_full(message: tuple) -> bytes:
    return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def _message(exc: BaseException) -> str:
    try:
        return str(exc)[:MAX_FAILURE_TEXT]
    except Exception:  # noqa: BLE001 - a hostile __str__
        return "(its message could not be read)"
