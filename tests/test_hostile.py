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
    ABORT,
    FIND_CANCELLED,
    FIND_CONTEXTS,
    RELEASE_RP,
    Stream,
    hostile_peers,
)
from tests.support.memory import MIB, rss_peak_growth
from tests.support.pdu import associate_ac, echo_rsp, item, pdu
from tests.support.pynetdicom_quirks import close_reset_peer_sockets
from tests.support.scps import FindLog

TIMEOUTS = Timeouts(connect=1, read=1.5, release=0.5, endpoint=3)
OPTIONS = ScanOptions(timeouts=TIMEOUTS, ae_attempts=2)
SLACK = 1.0

S, E = Status, Exposure
ECHO_THEN_RELEASE = [("recv",), ("send", associate_ac()), ("recv",), ("send", echo_rsp())]
TLS_SERVER_HELLO = bytes.fromhex("160303002a020000260303") + bytes(32) + b"\x00\x13\x01\x00"
#: Accept Verification and Study Root FIND, answer the C-ECHO, read the C-FIND-RQ.
FIND_OPEN = [
    ("recv",),
    ("send", associate_ac(contexts=FIND_CONTEXTS)),
    ("recv",),
    ("send", echo_rsp()),
    ("recv-find",),
]
UNTIL_CANCEL = ("stream", Stream(until_cancel=True))
AC_NO_APP_CONTEXT = associate_ac(include_app_context=False)

