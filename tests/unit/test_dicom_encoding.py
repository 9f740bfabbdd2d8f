"""exposcan's own PDU layouts against pynetdicom's, and its AC reader against pynetdicom's.

The requests (exposcan.dicom.encoding) must be byte for byte what pynetdicom builds
for the same arguments; an A-ASSOCIATE-AC read without pynetdicom must give what
pynetdicom's decoder gives (the same result, or the same ProtocolError), and every AC
the plain reader declines goes to pynetdicom. A scan that meets only plain peers never
imports pynetdicom, pydicom or numpy.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import warnings
from io import BytesIO

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pynetdicom.dimse_messages import C_CANCEL_RQ, C_ECHO_RQ, C_FIND_RQ, DIMSEMessage
from pynetdicom.dimse_primitives import C_CANCEL, C_ECHO, C_FIND
from pynetdicom.dsutils import encode as encode_dataset
from pynetdicom.pdu import A_ABORT_RQ, A_RELEASE_RP, A_RELEASE_RQ, P_DATA_TF

from exposcan.dicom import ProtocolError, dimse, pdus, propose, services, uids
from exposcan.dicom.ac_decoding import decode_plain_ac
from exposcan.dicom.ac_items import checked_without_identity
from tests.support import pdu_bytes as golden
from tests.unit.test_dicom_golden import _fresh_associate_rq

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_the_whole_proposal_is_pynetdicoms_bytes() -> None:
    """Every service exposcan proposes, in one request (test_dicom_golden checks the
    called titles)."""
    contexts = propose(list(services.BY_UID))
    ours = pdus.encode_associate_rq(
        called_ae_title="ORTHANC",
        calling_ae_title=uids.CALLING_AE_TITLE,
        contexts=contexts,
        max_pdu_length=16384,
    )
    assert ours == _fresh_associate_rq("ORTHANC", uids.CALLING_AE_TITLE, contexts)


def test_release_and_abort_are_pynetdicoms_bytes() -> None:
    assert pdus.encode_release_rq() == bytes(A_RELEASE_RQ().encode())
    assert pdus.encode_release_rp() == bytes(A_RELEASE_RP().encode())
    for source, reason in [(0, 0), (2, 1), (2, 6)]:
        abort = A_ABORT_RQ()
        abort.source = source
        abort.reason_diagnostic = reason
        assert pdus.encode_abort(source, reason) == bytes(abort.encode())


def _pdus(message: DIMSEMessage, context_id: int, peer_max_pdu: int) -> bytes:
    return b"".join(P_DATA_TF(p).encode() for p in message.encode_msg(context_id, peer_max_pdu))


MAX_PDUS = st.sampled_from([7, 8, 20, 50, 128, 200, 16384])


@FUZZ
@given(st.sampled_from([1, 3, 255]), st.integers(1, 65535), MAX_PDUS)
def test_echo_and_cancel_are_pynetdicoms_bytes(context_id: int, message_id: int, mx: int) -> None:
    echo = C_ECHO()
    echo.MessageID = message_id
    echo.AffectedSOPClassUID = uids.VERIFICATION
    message = C_ECHO_RQ()
    message.primitive_to_message(echo)
    assert dimse.encode_c_echo_rq(context_id, message_id, mx) == _pdus(message, context_id, mx)
    cancel = C_CANCEL()
    cancel.MessageIDBeingRespondedTo = message_id
    message = C_CANCEL_RQ()
    message.primitive_to_message(cancel)
    assert dimse.encode_c_cancel_rq(context_id, message_id, mx) == _pdus(message, context_id, mx)


@FUZZ
@given(
    st.sampled_from(["STUDY", "PATIENT", "WORKLIST"]),
    st.sampled_from(uids.DEFAULT_TRANSFER_SYNTAXES),
    st.sampled_from(["1.2.840.10008.5.1.4.1.2.2.1", "1.2.840.10008.5.1.4.31", "1.2.3"]),
    st.integers(1, 65535),
    MAX_PDUS,
)
def test_find_is_pynetdicoms_bytes(
    level: str, transfer_syntax: str, sop_class: str, message_id: int, mx: int
) -> None:
    identifier = Dataset()
    if level == "WORKLIST":
        identifier.StudyInstanceUID = ""
    else:
        identifier.QueryRetrieveLevel = level
        if level == "STUDY":
            identifier.StudyInstanceUID = ""
        else:
            identifier.PatientID = ""
    expected = encode_dataset(identifier, transfer_syntax == uids.IMPLICIT_VR_LITTLE_ENDIAN, True)
    ours = dimse.find_identifier(level, transfer_syntax)
    assert ours == expected
    find = C_FIND()
    find.MessageID = message_id
    find.AffectedSOPClassUID = sop_class
    find.Priority = dimse.PRIORITY_LOW
    find.Identifier = BytesIO(ours)
    message = C_FIND_RQ()
    message.primitive_to_message(find)
    assert dimse.encode_c_find_rq(1, message_id, sop_class, ours, mx) == _pdus(message, 1, mx)


# -- the AC: the plain reader agrees with pynetdicom's wherever it answers -------------


def _item(item_type: int, body: bytes) -> bytes:
    return struct.pack(">BxH", item_type, len(body)) + body


#: Mostly what peers send, sometimes what pynetdicom has to be asked about.
UID_TEXT = st.sampled_from(
    [uids.IMPLICIT_VR_LITTLE_ENDIAN, uids.EXPLICIT_VR_LITTLE_ENDIAN, "1.2.3", ""] * 6
).flatmap(lambda common: st.one_of(st.just(common), st.text("0123456789.", max_size=70)))


def _uid_bytes(text: str, nul: bool) -> bytes:
    return text.encode("utf-8") + (b"\x00" if nul else b"")


@st.composite
def ac_pdus(draw: st.DrawFn) -> bytes:
    items = [_item(0x10, _uid_bytes(draw(UID_TEXT), draw(st.booleans())))]
    for _ in range(draw(st.integers(0, 4))):
        subs = b"".join(
            _item(0x40, _uid_bytes(draw(UID_TEXT), draw(st.booleans())))
            for _ in range(draw(st.integers(0, 2)))
        )
        head = bytes([draw(st.sampled_from([1, 3, 5, 7])), 0, draw(st.integers(0, 5)), 0])
        head = head[: draw(st.sampled_from([4, 4, 4, 3, 1, 0]))]
        items.append(_item(0x21, head + subs if len(head) == 4 else head))
    user = b""
    for _ in range(draw(st.integers(0, 3))):
        sub_type = draw(st.sampled_from([0x51, 0x51, 0x51, 0x52, 0x55, 0x53, 0x54]))
        if sub_type == 0x51:
            value = struct.pack(">L", draw(st.integers(0, 2**32 - 1)))
            value = value[: draw(st.sampled_from([4, 4, 4, 2, 0]))]
        elif sub_type == 0x53:
            value = struct.pack(">HH", 1, 1)
        elif sub_type == 0x54:
            value = _uid_bytes("1.2.840.10008.1.1", False)
            value = struct.pack(">H", len(value)) + value + b"\x01\x00"
        else:
            value = draw(st.binary(max_size=20))
        user += _item(sub_type, value)
    items.append(_item(0x50, user))
    draw(st.randoms()).shuffle(items)
    fixed = struct.pack(">H", draw(st.sampled_from([1, 1, 2]))) + bytes(66)
    body = fixed + b"".join(items)
    return b"\x02\x00" + struct.pack(">L", len(body)) + body


def _outcome(decode: object, rebuilt: bytes) -> object:
    proposed = propose([uids.VERIFICATION, "1.2.3", "1.2.4", "1.2.5"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            decoded = decode(rebuilt)  # type: ignore[operator]
        return pdus._accepted(decoded, proposed, class_uid=None, version_name=None)
    except ProtocolError as exc:
        return ("ProtocolError", str(exc))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ac_pdus())
def test_the_plain_reader_agrees_with_pynetdicom(pdu: bytes) -> None:
    rebuilt, _ = checked_without_identity(pdu)
    if decode_plain_ac(rebuilt) is None:
        return  # pynetdicom decodes it, as before
    assert _outcome(decode_plain_ac, rebuilt) == _outcome(pdus._decode_with_pynetdicom, rebuilt)


@pytest.mark.parametrize(
    "pdu", [golden.ASSOCIATE_AC_IMPLICIT_VR_LE, golden.ASSOCIATE_AC_CONTEXT_REJECTED]
)
def test_the_golden_acs_are_plain(pdu: bytes) -> None:
    rebuilt, _ = checked_without_identity(pdu)
    plain = decode_plain_ac(rebuilt)
    assert plain is not None
    assert plain == pdus._decode_with_pynetdicom(rebuilt)


def test_an_echo_exchange_imports_neither_pynetdicom_nor_pydicom() -> None:
    code = (
        "import sys\n"
        "from exposcan.dicom import Association, propose\n"
        "from tests.support import pdu_bytes as golden\n"
        "a = Association()\n"
        "a.request(called_ae_title='ANY-SCP', contexts=propose(['1.2.840.10008.1.1']))\n"
        "a.receive_data(golden.ASSOCIATE_AC_IMPLICIT_VR_LE)\n"
        "assert type(a.next_event()).__name__ == 'AssociationAccepted'\n"
        "a.send_c_echo(1)\n"
        "loaded = sorted(m for m in ('pynetdicom', 'pydicom', 'numpy') if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == ""
