"""The engine: rate limits seen from the listener's side, per-host politeness,
backpressure, cancellation, and the public scan API."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import time

import pytest

import exposcan
from exposcan.engine import Engine
from exposcan.lab import free_port
from exposcan.limits import LocalGate
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.scope.targets import TargetSet
from exposcan.vocabulary import Exposure, Status
from tests.support.windows import RecordedWindow, most_in_a_second

FAST = Timeouts(connect=1, read=1, release=0.5, endpoint=2)


def max_in_window(times: list[float], window: float = 1.0, jitter: float = 0.02) -> int:
    """The most connections seen in any one-second window (less scheduling jitter)."""
    times = sorted(times)
    best = 0
    for i, start in enumerate(times):
        best = max(best, sum(1 for t in times[i:] if t - start < window - jitter))
    return best


async def hang_up(reader, writer, listener):
    return None


async def test_global_rate_is_never_exceeded(counting_listener):
    """The limit is on when connections may start; the engine is held to it exactly (the
    global window's grant instants, no jitter allowance). The listener's side confirms
    every connection arrived and that they could not have come faster: a busy machine
    may delay an accept, which bunches arrivals, but never makes one early, so the span
    is a lower bound."""
    addresses = tuple(f"127.0.0.{i}" for i in range(10, 40))  # 30 hosts
    listener = counting_listener(addresses)
    options = ScanOptions(limits=Limits(concurrency=64, rate=8, per_host_rate=100), timeouts=FAST)
    first = int(ipaddress.IPv4Address("127.0.0.10"))
    window = RecordedWindow(8, 1.0)
    gate = LocalGate(options.limits, global_window=window)
    engine = Engine(TargetSet([(first, first + 30)], []), (listener.port,), options, gate=gate)
    results = [result async for result in engine.run()]
    assert len(results) == 30
    assert len(window.grants) == gate.granted == 30
    assert most_in_a_second(window.grants) <= 8
    assert len(listener.accepted) == 30
    span = max(t for _, t in listener.accepted) - min(t for _, t in listener.accepted)
    assert span >= 2.9  # 30 connections at 8/s cannot fit in less than ~3 seconds


async def test_per_host_rate_and_one_association_per_host(counting_listener, write_scope):
    ports = [free_port() for _ in range(5)]
    listeners = [counting_listener(port=p, hold=0.2) for p in ports]
    scope = write_scope(["127.0.0.1"], ports)
    options = ScanOptions(limits=Limits(concurrency=16, rate=100, per_host_rate=2), timeouts=FAST)
    report = await exposcan.scan(scope, options=options)
    assert {r.port for r in report.results} == set(ports)
    times = [t for lst in listeners for _, t in lst.accepted]
    assert len(times) == 5
    assert max_in_window(times) <= 2
    # One association at a time per host: the connections never overlapped.
    intervals = sorted(times)
    assert all(b - a >= 0.19 for a, b in itertools.pairwise(intervals))


async def test_scan_iter_streams_and_stops_cleanly_when_abandoned(listener_factory, write_scope):
    async def slow(reader, writer, listener):
        await asyncio.sleep(10)

    addresses = tuple(f"127.0.1.{i}" for i in range(1, 9))
    listener = await listener_factory(addresses, behaviour=slow)
    fast_port = free_port()
    scope = write_scope(["127.0.1.0/28"], [listener.port, fast_port])
    options = ScanOptions(
        ports=(fast_port, listener.port),
        limits=Limits(concurrency=4, rate=1000, per_host_rate=1000),
        timeouts=Timeouts(connect=1, read=5, release=1, endpoint=8),
    )
    iterator = exposcan.scan_iter(scope, options=options)
    first = await anext(iterator)
    assert first.status is Status.CONNECTION_REFUSED
    started = time.monotonic()
    await iterator.aclose()  # cancels in-flight probes and closes their sockets
    assert time.monotonic() - started < 2
    await asyncio.sleep(0.2)
    assert sum(listener.open_now.values()) == 0


async def test_scan_reports_every_endpoint_once(scp_factory, write_scope):
    open_port = scp_factory("OPEN")
    guarded = scp_factory("GUARDED", require_called_aet=True)
    closed = free_port()
    scope = write_scope(["127.0.0.1"], [open_port, guarded, closed])
    progress: list[exposcan.Progress] = []
    report = await exposcan.scan(scope, on_progress=progress.append)
    by_port = {r.port: r for r in report.results}
    assert sorted(by_port) == sorted([open_port, guarded, closed])
    assert by_port[open_port].exposure is Exposure.ECHO
    assert by_port[guarded].exposure is Exposure.PROTECTED
    assert by_port[closed].exposure is Exposure.NONE
    assert report.summary.exposure == {"none": 1, "protected": 1, "echo": 1, "store": 0, "query": 0}
    assert report.summary.exposed == 1
    assert [p.done for p in progress] == [1, 2, 3]
    assert report.header["scope"]["reference"] == "TEST-1"
    assert report.exposed() == (by_port[open_port],)


async def test_expired_authorisation_refuses_before_any_packet(listener_factory, write_scope):
    import datetime

    listener = await listener_factory(behaviour=hang_up)
    scope = write_scope(
        ["127.0.0.1"], [listener.port], expires=datetime.date.today() - datetime.timedelta(days=1)
    )
    with pytest.raises(exposcan.AuthorisationError):
        await exposcan.scan(scope)
    await asyncio.sleep(0.1)
    assert listener.accepted == []


async def test_target_outside_scope_refused_before_any_packet(listener_factory, write_scope):
    listener = await listener_factory(behaviour=hang_up)
    scope = write_scope(["127.0.0.2"], [listener.port])
    with pytest.raises(exposcan.OutOfScopeError):
        await exposcan.scan(scope, ["127.0.0.1"])
    await asyncio.sleep(0.1)
    assert listener.accepted == []


async def test_results_are_frozen_and_serialisable(scp_factory, write_scope):
    import dataclasses
    import json
    import pickle

    port = scp_factory("OPEN")
    report = await exposcan.scan(write_scope(["127.0.0.1"], [port]))
    result = report.results[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.port = 1  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(result)) == result
    data = json.loads(json.dumps(result.to_dict()))
    assert data["exposure"] == "echo"
    assert data["severity"] == "medium"
    assert data["fingerprint"]["implementation_class_uid"]
