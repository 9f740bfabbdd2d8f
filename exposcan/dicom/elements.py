"""Counting the top-level data elements of a data set from their headers alone.

A honeypot that answers every C-FIND with whole canned data sets returns many more
attributes than were asked (PS3.4 §C.4.1.2.3: a response carries the keys of the
request, plus the few the SCP may add). Telling that needs only how many elements
an identifier holds, not what any of them says: :class:`ElementCounter` reads each
element header (PS3.5 §7.1.2 explicit VR, §7.1.3 implicit VR; items and delimiters
§7.5) and skips its value unread, as the bytes stream past. It keeps a header's
12 bytes at most, whatever the data set's size, and never decodes a value.
"""

from __future__ import annotations

import struct

__all__ = ["ElementCounter", "count_elements"]

_TAG = struct.Struct("<HH")
_U32 = struct.Struct("<L")
_U16 = struct.Struct("<H")
#: PS3.5 §7.1.2 (Table 7.1-1): VRs whose explicit header has a 4-byte length.
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_UNDEFINED = 0xFFFFFFFF
#: PS3.5 §7.5: item, item delimitation and sequence delimitation tags (group FFFE).
_ITEM, _ITEM_END, _SEQUENCE_END = 0xE000, 0xE00D, 0xE0DD
#: Counting stops here: a number is all the caller wants, and an int is bounded anyway.
MAX_COUNT = 65535


class ElementCounter:
    """Top-level elements of one data set, fed in fragments of any size."""

    def __init__(self, *, implicit: bool) -> None:
        self._implicit = implicit
        self._header = bytearray()
        self._skip = 0
        #: Undefined-length sequences and items still open.
        self._depth = 0
        self._count = 0
        self._broken = False

    def feed(self, data: bytes) -> None:
        offset, end = 0, len(data)
        while offset < end and not self._broken:
            if self._skip:
                taken = min(self._skip, end - offset)
                self._skip -= taken
                offset += taken
                continue
            wanted = self._header_size() - len(self._header)
            taken = min(wanted, end - offset)
            self._header += data[offset : offset + taken]
            offset += taken
            if len(self._header) == self._header_size():
                self._read_header()

    def result(self) -> int | None:
        """The count, or ``None`` where the bytes did not end as a data set ends."""
        if self._broken or self._header or self._skip or self._depth:
            return None
        return self._count

    def _header_size(self) -> int:
        header = self._header
        if self._implicit or len(header) < 6:
            return 8
        (group,) = _U16.unpack_from(header, 0)
        if group == 0xFFFE:
            return 8
        return 12 if bytes(header[4:6]) in _LONG_VRS else 8

    def _read_header(self) -> None:
        header = bytes(self._header)
        self._header.clear()
        group, element = _TAG.unpack_from(header, 0)
        if group == 0xFFFE:
            (length,) = _U32.unpack_from(header, 4)
            if element == _ITEM:
                if length == _UNDEFINED:
                    self._depth += 1
                else:
                    self._skip = length
            elif element in (_ITEM_END, _SEQUENCE_END) and self._depth > 0:
                self._depth -= 1
            else:
                self._broken = True
            return
        if self._depth == 0:
            self._count = min(self._count + 1, MAX_COUNT)
        if self._implicit:
            (length,) = _U32.unpack_from(header, 4)
        elif len(header) == 12:
            (length,) = _U32.unpack_from(header, 8)
        else:
            vr = header[4:6]
            if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
                self._broken = True  # not an explicit VR header: the count means nothing
                return
            (length,) = _U16.unpack_from(header, 6)
        if length == _UNDEFINED:
            self._depth += 1  # a sequence (or encapsulated value) of items, PS3.5 §7.5.2
        else:
            self._skip = length


def count_elements(data: bytes, *, implicit: bool) -> int | None:
    """Top-level elements of a whole encoded data set (our own identifiers, tests)."""
    counter = ElementCounter(implicit=implicit)
    counter.feed(data)
    return counter.result()
