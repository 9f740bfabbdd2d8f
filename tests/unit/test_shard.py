"""TargetSet.shard(i, n): disjoint, complete, by host, stable, lazy. No sockets."""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
import os
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exposcan.engine import iter_endpoints
from exposcan.errors import OptionError
from exposcan.scope import shards
from exposcan.scope.shards import count_in, shard_of
from exposcan.scope.targets import TargetSet

V6_BASE = int(ipaddress.IPv6Address("2001:db8::"))
V6_HIGH = int(ipaddress.IPv6Address("2001:db8:ffff:ffff:ffff:ffff:ffff:0"))  # all 16 bytes


def _intervals(base: int, span: int) -> st.SearchStrategy[list[tuple[int, int]]]:
    pairs = st.tuples(st.integers(0, span), st.integers(1, 40))
    return st.lists(pairs, max_size=5).map(lambda ps: [(base + a, base + a + k) for a, k in ps])


target_sets = st.builds(
    lambda v4, v6: TargetSet(v4, v6),
    _intervals(int(ipaddress.IPv4Address("192.0.2.0")), 300),
    st.one_of(_intervals(V6_BASE, 300), _intervals(V6_HIGH, 300)),
)


@settings(max_examples=60, deadline=None)
@given(targets=target_sets, n=st.integers(1, 12))
def test_every_host_in_exactly_one_shard(targets: TargetSet, n: int) -> None:
    parts = [targets.shard(i, n) for i in range(n)]
    whole = [h.address for h in targets]
    owners = Counter(h.address for part in parts for h in part)
    assert owners == Counter(whole)  # complete, and nobody in two shards
    assert sum(part.count for part in parts) == targets.count
    for i, part in enumerate(parts):
        listed = [h.address for h in part]
        assert part.count == len(listed)
        assert listed == [a for a in whole if a in part]  # the whole set's order
        assert all(
            (address in part) == (address in listed) and shard_of(*_reached(address), n) == i
            for address in listed
        )
    for address in whole:  # membership agrees with iteration
        assert sum(address in part for part in parts) == 1


def _reached(address: str) -> tuple[int, int]:
    parsed = ipaddress.ip_address(address)
    return parsed.version, int(parsed)


@settings(max_examples=50, deadline=None)
@given(
    targets=target_sets,
    n=st.integers(2, 9),
    ports=st.lists(st.integers(1, 65535), min_size=1, max_size=4, unique=True),
)
def test_all_ports_of_a_host_in_the_same_shard(
    targets: TargetSet, n: int, ports: list[int]
) -> None:
    owner: dict[str, int] = {}
    seen: Counter[tuple[str, int]] = Counter()
    for i in range(n):
        for endpoint in iter_endpoints(targets.shard(i, n), tuple(ports)):
            assert owner.setdefault(endpoint.host, i) == i
            seen[(endpoint.host, endpoint.port)] += 1
    every = {(h.address, p) for h in targets for p in ports}
    assert set(seen) == every
    assert set(seen.values()) <= {1}


@settings(max_examples=200, deadline=None)
@given(
    version=st.sampled_from([4, 6]),
    start=st.integers(0, 2**32 - 1000),
    length=st.integers(0, 1000),
    n=st.integers(1, 50),
)
def test_shards_of_a_range_differ_by_at_most_two(
    version: int, start: int, length: int, n: int
) -> None:
    """Each block of n addresses holds one of every shard: balanced up to the two
    partial blocks at the ends; count_in agrees with the shard of each address."""
    sizes = [count_in(version, start, start + length, i, n) for i in range(n)]
    assert sum(sizes) == length
    assert max(sizes) - min(sizes) <= 2
    actual = Counter(shard_of(version, v, n) for v in range(start, start + length))
    assert [actual[i] for i in range(n)] == sizes


GOLDEN = ["192.0.2.1", "192.0.2.2", "198.51.100.77", "10.0.0.1", "2001:db8::1", "::1"]


def _golden() -> list[int]:
    return [shard_of(*_reached(a), 7) for a in GOLDEN]


