"""The sans-IO association, driven with bytes alone: no sockets, no clocks.

Whole conversations are fed in every chunking down to one byte at a time; every
(state, input) pair of the PS3.8 state table is exercised; malformed peers must
raise ProtocolError and never cost more memory than the limits allow.
"""

from __future__ import annotations

import struct
import tracemalloc
import warnings
from collections.abc import Callable

import pytest

from exposcan.dicom import (
    Aborted,
    AcceptedContext,
    Association,
    AssociationAccepted,
    AssociationRejected,
    ConnectionClosed,
    DimseMessage,
    Event,
    LocalProtocolError,
    ProtocolError,
    Released,
    ReleaseRequested,
    propose,
)
from exposcan.dicom.state import TRANSITIONS, Input, State
from tests.support import pdu_bytes as golden
from tests.support.associations import awaiting_ac, drain, established, feed
from tests.support.pdu import COMMAND, LAST, associate_ac, element, item, p_data, pdu, pdv, us

S, In = State, Input

VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"

LIVE_STATES = [s for s in State if s is not S.CLOSED]


# -- byte builders (tests/support/pdu.py, independent of the code under test) -------


def build_ac(
    contexts: list[tuple[int, int, bytes]] | None = None,
    *,
    max_length: int | None = 16382,
    user_items: bytes = b"",
    raw_context_items: bytes | None = None,
) -> bytes:
    """The golden peer's A-ASSOCIATE-AC (PS3.8 Table 9-17): pynetdicom's identity, and
    (context id, result, transfer syntax) triples."""
    return associate_ac(
        contexts=contexts or [(1, 0, IMPLICIT_VR_LE.encode())],
        max_length=max_length,
        implementation_uid=golden.PEER_IMPLEMENTATION_CLASS_UID.encode(),
        version_name=golden.PEER_IMPLEMENTATION_VERSION_NAME.encode(),
        user_items=user_items,
        raw_context_items=raw_context_items,
    )


# -- driving helpers ---------------------------------------------------------------


def feed_bytewise_expecting_nothing_until_the_end(
    association: Association, data: bytes
) -> list[Event]:
    """One byte at a time; no event (and no state change) before the last byte."""
    state = association.state
    for index in range(len(data) - 1):
        association.receive_data(data[index : index + 1])
        assert association.next_event() is None, f"event after byte {index} of {len(data)}"
        assert association.state is state
    association.receive_data(data[-1:])
    return drain(association)


def in_state(state: State) -> Association:
    """An association brought to ``state`` by real bytes and calls."""
    if state is S.IDLE:
        return Association()
    association = awaiting_ac()
    if state is S.AWAITING_AC:
        return association
    feed(association, golden.ASSOCIATE_AC_IMPLICIT_VR_LE)
    if state is S.PEER_RELEASE_REQUESTED:
        assert feed(association, golden.RELEASE_RQ) == [ReleaseRequested()]
    elif state is not S.ESTABLISHED:
        association.release()
        if state is not S.AWAITING_RELEASE_RP:
            assert feed(association, golden.RELEASE_RQ) == [ReleaseRequested()]
            if state is not S.RELEASE_COLLISION:
                association.release_reply()
                if state is S.CLOSED:
                    assert feed(association, golden.RELEASE_RP) == [Released()]
    assert association.state is state
    return association


def expect_protocol_error(association: Association, data: bytes, chunk: int | None = None) -> str:
    """Feed ``data``; a ProtocolError must come, and leave the association closed."""
    with pytest.raises(ProtocolError) as caught:
        feed(association, data, chunk)
    assert association.state is S.CLOSED
    buffered = association._framer.buffered
    association.receive_data(b"more bytes after the end")
    assert association._framer.buffered == buffered, "bytes after the end were buffered"
    return str(caught.value)


# -- the state table ---------------------------------------------------------------

#: The requestor side of PS3.8 Table 9-10, written out independently of state.py.
EXPECTED_TRANSITIONS: dict[tuple[State, Input], State] = {
    (S.IDLE, In.SEND_ASSOCIATE_RQ): S.AWAITING_AC,  # AE-2
    (S.AWAITING_AC, In.RECV_ASSOCIATE_AC): S.ESTABLISHED,  # AE-3
    (S.AWAITING_AC, In.RECV_ASSOCIATE_RJ): S.CLOSED,  # AE-4
    (S.ESTABLISHED, In.SEND_P_DATA): S.ESTABLISHED,  # DT-1
    (S.ESTABLISHED, In.RECV_P_DATA): S.ESTABLISHED,  # DT-2
    (S.ESTABLISHED, In.SEND_RELEASE_RQ): S.AWAITING_RELEASE_RP,  # AR-1
    (S.ESTABLISHED, In.RECV_RELEASE_RQ): S.PEER_RELEASE_REQUESTED,  # AR-2
    (S.PEER_RELEASE_REQUESTED, In.SEND_RELEASE_RP): S.CLOSED,  # AR-4
    (S.AWAITING_RELEASE_RP, In.RECV_P_DATA): S.AWAITING_RELEASE_RP,  # AR-6
    (S.AWAITING_RELEASE_RP, In.RECV_RELEASE_RP): S.CLOSED,  # AR-3
    (S.AWAITING_RELEASE_RP, In.RECV_RELEASE_RQ): S.RELEASE_COLLISION,  # AR-8
    (S.RELEASE_COLLISION, In.SEND_RELEASE_RP): S.AWAITING_RELEASE_RP_COLLISION,  # AR-9
    (S.AWAITING_RELEASE_RP_COLLISION, In.RECV_RELEASE_RP): S.CLOSED,  # AR-3
}
for _live in LIVE_STATES:
    EXPECTED_TRANSITIONS[(_live, In.SEND_ABORT)] = S.CLOSED  # AA-1
    EXPECTED_TRANSITIONS[(_live, In.RECV_ABORT)] = S.CLOSED  # AA-3
    EXPECTED_TRANSITIONS[(_live, In.RECV_EOF)] = S.CLOSED  # AA-4

