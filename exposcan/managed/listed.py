"""A listed scan's shards: the endpoints an nmap or masscan sweep found open, split by the
host hash :meth:`TargetSet.shard <exposcan.scope.targets.TargetSet.shard>` uses, so that
all the ports of a host are in one shard, whichever process asks.

A grid shard is named by its index alone (the worker walks its hosts from the scope); a
listed one carries its own (address, port) pairs, which the worker hands to
:func:`exposcan.scan.prepare` as any list is: every host is checked against the scope
and the authorisation again there, before its first packet. Only pairs some probe takes
travel (a sweep's ssh ports stay with the submitter, counted in its header).
"""

from __future__ import annotations

from dataclasses import dataclass

from exposcan.scope.endpoints import EndpointList, Pair
from exposcan.scope.reach import reached_address
from exposcan.scope.shards import shard_of


@dataclass(frozen=True)
class ListedShard:
    #: (address, port), each once, in the list's order
    pairs: tuple[Pair, ...]
    hosts: int
    #: the endpoints the pairs make (a port in both port lists is two)
    endpoints: int


def listed_shards(endpoints: EndpointList, n: int) -> list[ListedShard]:
    """The ``n`` shards of a listed scan's endpoints; some may be empty."""
    pairs: list[dict[Pair, None]] = [{} for _ in range(n)]
    hosts: list[set[str]] = [set() for _ in range(n)]
    counts = [0] * n
    for _, endpoint in endpoints.walk():
        reached = reached_address(endpoint.host)
        assert reached is not None  # a listed host is a literal address
        index = shard_of(*reached, n)
        pairs[index][endpoint.host, endpoint.port] = None
        hosts[index].add(endpoint.host)
        counts[index] += 1
    return [
        ListedShard(tuple(p), len(h), count)
        for p, h, count in zip(pairs, hosts, counts, strict=True)
    ]
