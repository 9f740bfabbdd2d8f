"""PDU framing: split a byte stream into whole PDUs, with a hard cap on length.

Every PDU starts with a 6-byte header (PS3.8 §9.3.1, Table 9-11 and friends):

    offset 0  PDU-type   (1 byte)
    offset 1  reserved   (1 byte)
    offset 2  PDU-length (4 bytes, big endian; the bytes that follow)

The length is checked against the cap for that PDU type *before* anything is
buffered beyond the header, so a peer announcing gigabytes costs nothing.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from enum import IntEnum

from exposcan.dicom.events import ProtocolError, UnknownPduType

HEADER = struct.Struct(">BxL")


class PduType(IntEnum):
    ASSOCIATE_RQ = 0x01
    ASSOCIATE_AC = 0x02
    ASSOCIATE_RJ = 0x03
    P_DATA_TF = 0x04
    RELEASE_RQ = 0x05
    RELEASE_RP = 0x06
    ABORT = 0x07


class PduFramer:
    """Accumulates bytes and hands out whole PDUs as ``(type, pdu_bytes)``.

    ``limit_for`` gives the largest PDU-length accepted for a type at this
    moment (the association changes it as it goes).
    """

    def __init__(self, limit_for: Callable[[PduType], int]) -> None:
        self._limit_for = limit_for
        self._buffer = bytearray()
        self._need: int | None = None  # total length of the PDU being read

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_pdu(self) -> tuple[PduType, bytes] | None:
        if self._need is None:
            if len(self._buffer) < HEADER.size:
                return None
            raw_type, length = HEADER.unpack_from(self._buffer)
            try:
                pdu_type = PduType(raw_type)
            except ValueError:
                raise UnknownPduType(raw_type) from None
            limit = self._limit_for(pdu_type)
            if length > limit:
                raise ProtocolError(
                    f"{pdu_type.name} PDU announces {length} bytes, more than the {limit} allowed"
                )
            self._need = HEADER.size + length
        if len(self._buffer) < self._need:
            return None
        pdu = bytes(self._buffer[: self._need])
        del self._buffer[: self._need]
        self._need = None
        return PduType(pdu[0]), pdu
