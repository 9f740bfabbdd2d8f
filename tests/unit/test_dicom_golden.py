"""Golden bytes: exposcan's DICOM upper layer against PDUs written out by hand.

Encoding must equal the golden bytes exactly; decoding the golden bytes must give
exactly the expected events. The bytes live in ``tests/support/pdu_bytes.py``.
"""

from __future__ import annotations

import struct
from io import BytesIO

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pynetdicom.dimse_messages import C_ECHO_RSP
from pynetdicom.dimse_primitives import C_ECHO
from pynetdicom.dsutils import decode as decode_dataset
from pynetdicom.pdu import A_ASSOCIATE_AC, A_ASSOCIATE_RQ, P_DATA_TF

from exposcan.dicom import (
    Aborted,
    AcceptedContext,
    Association,
    AssociationAccepted,
    AssociationRejected,
    DimseMessage,
    Event,
    RejectedContext,
    Released,
    ReleaseRequested,
    dimse,
    propose,
    services,
    uids,
)
from exposcan.dicom.state import State
from tests.support import pdu_bytes as golden

VERIFICATION = "1.2.840.10008.1.1"
IMPLICIT_VR_LE = "1.2.840.10008.1.2"


def awaiting_ac() -> Association:
    association = Association(max_pdu_length=16384)
    association.request(
        called_ae_title="ANY-SCP", calling_ae_title="EXPOSCAN", contexts=propose([VERIFICATION])
    )
    return association


def established() -> Association:
    association = awaiting_ac()
    association.receive_data(golden.ASSOCIATE_AC_IMPLICIT_VR_LE)
    assert isinstance(association.next_event(), AssociationAccepted)
    assert association.next_event() is None
    return association


def events_of(association: Association, data: bytes) -> list[Event]:
    association.receive_data(data)
    events: list[Event] = []
    while (event := association.next_event()) is not None:
        events.append(event)
    return events


# -- the golden bytes themselves ---------------------------------------------------


def test_identity_in_golden_bytes_is_exposcans() -> None:
    """If this fails, exposcan's identity changed: update tests/support/pdu_bytes.py on purpose."""
    assert uids.IMPLEMENTATION_CLASS_UID == golden.EXPOSCAN_IMPLEMENTATION_CLASS_UID
    assert uids.IMPLEMENTATION_VERSION_NAME == golden.EXPOSCAN_IMPLEMENTATION_VERSION_NAME
    assert uids.CALLING_AE_TITLE == "EXPOSCAN"
    assert uids.DEFAULT_CALLED_AE_TITLE == "ANY-SCP"


@pytest.mark.parametrize(
    "pdu",
    [
        golden.ASSOCIATE_RQ_VERIFICATION,
        golden.P_DATA_C_ECHO_RQ,
        *golden.RECEIVED.values(),
    ],
)
def test_golden_pdu_length_field_counts_the_bytes_that_follow(pdu: bytes) -> None:
    (length,) = struct.unpack(">L", pdu[2:6])
    assert length == len(pdu) - 6


def test_golden_command_sets_carry_their_group_length() -> None:
    for command_set in (golden.C_ECHO_RSP_COMMAND_SET, golden.C_FIND_RSP_PENDING_COMMAND_SET):
        (group_length,) = struct.unpack("<L", command_set[8:12])
        assert group_length == len(command_set) - 12


def test_split_c_echo_rsp_is_the_one_pdv_command_set_cut_in_two() -> None:
    assert golden.P_DATA_C_ECHO_RSP[12:] == golden.C_ECHO_RSP_COMMAND_SET
    assert (
        golden.P_DATA_C_ECHO_RSP_PART_1[12:] + golden.P_DATA_C_ECHO_RSP_PART_2[12:]
        == golden.C_ECHO_RSP_COMMAND_SET
    )


