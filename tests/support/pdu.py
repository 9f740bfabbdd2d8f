"""DICOM upper-layer bytes built by hand: the one builder of the tests and the benchmarks' lab.

Standard library only, and nothing from exposcan: the bytes a test feeds the code under
test, and the answers of the benchmark lab's peers, must not come from that code. Every
length is computed unless a caller overrides it on purpose (``length=``) to build a
malformed header. The golden captures of :mod:`tests.support.pdu_bytes` are written out
byte by byte instead, and are not built here.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

IMPLICIT = b"1.2.840.10008.1.2"
APP_CONTEXT = b"1.2.840.10008.3.1.1.1"
VERIFICATION = "1.2.840.10008.1.1"
#: The implementation class UID of :func:`associate_ac` unless told otherwise.
ANY_IMPLEMENTATION_UID = b"1.2.3.4.5.6"
#: Message control header bits of a PDV (PS3.8 Annex E.2).
COMMAND = 0x01
LAST = 0x02
#: Command Data Set Type (0000,0800) when no data set follows (PS3.7 §E.1).
NO_DATA_SET = 0x0101


def item(item_type: int, body: bytes) -> bytes:
    """An item or sub-item: type, reserved, 2-byte length, body (PS3.8 §9.3.1)."""
    return struct.pack(">BxH", item_type, len(body)) + body


def pdu(pdu_type: int, body: bytes, length: int | None = None) -> bytes:
    """A PDU: type, reserved, 4-byte length (``length`` overrides the true one), body."""
    return struct.pack(">BxL", pdu_type, len(body) if length is None else length) + body


def element(group: int, elem: int, value: bytes) -> bytes:
    """One Implicit VR Little Endian element (PS3.5 §7.1.3)."""
    return struct.pack("<HHL", group, elem, len(value)) + value


def us(value: int) -> bytes:
    """An unsigned short value (VR US), little endian."""
    return struct.pack("<H", value)


def uid(value: str) -> bytes:
    """A UID value, NUL padded to even length (PS3.5 §9.1)."""
    raw = value.encode("ascii")
    return raw + b"\x00" if len(raw) % 2 else raw


def command_set(*elements: bytes) -> bytes:
    """A command set (PS3.7 §6.3.1) led by its Command Group Length (0000,0000)."""
    body = b"".join(elements)
    return element(0x0000, 0x0000, struct.pack("<L", len(body))) + body


def response(
    command: int,
    sop_class: str,
    message_id: int,
    status: int,
    *,
    data_set_type: int = NO_DATA_SET,
    extra: bytes = b"",
) -> bytes:
    """A DIMSE response command set (PS3.7 §9.3): affected SOP class, command field,
    message ID being responded to, data set type and status, in tag order, then ``extra``
    elements (tags after Status, such as an Error Comment (0000,0902))."""
    return command_set(
        element(0x0000, 0x0002, uid(sop_class)),
        element(0x0000, 0x0100, us(command)),
        element(0x0000, 0x0120, us(message_id)),
        element(0x0000, 0x0800, us(data_set_type)),
        element(0x0000, 0x0900, us(status)),
        extra,
    )


def pdv(context_id: int, control: int, value: bytes, length: int | None = None) -> bytes:
    """A presentation data value item (PS3.8 Table 9-23; control header Annex E.2)."""
    length = len(value) + 2 if length is None else length
    return struct.pack(">LBB", length, context_id, control) + value


def p_data(*pdvs: bytes) -> bytes:
    """A P-DATA-TF PDU (PS3.8 §9.3.5) carrying ``pdvs``."""
    return pdu(0x04, b"".join(pdvs))


def echo_rsp(message_id: int = 1, context_id: int = 1, *, comment: bytes = b"") -> bytes:
    """C-ECHO-RSP (PS3.7 §9.3.5.2), success, in one P-DATA-TF, with an Error Comment
    (0000,0902) of the peer's choosing when ``comment`` is given (padded to even length)."""
    padded = comment + b" " * (len(comment) % 2)
    extra = element(0x0000, 0x0902, padded) if comment else b""
    command = response(0x8030, VERIFICATION, message_id, 0, extra=extra)
    return p_data(pdv(context_id, COMMAND | LAST, command))


def associate_ac(
    *,
    contexts: Sequence[tuple[int, int] | tuple[int, int, bytes]] = ((1, 0),),
    max_length: int | None = 16382,
    version: int = 1,
    include_app_context: bool = True,
    include_user_info: bool = True,
    implementation_uid: bytes = ANY_IMPLEMENTATION_UID,
    version_name: bytes | None = None,
    user_items: bytes = b"",
    raw_context_items: bytes | None = None,
) -> bytes:
    """A-ASSOCIATE-AC (PS3.8 Table 9-17) from ANY-SCP to EXPOSCAN.

    ``contexts`` are (context id, result) pairs, Implicit VR Little Endian, or (context id,
    result, transfer syntax); ``raw_context_items`` replaces them. The user information
    item holds the maximum length (0x51, left out when ``None``), the implementation class
    UID (0x52), the version name (0x55) when given, then ``user_items``.
    """
    fixed = (
        struct.pack(">HH", version, 0) + b"ANY-SCP".ljust(16) + b"EXPOSCAN".ljust(16) + bytes(32)
    )
    items = item(0x10, APP_CONTEXT) if include_app_context else b""
    if raw_context_items is None:
        raw_context_items = b""
        for context_id, result, *syntax in contexts:
            transfer_syntax = syntax[0] if syntax else IMPLICIT
            raw_context_items += item(
                0x21, bytes([context_id, 0, result, 0]) + item(0x40, transfer_syntax)
            )
    items += raw_context_items
    if include_user_info:
        sub = b"" if max_length is None else item(0x51, struct.pack(">L", max_length))
        sub += item(0x52, implementation_uid)
        if version_name is not None:
            sub += item(0x55, version_name)
        items += item(0x50, sub + user_items)
    return pdu(0x02, fixed + items)