RECEIVED_BYTES: dict[Input, bytes] = {
    In.RECV_ASSOCIATE_RQ: golden.ASSOCIATE_RQ_VERIFICATION,
    In.RECV_ASSOCIATE_AC: golden.ASSOCIATE_AC_IMPLICIT_VR_LE,
    In.RECV_ASSOCIATE_RJ: golden.ASSOCIATE_RJ_CALLED_AE,
    In.RECV_P_DATA: golden.P_DATA_C_ECHO_RSP,
    In.RECV_RELEASE_RQ: golden.RELEASE_RQ,
    In.RECV_RELEASE_RP: golden.RELEASE_RP,
    In.RECV_ABORT: golden.ABORT_PROVIDER_UNEXPECTED_PDU,
    In.RECV_EOF: b"",
}
RECEIVED_EVENT: dict[Input, type] = {
    In.RECV_ASSOCIATE_AC: AssociationAccepted,
    In.RECV_ASSOCIATE_RJ: AssociationRejected,
    In.RECV_P_DATA: DimseMessage,
    In.RECV_RELEASE_RQ: ReleaseRequested,
    In.RECV_RELEASE_RP: Released,
    In.RECV_ABORT: Aborted,
    In.RECV_EOF: ConnectionClosed,
}
SENT_BYTES: dict[Input, bytes] = {
    In.SEND_ASSOCIATE_RQ: golden.ASSOCIATE_RQ_VERIFICATION,
    In.SEND_P_DATA: golden.P_DATA_C_ECHO_RQ,
    In.SEND_RELEASE_RQ: golden.RELEASE_RQ,
    In.SEND_RELEASE_RP: golden.RELEASE_RP,
    In.SEND_ABORT: golden.ABORT_USER,
}


def send(association: Association, what: Input) -> bytes:
    if what is In.SEND_ASSOCIATE_RQ:
        return association.request(
            called_ae_title="ANY-SCP",
            calling_ae_title="EXPOSCAN",
            contexts=propose([VERIFICATION]),
        )
    if what is In.SEND_P_DATA:
        return association.send_c_echo(1)[1]
    if what is In.SEND_RELEASE_RQ:
        return association.release()
    if what is In.SEND_RELEASE_RP:
        return association.release_reply()
    assert what is In.SEND_ABORT
    return association.abort()


def test_state_table_is_the_ps38_requestor_table() -> None:
    assert TRANSITIONS == EXPECTED_TRANSITIONS


ALL_PAIRS = [(state, what) for state in State for what in Input]


@pytest.mark.parametrize(("state", "what"), ALL_PAIRS, ids=lambda v: v.name.lower())
def test_every_state_and_input(state: State, what: Input) -> None:
    association = in_state(state)
    expected = EXPECTED_TRANSITIONS.get((state, what))
    if what.name.startswith("SEND_"):
        if expected is not None:
            assert send(association, what) == SENT_BYTES[what]
            assert association.state is expected
        elif state is S.CLOSED and what is In.SEND_ABORT:
            assert association.abort() == b""  # nothing to abort
            assert association.state is S.CLOSED
        else:
            with pytest.raises(LocalProtocolError):
                send(association, what)
            assert association.state is state, "a refused send changed the state"
        return

    data = RECEIVED_BYTES[what]
    if expected is not None:
        events = feed(association, data)
        assert [type(e) for e in events] == [RECEIVED_EVENT[what]]
        assert association.state is expected
    elif state is S.CLOSED:
        association.receive_data(data)
        assert association.next_event() is None
        assert association._framer.buffered == 0
    else:
        expect_protocol_error(association, data)


RECV_ALLOWED = [
    (state, what)
    for (state, what) in EXPECTED_TRANSITIONS
    if what.name.startswith("RECV_") and what is not In.RECV_EOF
]


@pytest.mark.parametrize(("state", "what"), RECV_ALLOWED, ids=lambda v: v.name.lower())
def test_every_received_pdu_one_byte_at_a_time(state: State, what: Input) -> None:
    association = in_state(state)
    events = feed_bytewise_expecting_nothing_until_the_end(association, RECEIVED_BYTES[what])
    assert [type(e) for e in events] == [RECEIVED_EVENT[what]]
    assert association.state is EXPECTED_TRANSITIONS[(state, what)]


