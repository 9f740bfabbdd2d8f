"""Loopback imitations of the two public DICOM honeypots, written from their descriptions.

Neither is the honeypot's code; each does what the public description says the real one
does on the wire (docs/decoys-and-products.md), and no more:

* :class:`DicompotLike` (dicompot, Go): a raw asyncio server answering every
  A-ASSOCIATE-RQ with an A-ASSOCIATE-AC whose user information holds the
  maximum-length sub-item alone (4 MiB, no implementation class UID), accepting every
  proposed abstract syntax; C-ECHO succeeds; C-FIND fails after a delay (about 5 s
  in the real one, ``find_delay`` here to keep the suite fast).
* :func:`start_dicomhawk_like` (DICOMHawk, pynetdicom): AE title ``ORTHANC`` under
  pynetdicom's own implementation identity, Verification and Study Root FIND, any
  C-FIND answered with the same whole canned data sets (synthetic, many attributes)
  whatever keys were asked.

Bytes are built with :mod:`tests.support.pdu` (standard library only), never with the
code under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from tests.support.pdu import (
    APP_CONTEXT,
    COMMAND,
    LAST,
    item,
    p_data,
    pdu,
    pdv,
    response,
)

#: What dicompot announces (its maximum PDU length: 4 MiB).
DICOMPOT_MAX_PDU = 4 * 1024 * 1024
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
VERIFICATION = "1.2.840.10008.1.1"
#: PS3.4 Table C.4-1: "Unable to process", the failure dicompot's C-FIND ends with here.
FIND_FAILED = 0xC000
_MAX_PDU_READ = 1 << 20


@dataclass(frozen=True, slots=True)
class Proposed:
    context_id: int
    abstract_syntax: str
    transfer_syntaxes: tuple[bytes, ...]


def parse_rq(body: bytes) -> tuple[bytes, bytes, list[Proposed]]:
    """Called and calling AE fields and the presentation contexts of an A-ASSOCIATE-RQ
    body (PS3.8 Table 9-11: variable items from offset 68 of the body)."""
    called, calling = body[4:20], body[20:36]
    contexts: list[Proposed] = []
    offset = 68
    while offset + 4 <= len(body):
        item_type, length = struct.unpack_from(">BxH", body, offset)
        value = body[offset + 4 : offset + 4 + length]
        offset += 4 + length
        if item_type != 0x20:
            continue
        abstract, syntaxes, at = "", [], 4
        while at + 4 <= len(value):
            sub_type, sub_length = struct.unpack_from(">BxH", value, at)
            sub = value[at + 4 : at + 4 + sub_length]
            at += 4 + sub_length
            if sub_type == 0x30:
                abstract = sub.rstrip(b"\x00").decode("ascii")
            elif sub_type == 0x40:
                syntaxes.append(sub)
        contexts.append(Proposed(value[0], abstract, tuple(syntaxes)))
    return called, calling, contexts


def dicompot_ac(
    called: bytes,
    calling: bytes,
    contexts: list[Proposed],
    implementation_uid: str = "",
    max_pdu: int = DICOMPOT_MAX_PDU,
) -> bytes:
    """Every context accepted with its first transfer syntax; user information holds the
    maximum length sub-item only (PS3.8 Table 9-17; PS3.7 D.1), and an implementation
    class UID (D.3.3.2) when one is given (a variant that names itself)."""
    fixed = struct.pack(">HH", 1, 0) + called + calling + bytes(32)
    items = item(0x10, APP_CONTEXT)
    for context in contexts:
        syntax = context.transfer_syntaxes[0] if context.transfer_syntaxes else b""
        items += item(0x21, bytes([context.context_id, 0, 0, 0]) + item(0x40, syntax))
    user = item(0x51, struct.pack(">L", max_pdu))
    if implementation_uid:
        user += item(0x52, implementation_uid.encode("ascii"))
    items += item(0x50, user)
    return pdu(0x02, fixed + items)


@dataclass
class DicompotLike:
    """dicompot as described, on ``host`` (a loopback address) and ``port`` (a free one
    if 0, set once :meth:`serve` is entered); ``implementation_uid`` makes a variant that
    names one, ``max_pdu`` one that announces another maximum length (each fixes one of
    the three signs of its A-ASSOCIATE-AC)."""

    find_delay: float = 1.5
    port: int = 0
    host: str = "127.0.0.1"
    implementation_uid: str = ""
    max_pdu: int = DICOMPOT_MAX_PDU
    #: What it was asked: command fields received, and contexts proposed per association.
    commands: list[int] = field(default_factory=list)
    proposed: list[int] = field(default_factory=list)

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[DicompotLike]:
        server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):  # a test peer never outlives a test
                await self._converse(reader, writer)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        command = bytearray()
        while True:
            header = await reader.readexactly(6)
            pdu_type, length = header[0], struct.unpack(">L", header[2:6])[0]
            if length > _MAX_PDU_READ:
                return
            body = await reader.readexactly(length)
            if pdu_type == 0x01:
                called, calling, contexts = parse_rq(body)
                self.proposed.append(len(contexts))
                writer.write(
                    dicompot_ac(called, calling, contexts, self.implementation_uid, self.max_pdu)
                )
            elif pdu_type == 0x04:
                for context_id, control, value in _pdvs(body):
                    if not control & COMMAND:
                        continue  # an identifier: dicompot answers whatever it asks
                    command += value
                    if control & LAST:
                        await self._answer(writer, context_id, bytes(command))
                        command.clear()
            elif pdu_type == 0x05:
                writer.write(pdu(0x06, bytes(4)))
                await writer.drain()
                return
            else:
                return
            await writer.drain()

    async def _answer(self, writer: asyncio.StreamWriter, context_id: int, command: bytes) -> None:
        elements = _elements(command)
        field_ = struct.unpack("<H", elements.get(0x0100, b"\0\0"))[0]
        message_id = struct.unpack("<H", elements.get(0x0110, b"\0\0"))[0]
        self.commands.append(field_)
        if field_ == 0x0030:  # C-ECHO-RQ
            rsp = response(0x8030, VERIFICATION, message_id, 0x0000)
        elif field_ == 0x0020:  # C-FIND-RQ: nothing, then a failure
            await asyncio.sleep(self.find_delay)
            sop = elements.get(0x0002, b"").rstrip(b"\x00").decode("ascii")
            rsp = response(0x8020, sop, message_id, FIND_FAILED)
        else:
            return
        writer.write(p_data(pdv(context_id, COMMAND | LAST, rsp)))


def _pdvs(body: bytes) -> list[tuple[int, int, bytes]]:
    found, offset = [], 0
    while offset + 6 <= len(body):
        (length,) = struct.unpack_from(">L", body, offset)
        found.append((body[offset + 4], body[offset + 5], body[offset + 6 : offset + 4 + length]))
        offset += 4 + length
    return found


def _elements(command: bytes) -> dict[int, bytes]:
    elements, at = {}, 0
    while at + 8 <= len(command):
        _, tag, size = struct.unpack_from("<HHL", command, at)
        elements[tag] = command[at + 8 : at + 8 + size]
        at += 8 + size
    return elements


#: The canned study DICOMHawk-like answers with: whole, synthetic, many attributes.
CANNED_ATTRIBUTES = 24


def canned_study(index: int) -> Any:
    from pydicom.dataset import Dataset

    study = Dataset()
    study.SpecificCharacterSet = "ISO_IR 100"
    study.StudyDate = "20200101"
    study.StudyTime = "101010"
    study.AccessionNumber = f"ZZHAWK{index:04d}"
    study.QueryRetrieveLevel = "STUDY"
    study.Modality = "CT"
    study.ModalitiesInStudy = "CT"
    study.Manufacturer = "ZZSYNTH"
    study.InstitutionName = "ZZSYNTH HOSPITAL"
    study.ReferringPhysicianName = "ZZSYNTH^REFERRER"
    study.StudyDescription = "ZZSYNTH STUDY"
    study.SeriesDescription = "ZZSYNTH SERIES"
    study.PatientName = f"ZZSYNTH^HAWK{index:04d}"
    study.PatientID = f"ZZHAWK{index:06d}"
    study.PatientBirthDate = "19700101"
    study.PatientSex = "O"
    study.PatientAge = "050Y"
    study.PatientWeight = "70"
    study.BodyPartExamined = "CHEST"
    study.StudyInstanceUID = f"1.2.826.0.1.3680043.8.498.{index + 1}"
    study.SeriesInstanceUID = f"1.2.826.0.1.3680043.8.498.{index + 1}.1"
    study.StudyID = f"{index + 1}"
    study.NumberOfStudyRelatedSeries = "1"
    study.NumberOfStudyRelatedInstances = "1"
    assert len(study) == CANNED_ATTRIBUTES
    return study


def start_dicomhawk_like(
    launcher: Any, *, matches: int = 3, require_called_aet: bool = False
) -> int:
    """DICOMHawk as described, on a :class:`tests.support.scps.ScpLauncher`; its port.

    ``require_called_aet`` makes it answer to ``ORTHANC`` only (the claim then shows in
    the stock title that gets in); DICOMHawk's default pynetdicom AE checks no title.
    """
    from pynetdicom import evt

    def on_find(event: Any) -> Any:
        for index in range(matches):  # the same canned answer, whatever was asked
            yield 0xFF00, canned_study(index)
        yield 0x0000, None

    server = launcher.start(
        "ORTHANC",
        contexts=[VERIFICATION, STUDY_ROOT_FIND],
        handlers=[(evt.EVT_C_ECHO, lambda event: 0x0000), (evt.EVT_C_FIND, on_find)],
        require_called_aet=require_called_aet,
    )
    return int(server.server_address[1])
