"""Odd certificates still get a verdict, and no socket outlives its endpoint.

TLS peers (DICOM over TLS, scripted in tests/support/hostile.py, and HTTPS, served by aiohttp)
present each certificate of tests/support/badcerts.py that OpenSSL serves. A whole-certificate
parser raised on some of them: the endpoint ended as ``error`` ("internal error") and
its socket stayed open until the whole scan ended. Now each endpoint's verdict is made
(the DICOM exchange and the web plan go on over the TLS connection), and after each
result of a longer scan this process holds no TCP socket to that endpoint's port
(read from /proc/self/fd and /proc/self/net/tcp).
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import exposcan
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.vocabulary import Exposure, Status
from tests.support import web_peers as wp
from tests.support.badcerts import EXPECTED, NOT_SERVED, variants
from tests.support.hostile import RELEASE_RP, hostile_peers
from tests.support.hostile_cases import HOSTILE
from tests.support.pdu import associate_ac, echo_rsp
from tests.support.scope_files import scope_text

TIMEOUTS = Timeouts(connect=1, read=1.5, release=0.5, endpoint=4)
LIMITS = Limits(concurrency=4, rate=1000, per_host_rate=1000, per_host_concurrency=4)
#: Answer A-ASSOCIATE-RQ, C-ECHO and A-RELEASE, then read until the client goes away.
ECHO_AND_RELEASE = [
    ("recv",),
    ("send", associate_ac()),
    ("recv",),
    ("send", echo_rsp()),
    ("recv",),
    ("send", RELEASE_RP),
    ("drain",),
]
COPIES = 3  # endpoints per certificate: a longer scan, each endpoint checked as it ends
SERVED = {name: crafted for name, crafted in variants().items() if name not in NOT_SERVED}


def client_sockets(ports: Iterable[int]) -> Counter[int]:
    """This process's TCP sockets whose remote end is one of ``ports`` (client sides)."""
    wanted = set(ports)
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found: Counter[int] = Counter()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                if fields[9] in inodes and remote_port in wanted:
                    found[remote_port] += 1
    return found


def _scope(tmp_path: Path, ports: list[int], web_ports: list[int] = ()) -> Path:  # type: ignore[assignment]
    path = tmp_path / "scope.toml"
    text = scope_text(["127.0.0.1"], ports)
    if web_ports:
        text += f"web_ports = {list(web_ports)!r}\n"
    path.write_text(text, encoding="utf-8")
    return path


def _unreadable(name: str) -> set[str]:
    return EXPECTED[name][0]


async def test_dicom_tls_odd_certificates_get_a_verdict_and_close(tmp_path):
    stats: dict[str, Counter[str]] = {}
    async with contextlib.AsyncExitStack() as stack:
        by_port: dict[int, str] = {}
        for name, crafted in SERVED.items():
            directory = tmp_path / name
            directory.mkdir()
            scripts = {f"{name}#{i}": ECHO_AND_RELEASE for i in range(COPIES)}
            ports = await stack.enter_async_context(
                hostile_peers(scripts, stats=stats, tls=crafted.server_context(directory))
            )
            by_port.update({port: script for script, port in ports.items()})
        options = ScanOptions(
            timeouts=TIMEOUTS, limits=LIMITS, ae_attempts=1, tls_ports=tuple(by_port)
        )
        seen = 0
        async for result in exposcan.scan_iter(_scope(tmp_path, sorted(by_port)), options=options):
            seen += 1
            script = by_port[result.port]
            name = script.split("#")[0]
            # The verdict is made over TLS, whatever the certificate holds.
            assert result.status is Status.SUCCESS, (name, result.status, result.detail)
            assert result.exposure is Exposure.ECHO, name
            assert result.tls is not None
            assert result.tls.version is not None
            assert set(filter(None, (result.tls.unreadable or "").split(","))) == _unreadable(name)
            ids = {f.id for f in result.findings}
            assert ("tls-certificate-unreadable" in ids) == bool(_unreadable(name))
            # No socket of this finished endpoint is open, while others still run.
            assert client_sockets([result.port])[result.port] == 0, name
            # and the peer saw its connection end (EOF or reset), before the scan ends.
            assert stats[script]["eof"] + stats[script]["reset"] == stats[script]["connections"]
        assert seen == len(SERVED) * COPIES
    assert not client_sockets(by_port)


