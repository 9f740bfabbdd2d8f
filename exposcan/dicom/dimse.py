"""DIMSE messages: encoding our requests, reading the command set of responses.

Requests are laid out by :mod:`exposcan.dicom.encoding`, once for each distinct
set of arguments: a scan sends the same few messages to every peer. Responses are
read with a small, bounded parser of the command set alone (PS3.7 §6.3.1, Annex E:
group 0000, always Implicit VR Little Endian), because a scanner needs four fields
of it and must never decode an identifier a peer sends back.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterator

from exposcan.dicom import encoding, uids
from exposcan.dicom.elements import ElementCounter
from exposcan.dicom.events import DimseMessage, ProtocolError

# PS3.7 §9.3 and §E.1: command field values.
COMMAND_C_ECHO_RSP = 0x8030
COMMAND_C_FIND_RSP = 0x8020

_TAG_COMMAND_FIELD = 0x00000100
_TAG_MESSAGE_ID_RESPONDED_TO = 0x00000120
_TAG_DATA_SET_TYPE = 0x00000800
_TAG_STATUS = 0x00000900
#: PS3.7 §E.1: CommandDataSetType 0x0101 means "no data set follows".
_NO_DATA_SET = 0x0101

#: A command set is a few hundred bytes; 64 KiB is generous and bounded.
MAX_COMMAND_SET = 64 * 1024

_ELEMENT = struct.Struct("<HHL")
_US = struct.Struct("<H")


#: PS3.7 §9.1.2.1.2 (Priority): 2 is LOW. A scanner never asks to jump the queue.
PRIORITY_LOW = 0x0002
#: PS3.4 Table C.4-1: pending statuses of a C-FIND response.
PENDING = frozenset({0xFF00, 0xFF01})
CANCELLED = 0xFE00


@functools.lru_cache(maxsize=256)
def encode_c_echo_rq(context_id: int, message_id: int, peer_max_pdu: int) -> bytes:
    """C-ECHO-RQ, PS3.7 §9.3.5."""
    return encoding.p_data(context_id, encoding.c_echo_rq(message_id), b"", peer_max_pdu)


@functools.lru_cache(maxsize=256)
def find_identifier(level: str, transfer_syntax: str) -> bytes:
    """The smallest identifier that counts matches at ``level`` (PS3.4 §C.4.1.2.1).

    Only the level's unique key is asked for, with universal matching: the
    query reads nothing beyond what it must, and the answers are counted, not
    decoded. STUDY asks for Study Instance UID; PATIENT (Patient Root only)
    for Patient ID; WORKLIST (Modality Worklist) for Study Instance UID.
    Elements in tag order (PS3.5 §7.1), empty values for universal matching.
    """
    implicit = transfer_syntax == uids.IMPLICIT_VR_LITTLE_ENDIAN
    elements: list[bytes] = []
    if level == "WORKLIST":
        # PS3.4 K.6.1.2.2: no Query/Retrieve Level; Study Instance UID is a type 1
        # return key of the Requested Procedure (Table K.6-1).
        elements.append(encoding.data_element(0x0020000D, "UI", b"", implicit=implicit))
    else:
        value = encoding.cs_value(level)
        elements.append(encoding.data_element(0x00080052, "CS", value, implicit=implicit))
        if level == "STUDY":
            elements.append(encoding.data_element(0x0020000D, "UI", b"", implicit=implicit))
        else:
            elements.append(encoding.data_element(0x00100020, "LO", b"", implicit=implicit))
    return b"".join(elements)


@functools.lru_cache(maxsize=256)
def encode_c_find_rq(
    context_id: int, message_id: int, sop_class: str, identifier: bytes, peer_max_pdu: int
) -> bytes:
    """C-FIND-RQ, PS3.7 §9.3.2.1, at LOW priority."""
    command = encoding.c_find_rq(message_id, sop_class, PRIORITY_LOW)
    return encoding.p_data(context_id, command, identifier, peer_max_pdu)


@functools.lru_cache(maxsize=256)
def encode_c_cancel_rq(context_id: int, message_id: int, peer_max_pdu: int) -> bytes:
    """C-CANCEL-RQ, PS3.7 §9.3.2.3: ends the C-FIND ``message_id``."""
    return encoding.p_data(context_id, encoding.c_cancel_rq(message_id), b"", peer_max_pdu)


def parse_command_set(data: bytes) -> dict[int, bytes]:
    """Implicit VR Little Endian elements of group 0000 (PS3.5 §7.1.3)."""
    elements: dict[int, bytes] = {}
    offset = 0
    while offset < len(data):
        if offset + _ELEMENT.size > len(data):
            raise ProtocolError("truncated element header in command set")
        group, element, length = _ELEMENT.unpack_from(data, offset)
        offset += _ELEMENT.size
        if group != 0x0000:
            raise ProtocolError(f"element ({group:04x},{element:04x}) outside group 0000")
        if offset + length > len(data):
            raise ProtocolError("element value overruns command set")
        elements[(group << 16) | element] = data[offset : offset + length]
        offset += length
    return elements


def _us(elements: dict[int, bytes], tag: int) -> int | None:
    value = elements.get(tag)
    if value is None:
        return None
    if len(value) != 2:
        raise ProtocolError(f"US element {tag:08x} has {len(value)} bytes")
    return int(_US.unpack(value)[0])


class MessageAssembler:
    """Reassembles presentation data values (PS3.8 Annex E.2) into messages.

    The command set is buffered up to :data:`MAX_COMMAND_SET`; a data set is
    counted and dropped as it arrives, so a peer streaming identifiers costs
    no memory and leaves nothing to leak.
    """

    def __init__(self) -> None:
        #: Context ids the peer accepted; a PDV on any other is a protocol error.
        self.valid_contexts: frozenset[int] = frozenset()
        #: Of those, the ones accepted with Implicit VR Little Endian (PS3.5 §10.1):
        #: how a data set's element headers are read.
        self.implicit_contexts: frozenset[int] = frozenset()
        self._reset()

    def _reset(self) -> None:
        self._command = bytearray()
        self._context_id: int | None = None
        self._header: dict[int, bytes] | None = None
        self._data_length = 0
        self._elements: ElementCounter | None = None

    def feed_p_data(self, pdu: bytes) -> Iterator[DimseMessage]:
        """Walk the PDV items of one P-DATA-TF (PS3.8 §9.3.5, Table 9-22)."""
        offset = 6
        while offset < len(pdu):
            if offset + 6 > len(pdu):
                raise ProtocolError("truncated PDV item header")
            (length,) = struct.unpack_from(">L", pdu, offset)
            if length < 2 or offset + 4 + length > len(pdu):
                raise ProtocolError("PDV item length does not fit its P-DATA-TF")
            context_id = pdu[offset + 4]
            control = pdu[offset + 5]
            value = pdu[offset + 6 : offset + 4 + length]
            offset += 4 + length
            message = self._fragment(context_id, control, value)
            if message is not None:
                yield message

    def _fragment(self, context_id: int, control: int, value: bytes) -> DimseMessage | None:
        # Message control header, PS3.8 §E.2: bit 0 command/data, bit 1 last fragment.
        is_command, is_last = bool(control & 1), bool(control & 2)
        if context_id not in self.valid_contexts:
            raise ProtocolError(f"PDV on presentation context {context_id}, never accepted")
        if self._context_id is not None and context_id != self._context_id:
            raise ProtocolError("PDV context changes inside one message")
        self._context_id = context_id
        if is_command:
            if self._header is not None:
                raise ProtocolError("command fragment after a complete command set")
            if len(self._command) + len(value) > MAX_COMMAND_SET:
                raise ProtocolError("command set larger than 64 KiB")
            self._command += value
            if not is_last:
                return None
            self._header = parse_command_set(bytes(self._command))
            if _TAG_COMMAND_FIELD not in self._header:
                raise ProtocolError("command set without a command field")
            if _us(self._header, _TAG_DATA_SET_TYPE) != _NO_DATA_SET:
                return None  # a data set follows
            return self._finish(has_data_set=False)
        if self._header is None:
            raise ProtocolError("data set fragment before its command set")
        self._data_length += len(value)
        if self._elements is None:
            self._elements = ElementCounter(implicit=context_id in self.implicit_contexts)
        self._elements.feed(value)
        return self._finish(has_data_set=True) if is_last else None

    def _finish(self, *, has_data_set: bool) -> DimseMessage:
        header = self._header or {}
        command_field = _us(header, _TAG_COMMAND_FIELD)
        if command_field is None:
            raise ProtocolError("command set without a command field")
        message = DimseMessage(
            context_id=self._context_id or 0,
            command_field=command_field,
            message_id_responded_to=_us(header, _TAG_MESSAGE_ID_RESPONDED_TO),
            status=_us(header, _TAG_STATUS),
            has_data_set=has_data_set,
            data_set_length=self._data_length,
            data_set_elements=self._elements.result() if self._elements else None,
        )
        self._reset()
        return message
