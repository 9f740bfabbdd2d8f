"""The bytes exposcan sends, laid out here rather than by pynetdicom.

A scan sends a few fixed requests to every peer; building them with pynetdicom's
primitives cost more than the network exchange, and importing pynetdicom (with
pydicom and numpy under it) cost a quarter of a second of every scan's start. The
layouts are small and fixed, so they are written out below with the standard's
tables; ``tests/unit/test_dicom_encoding.py`` checks each against pynetdicom's
bytes for the same arguments.
"""

from __future__ import annotations

import struct
import unicodedata
from collections.abc import Iterable, Sequence

_ITEM = struct.Struct(">BxH")
_ELEMENT = struct.Struct("<HHL")
_US = struct.Struct("<H")
_UL = struct.Struct("<L")

# PS3.7 §E.1 command fields, and CommandDataSetType (0000,0800).
_C_ECHO_RQ = 0x0030
_C_FIND_RQ = 0x0020
_C_CANCEL_RQ = 0x0FFF
_NO_DATA_SET = 0x0101
_DATA_SET = 0x0001


def item(item_type: int, body: bytes) -> bytes:
    """An item or sub-item: type, reserved, 2-byte length, body (PS3.8 §9.3.1)."""
    return _ITEM.pack(item_type, len(body)) + body