def test_pynetdicom_reads_the_golden_association_pdus_as_written() -> None:
    """A second implementation agrees with the hand-written bytes."""
    rq = A_ASSOCIATE_RQ()
    rq.decode(golden.ASSOCIATE_RQ_VERIFICATION)
    assert rq.called_ae_title == "ANY-SCP"
    assert rq.calling_ae_title == "EXPOSCAN"
    assert rq.application_context_name == "1.2.840.10008.3.1.1.1"
    (context,) = rq.presentation_context
    assert context.context_id == 1
    assert context.abstract_syntax == VERIFICATION
    assert context.transfer_syntax == ["1.2.840.10008.1.2.1", IMPLICIT_VR_LE]
    assert rq.user_information is not None
    assert rq.user_information.maximum_length == 16384
    assert rq.user_information.implementation_class_uid == golden.EXPOSCAN_IMPLEMENTATION_CLASS_UID
    assert (
        rq.user_information.implementation_version_name
        == golden.EXPOSCAN_IMPLEMENTATION_VERSION_NAME
    )

    ac = A_ASSOCIATE_AC()
    ac.decode(golden.ASSOCIATE_AC_IMPLICIT_VR_LE)
    (accepted,) = ac.presentation_context
    assert (accepted.context_id, accepted.result, accepted.transfer_syntax) == (
        1,
        0,
        IMPLICIT_VR_LE,
    )
    assert ac.user_information is not None
    assert ac.user_information.maximum_length == 16382


def test_pynetdicom_encodes_a_c_echo_rsp_as_the_golden_p_data() -> None:
    primitive = C_ECHO()
    primitive.MessageIDBeingRespondedTo = 1
    primitive.AffectedSOPClassUID = VERIFICATION
    primitive.Status = 0x0000
    message = C_ECHO_RSP()
    message.primitive_to_message(primitive)
    encoded = b"".join(P_DATA_TF(pdv).encode() for pdv in message.encode_msg(1, 16382))
    assert encoded == golden.P_DATA_C_ECHO_RSP


# -- encoding: what exposcan sends ------------------------------------------------


def test_associate_rq_is_golden() -> None:
    association = Association(max_pdu_length=16384)
    sent = association.request(
        called_ae_title="ANY-SCP", calling_ae_title="EXPOSCAN", contexts=propose([VERIFICATION])
    )
    assert sent == golden.ASSOCIATE_RQ_VERIFICATION
    assert association.state is State.AWAITING_AC


def test_associate_rq_defaults_are_the_golden_identity() -> None:
    assert Association().request(contexts=propose([VERIFICATION])) == (
        golden.ASSOCIATE_RQ_VERIFICATION
    )


def _fresh_associate_rq(called: str, calling: str, contexts: tuple[object, ...]) -> bytes:
    """The request as pynetdicom builds it from scratch, with no template."""
    from pynetdicom.pdu_primitives import (
        A_ASSOCIATE,
        ImplementationClassUIDNotification,
        ImplementationVersionNameNotification,
        MaximumLengthNotification,
    )
    from pynetdicom.presentation import PresentationContext

    primitive = A_ASSOCIATE()
    primitive.application_context_name = uids.APPLICATION_CONTEXT
    primitive.calling_ae_title = calling
    primitive.called_ae_title = called
    for proposed in contexts:
        context = PresentationContext()
        context.context_id = proposed.context_id  # type: ignore[attr-defined]
        context.abstract_syntax = proposed.abstract_syntax  # type: ignore[attr-defined]
        context.transfer_syntax = list(proposed.transfer_syntaxes)  # type: ignore[attr-defined]
        primitive.presentation_context_definition_list.append(context)
    max_length = MaximumLengthNotification()
    max_length.maximum_length_received = 16384
    class_uid = ImplementationClassUIDNotification()
    class_uid.implementation_class_uid = uids.IMPLEMENTATION_CLASS_UID
    version = ImplementationVersionNameNotification()
    version.implementation_version_name = uids.IMPLEMENTATION_VERSION_NAME
    primitive.user_information = [max_length, class_uid, version]
    return bytes(A_ASSOCIATE_RQ(primitive).encode())


_AE_CHARS = st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="\\")