# -- whole conversations -----------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64, None])
def test_echo_conversation_in_any_chunking(chunk: int | None) -> None:
    association = Association()
    assert association.state is S.IDLE
    assert association.next_event() is None

    sent = association.request(called_ae_title="ANY-SCP", contexts=propose([VERIFICATION]))
    assert sent == golden.ASSOCIATE_RQ_VERIFICATION
    assert association.state is S.AWAITING_AC

    [accepted] = feed(association, golden.ASSOCIATE_AC_IMPLICIT_VR_LE, chunk)
    assert isinstance(accepted, AssociationAccepted)
    assert accepted.accepted == (AcceptedContext(1, VERIFICATION, IMPLICIT_VR_LE),)
    assert association.state is S.ESTABLISHED

    message_id, sent = association.send_c_echo(1)
    assert (message_id, sent) == (1, golden.P_DATA_C_ECHO_RQ)

    response = golden.P_DATA_C_ECHO_RSP_PART_1 + golden.P_DATA_C_ECHO_RSP_PART_2
    [echo] = feed(association, response, chunk)
    assert echo == DimseMessage(1, 0x8030, 1, 0x0000, False, 0)
    assert association.state is S.ESTABLISHED

    assert association.release() == golden.RELEASE_RQ
    assert association.state is S.AWAITING_RELEASE_RP
    assert feed(association, golden.RELEASE_RP, chunk) == [Released()]
    assert association.state is S.CLOSED

    # After the end: EOF and stray bytes are ignored, and there is nothing to abort.
    assert feed(association, b"") == []
    assert feed(association, golden.ABORT_USER) == []
    assert association._framer.buffered == 0
    assert association.abort() == b""


def test_echo_conversation_one_byte_at_a_time_has_no_early_events() -> None:
    association = awaiting_ac()
    [event] = feed_bytewise_expecting_nothing_until_the_end(
        association, golden.ASSOCIATE_AC_IMPLICIT_VR_LE
    )
    assert isinstance(event, AssociationAccepted)
    association.send_c_echo(1)
    # The first P-DATA-TF holds only part of the command set: no event at all.
    for index in range(len(golden.P_DATA_C_ECHO_RSP_PART_1)):
        association.receive_data(golden.P_DATA_C_ECHO_RSP_PART_1[index : index + 1])
        assert association.next_event() is None
    [echo] = feed_bytewise_expecting_nothing_until_the_end(
        association, golden.P_DATA_C_ECHO_RSP_PART_2
    )
    assert isinstance(echo, DimseMessage)
    assert (echo.command_field, echo.status, echo.message_id_responded_to) == (0x8030, 0, 1)
    association.release()
    assert feed_bytewise_expecting_nothing_until_the_end(association, golden.RELEASE_RP) == [
        Released()
    ]


def test_pdus_arriving_together_come_out_in_order() -> None:
    association = established()
    events = feed(association, golden.P_DATA_C_ECHO_RSP * 3 + golden.RELEASE_RQ)
    assert [type(e) for e in events] == [DimseMessage] * 3 + [ReleaseRequested]
    assert association.state is S.PEER_RELEASE_REQUESTED


def test_rejection_then_eof() -> None:
    association = awaiting_ac()
    [rejected] = feed(association, golden.ASSOCIATE_RJ_CALLED_AE)
    assert isinstance(rejected, AssociationRejected)
    assert rejected.reason_text == "called AE title not recognised"
    assert association.state is S.CLOSED
    assert feed(association, b"") == []
    assert association.abort() == b""


# -- release and abort ------------------------------------------------------------


def test_release_collision() -> None:
    association = established()
    assert association.release() == golden.RELEASE_RQ
    # AR-8: the peer asked to release at the same time.
    assert feed(association, golden.RELEASE_RQ) == [ReleaseRequested()]
    assert association.state is S.RELEASE_COLLISION
    with pytest.raises(LocalProtocolError):
        association.send_c_echo(1)
    with pytest.raises(LocalProtocolError):
        association.release()
    assert association.state is S.RELEASE_COLLISION
    # AR-9: we are the requestor, so we answer first.
    assert association.release_reply() == golden.RELEASE_RP
    assert association.state is S.AWAITING_RELEASE_RP_COLLISION
    with pytest.raises(LocalProtocolError):
        association.release_reply()
    # AR-3: the peer's answer ends it.
    assert feed(association, golden.RELEASE_RP) == [Released()]
    assert association.state is S.CLOSED


def test_release_collision_one_byte_at_a_time() -> None:
    association = established()
    association.release()
    assert feed(association, golden.RELEASE_RQ, 1) == [ReleaseRequested()]
    association.release_reply()
    assert feed(association, golden.RELEASE_RP, 1) == [Released()]
    assert association.state is S.CLOSED


def test_peer_release_request_in_established() -> None:
    association = established()
    assert feed(association, golden.RELEASE_RQ) == [ReleaseRequested()]
    assert association.state is S.PEER_RELEASE_REQUESTED
    with pytest.raises(LocalProtocolError):
        association.send_c_echo(1)
    with pytest.raises(LocalProtocolError):
        association.release()
    assert association.release_reply() == golden.RELEASE_RP
    assert association.state is S.CLOSED


def test_p_data_while_awaiting_release_rp() -> None:
    association = established()
    association.send_c_echo(1)
    association.release()
    # AR-6: the response to the echo may still arrive after A-RELEASE-RQ.
    [echo] = feed(association, golden.P_DATA_C_ECHO_RSP)
    assert isinstance(echo, DimseMessage)
    assert association.state is S.AWAITING_RELEASE_RP
    assert feed(association, golden.RELEASE_RP) == [Released()]


def test_message_split_across_our_release_request_completes() -> None:
    association = established()
    assert feed(association, golden.P_DATA_C_ECHO_RSP_PART_1) == []
    association.release()
    [echo] = feed(association, golden.P_DATA_C_ECHO_RSP_PART_2, 1)
    assert echo == DimseMessage(1, 0x8030, 1, 0, False, 0)
    assert feed(association, golden.RELEASE_RP) == [Released()]


def test_p_data_after_peer_release_request_is_a_protocol_error() -> None:
    association = in_state(S.PEER_RELEASE_REQUESTED)
    expect_protocol_error(association, golden.P_DATA_C_ECHO_RSP)


