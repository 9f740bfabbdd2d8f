"""An answering host's later endpoints are probed right after its first answer
(exposcan.follow), each endpoint exactly once, under the same per-host limits."""

from __future__ import annotations

import ipaddress
from collections import Counter

from exposcan.engine import Engine, Grid
from exposcan.follow import PULLED_MAX, Followers
from exposcan.lab import free_port
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.probe import Endpoint
from exposcan.probes.registry import PROBES
from exposcan.scope.targets import TargetSet

FAST = Timeouts(connect=1, read=1, release=0.5, endpoint=2)


def _targets(first: str, count: int) -> TargetSet:
    start = int(ipaddress.IPv4Address(first))
    return TargetSet([(start, start + count)], [])


async def test_an_answering_hosts_later_ports_come_before_the_walk_returns(counting_listener):
    """30 hosts by 3 ports, one listening, two closed (RST: an answer). Port-major, every
    host's first port would finish before any host's third; followed, a host's three
    ports finish together, long before the last host's first. Every endpoint once, and
    never two connections open to one host."""
    hosts = tuple(f"127.0.43.{i}" for i in range(1, 31))
    listener = counting_listener(hosts)
    closed = (free_port(), free_port())
    ports = (listener.port, *closed)
    options = ScanOptions(
        limits=Limits(concurrency=4, rate=50, per_host_rate=50), timeouts=FAST, ae_attempts=1
    )
    engine = Engine(_targets(hosts[0], 30), ports, options)
    results = [result async for result in engine.run()]
    keys = Counter((r.host, r.port) for r in results)
    assert len(keys) == 90
    assert set(keys.values()) == {1}
    order = [(r.host, r.port) for r in results]
    last_first_port = max(i for i, (_, port) in enumerate(order) if port == ports[0])
    first_third_port = min(i for i, (_, port) in enumerate(order) if port == ports[2])
    assert first_third_port < last_first_port  # pulled forward: not port-major any more
    assert max(listener.max_open.values()) == 1


def test_pulling_stops_at_its_bound_and_the_walk_skips_only_what_was_pulled():
    targets = _targets("10.0.0.0", PULLED_MAX + 10)
    grid = Grid(targets, {"ports": (104, 11112), "web_ports": ()})
    followers = Followers(grid, PROBES, ())
    walk = grid.walk(PROBES)
    first_pass = [next(walk) for _ in range(PULLED_MAX + 5)]  # on the first port
    for registration, endpoint in first_pass:
        followers.answered(registration, endpoint)
    registration = first_pass[0][0]
    pulled = Endpoint("10.0.0.0", 11112, registration.planned)
    beyond = Endpoint(first_pass[-1][1].host, 11112, registration.planned)
    assert followers.passed(registration, pulled)  # skipped by the walk, once
    assert not followers.passed(registration, pulled)
    assert not followers.passed(registration, beyond)  # past the bound: left to the walk