@given(
    called=st.text(_AE_CHARS, min_size=1, max_size=16).filter(lambda t: t.strip()),
    calling=st.sampled_from(["EXPOSCAN", "A", "SIXTEEN-CHARS-AE"]),
    count=st.integers(min_value=1, max_value=5),
)
def test_templated_associate_rq_equals_a_fresh_encoding(
    called: str, calling: str, count: int
) -> None:
    """The cached request with its called title written in is byte for byte
    what pynetdicom builds from nothing, whatever the title."""
    contexts = propose(
        [VERIFICATION, "1.2.840.10008.5.1.4.1.2.2.1", "1.2.3.4", "1.2.5", "1.9"][:count]
    )
    sent = Association().request(
        called_ae_title=called, calling_ae_title=calling, contexts=contexts
    )
    assert sent == _fresh_associate_rq(called, calling, contexts)


@pytest.mark.parametrize(
    "called", ["", "                ", "BACK\\SLASH", "TAB\tTITLE", "SEVENTEEN-CHARS-X"]
)
def test_invalid_called_title_is_refused_as_pynetdicom_refuses_it(called: str) -> None:
    with pytest.raises(ValueError, match="Called AE Title"):
        Association().request(called_ae_title=called, contexts=propose([VERIFICATION]))


def test_c_echo_rq_is_golden() -> None:
    association = established()
    message_id, sent = association.send_c_echo(1)
    assert message_id == 1
    assert sent == golden.P_DATA_C_ECHO_RQ


def test_second_c_echo_rq_differs_only_in_its_message_id() -> None:
    association = established()
    association.send_c_echo(1)
    message_id, sent = association.send_c_echo(1)
    assert message_id == 2
    message_id_value = golden.P_DATA_C_ECHO_RQ.index(b"\x00\x00\x10\x01\x02\x00\x00\x00") + 8
    expected = bytearray(golden.P_DATA_C_ECHO_RQ)
    expected[message_id_value : message_id_value + 2] = b"\x02\x00"
    assert sent == bytes(expected)


def test_release_rq_is_golden() -> None:
    association = established()
    assert association.release() == golden.RELEASE_RQ
    assert association.state is State.AWAITING_RELEASE_RP


def test_release_rp_is_golden() -> None:
    association = established()
    assert events_of(association, golden.RELEASE_RQ) == [ReleaseRequested()]
    assert association.release_reply() == golden.RELEASE_RP
    assert association.state is State.CLOSED


@pytest.mark.parametrize("make", [awaiting_ac, established], ids=["awaiting_ac", "established"])
def test_abort_is_golden(make: object) -> None:
    association = make()  # type: ignore[operator]
    assert association.abort() == golden.ABORT_USER
    assert association.state is State.CLOSED


# -- decoding: what exposcan reads ------------------------------------------------


PEER_IDENTITY = {
    "max_pdu_length": 16382,
    "implementation_class_uid": "1.2.826.0.1.3680043.9.3811.3.0.4",
    "implementation_version_name": "PYNETDICOM_304",
    "protocol_version": 1,
}


def test_associate_ac_decodes_exactly() -> None:
    association = awaiting_ac()
    events = events_of(association, golden.ASSOCIATE_AC_IMPLICIT_VR_LE)
    expected = AssociationAccepted(
        accepted=(AcceptedContext(1, VERIFICATION, IMPLICIT_VR_LE),),
        rejected=(),
        **PEER_IDENTITY,  # type: ignore[arg-type]
    )
    assert events == [expected]
    assert association.accepted == expected
    assert association.state is State.ESTABLISHED


def test_associate_ac_with_a_rejected_context_decodes_exactly() -> None:
    association = awaiting_ac()
    events = events_of(association, golden.ASSOCIATE_AC_CONTEXT_REJECTED)
    assert events == [
        AssociationAccepted(
            accepted=(),
            rejected=(
                RejectedContext(
                    1, VERIFICATION, 3, "abstract-syntax-not-supported (provider rejection)"
                ),
            ),
            **PEER_IDENTITY,  # type: ignore[arg-type]
        )
    ]
    assert association.state is State.ESTABLISHED