@pytest.mark.parametrize("state", LIVE_STATES, ids=lambda s: s.name.lower())
def test_abort_from_every_live_state(state: State) -> None:
    association = in_state(state)
    assert association.abort() == golden.ABORT_USER
    assert association.state is S.CLOSED
    assert association.abort() == b""
    association.receive_data(golden.RELEASE_RP)
    assert association.next_event() is None
    assert association._framer.buffered == 0


@pytest.mark.parametrize("state", LIVE_STATES, ids=lambda s: s.name.lower())
@pytest.mark.parametrize(
    "abort", [golden.ABORT_PROVIDER_UNEXPECTED_PDU, golden.ABORT_USER], ids=["provider", "user"]
)
def test_peer_abort_in_every_live_state(state: State, abort: bytes) -> None:
    association = in_state(state)
    [event] = feed(association, abort, 1)
    assert isinstance(event, Aborted)
    assert association.state is S.CLOSED
    assert association.abort() == b""  # the peer is gone already


@pytest.mark.parametrize("state", LIVE_STATES, ids=lambda s: s.name.lower())
def test_eof_in_every_live_state(state: State) -> None:
    association = in_state(state)
    assert feed(association, b"") == [ConnectionClosed()]
    assert association.state is S.CLOSED
    assert association.next_event() is None
    assert association.abort() == b""


@pytest.mark.parametrize("state", LIVE_STATES, ids=lambda s: s.name.lower())
def test_eof_in_the_middle_of_a_pdu(state: State) -> None:
    association = in_state(state)
    association.receive_data(golden.ASSOCIATE_AC_IMPLICIT_VR_LE[:40])
    assert association.next_event() is None
    assert feed(association, b"") == [ConnectionClosed()]
    assert association.state is S.CLOSED


def test_eof_after_a_complete_pdu_comes_after_its_event() -> None:
    association = established()
    association.receive_data(golden.P_DATA_C_ECHO_RSP)
    association.receive_data(b"")
    events = drain(association)
    assert [type(e) for e in events] == [DimseMessage, ConnectionClosed]


def test_eof_in_closed_state_is_ignored() -> None:
    association = in_state(S.CLOSED)
    assert feed(association, b"") == []


# -- local protocol errors ---------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "call"),
    [
        (S.IDLE, lambda a: a.send_c_echo(1)),
        (S.IDLE, lambda a: a.release()),
        (S.IDLE, lambda a: a.release_reply()),
        (S.AWAITING_AC, lambda a: a.request(contexts=propose([VERIFICATION]))),
        (S.AWAITING_AC, lambda a: a.send_c_echo(1)),
        (S.AWAITING_AC, lambda a: a.release()),
        (S.ESTABLISHED, lambda a: a.request(contexts=propose([VERIFICATION]))),
        (S.ESTABLISHED, lambda a: a.release_reply()),
        (S.AWAITING_RELEASE_RP, lambda a: a.send_c_echo(1)),
        (S.AWAITING_RELEASE_RP, lambda a: a.release()),
        (S.AWAITING_RELEASE_RP, lambda a: a.release_reply()),
        (S.CLOSED, lambda a: a.send_c_echo(1)),
        (S.CLOSED, lambda a: a.release()),
        (S.CLOSED, lambda a: a.release_reply()),
        (S.CLOSED, lambda a: a.request(contexts=propose([VERIFICATION]))),
    ],
)
def test_sending_in_the_wrong_state(state: State, call: Callable[[Association], object]) -> None:
    association = in_state(state)
    with pytest.raises(LocalProtocolError):
        call(association)
    assert association.state is state


def test_local_protocol_error_is_not_a_protocol_error() -> None:
    """A driver that catches ProtocolError (the peer's fault) must not swallow its own bugs."""
    assert not issubclass(LocalProtocolError, ProtocolError)
    assert not issubclass(ProtocolError, LocalProtocolError)


# -- protocol errors: framing ------------------------------------------------------


@pytest.mark.parametrize("pdu_type", [0x00, 0x08, 0x10, 0x40, 0x80, 0xFF])
@pytest.mark.parametrize("make", [awaiting_ac, established], ids=["awaiting_ac", "established"])
def test_unknown_pdu_type_is_refused_at_its_header(
    pdu_type: int, make: Callable[[], Association]
) -> None:
    association = make()
    header = bytes([pdu_type, 0, 0, 0, 0, 4])
    for index in range(5):
        association.receive_data(header[index : index + 1])
        assert association.next_event() is None
    message = expect_protocol_error(association, header[5:])
    assert f"0x{pdu_type:02x}" in message
    assert association._framer.buffered <= 6


@pytest.mark.parametrize("pdu_type", [1, 2, 3, 4, 5, 6, 7])
@pytest.mark.parametrize("make", [awaiting_ac, established], ids=["awaiting_ac", "established"])
def test_header_announcing_4_gib_is_refused_after_6_bytes(
    pdu_type: int, make: Callable[[], Association]
) -> None:
    association = make()
    header = pdu(pdu_type, b"", length=2**32 - 1)
    for index in range(5):
        association.receive_data(header[index : index + 1])
        assert association.next_event() is None
    expect_protocol_error(association, header[5:])
    assert association._framer.buffered <= 6


