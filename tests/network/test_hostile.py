"""Hostile peers: each ends within its deadline, with a sensible status and exposure.

Issue 5's list, scripted in tests/support/hostile.py and run over real loopback sockets; the
combined scan adds two pynetdicom C-FIND SCPs (tests/support/scps.py ``scp_factory``).
"""

from __future__ import annotations

import math
import resource
import time
from collections import Counter

import pytest

import exposcan
from exposcan.classify import classify_dimse
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.probes.dimse import probe_dimse
from exposcan.vocabulary import Exposure, Status
from tests.support.hostile import (
    hostile_peers,
)
from tests.support.hostile_cases import HOSTILE
from tests.support.memory import MIB, rss_peak_growth
from tests.support.pynetdicom_quirks import close_reset_peer_sockets
from tests.support.scps import FindLog

TIMEOUTS = Timeouts(connect=1, read=1.5, release=0.5, endpoint=3)
OPTIONS = ScanOptions(timeouts=TIMEOUTS, ae_attempts=2)
SLACK = 1.0

#: What the first association's C-FIND saw: (outcome, matches counted, C-CANCEL sent).
CAP = ScanOptions().max_matches
FIND_SEEN = {
    "find-streams-until-cancel": ("matches", CAP, True),
    "find-ignores-cancel": ("ignored-cancel", CAP, True),
    "abort-during-find": ("aborted", 5, False),
    "rst-during-find": ("closed", 5, False),
    "abort-after-cancel": ("aborted", CAP, True),
    "rst-after-cancel": ("closed", CAP, True),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_peer(name):
    script, statuses, exposure = HOSTILE[name]
    async with hostile_peers({name: script}) as ports:
        started = time.monotonic()
        observation = await probe_dimse("127.0.0.1", ports[name], OPTIONS)
        elapsed = time.monotonic() - started
    verdict = classify_dimse(observation)
    assert verdict.status in statuses, (verdict.status, verdict.detail)
    assert verdict.exposure is exposure, verdict.findings
    assert elapsed < TIMEOUTS.endpoint + SLACK
    if name in FIND_SEEN:
        find = observation.first.find
        assert find is not None
        assert (find.outcome, find.count, find.cancelled) == FIND_SEEN[name]
        # Matches shown are matches, however the query ended after them.
        assert "dicom-query-matches" in {f.id for f in verdict.findings}
        assert verdict.matches is not None
        assert verdict.matches.count == find.count


#: RSS the combined scan may add to this process (peers in it included): tens of
#: endpoints each bounded to a few 64 KiB reads; buffering a hostile stream shows as more.
RSS_GROWTH_BOUND = 16 * MIB


async def test_every_hostile_peer_in_one_scan(
    monkeypatch, scp_factory, write_scope, capsys, record_property
):
    """Every scripted peer plus two pynetdicom C-FIND SCPs (streaming "forever": ten million
    matches), one of which ignores C-CANCEL; each named right, in bounded time and RSS."""
    close_reset_peer_sockets(monkeypatch)  # before scp_factory: undone after its teardown
    concurrency = 8
    forever, deaf = FindLog(), FindLog()
    scp_ports = {
        "scp-find-streams-forever": scp_factory("FOREVER", find_matches=10**7, find_log=forever),
        "scp-find-ignores-cancel": scp_factory(
            "DEAF", find_matches=10**7, honour_cancel=False, find_log=deaf, find_delay=0
        ),
    }
    expected = {
        **{name: (statuses, exposure) for name, (_, statuses, exposure) in HOSTILE.items()},
        **{name: ({Status.SUCCESS}, Exposure.QUERY) for name in scp_ports},
    }
    scripts = {name: script for name, (script, _, _) in HOSTILE.items()}
    stats: dict[str, Counter[str]] = {}
    async with hostile_peers(scripts, stats=stats) as scripted:
        ports = {**scripted, **scp_ports}
        scope = write_scope(["127.0.0.1"], sorted(ports.values()))
        options = ScanOptions(
            timeouts=TIMEOUTS,
            ae_attempts=2,
            limits=Limits(
                concurrency=concurrency,
                rate=1000,
                per_host_rate=1000,
                per_host_concurrency=concurrency,
            ),
        )
        started = time.monotonic()
        with rss_peak_growth() as growth:
            report = await exposcan.scan(scope, options=options)
        elapsed = time.monotonic() - started
    by_port = {r.port: r for r in report.results}
    assert len(report.results) == len(expected)
    for name, (statuses, exposure) in expected.items():
        result = by_port[ports[name]]
        assert result.status in statuses, (name, result.status, result.detail)
        assert result.exposure is exposure, (name, result.exposure)
    for log in (forever, deaf):
        assert log.requests == 1  # the first association's query; the random title's has none
        assert log.cancelled
        assert log.sent < 10**7
    assert stats["find-ignores-cancel"]["matches"] > CAP  # it kept streaming past the cap
    bound = (math.ceil(len(expected) / concurrency) + 1) * TIMEOUTS.endpoint + SLACK
    process_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record_property("rss_growth_mb", round(growth.peak_mib, 1))
    record_property("peak_rss_mb", round(process_peak_mb, 1))
    with capsys.disabled():
        print(
            f"\n[hostile scan] {len(expected)} peers in {elapsed:.1f}s (bound {bound:.0f}s), "
            f"RSS growth during the scan {growth.peak_mib:.1f} MiB "
            f"({'exact' if growth.exact else 'sampled'}; bound {RSS_GROWTH_BOUND / MIB:.0f} MiB), "
            f"process peak RSS {process_peak_mb:.0f} MB"
        )
    assert elapsed < bound
    assert growth.peak < RSS_GROWTH_BOUND
