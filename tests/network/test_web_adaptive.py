"""The web probe's connects go through the scan's connect policy, as DICOM's do (issue 13).

Silent addresses are real ones: an nftables table of the test's own drops their SYNs on
``lo`` (tests/support/nft.py). The policy is either one of the test's own, which records
what it was asked (so the seam itself is checked: timeout asked with the configured
ceiling, every answer reported, the word awaited before the first byte), or the engine's
(the scan's round-trip table and record of answers). Limits are measured on the
listener's side and on the gate's grant instants, as tests/network/test_silent_hosts.py
does for DICOM.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from ipaddress import IPv4Address
from typing import Any

import pytest

from exposcan.connecting import connect_policy
from exposcan.engine import Engine
from exposcan.lab import free_port
from exposcan.limits import LocalGate, window_for_rate
from exposcan.options import Default, DefaultCount, Limits, ScanOptions, Timeouts
from exposcan.pacing import Pacing, Ticket
from exposcan.probes.registry import PROBES, Registry
from exposcan.probes.web import make_web_session, probe_web
from exposcan.rtt import FLOOR_S, INITIAL_S
from exposcan.scope.targets import TargetSet
from exposcan.vocabulary import Status
from tests.support import web_peers as wp
from tests.support.nft import DropTable, drop_table
from tests.support.windows import RecordedWindow, most_in_a_second

CONNECT = 3.0
OPTIONS = ScanOptions(timeouts=Timeouts(connect=CONNECT, read=2, release=0.5, endpoint=4))
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@pytest.fixture
def nft_drop() -> Iterator[DropTable]:
    with drop_table() as table:
        yield table


class RecordingPolicy:
    """A connect policy that says ``wait`` and notes what it is asked and told."""

    def __init__(self, wait: float, peer: wp.WebPeer | None = None) -> None:
        self.wait = wait
        self.peer = peer
        self.asked: list[tuple[str, float]] = []
        self.answers: list[tuple[str, float]] = []
        #: requests the peer had logged at each ``established`` (before our first byte)
        self.logged_at_word: list[int] = []

    def connect_timeout(self, host: str, ceiling: float) -> float:
        self.asked.append((host, ceiling))
        return min(self.wait, ceiling)

    def issued(self, host: str) -> None:
        pass

    def answered(self, host: str, rtt: float) -> None:
        self.answers.append((host, rtt))

    async def established(self, host: str) -> None:
        self.logged_at_word.append(len(self.peer.log) if self.peer is not None else 0)


async def _probe_under(policy: Any, host: str, port: int, options: ScanOptions = OPTIONS):
    token = connect_policy.set(policy)
    try:
        async with make_web_session(options) as session:
            return await probe_web(host, port, options, session=session)
    finally:
        connect_policy.reset(token)


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
async def test_every_web_connect_asks_the_policy_reports_its_answer_and_awaits_its_word(
    web_peers, web_tls, tls
):
    """Plain and TLS: one timeout asked (with the configured connect timeout as its
    ceiling), one answer and one ``established`` per connection the server saw, each
    before that connection's request; TLS still works (the certificate is reported)."""
    context = web_tls.server_context() if tls else None
    peer = await web_peers.start("dicomweb", wp.dicomweb_plain, tls=context)
    policy = RecordingPolicy(wait=2.0, peer=peer)
    observation = await _probe_under(policy, wp.HOST, peer.port)
    answered = [r for r in observation.requests if r.status is not None]
    assert answered
    assert observation.status is Status.SUCCESS
    assert len(peer.log) == len(answered)
    assert policy.asked == [(wp.HOST, CONNECT)] * len(policy.asked)
    assert len(policy.asked) == len(policy.answers) == len(policy.logged_at_word)
    assert len(policy.answers) >= len(peer.log)  # a connection per request, at least
    assert all(host == wp.HOST and 0 <= rtt < CONNECT for host, rtt in policy.answers)
    # The word comes before the request of its own connection.
    assert policy.logged_at_word == sorted(policy.logged_at_word)
    assert all(seen < len(peer.log) for seen in policy.logged_at_word)
    if tls:
        assert observation.tls is not None
        assert observation.tls.subject == web_tls.subject
        assert str(observation.protocol) == "https"


async def test_a_refused_web_connect_is_an_answer():
    port = free_port()  # nothing listens: the kernel answers with a RST
    policy = RecordingPolicy(wait=2.0)
    observation = await _probe_under(policy, "127.0.0.1", port)
    assert observation.status is Status.CONNECTION_REFUSED
    assert [host for host, _ in policy.answers] == ["127.0.0.1"]


