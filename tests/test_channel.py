"""The channel's encoding: what a worker's message can and cannot make the grader do."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from fmlgrade.harness.worker.channel import ChannelError, Codec, Ref, loads_untrusted, remote_failure
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
    with pytest.raises(pickle.UnpicklingError, match="refused to load posix.system"):
        loads_untrusted(pickle.dumps(_Evil()))
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        loads_untrusted(pickle.dumps(np.ones(3)))  # arrays must come as tagged bytes, not as numpy pickles


def test_builtin_values_round_trip():
    value = {"a": [1, 2.5, None, True], ("t", 1): b"bytes", "s": {1, 2}, "f": frozenset({3})}
    assert loads_untrusted(pickle.dumps(value)) == value


@pytest.mark.parametrize("array", [np.arange(6.0).reshape(2, 3), np.array([True, False]), np.zeros((0, 4), np.int32),
                                   np.array(3.5), np.arange(4, dtype=np.complex64)])
def test_arrays_cross_as_plain_copies(array):
    codec, _ = _codec()
    decoded = codec.decode(loads_untrusted(pickle.dumps(codec.encode(array))))
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
