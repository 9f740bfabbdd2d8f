"""Property tests: whatever bytes a peer sends, in whatever chunks, the association
either hands out events (or None) or raises ProtocolError; never anything else,
and it never buffers more than its limits allow.

Inputs are random bytes, PDU-shaped random bytes, structured P-DATA-TF streams,
and mutations of the golden PDUs of ``tests/support/pdu_bytes.py`` (byte flips, byte
sets, truncations, insertions, deletions, PDU/item/PDV length rewrites, item type
confusion, concatenations). Each runs with warnings as errors (pytest's setting)
and with warnings ignored (as in production, where pydicom only warns).
"""

from __future__ import annotations

import contextlib
import struct
import warnings
from collections.abc import Iterator

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exposcan.dicom import (
    Aborted,
    Association,
    AssociationAccepted,
    AssociationRejected,
    ConnectionClosed,
    DimseMessage,
    ProtocolError,
    Released,
    ReleaseRequested,
    propose,
)
from exposcan.dicom.state import State
from tests.support import pdu_bytes as golden
from tests.support.pdu import pdu
from tests.support.pdu import pdv as pdv_item

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: The largest PDU the framer may hold while waiting (association PDUs, 32 KiB),
#: plus its header; whatever one receive_data() call adds comes on top.
FRAMER_BOUND = 32 * 1024 + 6
COMMAND_SET_BOUND = 64 * 1024
EVENT_TYPES = (
    AssociationAccepted,
    AssociationRejected,
    Aborted,
    ReleaseRequested,
    Released,
    DimseMessage,
    ConnectionClosed,
)
VERIFICATION = "1.2.840.10008.1.1"
LIVE_STATES = [s for s in State if s is not State.CLOSED]


# -- associations to attack --------------------------------------------------------


def awaiting_ac() -> Association:
    association = Association()
    association.request(called_ae_title="ANY-SCP", contexts=propose([VERIFICATION]))
    assert association.state is State.AWAITING_AC
    return association


def established() -> Association:
    association = awaiting_ac()
    association.receive_data(golden.ASSOCIATE_AC_IMPLICIT_VR_LE)
    assert isinstance(association.next_event(), AssociationAccepted)
    assert association.state is State.ESTABLISHED
    return association


def in_state(state: State) -> Association:
    if state is State.IDLE:
        return Association()
    if state is State.AWAITING_AC:
        return awaiting_ac()
    association = established()
    if state is State.PEER_RELEASE_REQUESTED:
        association.receive_data(golden.RELEASE_RQ)
        assert isinstance(association.next_event(), ReleaseRequested)
    elif state is not State.ESTABLISHED:
        association.release()
        if state is not State.AWAITING_RELEASE_RP:
            association.receive_data(golden.RELEASE_RQ)
            assert isinstance(association.next_event(), ReleaseRequested)
            if state is State.AWAITING_RELEASE_RP_COLLISION:
                association.release_reply()
    assert association.state is state
    return association


# -- the property ------------------------------------------------------------------


