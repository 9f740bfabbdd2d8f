"""Hostile peers: each ends within its deadline, with a sensible status and exposure.

Issue 5's list, scripted in tests/hostile.py and run over real loopback sockets.
"""

from __future__ import annotations

import math
import resource
import time

import pytest

import exposcan
from exposcan.classify import classify_dimse
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.probes.dimse import probe_dimse
from exposcan.vocabulary import Exposure, Status
from tests.hostile import (
    ABORT,
    RELEASE_RP,
    associate_ac,
    echo_rsp,
    hostile_peers,
    item,
    pdu,
)

TIMEOUTS = Timeouts(connect=1, read=1.5, release=0.5, endpoint=3)
OPTIONS = ScanOptions(timeouts=TIMEOUTS, ae_attempts=2)
SLACK = 1.0

S, E = Status, Exposure
ECHO_THEN_RELEASE = [("recv",), ("send", associate_ac()), ("recv",), ("send", echo_rsp())]
TLS_SERVER_HELLO = bytes.fromhex("160303002a020000260303") + bytes(32) + b"\x00\x13\x01\x00"

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


async def test_every_hostile_peer_in_one_scan(write_scope, capsys, record_property):
    concurrency = 8
    async with hostile_peers({name: script for name, (script, _, _) in HOSTILE.items()}) as ports:
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
        report = await exposcan.scan(scope, options=options)
        elapsed = time.monotonic() - started
    by_port = {r.port: r for r in report.results}
    assert len(report.results) == len(HOSTILE)
    for name, (_, statuses, exposure) in HOSTILE.items():
        result = by_port[ports[name]]
        assert result.status in statuses, (name, result.status, result.detail)
        assert result.exposure is exposure, (name, result.exposure)
    bound = (math.ceil(len(HOSTILE) / concurrency) + 1) * TIMEOUTS.endpoint + SLACK
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record_property("peak_rss_mb", round(peak_mb, 1))
    with capsys.disabled():
        print(
            f"\n[hostile scan] {len(HOSTILE)} peers in {elapsed:.1f}s (bound {bound:.0f}s), "
            f"peak RSS {peak_mb:.0f} MB"
        )
    assert elapsed < bound
