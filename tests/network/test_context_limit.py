"""A peer that caps the presentation contexts of one A-ASSOCIATE-RQ.

Some implementations refuse a request that proposes more contexts than they
handle (PS3.8 §9.3.4, source 3 reason 2, "local limit exceeded"). exposcan then
proposes its service map in two halves: services (with C-ECHO and C-FIND),
then storage, whose acceptance is read from the A-ASSOCIATE-AC alone.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import exposcan
from exposcan.dicom import services
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.probes.dimse import CORE_MAP, SERVICE_MAP, STORAGE_MAP, probe_dimse
from tests.support.hostile import _commands, find_rsp
from tests.support.pdu import associate_ac, echo_rsp, pdu

FAST = Timeouts(connect=1.0, read=1.0, release=0.5, endpoint=5.0)
#: Room for either half of the map, not for the whole.
HALF = max(len(CORE_MAP), len(STORAGE_MAP))
STORE_ONLY = {s.uid for s in services.SERVICES if s.kind is services.ServiceKind.STORAGE}


class CappedPeer:
    """Accepts at most ``cap`` contexts per request (all of them, Implicit VR LE);
    refuses a larger request with A-ASSOCIATE-RJ (2, 3, 2). Answers every DIMSE
    request with success and no data set (``tests/support/hostile.py``'s responses), and
    A-RELEASE-RQ with A-RELEASE-RP."""

    def __init__(self, cap: int, reject: tuple[int, int, int] = (2, 3, 2)) -> None:
        self.cap = cap
        self.reject = reject
        self.requests: list[int] = []  # contexts proposed, per A-ASSOCIATE-RQ
        self.commands: list[int] = []  # DIMSE command fields received

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                while True:
                    header = await reader.readexactly(6)
                    kind, length = header[0], struct.unpack(">L", header[2:6])[0]
                    body = await reader.readexactly(length)
                    if kind == 0x01:
                        contexts = _proposed_ids(body)
                        self.requests.append(len(contexts))
                        if len(contexts) > self.cap:
                            writer.write(pdu(0x03, bytes([0, *self.reject])))
                            await writer.drain()
                            break
                        writer.write(associate_ac(contexts=[(c, 0) for c in contexts]))
                    elif kind == 0x04:
                        writer.write(self._answer(body))
                    elif kind == 0x05:
                        writer.write(pdu(0x06, bytes(4)))
                        await writer.drain()
                        break
                    else:
                        break
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()

    def _answer(self, body: bytes) -> bytes:
        # A whole command set answers at once; a data set PDV (the identifier) needs nothing.
        answers = b""
        for context_id, control, command in _commands(pdu(0x04, body)):
            if not control & 1:
                continue
            field = struct.unpack("<H", command[0x0100])[0]
            message_id = struct.unpack("<H", command[0x0110])[0]
            self.commands.append(field)
            if field == 0x0030:
                answers += echo_rsp(message_id, context_id)
            elif field == 0x0020:
                answers += find_rsp(message_id, context_id, status=0x0000)
            # C-CANCEL-RQ (0x0FFF) has no response of its own.
        return answers


def _proposed_ids(body: bytes) -> list[int]:
    """Context ids of the presentation context items (0x20) of an A-ASSOCIATE-RQ body."""
    ids, offset = [], 68  # PS3.8 Table 9-11: variable items after the 68 fixed bytes
    while offset + 4 <= len(body):
        item_type, length = body[offset], struct.unpack(">H", body[offset + 2 : offset + 4])[0]
        if item_type == 0x20:
            ids.append(body[offset + 4])
        offset += 4 + length
    return ids


@asynccontextmanager
async def serve(peer: CappedPeer) -> AsyncIterator[int]:
    server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def test_the_halves_cover_the_whole_map() -> None:
    assert len(SERVICE_MAP) > HALF
    whole = {c.abstract_syntax for c in SERVICE_MAP}
    core = {c.abstract_syntax for c in CORE_MAP}
    storage = {c.abstract_syntax for c in STORAGE_MAP}
    assert core | storage == whole
    assert not core & storage
    assert storage == STORE_ONLY


async def test_capped_peer_gets_the_map_in_two_halves() -> None:
    peer = CappedPeer(cap=HALF)
    async with serve(peer) as port:
        observation = await probe_dimse(
            "127.0.0.1", port, ScanOptions(timeouts=FAST, ae_attempts=6)
        )
    assert peer.requests[:3] == [len(SERVICE_MAP), len(CORE_MAP), len(STORAGE_MAP)]
    purposes = [a.purpose for a in observation.attempts]
    # The random opening carries the halves too (the title it proves is any title).
    assert purposes[:3] == ["whole-map", "random", "storage"]
    whole, core, storage = observation.attempts[:3]
    assert whole.rejected is not None
    assert whole.rejected.reason_text == "local limit exceeded"
    assert core.echo_status == 0x0000
    assert peer.commands[:2] == [0x0030, 0x0020]  # C-ECHO, then C-FIND
    assert storage.accepted is not None
    assert {c.abstract_syntax for c in storage.accepted.accepted} == STORE_ONLY
    # Storage was read from the A-ASSOCIATE-AC only: no C-STORE (0x0001) was ever sent.
    assert 0x0001 not in peer.commands
    assert observation.first is core
    for attempt in observation.attempts:
        assert attempt.released or attempt.rejected is not None


async def test_capped_peer_is_classified_from_both_halves(write_scope) -> None:  # type: ignore[no-untyped-def]
    peer = CappedPeer(cap=HALF)
    async with serve(peer) as port:
        scope = write_scope(["127.0.0.1"], [port])
        report = await exposcan.scan(
            scope, options=ScanOptions(timeouts=FAST, limits=Limits(per_host_rate=20))
        )
    (result,) = report.results
    assert result.exposure is exposcan.Exposure.STORE
    assert "verification" in result.services
    assert "study-root-find" in result.services
    assert "ct-storage" in result.services
    ids = {f.id for f in result.findings}
    assert "dicom-storage-accepted" in ids
    assert "dicom-ae-title-not-checked" in ids  # the random title came after the halves


async def test_split_is_bounded_by_the_attempt_budget() -> None:
    peer = CappedPeer(cap=HALF)
    async with serve(peer) as port:
        observation = await probe_dimse(
            "127.0.0.1", port, ScanOptions(timeouts=FAST, ae_attempts=2)
        )
    assert len(peer.requests) == 2
    assert [a.purpose for a in observation.attempts] == ["whole-map", "random"]


async def test_peer_refusing_every_request_is_tried_twice_only() -> None:
    peer = CappedPeer(cap=0)
    async with serve(peer) as port:
        observation = await probe_dimse(
            "127.0.0.1", port, ScanOptions(timeouts=FAST, ae_attempts=6)
        )
    assert peer.requests == [len(SERVICE_MAP), len(CORE_MAP)]
    assert [a.purpose for a in observation.attempts] == ["whole-map", "random"]
    assert observation.first.rejected is not None


async def test_called_ae_rejection_is_not_a_size_limit() -> None:
    peer = CappedPeer(cap=0, reject=(1, 1, 7))
    async with serve(peer) as port:
        observation = await probe_dimse(
            "127.0.0.1", port, ScanOptions(timeouts=FAST, ae_attempts=3)
        )
    # Reason 7 leads to stock titles with the whole map, never to halves.
    assert "whole-map" not in [a.purpose for a in observation.attempts]
    assert set(peer.requests) == {len(SERVICE_MAP)}