def test_shards_are_the_same_in_every_process_and_python() -> None:
    """Fixed values (a Python or platform that hashed differently would fail), and
    a fresh interpreter with another hash seed agrees."""
    assert _golden() == [6, 0, 5, 5, 3, 2]
    # The documented formula, by hand: (BLAKE2b rotation of the block + value) mod n.
    value = int(ipaddress.IPv4Address("192.0.2.1"))
    packed = bytes((4,)) + (value // 7).to_bytes(16, "big")
    digest = hashlib.blake2b(packed, digest_size=8, person=b"exposcan.shard.1").digest()
    assert (int.from_bytes(digest, "big") + value) % 7 == 6
    code = (
        "import ipaddress; from exposcan.scope.shards import shard_of; "
        f"print([shard_of(ipaddress.ip_address(a).version, int(ipaddress.ip_address(a)), 7) "
        f"for a in {GOLDEN!r}])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == str(_golden())


def test_a_slash_8_and_a_slash_64_shard_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counting is arithmetic, and iterating hashes about once per host yielded: a
    shard never walks (or stores) the addresses of the other shards."""
    calls = 0
    real = shards.rotation

    def counting(version: int, block: int) -> int:
        nonlocal calls
        calls += 1
        return real(version, block)

    monkeypatch.setattr(shards, "rotation", counting)
    v4 = (int(ipaddress.IPv4Address("10.0.0.0")), int(ipaddress.IPv4Address("11.0.0.0")))
    v6 = (V6_BASE, V6_BASE + 2**64)
    targets = TargetSet([v4], [v6])
    parts = [targets.shard(i, 16) for i in range(16)]
    assert sum(p.count for p in parts) == 2**24 + 2**64
    assert {p.count for p in parts} == {2**20 + 2**60}  # both ranges are whole blocks
    assert calls <= 4 * 16  # two hashes per interval and shard
    calls = 0
    first = [h.address for h in itertools.islice(parts[3], 100)]
    assert len(first) == 100
    assert all(a.startswith("10.0.") for a in first)
    assert calls <= 102
    assert all(a in parts[3] and a not in parts[4] for a in first)


def test_a_mapped_address_is_judged_as_its_ipv4_address() -> None:
    targets = TargetSet([(int(ipaddress.IPv4Address("192.0.2.0")), 2**32 - 1)], [])
    for i in range(5):
        part = targets.shard(i, 5)
        for host in itertools.islice(part, 3):
            assert f"::ffff:{host.address}" in part


def test_a_shard_keeps_the_hostnames_of_its_own_hosts() -> None:
    base = int(ipaddress.IPv4Address("192.0.2.0"))
    labels = {(4, base + k): f"pacs-{k}.example" for k in range(8)}
    targets = TargetSet([(base, base + 8)], [], labels)
    named: dict[str, str | None] = {}
    for i in range(3):
        part = targets.shard(i, 3)
        for host in part:
            named[host.address] = host.hostname
            assert part.hostname(host.address) == host.hostname
        others = [h.address for h in targets if h.address not in part]
        assert all(part.hostname(a) is None for a in others)
    assert named == {h.address: h.hostname for h in targets}


def test_one_shard_is_the_whole_set() -> None:
    targets = TargetSet([(1, 300)], [(5, 9)])
    part = targets.shard(0, 1)
    assert [h.address for h in part] == [h.address for h in targets]
    assert part.count == targets.count
    assert part.sharding == (0, 1)
    assert targets.sharding is None
    assert "shard=0/1" in repr(part)


@pytest.mark.parametrize(
    ("index", "n", "message"),
    [
        (0, 0, "shard count must be 1"),
        (3, 3, "shard index must be 0 to 2"),
        (-1, 3, "shard index must be 0 to 2"),
        (True, 3, "whole number"),
        (0, 2.0, "whole number"),
    ],
)
def test_bad_shard_arguments_are_one_clear_error(index: object, n: object, message: str) -> None:
    with pytest.raises(OptionError, match=message):
        TargetSet([(1, 10)], []).shard(index, n)  # type: ignore[arg-type]


def test_a_shard_is_not_sharded_again() -> None:
    with pytest.raises(OptionError, match="cannot be sharded again"):
        TargetSet([(1, 10)], []).shard(0, 2).shard(0, 2)