def test_p_data_exactly_at_our_max_length_is_accepted() -> None:
    association = established(max_pdu_length=16384)
    body_length = 16384 - 4 - 2  # PDU-length = one PDV item of 16384 bytes
    command = golden.C_FIND_RSP_PENDING_COMMAND_SET
    head = p_data(pdv(1, COMMAND | LAST, command))
    data = p_data(pdv(1, LAST, b"\xaa" * body_length))
    assert len(data) == 6 + 16384
    [message] = feed(association, head + data)
    assert isinstance(message, DimseMessage)
    assert message.data_set_length == body_length


@pytest.mark.parametrize("max_pdu_length", [16384, 4096, 1000])
def test_p_data_larger_than_our_max_length_is_refused_at_its_header(max_pdu_length: int) -> None:
    association = established(max_pdu_length=max_pdu_length)
    header = pdu(0x04, b"", length=max_pdu_length + 1)
    message = expect_protocol_error(association, header)
    assert str(max_pdu_length + 1) in message
    assert association._framer.buffered <= 6


@pytest.mark.parametrize(
    ("pdu_type", "length"),
    [(0x02, 32 * 1024 + 1), (0x03, 32 * 1024 + 1), (0x07, 1025)],
    ids=["associate_ac", "associate_rj", "abort"],
)
def test_association_pdu_over_its_cap_is_refused_at_its_header(pdu_type: int, length: int) -> None:
    association = awaiting_ac()
    expect_protocol_error(association, pdu(pdu_type, b"", length=length))
    assert association._framer.buffered <= 6


@pytest.mark.parametrize("pdu_type", [0x05, 0x06, 0x07])
def test_small_pdus_over_1_kib_are_refused(pdu_type: int) -> None:
    association = in_state(S.AWAITING_RELEASE_RP)
    expect_protocol_error(association, pdu(pdu_type, b"", length=1025))


# -- protocol errors: A-ASSOCIATE-AC ------------------------------------------------


def test_ac_builder_makes_the_golden_ac() -> None:
    assert build_ac() == golden.ASSOCIATE_AC_IMPLICIT_VR_LE


@pytest.mark.parametrize("context_id", [3, 2, 0, 255])
def test_ac_answering_a_context_never_proposed(context_id: int) -> None:
    association = awaiting_ac()
    message = expect_protocol_error(
        association, build_ac([(context_id, 0, IMPLICIT_VR_LE.encode())])
    )
    assert "never proposed" in message


def test_ac_answering_our_context_and_an_invented_one() -> None:
    association = awaiting_ac()
    expect_protocol_error(
        association,
        build_ac([(1, 0, IMPLICIT_VR_LE.encode()), (5, 0, IMPLICIT_VR_LE.encode())]),
    )


@pytest.mark.parametrize("transfer_syntax", [EXPLICIT_VR_BE, JPEG_BASELINE, "1.2.3"])
def test_ac_accepting_with_a_transfer_syntax_never_proposed(transfer_syntax: str) -> None:
    association = awaiting_ac()
    message = expect_protocol_error(association, build_ac([(1, 0, transfer_syntax.encode())]))
    assert "transfer syntax never proposed" in message


def test_ac_accepting_with_an_empty_transfer_syntax() -> None:
    association = awaiting_ac()
    expect_protocol_error(association, build_ac([(1, 0, b"")]))


def test_ac_accepting_the_other_proposed_transfer_syntax() -> None:
    association = awaiting_ac()
    [event] = feed(association, build_ac([(1, 0, EXPLICIT_VR_LE.encode())]))
    assert isinstance(event, AssociationAccepted)
    assert event.accepted == (AcceptedContext(1, VERIFICATION, EXPLICIT_VR_LE),)


def test_ac_transfer_syntax_with_a_trailing_nul_is_the_same_uid() -> None:
    association = awaiting_ac()
    [event] = feed(association, build_ac([(1, 0, IMPLICIT_VR_LE.encode() + b"\x00")]))
    assert isinstance(event, AssociationAccepted)
    assert event.accepted[0].transfer_syntax == IMPLICIT_VR_LE


def test_ac_without_maximum_length_sub_item() -> None:
    association = awaiting_ac()
    message = expect_protocol_error(association, build_ac(max_length=None))
    assert "maximum length" in message


@pytest.mark.parametrize("max_length", [1, 2, 6, 127])
def test_ac_with_a_maximum_length_too_small(max_length: int) -> None:
    association = awaiting_ac()
    message = expect_protocol_error(association, build_ac(max_length=max_length))
    assert str(max_length) in message


@pytest.mark.parametrize("max_length", [0, 128, 2**32 - 1])
def test_ac_maximum_length_limits_that_are_fine(max_length: int) -> None:
    association = awaiting_ac()
    [event] = feed(association, build_ac(max_length=max_length))
    assert isinstance(event, AssociationAccepted)
    assert event.max_pdu_length == max_length
    # Our C-ECHO-RQ still fits in one PDU of at most our own maximum.
    _, sent = association.send_c_echo(1)
    assert sent == golden.P_DATA_C_ECHO_RQ


@pytest.mark.parametrize(
    "sub_item",
    [
        item(0x51, b""),  # maximum length without its 4 bytes
        item(0x51, b"\x00\x00\x40"),
        item(0x51, b"\x00\x00\x40\x00\x00"),
    ],
    ids=["empty", "3-bytes", "5-bytes"],
)
def test_ac_with_a_malformed_maximum_length_sub_item(sub_item: bytes) -> None:
    association = awaiting_ac()
    ac = build_ac(max_length=None, user_items=sub_item)
    expect_protocol_error(association, ac)