def chunks(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    """Cut ``data`` into pieces whose sizes cycle through ``sizes``."""
    start, index = 0, 0
    while start < len(data):
        size = sizes[index % len(sizes)]
        yield data[start : start + size]
        start += size
        index += 1


def pump(association: Association, chunk_length: int) -> bool:
    """Read events until None (True) or ProtocolError (False); check bounds throughout."""
    for _ in range(100_000):
        assert association._framer.buffered <= FRAMER_BOUND + chunk_length
        assert len(association._assembler._command) <= COMMAND_SET_BOUND
        try:
            event = association.next_event()
        except ProtocolError:
            assert association.state is State.CLOSED
            return False
        if event is None:
            return True
        assert isinstance(event, EVENT_TYPES), type(event)
    raise AssertionError("next_event() never returned None")


def check(association: Association, data: bytes, sizes: list[int], eof: bool, quiet: bool) -> None:
    """Feed ``data`` in ``sizes`` chunks (then EOF if ``eof``), reading events after each.

    ``quiet``: warnings ignored as in production; otherwise pytest turns them into
    errors. Any exception but ProtocolError propagates and fails the property.
    """
    context = warnings.catch_warnings() if quiet else contextlib.nullcontext()
    with context:
        if quiet:
            warnings.simplefilter("ignore")
        for chunk in chunks(data, sizes):
            association.receive_data(chunk)
            if not pump(association, len(chunk)):
                return
        if eof:
            association.receive_data(b"")
            pump(association, 0)


# -- strategies --------------------------------------------------------------------

sizes_st = st.one_of(
    st.just([1]),
    st.lists(st.integers(min_value=1, max_value=97), min_size=1, max_size=12),
    st.just([1 << 20]),
)


@st.composite
def pdu_shaped(draw: st.DrawFn) -> bytes:
    """A PDU header (mostly with a known type and a true length) and random body."""
    pdu_type = draw(st.one_of(st.integers(1, 7), st.integers(0, 255)))
    body = draw(st.binary(max_size=400))
    length = draw(st.one_of(st.none(), st.integers(0, 2**32 - 1), st.integers(0, 600)))
    reserved = draw(st.integers(0, 255))
    header = struct.pack(">BBL", pdu_type, reserved, len(body) if length is None else length)
    return header + body


any_bytes_st = st.one_of(
    st.binary(max_size=2048),
    st.lists(pdu_shaped(), min_size=1, max_size=6).map(b"".join),
)

# Pieces a command set or data set may be made of.
COMMAND_PIECES = [
    golden.C_ECHO_RSP_COMMAND_SET,
    golden.C_FIND_RSP_PENDING_COMMAND_SET,
    b"\x00\x00\x00\x01\x02\x00\x00\x00\x30\x80",  # (0000,0100) US 0x8030
    b"\x00\x00\x00\x08\x02\x00\x00\x00\x01\x01",  # (0000,0800) US 0x0101
    b"\x00\x00\x00\x09\x02\x00\x00\x00\x00\x00",  # (0000,0900) US 0x0000
    b"\x08\x00\x05\x00\x0a\x00\x00\x00ISO_IR 100",  # (0008,0005): not group 0000
    b"\x00\x00\x00\x09\xff\xff\xff\xff",  # undefined length
]


@st.composite
def command_value(draw: st.DrawFn) -> bytes:
    piece = draw(st.sampled_from(COMMAND_PIECES))
    start = draw(st.integers(0, len(piece)))
    end = draw(st.integers(start, len(piece)))
    return draw(st.one_of(st.just(piece), st.just(piece[start:end]), st.binary(max_size=64)))


@st.composite
def pdv(draw: st.DrawFn) -> bytes:
    context_id = draw(st.sampled_from([1, 1, 1, 3, 0, 255]))
    control = draw(st.one_of(st.integers(0, 3), st.integers(0, 255)))
    value = draw(command_value())
    length = len(value) + 2
    if draw(st.integers(0, 9)) == 0:
        length = draw(st.sampled_from([0, 1, 2, length - 1, length + 1, 2**32 - 1]))
    return pdv_item(context_id, control, value, length=max(length, 0))


p_data_stream_st = st.lists(
    st.lists(pdv(), min_size=0, max_size=5).map(lambda pdvs: pdu(0x04, b"".join(pdvs))),
    min_size=1,
    max_size=8,
).map(b"".join)


def item_offsets(data: bytes) -> list[int]:
    """Offsets of the items and sub-items of an A-ASSOCIATE PDU (PS3.8 §9.3.2-3)."""
    offsets: list[int] = []
    if data[:1] not in (b"\x01", b"\x02"):
        return offsets
    offset = 74
    while offset + 4 <= len(data):
        item_type, length = struct.unpack(">BxH", data[offset : offset + 4])
        offsets.append(offset)
        first_sub = {0x20: 8, 0x21: 8, 0x50: 4}.get(item_type)
        if first_sub is not None:
            sub = offset + first_sub
            while sub + 4 <= min(offset + 4 + length, len(data)):
                offsets.append(sub)
                sub += 4 + struct.unpack(">H", data[sub + 2 : sub + 4])[0]
        offset += 4 + length
    return offsets


ITEM_TYPES = [0x00, 0x10, 0x20, 0x21, 0x30, 0x40, 0x50, *range(0x51, 0x5A), 0x5A, 0xFF]
INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x03, 0x04, 0x07, 0x7F, 0x80, 0xFF, *ITEM_TYPES]
GOLDEN_POOL = sorted(
    {*golden.RECEIVED.values(), golden.ASSOCIATE_RQ_VERIFICATION, golden.P_DATA_C_ECHO_RQ}
)
MUTATIONS = [
    "flip",
    "set",
    "truncate",
    "insert",
    "delete",
    "pdu_length",
    "item_length",
    "item_type",
    "pdv_length",
]


