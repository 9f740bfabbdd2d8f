"""The set of hosts a scan may touch: sorted, disjoint integer intervals per family.

Target expansion is arithmetic: a ``/8`` or an IPv6 ``/64`` costs one interval,
not a list of addresses, and :class:`TargetSet` yields hosts lazily. Membership
is judged on the address a connection reaches (:func:`exposcan.scope.reach.reached_address`),
so the engine's last check before connecting agrees with the scope.
:meth:`TargetSet.shard` splits a set by host for scans in several processes or
machines (:mod:`exposcan.scope.shards`), still lazily.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from exposcan.errors import OptionError
from exposcan.scope.entries import address_text
from exposcan.scope.reach import reached_address
from exposcan.scope.shards import count_in, shard_of, values_in

__all__ = ["Host", "TargetSet"]

Interval = tuple[int, int]  # half-open [start, stop)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sort and merge overlapping or adjacent half-open intervals."""
    merged: list[Interval] = []
    for start, stop in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if stop > merged[-1][1]:
                merged[-1] = (merged[-1][0], stop)
        else:
            merged.append((start, stop))
    return merged


def subtract(keep: list[Interval], drop: list[Interval]) -> list[Interval]:
    """``keep`` minus ``drop``; both sorted and disjoint."""
    result: list[Interval] = []
    j = 0
    for start, stop in keep:
        while j < len(drop) and drop[j][1] <= start:
            j += 1
        k = j
        while k < len(drop) and drop[k][0] < stop:
            if drop[k][0] > start:
                result.append((start, drop[k][0]))
            start = max(start, drop[k][1])
            if start >= stop:
                break
            k += 1
        if start < stop:
            result.append((start, stop))
    return result


def _covering(starts: list[int], stops: list[int], value: int) -> int | None:
    """Index of the interval containing ``value``, if any."""
    index = bisect.bisect_right(starts, value) - 1
    if index >= 0 and value < stops[index]:
        return index
    return None


def first_outside(intervals: list[Interval], start: int, stop: int) -> int | None:
    """The first value of [start, stop) that no interval covers, or None if all are covered.

    ``intervals`` is merged (adjacent intervals joined), so [start, stop) is
    covered exactly when a single interval covers it.
    """
    starts = [s for s, _ in intervals]
    stops = [e for _, e in intervals]
    index = _covering(starts, stops, start)
    if index is None:
        return start
    if stop <= stops[index]:
        return None
    return stops[index]


class Family:
    """Sorted, disjoint intervals of one address family, with fast membership."""

    __slots__ = ("intervals", "starts", "stops")

    def __init__(self, intervals: Iterable[Interval]) -> None:
        self.intervals = merge(intervals)
        self.starts = [start for start, _ in self.intervals]
        self.stops = [stop for _, stop in self.intervals]

    def __contains__(self, value: int) -> bool:
        return _covering(self.starts, self.stops, value) is not None

    @property
    def count(self) -> int:
        return sum(stop - start for start, stop in self.intervals)


@dataclass(frozen=True, slots=True)
class Host:
    """One address to probe, and the hostname it came from, if any."""

    address: str
    hostname: str | None = None


