"""An answered first contact that queues for the scan's own budget keeps its whole deadline.

On a busy block the first-contact budget hands each answered connection to the load
limits before its first byte (exposcan.pacing); that wait is the scan's, not the peer's.
A 1,000-host lab at the defaults lost a score of live DICOM hosts as "endpoint deadline
reached" with exposure none because the wait spent their deadline. Here the wait is a
connect policy that holds the connection longer than the whole endpoint deadline.
"""

from __future__ import annotations

import asyncio

from exposcan.classify import classify_dimse
from exposcan.connecting import connect_policy
from exposcan.options import ScanOptions, Timeouts
from exposcan.probes.dimse import probe_dimse
from exposcan.vocabulary import Exposure, Status

# PS3.8 9.3.4: A-ASSOCIATE-RJ, rejected-permanent (1), service-user (1), reason 7
# (called AE title not recognised).
A_ASSOCIATE_RJ = b"\x03\x00\x00\x00\x00\x04\x00\x01\x01\x07"
QUEUED_S = 1.5
TIMEOUTS = Timeouts(connect=1, read=0.8, release=0.2, endpoint=1.0)


class QueuedPolicy:
    """Every connection, once up, waits ``QUEUED_S`` for a load slot."""

    def __init__(self) -> None:
        self.waits = 0

    def connect_timeout(self, host: str, ceiling: float) -> float:
        return ceiling

    def issued(self, host: str) -> None:
        pass

    def answered(self, host: str, rtt: float) -> None:
        pass

    async def established(self, host: str) -> None:
        self.waits += 1
        if self.waits == 1:  # the first contact's hand-over; later ones find a slot
            await asyncio.sleep(QUEUED_S)


async def _reject(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener) -> None:
    while data := await reader.read(65536):
        listener.received.extend(data)
        writer.write(A_ASSOCIATE_RJ)
        await writer.drain()


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: object) -> None:
    while await reader.read(65536):
        pass


async def _probe(port: int) -> tuple[object, object]:
    async def permit() -> None:
        return None

    token = connect_policy.set(QueuedPolicy())
    try:
        observation = await probe_dimse(
            "127.0.0.1", port, ScanOptions(timeouts=TIMEOUTS), permit=permit
        )
    finally:
        connect_policy.reset(token)
    return observation, classify_dimse(observation)


async def test_a_queued_first_contact_is_still_asked_and_answered(listener_factory):
    listener = await listener_factory(("127.0.0.1",), behaviour=_reject)
    observation, verdict = await _probe(listener.port)
    first = observation.attempts[0]
    assert first.status is Status.SUCCESS, first
    assert first.detail != "endpoint deadline reached"
    assert verdict.exposure is Exposure.PROTECTED  # a DICOM listener, not "none"
    assert listener.received  # the A-ASSOCIATE-RQ went out after the wait


async def test_the_deadline_still_ends_a_silent_peer_after_the_queue(listener_factory):
    listener = await listener_factory(("127.0.0.1",), behaviour=_silent)
    observation, verdict = await _probe(listener.port)
    assert verdict.exposure is Exposure.NONE
    assert observation.attempts[-1].status is Status.IO_TIMEOUT
    # The deadline stood still for the queue and then ran out: bounded, never open-ended.
    assert observation.duration_s < QUEUED_S + TIMEOUTS.endpoint + TIMEOUTS.release + 1.0