def interesting_lengths(original: int, width: int) -> st.SearchStrategy[int]:
    top = (1 << (8 * width)) - 1
    values = [0, 1, 2, 3, 4, 5, 6, 7, 8, 17, 67, 68, 73, 74, 1024, 1025]
    values += [16383, 16384, 16385, 32768, 32769, 2**31, top, top - 1]
    values += [original - 1, original + 1, original * 2]
    return st.one_of(st.sampled_from([v for v in values if 0 <= v <= top]), st.integers(0, top))


@st.composite
def mutated_golden(draw: st.DrawFn, pool: list[bytes] = GOLDEN_POOL) -> bytes:
    data = bytearray(draw(st.sampled_from(pool)))
    offsets = item_offsets(bytes(data))
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(MUTATIONS))
        size = len(data)
        if kind == "flip" and size:
            data[draw(st.integers(0, size - 1))] ^= draw(st.integers(1, 255))
        elif kind == "set" and size:
            value = draw(st.one_of(st.sampled_from(INTERESTING_BYTES), st.integers(0, 255)))
            data[draw(st.integers(0, size - 1))] = value
        elif kind == "truncate":
            del data[draw(st.integers(0, size)) :]
        elif kind == "insert":
            position = draw(st.integers(0, size))
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete" and size:
            start = draw(st.integers(0, size - 1))
            del data[start : draw(st.integers(start + 1, min(size, start + 16)))]
        elif kind == "pdu_length" and size >= 6:
            (original,) = struct.unpack(">L", data[2:6])
            data[2:6] = struct.pack(">L", draw(interesting_lengths(original, 4)))
        elif kind == "item_length" and offsets:
            offset = draw(st.sampled_from(offsets))
            if offset + 4 <= size:
                (original,) = struct.unpack(">H", data[offset + 2 : offset + 4])
                value = draw(interesting_lengths(original, 2))
                data[offset + 2 : offset + 4] = struct.pack(">H", value)
        elif kind == "item_type" and offsets:
            offset = draw(st.sampled_from(offsets))
            if offset < size:
                data[offset] = draw(st.sampled_from(ITEM_TYPES))
        elif kind == "pdv_length" and data[:1] == b"\x04" and size >= 10:
            (original,) = struct.unpack(">L", data[6:10])
            data[6:10] = struct.pack(">L", draw(interesting_lengths(original, 4)))
    if len(data) >= 6 and draw(st.booleans()):
        # Make the PDU-length true again, so the mutation reaches past the framer.
        data[2:6] = struct.pack(">L", len(data) - 6)
    return bytes(data)