async def test_a_dropped_web_endpoint_waits_what_the_policy_says_not_the_timeout(nft_drop):
    port = free_port()
    nft_drop.drop(["127.0.30.7"], [port])
    policy = RecordingPolicy(wait=0.3)
    observation = await _probe_under(policy, "127.0.30.7", port)
    assert observation.status is Status.CONNECTION_TIMEOUT
    assert policy.asked == [("127.0.30.7", CONNECT)]  # one connect: a timeout ends the plan
    assert policy.answers == []  # silence is not an answer
    assert observation.duration_s < CONNECT - 1  # given up at the policy's word, not at 3 s
    # Without a policy the connect waits the configured timeout.
    quick = ScanOptions(timeouts=Timeouts(connect=1.0, read=1, endpoint=3))
    async with make_web_session(quick) as session:
        plain = await probe_web("127.0.30.7", port, quick, session=session)
    assert plain.status is Status.CONNECTION_TIMEOUT
    assert plain.duration_s >= 0.95


# ------------------------------------------------------------------ under the engine


def _targets(*addresses: str) -> TargetSet:
    spans = [(int(IPv4Address(a)), int(IPv4Address(a)) + 1) for a in addresses]
    return TargetSet(spans, [])


def _http_404():
    async def behaviour(reader, writer, listener):
        if await reader.readuntil(b"\r\n\r\n"):
            writer.write(NOT_FOUND)
            await writer.drain()

    return behaviour


@pytest.fixture
def given_timeouts(monkeypatch) -> list[tuple[str, float]]:
    """Every connect timeout the engine's tickets hand out, by host."""
    given: list[tuple[str, float]] = []
    original = Ticket.connect_timeout

    def recording(self: Ticket, host: str, ceiling: float) -> float:
        wait = original(self, host, ceiling)
        given.append((host, wait))
        return wait

    monkeypatch.setattr(Ticket, "connect_timeout", recording)
    return given


async def test_a_dead_web_endpoint_costs_the_adaptive_timeout_never_below_its_floor(
    nft_drop, listener_factory, given_timeouts
):
    """A web server on 127.0.31.1 answers (its SYN-ACKs: the /24's samples, microseconds
    on loopback); the dropped neighbour's web port then waits the floor, not 3 s; an
    address of a network with no sample waits the initial timeout."""
    port = free_port()
    await listener_factory(("127.0.31.1",), _http_404(), port=port)
    nft_drop.drop(["127.0.31.50", "127.0.32.50"], [port])
    options = ScanOptions(
        limits=Limits(concurrency=1, rate=50, per_host_rate=50),
        timeouts=Timeouts(connect=CONNECT, read=1, release=0.5, endpoint=4),
    )
    hosts = ("127.0.31.1", "127.0.31.50", "127.0.32.50")
    engine = Engine(_targets(*hosts), (), options, web_ports=(port,))
    results = {r.host: r for r in [r async for r in engine.run()]}
    assert results["127.0.31.1"].status is not Status.CONNECTION_TIMEOUT
    assert results["127.0.31.50"].status is results["127.0.32.50"].status
    assert results["127.0.32.50"].status is Status.CONNECTION_TIMEOUT
    waits = dict(given_timeouts)  # each dropped host: one connect
    assert waits["127.0.31.50"] == FLOOR_S  # the network answered in microseconds
    assert waits["127.0.32.50"] == INITIAL_S  # nothing known about its network
    assert all(wait >= FLOOR_S for _, wait in given_timeouts)
    assert results["127.0.31.50"].duration_s < INITIAL_S
    # The live server's answers were its samples, through the web connects alone.
    estimate = engine.pacing.rtt.estimate("127.0.31.1") if engine.pacing.rtt else None
    assert estimate is not None
    assert estimate.samples >= 2


def _drop_every_other_syn(table: DropTable, address: str, port: int) -> None:
    """Each connection's first SYN is dropped, its retransmission (Linux: 1 s later)
    passes: every SYN-ACK from ``address`` arrives a second late, as from a far site."""
    rule = (
        f'add rule inet {table.name} input iifname "lo" ip daddr {address} tcp dport {port} '
        "tcp flags & (syn | ack) == syn numgen inc mod 2 == 0 drop\n"
    )
    subprocess.run(
        ["nft", "-f", "-"], input=rule, text=True, check=True, capture_output=True, timeout=30
    )