class TargetSet:
    """Lazily expandable set of hosts (never a list of every address in memory).

    Iteration yields each distinct address once: IPv4 first, then IPv6, in
    ascending order within a family. ``count`` is exact, computed by arithmetic
    (it may be far larger than ``sys.maxsize`` for IPv6, so there is no
    ``__len__``). ``address in targets`` is true only for a literal address whose
    reached address is in the set and is a scannable destination: never for a
    hostname (a name would be resolved again, and could answer differently), a
    zone id, ``0.0.0.0`` or any other refused form, and ``::ffff:a.b.c.d`` is
    judged as ``a.b.c.d``.

    :meth:`shard` gives one of ``n`` disjoint parts, by host. A shard is a
    ``TargetSet`` too (iteration, ``in``, ``count``, ``hostname`` all judge only its
    own hosts) and costs no more than its parent: no address is stored.
    """

    __slots__ = ("_labels", "_shard", "_v4", "_v6", "count")

    def __init__(
        self,
        v4: Iterable[Interval],
        v6: Iterable[Interval],
        labels: Mapping[tuple[int, int], str] | None = None,
    ) -> None:
        self._v4 = Family(v4)
        self._v6 = Family(v6)
        # (version, address) -> hostname, only for addresses in the set.
        self._labels: dict[tuple[int, int], str] = {
            key: name
            for key, name in (labels or {}).items()
            if key[1] in (self._v4 if key[0] == 4 else self._v6)
        }
        #: (index, n) of a shard, None for a whole set
        self._shard: tuple[int, int] | None = None
        self.count: int = self._v4.count + self._v6.count

    @property
    def sharding(self) -> tuple[int, int] | None:
        """``(index, n)`` for a shard made by :meth:`shard`, else None."""
        return self._shard

    def shard(self, index: int, n: int) -> TargetSet:
        """Shard ``index`` of ``n`` (``0 <= index < n``): every host of the set is in
        exactly one of the ``n`` shards, whichever process or machine asks
        (:mod:`exposcan.scope.shards`), and a host is all its ports, so endpoints split
        by host. Same order as the whole set, without the other shards' hosts.

        Cost: building it and its ``count`` take two BLAKE2b hashes per interval of
        the set (a /8 is one interval); iterating takes one per host yielded (about a
        microsecond) plus at most two per interval; ``in`` takes one. Memory is the
        set's own: intervals, not addresses. A shard cannot be sharded again: ask the
        whole set for ``n * m`` shards instead.
        """
        for name, value in (("shard index", index), ("shard count", n)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise OptionError(f"{name} must be a whole number, not {value!r}")
        if not 1 <= n <= 1 << 32:
            raise OptionError(f"shard count must be 1 to {1 << 32}, not {n}")
        if not 0 <= index < n:
            raise OptionError(f"shard index must be 0 to {n - 1}, not {index}")
        if self._shard is not None:
            raise OptionError("a shard cannot be sharded again: shard the whole set")
        part = object.__new__(TargetSet)
        part._v4, part._v6, part._labels = self._v4, self._v6, self._labels
        part._shard = (index, n)
        part.count = sum(
            count_in(version, start, stop, index, n)
            for version, family in ((4, self._v4), (6, self._v6))
            for start, stop in family.intervals
        )
        return part

    def _values(self, version: int, start: int, stop: int) -> Iterable[int]:
        if self._shard is None:
            return range(start, stop)
        return values_in(version, start, stop, *self._shard)

    def __iter__(self) -> Iterator[Host]:
        labels = self._labels
        v4, v6 = ipaddress.IPv4Address, ipaddress.IPv6Address
        for start, stop in self._v4.intervals:
            for value in self._values(4, start, stop):
                yield Host(str(v4(value)), labels.get((4, value)))
        for start, stop in self._v6.intervals:
            for value in self._values(6, start, stop):
                yield Host(str(v6(value)), labels.get((6, value)))

    def _has(self, version: int, value: int) -> bool:
        if value not in (self._v4 if version == 4 else self._v6):
            return False
        return self._shard is None or shard_of(version, value, self._shard[1]) == self._shard[0]

    def __contains__(self, address: object) -> bool:
        reached = reached_address(address)
        return reached is not None and self._has(*reached)

    def __bool__(self) -> bool:
        return self.count > 0

    def hostname(self, address: str) -> str | None:
        """The hostname an address in the set came from, if any (judged, like ``in``,
        on the address reached)."""
        reached = reached_address(address)
        if reached is None or not self._has(*reached):
            return None
        return self._labels.get(reached)

    def intervals(self) -> Iterator[tuple[str, str]]:
        """The set as (first, last) address pairs, inclusive, in iteration order (for
        a shard: the ranges it draws its hosts from, its whole set's)."""
        for version, family in ((4, self._v4), (6, self._v6)):
            for start, stop in family.intervals:
                yield address_text(version, start), address_text(version, stop - 1)

    def __repr__(self) -> str:
        shard = f" shard={self._shard[0]}/{self._shard[1]}" if self._shard else ""
        return (
            f"<TargetSet count={self.count} ranges={len(self._v4.intervals)}+"
            f"{len(self._v6.intervals)}{shard}>"
        )
