"""The channel's encoding: what a worker's message can and cannot make the grader do."""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import pytest

from fmlgrade.harness.worker.channel import (
    ChannelError,
    Codec,
    Ref,
    _BuiltinsOnly,
    dumps_plain,
    loads_untrusted,
    remote_failure,
)
from fmlgrade.harness.worker.remote_objects import ObjectTable, ProxyCache, ref_of
from fmlgrade.spec.worker.outcomes import NotAttempted


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def _codec(side: str = "grader") -> tuple[Codec, ObjectTable]:
    table = ObjectTable(side)
    cache = ProxyCache(lambda *args: None)
    return Codec(side, table.export, table.resolve, cache.proxy, ref_of), table


def test_untrusted_messages_cannot_name_classes_or_functions():
    for dumps in (pickle.dumps, dumps_plain):
        with pytest.raises(pickle.UnpicklingError, match="refused"):
            loads_untrusted(dumps(_Evil()))
        with pytest.raises(pickle.UnpicklingError, match="refused"):
            loads_untrusted(dumps(np.ones(3)))  # arrays must come as tagged bytes, not as numpy pickles
    # Behind the check of the operations, the unpickler itself still looks up nothing.
    with pytest.raises(pickle.UnpicklingError, match="refused to load posix.system"):
        _BuiltinsOnly(io.BytesIO(pickle.dumps(_Evil()))).load()


def test_builtin_values_round_trip():
    value = {"a": [1, 2.5, None, True, -7, 2**200, 1 + 2j], ("t", 1): b"bytes", "s": {1, 2}, "f": frozenset({3}),
             "tag-like": ("\x00nd", "<f8", (1,), b""), "nested": [{"x": ()}, ((),)]}
    codec, _ = _codec()
    decoded = codec.decode(loads_untrusted(dumps_plain(codec.encode(value))))
    assert decoded == value
    assert type(decoded["s"]) is set and type(decoded["f"]) is frozenset and type(decoded["tag-like"]) is tuple


@pytest.mark.parametrize("array", [np.arange(6.0).reshape(2, 3), np.array([True, False]), np.zeros((0, 4), np.int32),
                                   np.array(3.5), np.arange(4, dtype=np.complex64)])
def test_arrays_cross_as_plain_copies(array):
    codec, _ = _codec()
    decoded = codec.decode(loads_untrusted(dumps_plain(codec.encode(array))))
    assert type(decoded) is np.ndarray
    assert decoded.dtype == array.dtype and decoded.shape == array.shape
    np.testing.assert_array_equal(decoded, array)
    assert decoded.flags.writeable


def test_a_lying_array_subclass_arrives_as_its_real_values():
    class Liar(np.ndarray):
        def __eq__(self, other):
            return True

        def tolist(self):
            return [42]

    lying = np.arange(3.0).view(Liar)
    codec, _ = _codec()
    decoded = codec.decode(codec.encode(lying))
    assert type(decoded) is np.ndarray
    np.testing.assert_array_equal(decoded, [0.0, 1.0, 2.0])


@pytest.mark.parametrize(
    "message",
    [
        ("\x00nd", "|O", (1,), b"\x00" * 8),  # object arrays would hold arbitrary objects
        ("\x00nd", "<f8", (3,), b"\x00" * 8),  # data that does not fit the shape
        ("\x00nd", "|V8", (1,), b"\x00" * 8),  # raw void records
        ("\x00nd", "<f8", (-1,), b""),
    ],
)
def test_malformed_arrays_are_refused(message):
    codec, _ = _codec()
    with pytest.raises((ChannelError, TypeError, ValueError)):
        codec.decode(message)


def test_objects_that_are_not_data_become_references():
    class Opaque:
        def __eq__(self, other):
            return True

    worker_codec, table = _codec("worker")
    thing = Opaque()
    encoded = worker_codec.encode([thing, thing])
    assert encoded[0] == encoded[1]  # one reference per object
    grader_codec, _ = _codec("grader")
    proxies = grader_codec.decode(encoded)
    assert proxies[0] is proxies[1]
    assert proxies[0] != object()  # a proxy compares by identity, whatever the remote __eq__ says
    assert type(proxies[0]).__name__ == "Opaque"
    assert table.resolve(ref_of(proxies[0])) is thing


def test_nesting_is_bounded():
    value: list = []
    for _ in range(100):
        value = [value]
    codec, _ = _codec()
    with pytest.raises(ChannelError, match="nested deeper"):
        codec.encode(value)


def test_a_reference_from_an_earlier_worker_is_refused():
    table = ObjectTable("grader", generation=2)
    with pytest.raises(LookupError, match="no longer available"):
        table.resolve(Ref("grader", 1, 1))