def stream_of(element: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """One to four PDUs back to back, sometimes with random bytes after them."""
    return st.tuples(
        st.lists(element, min_size=1, max_size=4).map(b"".join),
        st.one_of(st.just(b""), st.binary(max_size=32)),
    ).map(b"".join)


mutated_stream_st = stream_of(mutated_golden())
mutated_ac_stream_st = stream_of(
    mutated_golden(pool=[golden.ASSOCIATE_AC_IMPLICIT_VR_LE, golden.ASSOCIATE_AC_CONTEXT_REJECTED])
)


def _ac_with_context_sub_item_type(item_type: int) -> bytes:
    data = bytearray(golden.ASSOCIATE_AC_IMPLICIT_VR_LE)
    data[golden.AC_OFFSET_TS_ITEM] = item_type
    return bytes(data)


# -- the properties ----------------------------------------------------------------


@FUZZ
@given(data=any_bytes_st, sizes=sizes_st, eof=st.booleans(), quiet=st.booleans())
def test_any_bytes_while_awaiting_ac(data: bytes, sizes: list[int], eof: bool, quiet: bool) -> None:
    check(awaiting_ac(), data, sizes, eof, quiet)


@FUZZ
@given(data=any_bytes_st, sizes=sizes_st, eof=st.booleans(), quiet=st.booleans())
def test_any_bytes_while_established(data: bytes, sizes: list[int], eof: bool, quiet: bool) -> None:
    check(established(), data, sizes, eof, quiet)


@FUZZ
@given(data=p_data_stream_st, sizes=sizes_st, eof=st.booleans(), quiet=st.booleans())
def test_p_data_streams_while_established(
    data: bytes, sizes: list[int], eof: bool, quiet: bool
) -> None:
    check(established(), data, sizes, eof, quiet)


@FUZZ
@given(data=mutated_ac_stream_st, sizes=sizes_st, eof=st.booleans(), quiet=st.booleans())
# The transfer syntax sub-item retyped as another item whose body still decodes.
@example(data=_ac_with_context_sub_item_type(0x52), sizes=[1 << 20], eof=False, quiet=False)
@example(data=_ac_with_context_sub_item_type(0x10), sizes=[1], eof=False, quiet=True)
def test_mutated_associate_ac_while_awaiting_ac(
    data: bytes, sizes: list[int], eof: bool, quiet: bool
) -> None:
    check(awaiting_ac(), data, sizes, eof, quiet)


@FUZZ
@given(data=mutated_stream_st, sizes=sizes_st, eof=st.booleans(), quiet=st.booleans())
def test_mutated_golden_pdus_while_awaiting_ac(
    data: bytes, sizes: list[int], eof: bool, quiet: bool
) -> None:
    check(awaiting_ac(), data, sizes, eof, quiet)


@FUZZ
@given(data=mutated_stream_st, sizes=sizes_st, eof=st.booleans(), quiet=st.booleans())
def test_mutated_golden_pdus_while_established(
    data: bytes, sizes: list[int], eof: bool, quiet: bool
) -> None:
    check(established(), data, sizes, eof, quiet)


@settings(FUZZ, max_examples=150)
@given(
    state=st.sampled_from(LIVE_STATES),
    data=st.one_of(mutated_stream_st, any_bytes_st),
    sizes=sizes_st,
    eof=st.booleans(),
    quiet=st.booleans(),
)
def test_mutated_golden_pdus_in_every_live_state(
    state: State, data: bytes, sizes: list[int], eof: bool, quiet: bool
) -> None:
    check(in_state(state), data, sizes, eof, quiet)


@FUZZ
@given(sizes=sizes_st)
def test_golden_conversation_in_any_chunking_gives_the_same_events(sizes: list[int]) -> None:
    """The control for the properties above: valid bytes in any chunking, same events."""
    association = awaiting_ac()
    seen: list[object] = []
    for data in (golden.ASSOCIATE_AC_IMPLICIT_VR_LE, golden.P_DATA_C_ECHO_RSP_PART_1):
        for chunk in chunks(data, sizes):
            association.receive_data(chunk)
            while (event := association.next_event()) is not None:
                seen.append(event)
    for chunk in chunks(golden.P_DATA_C_ECHO_RSP_PART_2 + golden.RELEASE_RQ, sizes):
        association.receive_data(chunk)
        while (event := association.next_event()) is not None:
            seen.append(event)
    assert [type(e) for e in seen] == [AssociationAccepted, DimseMessage, ReleaseRequested]
    assert association.state is State.PEER_RELEASE_REQUESTED