async def test_a_web_server_whose_answers_arrive_late_keeps_a_long_timeout(
    nft_drop, listener_factory
):
    """Its earlier answers said 1.2 s (seeded: the first SYN-ACK of a cold scan races the
    1 s initial timeout); every connect here then answers about a second late, each
    wait stays above what it measured, and no request is lost to the timeout."""
    address = "127.0.33.5"
    port = free_port()
    await listener_factory((address,), _http_404(), port=port)
    _drop_every_other_syn(nft_drop, address, port)
    options = ScanOptions(
        limits=Limits(rate=50, per_host_rate=50),
        timeouts=Timeouts(connect=CONNECT, read=1, release=0.5, endpoint=2.5),
    )
    pacing = Pacing(options, LocalGate(options.limits))
    assert pacing.rtt is not None
    pacing.rtt.answered(address, 1.2)
    ticket = await pacing.admit(address)
    waits: list[float] = []

    class Watched:
        def connect_timeout(self, host: str, ceiling: float) -> float:
            waits.append(ticket.connect_timeout(host, ceiling))
            return waits[-1]

        def answered(self, host: str, rtt: float) -> None:
            ticket.answered(host, rtt)

        async def established(self, host: str) -> None:
            await ticket.established(host)

    try:
        observation = await _probe_under(Watched(), address, port, options)
    finally:
        ticket.release()
    records = observation.requests
    answered = [r for r in records if r.status == 404]
    assert len(answered) >= 2
    # Only the endpoint deadline (io-timeout) may cut the last request; no connect gave up.
    assert all(r.error is Status.IO_TIMEOUT for r in records[len(answered) :])
    assert records[: len(answered)] == tuple(answered)
    estimate = pacing.rtt.estimate(address)
    assert estimate is not None
    assert estimate.samples == 1 + len(answered)
    assert estimate.srtt > 0.9  # the late SYN-ACKs were measured as such
    assert len(waits) == len(records)
    assert min(waits) > 2 * FLOOR_S
    assert all(r.duration_s > 0.9 for r in answered)  # each connect did answer late


async def test_a_host_that_answered_on_its_dicom_port_is_not_written_off_for_its_web_ports(
    nft_drop,
):
    """DICOM probed first (a registry in that order): 127.0.34.9 refuses its DICOM port
    (a RST: an answer), so its dropped web ports are each tried; 127.0.34.10, silent on
    its DICOM port, has them written off (``silent_after=1``)."""
    dicom, web_a, web_b = free_port(), free_port(), free_port()
    nft_drop.drop(["127.0.34.9"], [web_a, web_b])
    nft_drop.drop(["127.0.34.10"], [dicom, web_a, web_b])
    dicom_first = Registry(*reversed(list(PROBES)))
    assert [r.kind for r in dicom_first] == ["dicom", "web"]
    options = ScanOptions(
        limits=Limits(rate=50),
        timeouts=Timeouts(connect=CONNECT, read=1, release=0.5, endpoint=4),
        silent_after=1,
    )
    engine = Engine(
        _targets("127.0.34.9", "127.0.34.10"),
        (dicom,),
        options,
        web_ports=(web_a, web_b),
        probes=dicom_first,
    )
    results = {(r.host, r.port): r.status async for r in engine.run()}
    assert results[("127.0.34.9", dicom)] is Status.CONNECTION_REFUSED
    assert results[("127.0.34.9", web_a)] is Status.CONNECTION_TIMEOUT
    assert results[("127.0.34.9", web_b)] is Status.CONNECTION_TIMEOUT
    assert results[("127.0.34.10", dicom)] is Status.CONNECTION_TIMEOUT
    assert results[("127.0.34.10", web_a)] is Status.HOST_SILENT
    assert results[("127.0.34.10", web_b)] is Status.HOST_SILENT


async def test_web_connects_keep_the_per_host_and_first_contact_limits(listener_factory):
    """Web endpoints only, each request a new connection: measured where they arrive,
    never more than ``per_host_rate`` new connections a second to one host nor more
    than one open at once; the first connection to each host is granted by the
    first-contact window, and every conversation takes a grant of the global rate.

    The shared rates are set so that they never bind: when one does, the gate takes a
    host's window instant before the shared wait, and the connections it delayed
    arrive bunched (reported to the gate's owner; not the web connector's doing)."""
    hosts = tuple(f"127.0.35.{i}" for i in range(1, 5))
    port = free_port()
    listener = await listener_factory(hosts, _http_404(), port=port)
    limits = Limits(
        rate=Default(50.0),
        concurrency=DefaultCount(4),
        first_contact_rate=Default(50.0),
        first_contact_concurrency=4,
        per_host_rate=2,
    )
    first = RecordedWindow(*window_for_rate(limits.first_contact_rate))
    load = RecordedWindow(*window_for_rate(limits.rate))
    gate = LocalGate(limits, global_window=load, first_window=first)
    options = ScanOptions(
        limits=limits, timeouts=Timeouts(connect=1, read=1, release=0.5, endpoint=2.5)
    )
    engine = Engine(_targets(*hosts), (), options, web_ports=(port,), gate=gate)
    results = [r async for r in engine.run()]
    assert len(results) == 4
    assert all(r.status is Status.SUCCESS for r in results)
    for host in hosts:
        accepts = [t for a, t in listener.accepted if a == host]
        assert len(accepts) >= 3  # the probe kept asking, so the limit had work to do
        assert most_in_a_second(accepts, jitter=0.05) <= 2
        assert listener.max_open[host] == 1
    assert len(first.grants) == len(hosts)  # one SYN each before the host had answered
    assert most_in_a_second(first.grants) <= 50
    assert len(load.grants) == len(listener.accepted)  # every conversation took the rate
    assert most_in_a_second(load.grants) <= 50
