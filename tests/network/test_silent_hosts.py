"""Silent hosts, adaptive connect timeouts and the first-contact budget, on loopback.

Silent addresses are real ones: an nftables table of the test's own drops their SYNs
on ``lo`` (tests/support/nft.py), so a connect waits as it does for a firewalled or
unused address. The limits are measured where the issue asks: on the listener's side
and on the gate's grant instants.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from exposcan.engine import Engine
from exposcan.lab import free_port
from exposcan.limits import LocalGate, window_for_rate
from exposcan.options import DefaultCount, Limits, ScanOptions, Timeouts
from exposcan.rtt import FLOOR_S, INITIAL_S
from exposcan.scope.targets import TargetSet
from exposcan.vocabulary import Status
from tests.support.listeners import A_ABORT
from tests.support.nft import DropTable, drop_table
from tests.support.windows import RecordedWindow, most_in_a_second

SLOW_CONNECT = Timeouts(connect=3, read=1, release=0.5, endpoint=5)


@pytest.fixture
def nft_drop() -> Iterator[DropTable]:
    with drop_table() as table:
        yield table


def _targets(*addresses: str) -> TargetSet:
    from ipaddress import IPv4Address

    spans = [(int(IPv4Address(a)), int(IPv4Address(a)) + 1) for a in addresses]
    return TargetSet(spans, [])


async def _scan(targets: TargetSet, ports: tuple[int, ...], options: ScanOptions, **kw):
    engine = Engine(targets, ports, options, **kw)
    return engine, [result async for result in engine.run()]


async def test_a_dead_address_costs_a_few_round_trips_not_the_connect_timeout(
    nft_drop, listener_factory
):
    """One host of the /24 answers (its RST and SYN-ACKs are the network's samples);
    a dropped neighbour then waits the floor, never the 3 s connect timeout; with no
    sample at all the initial timeout; with adaptive timeouts off, the full 3 s."""
    port = free_port()
    await listener_factory(("127.0.9.1",), port=port)
    nft_drop.drop(["127.0.9.50", "127.0.10.50"], [port])
    options = ScanOptions(limits=Limits(concurrency=1, rate=50), timeouts=SLOW_CONNECT)
    _, results = await _scan(_targets("127.0.9.1", "127.0.9.50", "127.0.10.50"), (port,), options)
    by_host = {r.host: r for r in results}
    assert by_host["127.0.9.1"].status is not Status.CONNECTION_TIMEOUT
    near, alone = by_host["127.0.9.50"], by_host["127.0.10.50"]
    assert near.status is alone.status is Status.CONNECTION_TIMEOUT
    assert FLOOR_S - 0.05 <= near.duration_s < INITIAL_S  # the network answered in microseconds
    assert INITIAL_S - 0.05 <= alone.duration_s < 2.0  # nothing known about its network
    plain = ScanOptions(
        limits=Limits(concurrency=1, rate=50), timeouts=SLOW_CONNECT, adaptive_timeouts=False
    )
    _, results = await _scan(_targets("127.0.10.50"), (port,), plain)
    assert results[0].duration_s >= 2.9


async def test_a_silent_host_is_written_off_after_its_first_ports_and_still_reported(nft_drop):
    ports = tuple(free_port() for _ in range(4))
    nft_drop.drop(["127.0.11.7"], ports)
    options = ScanOptions(limits=Limits(rate=50), timeouts=SLOW_CONNECT)
    _, results = await _scan(_targets("127.0.11.7"), ports, options)
    by_port = {r.port: r.status for r in results}
    assert len(results) == 4  # a record for every endpoint
    assert set(by_port) == set(ports)
    assert [by_port[p] for p in ports] == [
        Status.CONNECTION_TIMEOUT,
        Status.CONNECTION_TIMEOUT,
        Status.HOST_SILENT,
        Status.HOST_SILENT,
    ]
    silent = [r for r in results if r.status is Status.HOST_SILENT]
    assert all(r.attempts == 0 and r.probed_at is None for r in silent)
    assert all("silent on its first 2" in (r.detail or "") for r in silent)
    # With the rule off every endpoint is tried.
    _, results = await _scan(
        _targets("127.0.11.7"),
        ports,
        ScanOptions(
            limits=Limits(rate=50), silent_after=0, timeouts=Timeouts(connect=0.3, endpoint=2)
        ),
    )
    assert [r.status for r in results] == [Status.CONNECTION_TIMEOUT] * 4


async def test_a_host_that_answered_anything_is_never_written_off(nft_drop):
    """A single RST on its first port: its next ports are dropped, and every one of them
    is still tried (a connect timeout each, no host-silent)."""
    ports = tuple(free_port() for _ in range(4))
    nft_drop.drop(["127.0.12.9"], ports[1:])  # ports[0]: nothing listens, the kernel RSTs
    options = ScanOptions(limits=Limits(rate=50), timeouts=SLOW_CONNECT)
    _, results = await _scan(_targets("127.0.12.9"), ports, options)
    by_port = {r.port: r.status for r in results}
    assert by_port[ports[0]] is Status.CONNECTION_REFUSED
    assert [by_port[p] for p in ports[1:]] == [Status.CONNECTION_TIMEOUT] * 3


async def _granted_scan(hosts: tuple[str, ...], port: int, limits: Limits, timeouts: Timeouts):
    """Scan ``hosts`` on ``port`` through a gate whose two windows note their grants."""
    first = RecordedWindow(*window_for_rate(limits.first_contact_rate))
    load = RecordedWindow(*window_for_rate(limits.rate))
    gate = LocalGate(limits, global_window=load, first_window=first)
    options = ScanOptions(limits=limits, timeouts=timeouts, ae_attempts=1)
    _, results = await _scan(_targets(*hosts), (port,), options, gate=gate)
    return results, first, load


async def _talking_peer(state: dict[str, int], hold: float):
    async def behaviour(reader, writer, listener):
        if not await reader.read(6):  # the A-ASSOCIATE-RQ's header: a conversation
            return
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        try:
            await asyncio.sleep(hold)
            writer.write(A_ABORT)
            await writer.drain()
        finally:
            state["now"] -= 1

    return behaviour


async def test_first_contacts_take_their_own_budget_and_conversations_the_load_limits(
    listener_factory,
):
    """Default ``rate`` (not chosen): SYNs to never-answered hosts are granted from the
    first-contact window (here 6/s), each answered one then takes a grant of the global
    rate (here 3/s) and a load slot (here 2) before its first byte. Both rates hold in
    every one-second window of grant instants and of accepts, and no more than two
    conversations ever run at once."""
    from exposcan.options import Default

    hosts = tuple(f"127.0.13.{i}" for i in range(1, 13))
    state = {"now": 0, "max": 0}
    listener = await listener_factory(hosts, await _talking_peer(state, 0.3))
    limits = Limits(
        rate=Default(3.0),
        concurrency=DefaultCount(2),
        first_contact_rate=6,
        first_contact_concurrency=12,
        per_host_rate=100,
    )
    assert not limits.rate_explicit
    assert not limits.concurrency_explicit
    results, first, load = await _granted_scan(
        hosts, listener.port, limits, Timeouts(connect=1, read=1, endpoint=4)
    )
    assert len(results) == 12
    assert len(first.grants) == len(listener.accepted) >= 12  # every connection: a first contact
    assert most_in_a_second(first.grants) <= 6
    assert len(load.grants) >= 12  # one per conversation
    assert most_in_a_second(load.grants) <= 3
    assert most_in_a_second([t for _, t in listener.accepted], jitter=0.05) <= 6
    assert 1 <= state["max"] <= 2


async def test_an_explicit_rate_caps_every_new_connection_first_contacts_too(listener_factory):
    hosts = tuple(f"127.0.14.{i}" for i in range(1, 11))
    listener = await listener_factory(hosts)
    limits = Limits(rate=4, per_host_rate=100)  # chosen: a hard ceiling
    assert limits.rate_explicit
    results, first, load = await _granted_scan(
        hosts, listener.port, limits, Timeouts(connect=1, read=0.5, endpoint=2)
    )
    assert len(results) == 10
    accepts = sorted(t for _, t in listener.accepted)
    assert len(load.grants) == len(accepts) >= 10  # every connection took the global rate
    assert first.grants == []  # the chosen rate replaces the first-contact budget
    assert most_in_a_second(load.grants) <= 4
    assert most_in_a_second(accepts, jitter=0.05) <= 4
    assert accepts[-1] - accepts[0] >= 1.9  # 10 at 4/s: 2.25 s at least


async def test_an_explicit_rate_is_not_held_to_the_first_contact_budget(listener_factory):
    """``--rate 40`` on a sparse block means 40 SYNs a second, not the default
    first-contact budget (here made a default of 2/s, so being held to it would show);
    a first-contact rate the user chose as well still holds beside it."""
    from exposcan.options import Default

    hosts = tuple(f"127.0.15.{i}" for i in range(1, 11))
    listener = await listener_factory(hosts)
    limits = Limits(rate=40, first_contact_rate=Default(2.0), per_host_rate=100)
    results, first, load = await _granted_scan(
        hosts, listener.port, limits, Timeouts(connect=1, read=0.5, endpoint=2)
    )
    assert len(results) == 10
    assert first.grants == []
    assert most_in_a_second(load.grants) <= 40
    assert max(load.grants) - min(load.grants) < 1.0  # ten at 40/s, not five seconds at 2/s
    both = Limits(rate=40, first_contact_rate=3, per_host_rate=100)
    assert both.first_contact_rate_explicit
    results, first, load = await _granted_scan(
        tuple(f"127.0.16.{i}" for i in range(1, 7)),
        (await listener_factory(tuple(f"127.0.16.{i}" for i in range(1, 7)))).port,
        both,
        Timeouts(connect=1, read=0.5, endpoint=4),
    )
    assert len(results) == 6
    assert len(first.grants) == 6
    assert most_in_a_second(first.grants) <= 3