def _with_pdu_length(data: bytes, length: int) -> bytes:
    return data[:2] + struct.pack(">L", length) + data[6:]


AC = golden.ASSOCIATE_AC_IMPLICIT_VR_LE


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_with_pdu_length(AC[:60], 54), id="shorter-than-fixed-fields"),
        pytest.param(_with_pdu_length(AC[:74], 68), id="no-variable-items"),
        pytest.param(_with_pdu_length(AC + b"\x50\x00", len(AC) - 6 + 2), id="2-stray-bytes"),
        pytest.param(_with_pdu_length(AC[:-3], len(AC) - 9), id="user-info-item-overruns"),
        pytest.param(
            # the presentation context's transfer syntax sub-item claims 5 bytes more
            AC[: golden.AC_OFFSET_TS_ITEM + 2] + b"\x00\x16" + AC[golden.AC_OFFSET_TS_ITEM + 4 :],
            id="ts-sub-item-overruns-its-item",
        ),
        pytest.param(
            # the maximum length sub-item claims 60 bytes
            AC[: golden.AC_OFFSET_MAX_LENGTH_ITEM + 2]
            + b"\x00\x3c"
            + AC[golden.AC_OFFSET_MAX_LENGTH_ITEM + 4 :],
            id="max-length-sub-item-overruns-user-info",
        ),
        pytest.param(
            AC[: golden.AC_OFFSET_USER_INFO + 2]
            + b"\xff\xff"
            + AC[golden.AC_OFFSET_USER_INFO + 4 :],
            id="user-info-item-length-ffff",
        ),
        pytest.param(
            AC[: 74 + 2] + b"\x00\x00" + AC[74 + 4 :],
            id="application-context-length-0",
        ),
    ],
)
def test_ac_with_truncated_or_overrunning_items(data: bytes) -> None:
    association = awaiting_ac()
    expect_protocol_error(association, data)


@pytest.mark.parametrize("chunk", [1, 7, None])
def test_ac_errors_are_the_same_in_any_chunking(chunk: int | None) -> None:
    association = awaiting_ac()
    expect_protocol_error(association, build_ac(max_length=None), chunk)


@pytest.mark.parametrize("item_type", [0x20, 0x30, 0x40, 0x51, 0x99])
def test_ac_with_an_item_type_that_does_not_belong(item_type: int) -> None:
    association = awaiting_ac()
    expect_protocol_error(association, build_ac(raw_context_items=item(item_type, b"\x01\x00")))


@pytest.mark.parametrize("sub_type", [0x10, 0x40, 0x50, 0x5A, 0xFF])
def test_ac_with_a_user_information_sub_item_that_does_not_belong(sub_type: int) -> None:
    association = awaiting_ac()
    expect_protocol_error(association, build_ac(user_items=item(sub_type, b"1.2.3")))


@pytest.mark.parametrize(
    "sub_item",
    [
        pytest.param(item(0x51, b"\x00\x00\x40\x00"), id="maximum-length"),
        pytest.param(item(0x10, b"1.2.840.10008.3.1.1.1"), id="application-context"),
        pytest.param(item(0x52, b"1.2.3.4"), id="implementation-class-uid"),
        pytest.param(item(0x55, b"SOMETHING"), id="implementation-version-name"),
    ],
)
def test_ac_context_with_a_sub_item_other_than_transfer_syntax(sub_item: bytes) -> None:
    """PS3.8 Table 9-18: the variable field of an accepted context is one Transfer
    Syntax Sub-Item (type 40H). Anything else is a malformed PDU: ProtocolError,
    never another exception, and the association must be closed."""
    association = awaiting_ac()
    ac = build_ac(raw_context_items=item(0x21, b"\x01\x00\x00\x00" + sub_item))
    expect_protocol_error(association, ac)


def test_rejected_context_without_a_transfer_syntax_is_fine() -> None:
    association = awaiting_ac()
    [event] = feed(association, build_ac(raw_context_items=item(0x21, b"\x01\x00\x03\x00")))
    assert isinstance(event, AssociationAccepted)
    assert event.accepted == ()
    assert [c.result for c in event.rejected] == [3]