async def test_https_odd_certificates_get_a_verdict_and_close(tmp_path, web_peers):
    by_port: dict[int, str] = {}
    for name, crafted in SERVED.items():
        directory = tmp_path / name
        directory.mkdir()
        for i in range(COPIES):
            peer = await web_peers.start(
                f"{name}#{i}", wp.dicomweb_plain, tls=crafted.server_context(directory)
            )
            by_port[peer.port] = name
    options = ScanOptions(timeouts=TIMEOUTS, limits=LIMITS, ports=(), web_ports=tuple(by_port))
    scope = _scope(tmp_path, [104], sorted(by_port))
    seen = 0
    async for result in exposcan.scan_iter(scope, options=options):
        seen += 1
        name = by_port[result.port]
        assert result.status is Status.SUCCESS, (name, result.status, result.detail)
        assert result.exposure is Exposure.QUERY, (name, result.findings)
        assert result.tls is not None
        assert set(filter(None, (result.tls.unreadable or "").split(","))) == _unreadable(name)
        assert client_sockets([result.port])[result.port] == 0, name
    assert seen == len(SERVED) * COPIES
    assert not client_sockets(by_port)


#: Answer, then stop reading: the client's TLS close_notify is never answered and the
#: connection stays open (asyncio's graceful TLS close would wait 30 s for the reply).
DEAF_HTTPS = [
    ("recv-http",),
    ("send", b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
    ("deaf",),
]
DEAF_DICOM_TLS = [*ECHO_AND_RELEASE[:-1], ("deaf",)]


async def test_peers_that_never_answer_close_notify_do_not_hold_sockets(tmp_path):
    crafted = SERVED["ia5-high-octets"]
    scripts = {"deaf-https": DEAF_HTTPS, "deaf-dicom-tls": DEAF_DICOM_TLS}
    stats: dict[str, Counter[str]] = {}
    async with hostile_peers(scripts, stats=stats, tls=crafted.server_context(tmp_path)) as ports:
        https, dicom = ports["deaf-https"], ports["deaf-dicom-tls"]
        options = ScanOptions(
            timeouts=TIMEOUTS,
            limits=LIMITS,
            ae_attempts=1,
            ports=(dicom,),
            web_ports=(https,),
            tls_ports=(dicom,),
        )
        seen = 0
        async for result in exposcan.scan_iter(_scope(tmp_path, [dicom], [https]), options=options):
            seen += 1
            assert result.status is Status.SUCCESS, (result.port, result.detail)
            assert result.tls is not None
            assert result.tls.unreadable == "subject,issuer"
            assert client_sockets([result.port])[result.port] == 0, result.protocol
            assert result.duration_s < TIMEOUTS.endpoint
        assert seen == 2
        assert stats["deaf-https"]["connections"] > 1  # a request per connection, each dropped


async def test_no_socket_outlives_its_endpoint_in_a_hostile_scan(tmp_path):
    """Every scripted hostile peer of tests/network/test_hostile.py in one scan (tarpits, resets,
    garbage, endless C-FIND): after each result, no socket to that port is left."""
    scripts = {name: script for name, (script, _, _) in HOSTILE.items()}
    async with hostile_peers(scripts) as ports:
        names = {port: name for name, port in ports.items()}
        options = ScanOptions(timeouts=TIMEOUTS, limits=LIMITS, ae_attempts=2)
        seen = 0
        async for result in exposcan.scan_iter(_scope(tmp_path, sorted(names)), options=options):
            seen += 1
            assert not (result.detail or "").startswith("internal error"), names[result.port]
            assert client_sockets([result.port])[result.port] == 0, names[result.port]
        assert seen == len(names)