@pytest.mark.parametrize(
    ("pdu", "expected"),
    [
        pytest.param(
            golden.ASSOCIATE_RJ_CALLED_AE,
            AssociationRejected(
                result=1,
                source=1,
                reason=7,
                result_text="rejected-permanent",
                source_text="service-user",
                reason_text="called AE title not recognised",
            ),
            id="1-1-7-called-ae",
        ),
        pytest.param(
            golden.ASSOCIATE_RJ_CALLING_AE,
            AssociationRejected(
                result=1,
                source=1,
                reason=3,
                result_text="rejected-permanent",
                source_text="service-user",
                reason_text="calling AE title not recognised",
            ),
            id="1-1-3-calling-ae",
        ),
        pytest.param(
            golden.ASSOCIATE_RJ_PROTOCOL_VERSION,
            AssociationRejected(
                result=2,
                source=2,
                reason=2,
                result_text="rejected-transient",
                source_text="service-provider (ACSE)",
                reason_text="protocol version not supported",
            ),
            id="2-2-2-protocol-version",
        ),
        pytest.param(
            golden.ASSOCIATE_RJ_CONGESTION,
            AssociationRejected(
                result=2,
                source=3,
                reason=1,
                result_text="rejected-transient",
                source_text="service-provider (presentation)",
                reason_text="temporary congestion",
            ),
            id="2-3-1-congestion",
        ),
    ],
)
def test_associate_rj_decodes_exactly(pdu: bytes, expected: AssociationRejected) -> None:
    association = awaiting_ac()
    assert events_of(association, pdu) == [expected]
    assert association.state is State.CLOSED


def test_associate_rj_words() -> None:
    association = awaiting_ac()
    (event,) = events_of(association, golden.ASSOCIATE_RJ_CALLED_AE)
    assert isinstance(event, AssociationRejected)
    assert event.words == "rejected-permanent; service-user: called AE title not recognised"


@pytest.mark.parametrize(
    ("pdu", "expected"),
    [
        pytest.param(
            golden.ABORT_PROVIDER_UNEXPECTED_PDU,
            Aborted(
                source=2, reason=2, source_text="service-provider", reason_text="unexpected PDU"
            ),
            id="provider-unexpected-pdu",
        ),
        pytest.param(
            golden.ABORT_USER,
            Aborted(source=0, reason=0, source_text="service-user", reason_text=""),
            id="user",
        ),
    ],
)
@pytest.mark.parametrize("make", [awaiting_ac, established], ids=["awaiting_ac", "established"])
def test_abort_decodes_exactly(pdu: bytes, expected: Aborted, make: object) -> None:
    association = make()  # type: ignore[operator]
    assert events_of(association, pdu) == [expected]
    assert association.state is State.CLOSED


def test_release_rq_decodes_to_release_requested() -> None:
    association = established()
    assert events_of(association, golden.RELEASE_RQ) == [ReleaseRequested()]
    assert association.state is State.PEER_RELEASE_REQUESTED


def test_release_rp_decodes_to_released() -> None:
    association = established()
    association.release()
    assert events_of(association, golden.RELEASE_RP) == [Released()]
    assert association.state is State.CLOSED


C_ECHO_RSP_SUCCESS = DimseMessage(
    context_id=1,
    command_field=0x8030,
    message_id_responded_to=1,
    status=0x0000,
    has_data_set=False,
    data_set_length=0,
)


def test_c_echo_rsp_in_one_pdv_decodes_exactly() -> None:
    association = established()
    assert events_of(association, golden.P_DATA_C_ECHO_RSP) == [C_ECHO_RSP_SUCCESS]
    assert association.state is State.ESTABLISHED


def test_c_echo_rsp_in_two_p_data_tf_decodes_exactly() -> None:
    association = established()
    assert events_of(association, golden.P_DATA_C_ECHO_RSP_PART_1) == []
    assert events_of(association, golden.P_DATA_C_ECHO_RSP_PART_2) == [C_ECHO_RSP_SUCCESS]


def test_c_echo_rsp_fields() -> None:
    association = established()
    (event,) = events_of(association, golden.P_DATA_C_ECHO_RSP)
    assert isinstance(event, DimseMessage)
    assert event.command_field == 0x8030
    assert event.status == 0
    assert event.message_id_responded_to == 1


# -- the service map, C-FIND and C-CANCEL -----------------------------------------------

STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"