def test_remote_failures_keep_their_type_for_except_clauses():
    failure = remote_failure("ValueError", "bad shape", "student.py, line 3, in forward")
    assert isinstance(failure, ValueError)
    assert str(failure) == "bad shape" and failure.where.endswith("in forward")
    unknown = remote_failure("MyOwnError", "boom")
    assert not isinstance(unknown, ValueError) and unknown.type_name == "MyOwnError"
    import fmlgrade.harness.isolation  # noqa: F401 - registers the spec's outcomes

    assert isinstance(remote_failure("NotAttempted", "x is not defined", kind="NotAttempted"), NotAttempted)


# -- the grader is bounded: what a worker's message may cost it ---------------------------------


def _cost(action, *, memory: bool = False) -> tuple[float, int, BaseException | None]:
    """Seconds ``action`` takes, what it raised and (``memory``: in a second run, traced) its peak bytes."""
    import time
    import tracemalloc

    def run() -> BaseException | None:
        try:
            action()
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            return exc
        return None

    started = time.perf_counter()
    raised = run()
    seconds = time.perf_counter() - started
    peak = 0
    if memory:
        tracemalloc.start()
        run()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return seconds, peak, raised


def _doubling_bomb(levels: int = 60) -> list:
    """A list that shares one list twice, ``levels`` deep: 2**levels leaves, a few hundred bytes pickled."""
    value: list = [0]
    for _ in range(levels):
        value = [value, value]
    return value


def _fan_out_bomb() -> list:
    value: list = [0] * 1000
    for _ in range(4):
        value = [value] * 1000  # 10**15 leaves
    return value


