"""Details of PS3.8 the sans-IO core enforces beyond the happy path."""

from __future__ import annotations

import pytest

from exposcan.dicom import Association, ProtocolError
from tests.support.associations import established
from tests.support.pdu import COMMAND, LAST, p_data, pdv
from tests.support.pdu_bytes import C_ECHO_RSP_COMMAND_SET as ECHO_RSP


def test_pdv_on_a_context_never_accepted_is_a_protocol_error():
    association = established()
    association.receive_data(p_data(pdv(99, COMMAND | LAST, ECHO_RSP)))
    with pytest.raises(ProtocolError, match="context 99"):
        association.next_event()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x09\x00\x00\x00\x00\x00", 1),  # unrecognised PDU type
        (b"\x02\x00\x00\x00\x00\x4a" + bytes(74), 2),  # A-ASSOCIATE-AC when established
        (p_data(pdv(1, COMMAND | LAST, b"\x10\x00\x00\x00")), 6),  # truncated element
    ],
)
def test_abort_after_protocol_error_is_the_providers_with_a_reason(data, reason):
    """PS3.8 AA-8: A-ABORT with source 2 (service-provider) and Table 9-26's reason."""
    association = established()
    association.receive_data(data)
    with pytest.raises(ProtocolError):
        association.next_event()
    sent = association.abort()
    assert sent[:6] == b"\x07\x00\x00\x00\x00\x04"
    assert (sent[8], sent[9]) == (2, reason)


@pytest.mark.parametrize("size", [0, 100, 2**32 - 1])
def test_our_max_pdu_length_must_be_a_real_limit(size):
    with pytest.raises(ValueError, match="max_pdu_length"):
        Association(max_pdu_length=size)