@pytest.mark.parametrize("pdu", list(golden.SENT.values()), ids=list(golden.SENT))
def test_golden_sent_pdu_length_field_counts_the_bytes_that_follow(pdu: bytes) -> None:
    (length,) = struct.unpack(">L", pdu[2:6])
    assert length == len(pdu) - 6


def test_golden_service_map_items_count_their_bytes() -> None:
    """Each hand-written context item's lengths agree with its bytes (PS3.8 Table 9-13)."""
    pdu = golden.ASSOCIATE_RQ_SERVICE_MAP
    offset = golden.SERVICE_MAP_FIRST_CONTEXT
    seen = []
    while pdu[offset] == 0x20:
        (item_length,) = struct.unpack(">H", pdu[offset + 2 : offset + 4])
        (name_length,) = struct.unpack(">H", pdu[offset + 10 : offset + 12])
        name = pdu[offset + 12 : offset + 12 + name_length].decode()
        assert item_length == 4 + 4 + name_length + 23 + 21, name
        seen.append((pdu[offset + 4], name))
        offset += 4 + item_length
    assert pdu[offset] == 0x50  # then the user information item
    assert seen == [(cid, uid) for cid, uid, _ in golden.SERVICE_MAP_CONTEXTS]


def test_golden_service_map_is_exposcans_service_map() -> None:
    """The golden table and exposcan.dicom.services list the same classes, in order."""
    assert [(uid, name) for _, uid, name in golden.SERVICE_MAP_CONTEXTS] == [
        (s.uid, s.name) for s in services.SERVICES
    ]


def test_full_service_map_associate_rq_is_golden() -> None:
    association = Association(max_pdu_length=16384)
    sent = association.request(
        called_ae_title="ANY-SCP",
        calling_ae_title="EXPOSCAN",
        contexts=propose([s.uid for s in services.SERVICES]),
    )
    assert sent == golden.ASSOCIATE_RQ_SERVICE_MAP
    assert [c.context_id for c in association.proposed] == list(range(1, 47, 2))


def test_pynetdicom_reads_the_golden_service_map_as_written() -> None:
    rq = A_ASSOCIATE_RQ()
    rq.decode(golden.ASSOCIATE_RQ_SERVICE_MAP)
    assert (rq.called_ae_title, rq.calling_ae_title) == ("ANY-SCP", "EXPOSCAN")
    contexts = [
        (c.context_id, c.abstract_syntax, c.transfer_syntax) for c in rq.presentation_context
    ]
    assert contexts == [
        (cid, uid, ["1.2.840.10008.1.2.1", IMPLICIT_VR_LE])
        for cid, uid, _ in golden.SERVICE_MAP_CONTEXTS
    ]
    assert rq.user_information is not None
    assert rq.user_information.implementation_class_uid == golden.EXPOSCAN_IMPLEMENTATION_CLASS_UID


@pytest.mark.parametrize(
    ("level", "transfer_syntax", "expected"),
    [
        ("STUDY", IMPLICIT_VR_LE, golden.FIND_IDENTIFIER_STUDY_IMPLICIT),
        ("STUDY", EXPLICIT_VR_LE, golden.FIND_IDENTIFIER_STUDY_EXPLICIT),
        ("PATIENT", IMPLICIT_VR_LE, golden.FIND_IDENTIFIER_PATIENT_IMPLICIT),
    ],
)
def test_find_identifier_is_golden(level: str, transfer_syntax: str, expected: bytes) -> None:
    assert dimse.find_identifier(level, transfer_syntax) == expected


@pytest.mark.parametrize(
    ("identifier", "implicit", "expected"),
    [
        (golden.FIND_IDENTIFIER_STUDY_IMPLICIT, True, {"QueryRetrieveLevel", "StudyInstanceUID"}),
        (golden.FIND_IDENTIFIER_STUDY_EXPLICIT, False, {"QueryRetrieveLevel", "StudyInstanceUID"}),
        (golden.FIND_IDENTIFIER_PATIENT_IMPLICIT, True, {"QueryRetrieveLevel", "PatientID"}),
    ],
)
def test_golden_identifiers_ask_for_the_level_and_its_unique_key_only(
    identifier: bytes, implicit: bool, expected: set[str]
) -> None:
    dataset = decode_dataset(BytesIO(identifier), implicit, True)
    assert {element.keyword for element in dataset} == expected
    assert dataset.QueryRetrieveLevel in ("STUDY", "PATIENT")
    # Universal matching: the unique key is asked for, with no value to match.
    assert all(element.value in ("", None) for element in dataset if element.tag != 0x00080052)