def test_peer_identity_strings_are_reduced_to_printable_ascii() -> None:
    """A peer's implementation class UID carrying a terminal escape sequence.

    pydicom only warns about such a UID; outside pytest's ``filterwarnings = error``
    the AC is accepted, so the escape must be stripped from what exposcan reports.
    """
    association = awaiting_ac()
    ac = build_ac().replace(
        b"1.2.826.0.1.3680043.9.3811.3.0.4", b"1.2.826.0.1.3680043.9.3811\x1b[0;1m"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as in production
        [event] = feed(association, ac)
    assert isinstance(event, AssociationAccepted)
    assert event.implementation_class_uid == "1.2.826.0.1.3680043.9.3811[0;1m"


@pytest.mark.parametrize(
    "version_name", [b"EVIL\x1b[2J\x07NAME", b"A" * 17, b"BACK\\SLASH"], ids=repr
)
def test_non_conformant_version_name_is_a_protocol_error(version_name: bytes) -> None:
    association = awaiting_ac()
    ac = build_ac(max_length=None, user_items=item(0x51, b"\x00\x00\x40\x00"))
    ac = ac.replace(item(0x55, b"PYNETDICOM_304"), item(0x55, version_name))
    ac = ac[:2] + struct.pack(">L", len(ac) - 6) + ac[6:]
    expect_protocol_error(association, ac)


# -- protocol errors: A-ASSOCIATE-RJ and A-ABORT ------------------------------------


@pytest.mark.parametrize("length", [0, 1, 2, 3])
def test_short_associate_rj(length: int) -> None:
    association = awaiting_ac()
    expect_protocol_error(association, pdu(0x03, b"\x00\x01\x01\x07"[:length]))


@pytest.mark.parametrize("length", [0, 1, 2, 3])
def test_short_abort(length: int) -> None:
    association = established()
    expect_protocol_error(association, pdu(0x07, b"\x00\x00\x02\x02"[:length]))


def test_rejection_with_reserved_codes_has_words_that_say_so() -> None:
    association = awaiting_ac()
    [event] = feed(association, pdu(0x03, b"\x00\x09\x01\x05"))
    assert event == AssociationRejected(
        result=9,
        source=1,
        reason=5,
        result_text="unknown result 9",
        source_text="service-user",
        reason_text="reserved reason 5",
    )


# -- protocol errors: P-DATA-TF and the command set ---------------------------------

ECHO_RSP = golden.C_ECHO_RSP_COMMAND_SET


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(pdu(0x04, b"\x00\x00\x00"), id="pdv-header-3-bytes"),
        pytest.param(pdu(0x04, b"\x00\x00\x00\x50\x01"), id="pdv-header-5-bytes"),
        pytest.param(pdu(0x04, pdv(1, 3, b"", length=0)), id="pdv-length-0"),
        pytest.param(pdu(0x04, pdv(1, 3, b"", length=1)), id="pdv-length-1"),
        pytest.param(
            pdu(0x04, pdv(1, 3, ECHO_RSP, length=len(ECHO_RSP) + 3)),
            id="pdv-overruns-p-data",
        ),
        pytest.param(
            pdu(0x04, pdv(1, 3, ECHO_RSP, length=2**32 - 1)),
            id="pdv-length-4-gib",
        ),
        pytest.param(p_data(pdv(1, COMMAND | LAST, ECHO_RSP) + b"\x00\x00"), id="trailing-2-bytes"),
    ],
)
def test_truncated_presentation_data_values(data: bytes) -> None:
    association = established()
    expect_protocol_error(association, data)


@pytest.mark.parametrize(
    "command_set",
    [
        pytest.param(ECHO_RSP[:-1], id="last-value-short"),
        pytest.param(ECHO_RSP[:-4], id="element-value-overruns"),
        pytest.param(ECHO_RSP + b"\x00\x00\x00", id="element-header-truncated"),
        pytest.param(ECHO_RSP + element(0, 0x1000, b"")[:7], id="element-header-7-bytes"),
        pytest.param(ECHO_RSP[:-10] + b"\x00\x00\x00\x09\xff\xff\xff\xff", id="undefined-length"),
    ],
)
def test_truncated_command_set(command_set: bytes) -> None:
    association = established()
    expect_protocol_error(association, p_data(pdv(1, COMMAND | LAST, command_set)))


@pytest.mark.parametrize("group", [0x0002, 0x0008, 0x0010, 0xFFFE])
def test_command_set_with_an_element_outside_group_0000(group: int) -> None:
    association = established()
    intruder = element(group, 0x0010, b"SECRET^PATIENT")
    message = expect_protocol_error(
        association, p_data(pdv(1, COMMAND | LAST, ECHO_RSP + intruder))
    )
    assert f"({group:04x},0010)" in message
    assert "SECRET" not in message


@pytest.mark.parametrize("control", [0x00, 0x02])
def test_data_set_fragment_before_any_command(control: int) -> None:
    association = established()
    message = expect_protocol_error(association, p_data(pdv(1, control, b"\x10\x00\x10\x00")))
    assert "before its command set" in message


def test_data_set_fragment_after_a_command_without_data_set() -> None:
    association = established()
    data = p_data(pdv(1, COMMAND | LAST, ECHO_RSP), pdv(1, LAST, b"\x10\x00\x10\x00"))
    with pytest.raises(ProtocolError):
        feed(association, data)
    assert association.state is S.CLOSED


def test_command_fragment_after_a_complete_command_set() -> None:
    association = established()
    data = p_data(
        pdv(1, COMMAND | LAST, golden.C_FIND_RSP_PENDING_COMMAND_SET),
        pdv(1, COMMAND | LAST, golden.C_FIND_RSP_PENDING_COMMAND_SET),
    )
    expect_protocol_error(association, data)


def test_context_change_inside_one_message() -> None:
    association = established()
    data = p_data(pdv(1, COMMAND, ECHO_RSP[:30]), pdv(3, COMMAND | LAST, ECHO_RSP[30:]))
    expect_protocol_error(association, data)


def test_command_set_larger_than_64_kib() -> None:
    association = established()
    fragment = b"\x00" * 16000
    data = b"".join(p_data(pdv(1, COMMAND, fragment)) for _ in range(5))
    expect_protocol_error(association, data)
    assert len(association._assembler._command) <= 64 * 1024


def test_command_set_without_a_command_field() -> None:
    association = established()
    command = element(0, 0x0120, us(1)) + element(0, 0x0800, us(0x0101))
    expect_protocol_error(association, p_data(pdv(1, COMMAND | LAST, command)))


@pytest.mark.parametrize("tag", [0x0100, 0x0120, 0x0800, 0x0900])
def test_us_element_of_the_wrong_size(tag: int) -> None:
    association = established()
    fields = {0x0100: us(0x8030), 0x0120: us(1), 0x0800: us(0x0101), 0x0900: us(0)}
    fields[tag] = b"\x00\x00\x00\x00"
    command = b"".join(element(0, t, v) for t, v in sorted(fields.items()))
    expect_protocol_error(association, p_data(pdv(1, COMMAND | LAST, command)))


