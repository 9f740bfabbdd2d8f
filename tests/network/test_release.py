"""The release wait ends at ``timeouts.release`` from the A-RELEASE-RQ, whatever arrives.

A peer that keeps sending P-DATA after our A-RELEASE-RQ (PS3.8 allows P-DATA there; we
ignore it) used to reset a per-read timer with every PDU and so hold the association
until the endpoint deadline. Scripted peers (tests/support/hostile.py) stream whole PDUs or drip
one byte at a time, forever; the probe must end near the release timeout and abort.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from exposcan.classify import classify_dimse
from exposcan.options import ScanOptions, Timeouts
from exposcan.probes.dimse import probe_dimse
from exposcan.vocabulary import Exposure, Status
from tests.support.hostile import RELEASE_RP, hostile_peers
from tests.support.pdu import associate_ac, echo_rsp, pdu

#: The endpoint deadline is far beyond the release window: ending near the window,
#: not the deadline, is the point (generous bounds; this is no benchmark).
TIMEOUTS = Timeouts(connect=1, read=1.0, release=0.5, endpoint=8)
OPTIONS = ScanOptions(timeouts=TIMEOUTS, ae_attempts=1)
ECHO_THEN_RELEASE_RQ = [
    ("recv",),
    ("send", associate_ac()),
    ("recv",),
    ("send", echo_rsp()),
    ("recv",),  # the A-RELEASE-RQ
]
#: How a peer keeps the association busy after the A-RELEASE-RQ.
AFTER_RELEASE = {
    # A whole C-ECHO-RSP P-DATA-TF every 20 ms.
    "streams-p-data": ("repeat", echo_rsp(), 0.02),
    # One byte of a P-DATA-TF every 20 ms: each read gets data, no PDU completes.
    "drips-p-data": ("repeat", echo_rsp(), 0.02, True),
}


@pytest.mark.parametrize("name", sorted(AFTER_RELEASE))
async def test_release_wait_ends_at_the_release_timeout(name):
    stats: dict[str, Counter[str]] = {}
    script = [*ECHO_THEN_RELEASE_RQ, AFTER_RELEASE[name]]
    async with hostile_peers({name: script}, stats=stats) as ports:
        started = time.monotonic()
        observation = await probe_dimse("127.0.0.1", ports[name], OPTIONS)
        elapsed = time.monotonic() - started
    first = observation.first
    assert first.status is Status.SUCCESS, first.detail
    assert first.echo_status == 0
    assert not first.released
    verdict = classify_dimse(observation)
    assert verdict.exposure is Exposure.ECHO
    # Near the release window (0.5 s after the A-RELEASE-RQ), far from the deadline (8 s).
    assert TIMEOUTS.release * 0.9 <= elapsed < TIMEOUTS.release + 1.5, elapsed
    assert stats[name]["abort_seen"] == 1  # then A-ABORT, as PS3.8 §9.2 AA-1 has it
    assert stats[name]["bytes"] > 0  # it did keep sending


async def test_release_collision_and_reply_still_release():
    """A peer that answers the A-RELEASE-RQ with its own, then with A-RELEASE-RP
    (PS3.8 §9.2.1 collision): we reply and count the association released."""
    stats: dict[str, Counter[str]] = {}
    release_rq = pdu(0x05, bytes(4))  # A-RELEASE-RQ, PS3.8 Table 9-24
    script = [*ECHO_THEN_RELEASE_RQ, ("send", release_rq), ("recv",), ("send", RELEASE_RP)]
    async with hostile_peers({"collision": script}, stats=stats) as ports:
        observation = await probe_dimse("127.0.0.1", ports["collision"], OPTIONS)
    assert observation.first.released
    assert observation.first.status is Status.SUCCESS