def established_for(abstract_syntax: str) -> Association:
    """Context 1 proposed for ``abstract_syntax``, accepted with Implicit VR LE."""
    association = Association(max_pdu_length=16384)
    association.request(
        called_ae_title="ANY-SCP", calling_ae_title="EXPOSCAN", contexts=propose([abstract_syntax])
    )
    association.receive_data(golden.ASSOCIATE_AC_IMPLICIT_VR_LE)
    event = association.next_event()
    assert isinstance(event, AssociationAccepted)
    assert event.accepted[0].abstract_syntax == abstract_syntax
    return association


def test_c_find_rq_is_golden() -> None:
    association = established_for(STUDY_ROOT_FIND)
    identifier = dimse.find_identifier("STUDY", IMPLICIT_VR_LE)
    message_id, sent = association.send_c_find(1, STUDY_ROOT_FIND, identifier)
    assert message_id == 1
    assert sent == golden.P_DATA_C_FIND_RQ
    assert association.state is State.ESTABLISHED


def test_pynetdicom_reads_the_golden_c_find_rq_as_written() -> None:
    command_pdu = golden.P_DATA_C_FIND_RQ[: golden.C_FIND_RQ_IDENTIFIER_PDU]
    data_pdu = golden.P_DATA_C_FIND_RQ[golden.C_FIND_RQ_IDENTIFIER_PDU :]
    command = decode_dataset(BytesIO(command_pdu[12:]), True, True)
    assert command.CommandField == 0x0020
    assert command.AffectedSOPClassUID == STUDY_ROOT_FIND
    assert command.MessageID == 1
    assert command.Priority == 0x0002  # LOW
    assert command.CommandDataSetType != 0x0101
    assert command.CommandGroupLength == len(command_pdu) - 12 - 12
    assert data_pdu[11] == 0x02  # a data set, last fragment
    assert data_pdu[12:] == golden.FIND_IDENTIFIER_STUDY_IMPLICIT


def test_c_find_rq_message_ids_count_up_and_c_cancel_names_its_find() -> None:
    association = established_for(PATIENT_ROOT_FIND)
    identifier = dimse.find_identifier("PATIENT", IMPLICIT_VR_LE)
    first, _ = association.send_c_find(1, PATIENT_ROOT_FIND, identifier)
    second, sent = association.send_c_find(1, PATIENT_ROOT_FIND, identifier)
    assert (first, second) == (1, 2)
    assert golden.FIND_IDENTIFIER_PATIENT_IMPLICIT in sent
    assert b"1.2.840.10008.5.1.4.1.2.1.1\x00" in sent
    cancel = association.send_c_cancel(1, second)
    command = decode_dataset(BytesIO(cancel[12:]), True, True)
    assert (command.CommandField, command.MessageIDBeingRespondedTo) == (0x0FFF, 2)
    # C-CANCEL takes no message id of its own: the next request is still number 3.
    assert association.send_c_find(1, PATIENT_ROOT_FIND, identifier)[0] == 3


def test_c_cancel_rq_is_golden() -> None:
    association = established_for(STUDY_ROOT_FIND)
    message_id, _ = association.send_c_find(
        1, STUDY_ROOT_FIND, dimse.find_identifier("STUDY", IMPLICIT_VR_LE)
    )
    assert association.send_c_cancel(1, message_id) == golden.P_DATA_C_CANCEL_RQ
    assert association.state is State.ESTABLISHED


def test_golden_c_cancel_command_set_carries_its_group_length() -> None:
    command = golden.P_DATA_C_CANCEL_RQ[12:]
    (group_length,) = struct.unpack("<L", command[8:12])
    assert group_length == len(command) - 12
