"""An A-ASSOCIATE-AC read without pynetdicom, when it holds only what peers send.

:func:`decode_plain_ac` reads the fields a scan uses from an AC whose item headers
:func:`~exposcan.dicom.ac_items.checked_without_identity` has already walked. It
gives up (``None``) on anything pynetdicom would treat in a way of its own: a UID
that is not ASCII or does not conform (pynetdicom logs, warns or refuses), a short
presentation context item or maximum length sub-item (it raises), a user
information sub-item other than the maximum length (it decodes each kind). The
caller then decodes with pynetdicom, so the verdict on an odd peer is the one it
always was; a scan that never meets such a peer never imports pynetdicom.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

__all__ = ["DecodedAc", "decode_plain_ac"]

_ITEM_HEADER = struct.Struct(">BxH")
#: PS3.5 §9.1 (pydicom's UI pattern), matched in full; at most 64 characters.
_UID = re.compile(rb"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")


@dataclass(frozen=True, slots=True)
class DecodedAc:
    """What a scan reads from an A-ASSOCIATE-AC (PS3.8 §9.3.3, Table 9-17)."""

    protocol_version: int
    #: Each presentation context item, in order: id, result/reason and the first
    #: transfer syntax ("" when none or empty).
    contexts: tuple[tuple[int, int, str], ...]
    #: The last maximum length sub-item's value (PS3.7 D.3.3.1), None if there is none.
    max_pdu_length: int | None


def _sub_items(data: bytes) -> list[tuple[int, bytes]]:
    items: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(data):
        item_type, length = _ITEM_HEADER.unpack_from(data, offset)
        items.append((item_type, data[offset + 4 : offset + 4 + length]))
        offset += 4 + length
    return items


def _uid(value: bytes) -> str | None:
    """A conformant UID (one trailing NUL dropped, PS3.8 §9.3.2.2.1), "" if empty,
    None if anything about it is not plain."""
    if value[-1:] == b"\x00":
        value = value[:-1]
    if not value:
        return ""
    if len(value) > 64 or _UID.fullmatch(value) is None:
        return None
    return value.decode("ascii")


def decode_plain_ac(rebuilt: bytes) -> DecodedAc | None:
    """The AC's fields (variable items from offset 74, headers already checked), or
    None when pynetdicom must decode it."""
    contexts: list[tuple[int, int, str]] = []
    max_pdu_length: int | None = None
    for item_type, body in _sub_items(rebuilt[74:]):
        if item_type == 0x10:  # application context (PS3.8 §9.3.3.1)
            if _uid(body) is None:
                return None
        elif item_type == 0x21:  # presentation context (PS3.8 §9.3.3.2, Table 9-18)
            if len(body) < 4:
                return None
            context_id, result = body[0], body[2]
            transfer_syntax = ""
            for index, (_, value) in enumerate(_sub_items(body[4:])):
                if result == 0:
                    uid = _uid(value)
                    if uid is None:
                        return None
                    if index == 0:
                        transfer_syntax = uid
                elif not value.isascii():
                    return None
            contexts.append((context_id, result, transfer_syntax))
        else:  # 0x50, user information: only the maximum length is plain
            for sub_type, value in _sub_items(body):
                if sub_type != 0x51 or len(value) != 4:
                    return None
                (max_pdu_length,) = struct.unpack(">L", value)
    (protocol_version,) = struct.unpack_from(">H", rebuilt, 6)
    return DecodedAc(protocol_version, tuple(contexts), max_pdu_length)