BOMBS = {
    # shared references (the pickle memo: BINPUT / BINGET), the pickle "billion laughs"
    "doubling": pickle.dumps(("ok", 1, _doubling_bomb())),
    "fan-out": pickle.dumps(("ok", 1, _fan_out_bomb())),
    # a memo slot far out: the unpickler would allocate the memo table up to it (gigabytes)
    "memo index": b"\x80\x05N" + b"r\xff\xff\xff\x7f" + b".",
    # a container built by repeating a cheap operation, past the cap on values
    "repetition": b"\x80\x05](" + b"N" * 2**20 + b"e.",
    # a dict and a set: their keys would be hashed by the unpickler, before anyone could look
    "dict": b"\x80\x05}(" + b"\x8a\x01\x01N" * 100 + b"u.",
    "set": b"\x80\x05\x8f(" + b"\x8a\x01\x01" * 100 + b"\x90.",
    "long int": b"\x80\x05\x8b" + (1_000_000).to_bytes(4, "little") + b"\x01" * 1_000_000 + b".",
    "bytearray": b"\x80\x05\x96" + (8).to_bytes(8, "little") + b"\x00" * 8 + b".",
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_a_small_message_cannot_decode_to_a_huge_structure(name):
    data = BOMBS[name]
    assert len(data) < 3_000_000
    codec, _ = _codec()
    # (tracemalloc makes the 2 million operations of 'repetition' take seconds: its memory is not traced)
    seconds, peak, raised = _cost(lambda: codec.decode(loads_untrusted(data)), memory=name != "repetition")
    assert isinstance(raised, pickle.UnpicklingError), raised
    assert seconds < 1.0
    assert peak < 20 * 2**20  # bytes traced: nothing is built up before the refusal


def test_a_tensor_does_not_make_the_grader_import_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from fmlgrade.harness.worker.channel import Codec\n"
        "codec = Codec('grader', None, None, None, lambda v: None)\n"
        "value = codec.decode(('\\x00pt', '<f4', (2,), bytes(8), True))\n"
        "print(type(value).__name__, 'torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["ndarray", "False"], result.stderr


def test_the_shared_bombs_are_tiny():
    assert len(BOMBS["doubling"]) < 1000 and len(BOMBS["memo index"]) < 10


def test_dict_keys_crafted_to_collide_are_refused_quickly():
    colliding = tuple(i * (2**61 - 1) for i in range(20_000))  # all hash to 0
    assert len({hash(key) for key in colliding}) == 1
    codec, _ = _codec()
    message = ("\x00dc", colliding, (None,) * len(colliding))
    seconds, _, raised = _cost(lambda: codec.decode(loads_untrusted(dumps_plain(message))))
    assert isinstance(raised, ChannelError) and "same hash" in str(raised)
    assert seconds < 1.0
    seconds, _, raised = _cost(lambda: codec.decode(("\x00st", colliding)))
    assert isinstance(raised, ChannelError) and seconds < 1.0


@pytest.mark.parametrize(
    "message",
    [
        ("\x00dc", (1, 2), (3,)),  # keys and values that do not pair up
        ("\x00dc", ([1],), (2,)),  # an unhashable key
        ("\x00ref", "worker", "1", 1, (), ()),  # a reference with a text id
        ("\x00cx", "1", 2.0),
        ("\x00nd", "<f8", (2**40, 2**40, 0), b""),  # a shape numpy cannot take
        ("\x00nd", "<f8" * 100, (1,), b"\x00" * 8),
        ("\x00pt", "<f8", (1,), b"\x00" * 8),
        ("\x00pt", "<f8", (1,), b"\x00" * 8, "yes"),
    ],
)
def test_malformed_tagged_values_are_channel_errors(message):
    codec, _ = _codec()
    with pytest.raises(ChannelError):
        codec.decode(message)


# -- the grader's end of the socket: every wait ends at the deadline ---------------------------


def _grader_end(seconds: float = 0.5):
    import multiprocessing
    import time

    from fmlgrade.harness.worker.channel import Endpoint

    ours, theirs = multiprocessing.Pipe(duplex=True)
    endpoint = Endpoint(ours, lambda op, args: "served", trusted_peer=False)
    endpoint.deadline = time.monotonic() + seconds
    return endpoint, theirs


def test_a_peer_that_never_reads_cannot_block_sending_past_the_deadline():
    from fmlgrade.harness.worker.channel import DeadlineExceeded

    endpoint, theirs = _grader_end(0.5)
    seconds, _, raised = _cost(lambda: endpoint.request("x", b"\x00" * 50_000_000))
    assert isinstance(raised, DeadlineExceeded), raised
    assert 0.4 < seconds < 3.0
    theirs.close()


def test_a_peer_that_stops_half_way_through_a_message_runs_into_the_deadline():
    import struct

    from fmlgrade.harness.worker.channel import DeadlineExceeded

    endpoint, theirs = _grader_end(0.5)
    os.write(theirs.fileno(), struct.pack("!i", 1000) + b"\x80\x05")  # promises 1000 bytes, sends 2
    seconds, _, raised = _cost(lambda: endpoint.request("x"))
    assert isinstance(raised, DeadlineExceeded) and 0.4 < seconds < 3.0


@pytest.mark.parametrize(
    "frame, why",
    [
        ((2**31 - 1).to_bytes(4, "big"), "over the limit"),  # a length over MAX_MESSAGE
        (b"\xff\xff\xff\xff" + (2**40).to_bytes(8, "big"), "over the limit"),
        (b"\xff\xff\xff\xfe", "malformed message header"),  # a negative length
        (b"\x00\x00\x00\x05junk!", "unreadable"),
        (b"\x00\x00\x00\x00", "unreadable"),
    ],
)
def test_a_malformed_frame_is_refused_at_once(frame, why):
    endpoint, theirs = _grader_end(10.0)
    os.write(theirs.fileno(), frame)
    seconds, _, raised = _cost(lambda: endpoint.request("x"))
    assert isinstance(raised, ChannelError) and why in str(raised), raised
    assert seconds < 1.0


def test_answers_out_of_step_are_refused_and_unasked_messages_noticed():
    endpoint, theirs = _grader_end(10.0)
    theirs.send_bytes(dumps_plain(("ok", 7, "an answer to something else")))
    with pytest.raises(ChannelError, match="answer to request 7 while waiting for 1"):
        endpoint.request("x")
    assert not endpoint.has_unread()
    theirs.send_bytes(dumps_plain(("ok", 99, None)))
    import time

    time.sleep(0.05)
    assert endpoint.has_unread()


def test_requests_of_the_peer_are_served_while_waiting():
    endpoint, theirs = _grader_end(10.0)
    theirs.send_bytes(dumps_plain(("req", 1, "object", ())))
    theirs.send_bytes(dumps_plain(("ok", 1, "done")))
    assert endpoint.request("x") == "done"
    assert pickle.loads(theirs.recv_bytes())[:3] == ("req", 1, "x")
    assert pickle.loads(theirs.recv_bytes()) == ("ok", 1, "served")


# -- call-backs: what student code may pass to the grader's objects ------------------------------


def test_callback_arguments_are_bounded():
    from fmlgrade.harness.worker.remote_objects import CALLBACK_MAX_INT, callback_cost

    assert callback_cost(((np.ones((4, 1)),), {})) < 100
    assert callback_cost(((200,), {})) < 300
    for args in [
        ((10**9,), {}),  # a network of a billion hidden units
        ((np.int64(10**9),), {}),
        ((), {"n_hidden": -(10**9)}),
        ((CALLBACK_MAX_INT, CALLBACK_MAX_INT, CALLBACK_MAX_INT), {}),  # each small, their product not
        ((np.zeros(10**6),), {}),
        (([0.0] * 100_000,), {}),
        (("x" * 10**6,), {}),
    ]:
        with pytest.raises(PermissionError):
            callback_cost(args)
