"""Hostile peers cannot make a probe hold memory: Python's peak allocation stays bounded.

tracemalloc counts every Python allocation in the process while one probe runs, the
scripted peer's included (it writes one precomputed batch at a time). The C-FIND peers are
scripted (tests/support/hostile.py) rather than pynetdicom SCPs so that what is measured is
exposcan, not a DICOM library's threads. Where a peer streams, it sends many times the bound:
a probe that kept what it read would go over it.
"""

from __future__ import annotations

import struct
import time

import pytest

from exposcan.classify import classify_dimse
from exposcan.options import ScanOptions, Timeouts
from exposcan.probes.dimse import probe_dimse
from exposcan.vocabulary import Exposure, Status
from tests.support.hostile import FIND_CANCELLED, FIND_CONTEXTS, RELEASE_RP, Stream, hostile_peers
from tests.support.memory import MIB, python_peak_growth
from tests.support.pdu import associate_ac, echo_rsp

#: Peak Python allocation one probe may add: a few 64 KiB reads and their PDUs.
BOUND = int(1.5 * MIB)
SLACK = 1.0

FIND_OPEN = [
    ("recv",),
    ("send", associate_ac(contexts=FIND_CONTEXTS)),
    ("recv",),
    ("send", echo_rsp()),
    ("recv-find",),
]
RELEASE = [("recv",), ("send", RELEASE_RP)]
#: One ordinary probe first, so that first-use caches are not counted as growth.
WARM_UP = [*FIND_OPEN, ("stream", Stream(count=3)), ("final", 0x0000), *RELEASE]


def options(*, endpoint: float, release: float = 0.5, max_matches: int = 100) -> ScanOptions:
    return ScanOptions(
        ae_attempts=1,
        max_matches=max_matches,
        timeouts=Timeouts(connect=1, read=1, release=release, endpoint=endpoint),
    )


# name: (script, options, status, exposure, find (outcome, count) or None, bytes the peer
# must have streamed for the measurement to mean anything)
PEERS = {
    "gigabyte-header-then-stall": (
        [("recv",), ("send", b"\x02\x00\xff\xff\xff\xff"), ("sleep", 60)],
        options(endpoint=2),
        Status.PROTOCOL_ERROR,
        Exposure.NONE,
        None,
        0,
    ),
    # A 32000-byte A-ASSOCIATE-AC is within the association cap; its body comes one byte
    # every 5 ms, so each read is short of the read timeout and only the deadline ends it.
    "slow-drip": (
        [
            ("recv",),
            ("send", b"\x02\x00" + struct.pack(">L", 32000)),
            ("drip", bytes(32000), 0.005),
        ],
        options(endpoint=2),
        Status.IO_TIMEOUT,
        Exposure.NONE,
        None,
        0,
    ),
    # Would stream without end; stops at C-CANCEL. 20000 matches of ~1 KiB counted.
    "find-streams-forever": (
        [
            *FIND_OPEN,
            ("stream", Stream(until_cancel=True, batch=64, padding=1000)),
            ("final", FIND_CANCELLED),
            *RELEASE,
        ],
        options(endpoint=10, max_matches=20_000),
        Status.SUCCESS,
        Exposure.QUERY,
        ("matches", 20_000),
        16 * MIB,
    ),
    # Never stops: 8 KiB identifiers as fast as they are read, through a 1 s grace.
    "find-ignores-cancel": (
        [*FIND_OPEN, ("stream", Stream(batch=8, pause=0, padding=8000))],
        options(endpoint=5, release=1.0),
        Status.SUCCESS,
        Exposure.QUERY,
        ("ignored-cancel", 100),
        16 * MIB,
    ),
}


@pytest.mark.parametrize("name", sorted(PEERS))
async def test_probe_memory_is_bounded(name, record_property):
    script, opts, status, exposure, find_seen, streamed = PEERS[name]
    stats: dict = {}
    async with hostile_peers({"warm-up": WARM_UP, name: script}, stats=stats) as ports:
        warm = classify_dimse(await probe_dimse("127.0.0.1", ports["warm-up"], opts))
        assert warm.exposure is Exposure.QUERY
        started = time.monotonic()
        with python_peak_growth() as growth:
            observation = await probe_dimse("127.0.0.1", ports[name], opts)
        elapsed = time.monotonic() - started
    verdict = classify_dimse(observation)
    record_property("peak_growth_kib", growth.peak // 1024)
    assert verdict.status is status, (verdict.status, verdict.detail)
    assert verdict.exposure is exposure
    assert elapsed < opts.timeouts.endpoint + SLACK
    if find_seen is not None:
        find = observation.first.find
        assert find is not None
        assert (find.outcome, find.count) == find_seen
    assert stats[name]["bytes"] >= streamed, stats[name]
    assert growth.peak < BOUND, f"{name}: peak {growth.peak_mib:.2f} MiB above the start"
