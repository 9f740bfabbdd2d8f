"""The A-ASSOCIATE-AC's variable items read as raw bytes, before pynetdicom decodes it.

A hostile peer chooses every byte: each item header (PS3.8 §9.3.1: type, reserved,
length) is walked so that pynetdicom never sees a short or overrunning item, only the
item types of PS3.8 §9.3.3 (Table 9-17: application context 0x10, presentation context
0x21, user information 0x50) and the user information sub-items of PS3.7 Annex D.3.3
are let through, and the implementation identity sub-items (PS3.7 D.3.3.2: class UID
0x52, version name 0x55) are taken out as bytes, so a version name pynetdicom would
refuse cannot cost the whole association.
"""

from __future__ import annotations

import struct

from exposcan.dicom.events import ProtocolError

__all__ = ["checked_without_identity", "printable"]

_ITEM_HEADER = struct.Struct(">BxH")


def _check_items(data: bytes, where: str) -> None:
    """Walk item headers (PS3.8 §9.3.1) so that pynetdicom never sees a short item."""
    offset = 0
    while offset < len(data):
        if offset + 4 > len(data):
            raise ProtocolError(f"truncated item header in {where}")
        _, length = _ITEM_HEADER.unpack_from(data, offset)
        offset += 4 + length
        if offset > len(data):
            raise ProtocolError(f"item overruns {where}")


def _check_sub_types(data: bytes, allowed: set[int], where: str) -> None:
    offset = 0
    while offset < len(data):
        sub_type, length = _ITEM_HEADER.unpack_from(data, offset)
        if sub_type not in allowed:
            raise ProtocolError(f"unexpected sub-item type 0x{sub_type:02x} in {where}")
        offset += 4 + length


# Item types pynetdicom can decode inside an A-ASSOCIATE-AC (PS3.8 §9.3.3).
_AC_ITEMS = {0x10, 0x21, 0x50}
_USER_SUB_ITEMS = {0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59}


def checked_without_identity(pdu: bytes) -> tuple[bytes, dict[int, bytes]]:
    """An A-ASSOCIATE-AC (PS3.8 §9.3.3, Table 9-17; variable items from offset 74) with
    every item and sub-item header checked, rebuilt without its implementation class UID
    (0x52) and version name (0x55) sub-items, whose raw values come back by type.

    The peer's identity strings are read here, as bytes: pynetdicom refuses a version
    name with a control character or a non-ASCII byte, and the whole association would
    be lost with it (a peer could hide an open service behind its own name).
    """
    if len(pdu) < 74:
        raise ProtocolError(f"A-ASSOCIATE-AC of {len(pdu)} bytes is too short")
    variable = pdu[74:]
    _check_items(variable, "A-ASSOCIATE-AC")
    offset = 0
    identity: dict[int, bytes] = {}
    kept = bytearray()
    while offset < len(variable):
        item_type, length = _ITEM_HEADER.unpack_from(variable, offset)
        if item_type not in _AC_ITEMS:
            raise ProtocolError(f"unknown item type 0x{item_type:02x} in A-ASSOCIATE-AC")
        body = variable[offset + 4 : offset + 4 + length]
        if item_type == 0x21:
            _check_items(body[4:], "presentation context item")
            _check_sub_types(body[4:], {0x40}, "presentation context item")
        elif item_type == 0x50:
            _check_items(body, "user information item")
            _check_sub_types(body, _USER_SUB_ITEMS, "user information item")
            body = _without_identity(body, identity)
        kept += _ITEM_HEADER.pack(item_type, len(body)) + body
        offset += 4 + length
    fixed = pdu[6:74]
    rebuilt = pdu[:2] + struct.pack(">L", len(fixed) + len(kept)) + fixed + bytes(kept)
    return rebuilt, identity


def _without_identity(user_information: bytes, identity: dict[int, bytes]) -> bytes:
    """The user information item's sub-items without the implementation class UID (0x52)
    and version name (0x55) sub-items (PS3.7 D.3.3.2), whose values go to ``identity``."""
    offset = 0
    kept = bytearray()
    while offset < len(user_information):
        sub_type, length = _ITEM_HEADER.unpack_from(user_information, offset)
        end = offset + 4 + length
        if sub_type in (0x52, 0x55):
            identity.setdefault(sub_type, user_information[offset + 4 : end])
        else:
            kept += user_information[offset:end]
        offset = end
    return bytes(kept)


def printable(value: object) -> str | None:
    """Peer-chosen identity strings, reduced to printable ASCII and 64 characters."""
    if value is None:
        return None
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
    text = "".join(ch for ch in text if " " <= ch <= "~").strip(" \x00")
    return text[:64] or None