def test_command_set_split_over_many_tiny_pdvs() -> None:
    association = established()
    pieces = [ECHO_RSP[i : i + 3] for i in range(0, len(ECHO_RSP), 3)]
    pdvs = [pdv(1, COMMAND, piece) for piece in pieces[:-1]]
    pdvs.append(pdv(1, COMMAND | LAST, pieces[-1]))
    [message] = feed(association, p_data(*pdvs[:10]) + p_data(*pdvs[10:]), 1)
    assert message == DimseMessage(1, 0x8030, 1, 0, False, 0)


# -- after a protocol error -----------------------------------------------------------


def test_after_a_protocol_error_abort_gives_an_a_abort_once() -> None:
    """The module contract: after ProtocolError the driver sends abort() bytes (AA-8)."""
    association = established()
    expect_protocol_error(association, b"\x09\x00\x00\x00\x00\x00")
    sent = association.abort()
    assert sent[:6] == b"\x07\x00\x00\x00\x00\x04"
    assert len(sent) == 10
    assert association.abort() == b""


def test_nothing_comes_out_after_a_protocol_error() -> None:
    """A P-DATA-TF holding a whole C-ECHO-RSP and then a bad PDV: once ProtocolError
    is raised the association is closed, so next_event() must yield nothing more."""
    association = established()
    data = p_data(pdv(1, COMMAND | LAST, ECHO_RSP), pdv(1, LAST, b"\x10\x00\x10\x00"))
    association.receive_data(data)
    with pytest.raises(ProtocolError):
        association.next_event()
    assert association.state is S.CLOSED
    assert association.next_event() is None


# -- a large data set is counted, never kept ------------------------------------------

MARKER = b"SECRET^PATIENT^MARKER"


def c_find_rsp_stream(data_set_length: int, pdv_size: int, pdvs_per_pdu: int) -> bytes:
    """C-FIND-RSP (pending) with a data set of ``data_set_length`` bytes, cut into
    PDVs of ``pdv_size`` bytes, ``pdvs_per_pdu`` PDVs to a P-DATA-TF."""
    name = element(0x0010, 0x0010, MARKER + b" ")  # PatientName, padded to even
    patient_id = element(0x0010, 0x0020, b"ID-" + MARKER + b" ")
    filler_length = data_set_length - len(name) - len(patient_id) - 8 - len(MARKER)
    data_set = name + patient_id + element(0x0009, 0x1000, b"\x00" * filler_length)
    data_set += MARKER  # also right at the end, in the last fragment
    assert len(data_set) == data_set_length
    fragments = [data_set[i : i + pdv_size] for i in range(0, len(data_set), pdv_size)]
    pdvs = [pdv(1, 0x00, fragment) for fragment in fragments[:-1]]
    pdvs.append(pdv(1, LAST, fragments[-1]))
    stream = p_data(pdv(1, COMMAND | LAST, golden.C_FIND_RSP_PENDING_COMMAND_SET))
    for start in range(0, len(pdvs), pdvs_per_pdu):
        stream += p_data(*pdvs[start : start + pdvs_per_pdu])
    return stream


def assembler_bytes(association: Association) -> int:
    """How many bytes the message assembler holds, whatever its attributes are."""
    total = 0
    for value in vars(association._assembler).values():
        if isinstance(value, bytes | bytearray):
            total += len(value)
        elif isinstance(value, dict):
            total += sum(len(v) for v in value.values() if isinstance(v, bytes | bytearray))
    return total


def test_one_mib_data_set_is_counted_not_buffered() -> None:
    data_set_length = 1024 * 1024
    stream = c_find_rsp_stream(data_set_length, pdv_size=4000, pdvs_per_pdu=4)
    final = p_data(
        pdv(
            1,
            COMMAND | LAST,
            golden.C_FIND_RSP_PENDING_COMMAND_SET[:-20]
            + element(0, 0x0800, us(0x0101))
            + element(0, 0x0900, us(0x0000)),
        )
    )
    association = established()
    chunk = 4096
    events: list[Event] = []
    tracemalloc.start()
    try:
        for start in range(0, len(stream), chunk):
            association.receive_data(stream[start : start + chunk])
            events += drain(association)
            assert assembler_bytes(association) <= 256
            assert association._framer.buffered <= 16384 + 6 + chunk
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024, f"peak {peak} bytes while streaming a 1 MiB data set"

    [message] = events
    assert message == DimseMessage(
        context_id=1,
        command_field=0x8020,
        message_id_responded_to=1,
        status=0xFF00,
        has_data_set=True,
        data_set_length=data_set_length,
    )
    for text in (repr(message), str(message), repr(association.__dict__)):
        assert MARKER.decode() not in text
        assert "SECRET" not in text
    assert assembler_bytes(association) == 0

    # The assembler is ready for the next message: the final C-FIND-RSP.
    [done] = feed(association, final)
    assert isinstance(done, DimseMessage)
    assert (done.status, done.has_data_set, done.data_set_length) == (0, False, 0)


def test_data_set_in_one_byte_pdvs_is_counted() -> None:
    association = established()
    stream = c_find_rsp_stream(300, pdv_size=1, pdvs_per_pdu=50)
    [message] = feed(association, stream, 13)
    assert isinstance(message, DimseMessage)
    assert message.data_set_length == 300
    assert "SECRET" not in repr(message)
