"""DIMSE messages: encoding our requests, reading the command set of responses.

Requests are built with pynetdicom's DIMSE message classes. Responses are read
with a small, bounded parser of the command set alone (PS3.7 §6.3.1, Annex E:
group 0000, always Implicit VR Little Endian), because a scanner needs four
fields of it and must never decode an identifier a peer sends back.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from pynetdicom.dimse_messages import C_ECHO_RQ
from pynetdicom.dimse_primitives import C_ECHO
from pynetdicom.pdu import P_DATA_TF

from exposcan.dicom import uids
from exposcan.dicom.events import DimseMessage, ProtocolError

# PS3.7 §9.3 and §E.1: command field values.
C_ECHO_RSP = 0x8030
C_FIND_RSP = 0x8020
C_CANCEL_RQ = 0x0FFF

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


def encode_c_echo_rq(context_id: int, message_id: int, peer_max_pdu: int) -> bytes:
    """C-ECHO-RQ (PS3.7 §9.3.5) as P-DATA-TF PDUs (PS3.8 §9.3.5)."""
    primitive = C_ECHO()
    primitive.MessageID = message_id
    primitive.AffectedSOPClassUID = uids.VERIFICATION
    message = C_ECHO_RQ()
    message.primitive_to_message(primitive)
    return b"".join(
        P_DATA_TF(p_data).encode() for p_data in message.encode_msg(context_id, peer_max_pdu)
    )


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
        self._reset()

    def _reset(self) -> None:
        self._command = bytearray()
        self._context_id: int | None = None
        self._header: dict[int, bytes] | None = None
        self._data_length = 0

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
            if _us(self._header, _TAG_DATA_SET_TYPE) != _NO_DATA_SET:
                return None  # a data set follows
            return self._finish(has_data_set=False)
        if self._header is None:
            raise ProtocolError("data set fragment before its command set")
        self._data_length += len(value)
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
        )
        self._reset()
        return message