def check_ae_title(value: str, name: str) -> None:
    """PS3.5 AE (as pynetdicom validates a title it encodes): 1-16 characters, not all
    spaces, ASCII without backslash or control characters. ``ValueError`` otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"'{name}' must be str, not '{type(value).__name__}'")
    if not value.strip():
        detail = "must not consist entirely of spaces" if value else "must not be an empty str"
        raise ValueError(f"Invalid '{name}' value - {detail}")
    if len(value) > 16:
        raise ValueError(f"Invalid '{name}' value '{value}' - must not exceed 16 characters")
    if not value.isascii():
        raise ValueError(f"Invalid '{name}' value '{value}' - must only contain ASCII characters")
    if "\\" in value or any(unicodedata.category(c)[0] == "C" for c in value):
        raise ValueError(
            f"Invalid '{name}' value '{value}' - must not contain control characters or backslashes"
        )


def ae_field(title: str) -> bytes:
    """A 16-byte AE title field of an A-ASSOCIATE-RQ (PS3.8 §9.3.2), space padded."""
    return title.encode("ascii")[:16].ljust(16, b" ")


def associate_rq(
    *,
    called_ae_title: str,
    calling_ae_title: str,
    application_context: str,
    contexts: Iterable[tuple[int, str, Sequence[str]]],
    max_pdu_length: int,
    implementation_class_uid: str,
    implementation_version_name: str | None,
) -> bytes:
    """A-ASSOCIATE-RQ, PS3.8 §9.3.2 (Table 9-11): protocol version 1, the two titles,
    32 reserved bytes, then the application context item (§9.3.2.1), one presentation
    context item per ``(id, abstract syntax, transfer syntaxes)`` (§9.3.2.2) and the
    user information item of PS3.7 Annex D.3.3 (maximum length 0x51, implementation
    class UID 0x52, version name 0x55). UIDs are not padded (PS3.8 §9.3.2.2.1)."""
    check_ae_title(called_ae_title, "Called AE Title")
    check_ae_title(calling_ae_title, "Calling AE Title")
    variable = bytearray(item(0x10, application_context.encode("ascii")))
    for context_id, abstract_syntax, transfer_syntaxes in contexts:
        sub_items = item(0x30, abstract_syntax.encode("ascii")) + b"".join(
            item(0x40, ts.encode("ascii")) for ts in transfer_syntaxes
        )
        variable += item(0x20, bytes((context_id, 0, 0, 0)) + sub_items)
    user = item(0x51, struct.pack(">L", max_pdu_length)) + item(
        0x52, implementation_class_uid.encode("ascii")
    )
    if implementation_version_name:
        user += item(0x55, implementation_version_name.encode("ascii"))
    variable += item(0x50, user)
    body = (
        b"\x00\x01\x00\x00"
        + ae_field(called_ae_title)
        + ae_field(calling_ae_title)
        + bytes(32)
        + bytes(variable)
    )
    return b"\x01\x00" + struct.pack(">L", len(body)) + body


#: PS3.8 §9.3.6 and §9.3.7: A-RELEASE-RQ and A-RELEASE-RP, 4 reserved bytes each.
RELEASE_RQ = b"\x05\x00\x00\x00\x00\x04\x00\x00\x00\x00"
RELEASE_RP = b"\x06\x00\x00\x00\x00\x04\x00\x00\x00\x00"


def abort(source: int, reason: int) -> bytes:
    """A-ABORT, PS3.8 §9.3.8 (Table 9-26): two reserved bytes, source, reason."""
    return b"\x07\x00\x00\x00\x00\x04\x00\x00" + bytes((source, reason))


# -- DIMSE: PS3.7 §6.3.1 command sets (group 0000, Implicit VR Little Endian) ---------


def _element(element: int, value: bytes) -> bytes:
    return _ELEMENT.pack(0x0000, element, len(value)) + value


def _uid_value(uid: str) -> bytes:
    """A UI value, padded to even length with NUL (PS3.5 §6.2, §7.1.1)."""
    value = uid.encode("ascii")
    return value + b"\x00" if len(value) % 2 else value


def command_set(elements: Sequence[tuple[int, bytes]]) -> bytes:
    """The elements in tag order after CommandGroupLength (0000,0000), which counts
    the bytes that follow it (PS3.7 §E.1)."""
    rest = b"".join(_element(tag, value) for tag, value in elements)
    return _element(0x0000, _UL.pack(len(rest))) + rest


def c_echo_rq(message_id: int) -> bytes:
    """C-ECHO-RQ command set, PS3.7 §9.3.5 (Table 9.3-12) on Verification."""
    return command_set(
        (
            (0x0002, _uid_value("1.2.840.10008.1.1")),
            (0x0100, _US.pack(_C_ECHO_RQ)),
            (0x0110, _US.pack(message_id)),
            (0x0800, _US.pack(_NO_DATA_SET)),
        )
    )


def c_find_rq(message_id: int, sop_class: str, priority: int) -> bytes:
    """C-FIND-RQ command set, PS3.7 §9.3.2.1 (Table 9.3-3): an identifier follows."""
    return command_set(
        (
            (0x0002, _uid_value(sop_class)),
            (0x0100, _US.pack(_C_FIND_RQ)),
            (0x0110, _US.pack(message_id)),
            (0x0700, _US.pack(priority)),
            (0x0800, _US.pack(_DATA_SET)),
        )
    )


def c_cancel_rq(message_id: int) -> bytes:
    """C-CANCEL-RQ command set, PS3.7 §9.3.2.3 (Table 9.3-5)."""
    return command_set(
        (
            (0x0100, _US.pack(_C_CANCEL_RQ)),
            (0x0120, _US.pack(message_id)),
            (0x0800, _US.pack(_NO_DATA_SET)),
        )
    )


def p_data(context_id: int, command: bytes, data_set: bytes, peer_max_pdu: int) -> bytes:
    """P-DATA-TF PDUs (PS3.8 §9.3.5), one presentation data value each, the command
    then the data set cut into fragments that fit ``peer_max_pdu`` (its 6 bytes of PDV
    header included, as pynetdicom cuts them); message control header of PS3.8 §E.2:
    bit 0 command, bit 1 last fragment."""
    if 0 < peer_max_pdu < 7:
        raise ValueError("'fragment_length' cannot be between 1 and 7.")
    out = bytearray()
    for control, value in ((0x01, command), (0x00, data_set)):
        if not value:
            continue
        size = peer_max_pdu - 6 if peer_max_pdu else len(value)
        for start in range(0, len(value), size):
            fragment = value[start : start + size]
            last = 0x02 if start + size >= len(value) else 0x00
            pdv = struct.pack(">LBB", len(fragment) + 2, context_id, control | last) + fragment
            out += b"\x04\x00" + struct.pack(">L", len(pdv)) + pdv
    return bytes(out)


# -- The C-FIND identifier (PS3.4 §C.4.1.2.1), the data set a query carries ----------


def data_element(tag: int, vr: str, value: bytes, *, implicit: bool) -> bytes:
    """One Little Endian data element of a short VR (PS3.5 §7.1.2, §7.1.3)."""
    group, element = tag >> 16, tag & 0xFFFF
    if implicit:
        return struct.pack("<HHL", group, element, len(value)) + value
    return struct.pack("<HH2sH", group, element, vr.encode("ascii"), len(value)) + value


def cs_value(text: str) -> bytes:
    """A CS value, padded to even length with a space (PS3.5 §6.2)."""
    value = text.encode("ascii")
    return value + b" " if len(value) % 2 else value