HOSTILE: dict[str, tuple[list[tuple], set[Status], Exposure]] = {
    "tarpit": ([("sleep", 60)], {S.IO_TIMEOUT}, E.NONE),
    "slow-drip": ([("recv",), ("drip", associate_ac(), 0.5)], {S.IO_TIMEOUT}, E.NONE),
    "ssh-banner": ([("send", b"SSH-2.0-OpenSSH_9.6\r\n"), ("drain",)], {S.PROTOCOL_ERROR}, E.NONE),
    "smtp-banner": (
        [("send", b"220 mail ESMTP ready\r\n"), ("drain",)],
        {S.PROTOCOL_ERROR},
        E.NONE,
    ),
    "http": (
        [("recv",), ("send", b"HTTP/1.1 400 Bad Request\r\n\r\n"), ("close",)],
        {S.PROTOCOL_ERROR},
        E.NONE,
    ),
    "tls-server-hello": (
        [("recv",), ("send", TLS_SERVER_HELLO), ("sleep", 5)],
        {S.PROTOCOL_ERROR},
        E.NONE,
    ),
    "gigabyte-header-then-stall": (
        [("recv",), ("send", b"\x02\x00\xff\xff\xff\xff"), ("sleep", 60)],
        {S.PROTOCOL_ERROR},
        E.NONE,
    ),
    "header-then-eof": (
        [("recv",), ("send", associate_ac()[:20]), ("close",)],
        {S.CONNECTION_CLOSED},
        E.NONE,
    ),
    "header-then-rst": (
        [("recv",), ("send", associate_ac()[:20]), ("rst",)],
        {S.CONNECTION_CLOSED},
        E.NONE,
    ),
    "ac-truncated-item": (
        [("recv",), ("send", pdu(0x02, associate_ac()[6:74] + item(0x10, b"1.2.840")[:-2]))],
        {S.PROTOCOL_ERROR},
        E.NONE,
    ),
    "ac-without-user-information": (
        [("recv",), ("send", associate_ac(include_user_info=False))],
        {S.PROTOCOL_ERROR},
        E.NONE,
    ),
    "ac-without-max-length": (
        [("recv",), ("send", associate_ac(max_length=None))],
        {S.PROTOCOL_ERROR},
        E.NONE,
    ),
    "ac-context-never-proposed": (
        [("recv",), ("send", associate_ac(contexts=((2, 0),)))],
        {S.PROTOCOL_ERROR},
        E.NONE,
    ),
    "ac-max-length-1": (
        [("recv",), ("send", associate_ac(max_length=1))],
        {S.PROTOCOL_ERROR},
        E.NONE,
    ),
    "ac-wrong-protocol-version": (
        [("recv",), ("send", associate_ac(version=2)), ("recv",), ("send", echo_rsp())],
        {S.SUCCESS},
        E.ECHO,
    ),
    "ac-max-length-0": (
        [("recv",), ("send", associate_ac(max_length=0)), ("recv",), ("send", echo_rsp())],
        {S.SUCCESS},
        E.ECHO,
    ),
    "ac-max-length-4g": (
        [("recv",), ("send", associate_ac(max_length=2**32 - 1)), ("recv",), ("send", echo_rsp())],
        {S.SUCCESS},
        E.ECHO,
    ),
    "abort-after-request": ([("recv",), ("send", ABORT), ("close",)], {S.SUCCESS}, E.PROTECTED),
    "rst-after-request": ([("recv",), ("rst",)], {S.CONNECTION_CLOSED}, E.NONE),
    "abort-after-echo-request": (
        [("recv",), ("send", associate_ac()), ("recv",), ("send", ABORT)],
        {S.SUCCESS},
        E.PROTECTED,
    ),
    "rst-after-echo-request": (
        [("recv",), ("send", associate_ac()), ("recv",), ("rst",)],
        {S.CONNECTION_CLOSED},
        E.PROTECTED,
    ),
    "garbage-p-data": (
        [("recv",), ("send", associate_ac()), ("recv",), ("send", pdu(0x04, b"\0\0\0\2\1\3"))],
        {S.PROTOCOL_ERROR},
        E.PROTECTED,
    ),
    "abort-after-release-request": (
        [*ECHO_THEN_RELEASE, ("recv",), ("send", ABORT)],
        {S.SUCCESS},
        E.ECHO,
    ),
    "rst-after-release-request": ([*ECHO_THEN_RELEASE, ("recv",), ("rst",)], {S.SUCCESS}, E.ECHO),
    "open-after-release-reply": (
        [*ECHO_THEN_RELEASE, ("recv",), ("send", RELEASE_RP), ("sleep", 60)],
        {S.SUCCESS},
        E.ECHO,
    ),
    "silent-after-release-request": (
        [*ECHO_THEN_RELEASE, ("recv",), ("sleep", 60)],
        {S.SUCCESS},
        E.ECHO,
    ),
    # A-ABORT or RST before the A-ASSOCIATE-RQ is even read.
    "rst-on-accept": ([("rst",)], {S.CONNECTION_CLOSED}, E.NONE),
    "close-on-accept": ([("close",)], {S.CONNECTION_CLOSED}, E.NONE),
    "abort-on-connect": ([("send", ABORT), ("drain",)], {S.SUCCESS}, E.PROTECTED),
    # PS3.8 Table 9-17 makes the item mandatory; the peer still answers C-ECHO (DICOM).
    "ac-without-application-context": (
        [("recv",), ("send", AC_NO_APP_CONTEXT), ("recv",), ("send", echo_rsp())],
        {S.SUCCESS},
        E.ECHO,
    ),
    # C-FIND: streams until C-CANCEL (then the final response), or never stops.
    "find-streams-until-cancel": (
        [*FIND_OPEN, UNTIL_CANCEL, ("final", FIND_CANCELLED), ("recv",), ("send", RELEASE_RP)],
        {S.SUCCESS},
        E.QUERY,
    ),
    "find-ignores-cancel": ([*FIND_OPEN, ("stream", Stream())], {S.SUCCESS}, E.QUERY),
    # A-ABORT or RST during C-FIND: after 5 pending matches, or after the C-CANCEL-RQ.
    "abort-during-find": (
        [*FIND_OPEN, ("stream", Stream(count=5)), ("send", ABORT), ("drain",)],
        {S.SUCCESS},
        E.QUERY,
    ),
    "rst-during-find": (
        [*FIND_OPEN, ("stream", Stream(count=5)), ("rst",)],
        {S.CONNECTION_CLOSED},
        E.QUERY,
    ),
    "abort-after-cancel": (
        [*FIND_OPEN, UNTIL_CANCEL, ("send", ABORT), ("drain",)],
        {S.SUCCESS},
        E.QUERY,
    ),
    "rst-after-cancel": ([*FIND_OPEN, UNTIL_CANCEL, ("rst",)], {S.CONNECTION_CLOSED}, E.QUERY),
}

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
        **{name: ({S.SUCCESS}, E.QUERY) for name in scp_ports},
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
