"""Which of ``n`` shards an address belongs to: arithmetic, stable, no coordination.

Addresses (integers of one family) are cut into blocks of ``n`` consecutive
values. Each block is given a pseudo-random rotation by a keyed BLAKE2b
(RFC 7693) of its family and block number, packed big-endian, and an address
belongs to shard ``(rotation + value) mod n``. So:

* each block holds exactly one address of every shard: a shard's size is
  arithmetic (a range of ``k`` blocks holds ``k`` of its hosts, plus at most one
  in each partial block at its ends), and its hosts are found with one hash per
  host yielded, never one per address of the whole set;
* which position of a block a shard gets is pseudo-random, so no shard collects
  every ``.0`` or every ``.1`` of a network;
* nothing depends on the process: no ``hash()`` (salted per process), no
  ``random``; BLAKE2b is the same in every Python version and on every machine.

ZMap shards the same way in spirit (``src/shard.h``, ``shard_init``: arithmetic, disjoint, no
coordination), walking a cyclic group instead of blocks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

__all__ = ["count_in", "shard_of", "values_in"]

_PERSON = b"exposcan.shard.1"  # BLAKE2b personalisation: change it and every shard moves


def rotation(version: int, block: int) -> int:
    """The block's pseudo-random 64-bit rotation."""
    packed = bytes((version,)) + block.to_bytes(16, "big")
    digest = hashlib.blake2b(packed, digest_size=8, person=_PERSON).digest()
    return int.from_bytes(digest, "big")


def shard_of(version: int, value: int, n: int) -> int:
    """The shard (0 to ``n - 1``) of address ``value`` of IP ``version``."""
    if n == 1:
        return 0
    return (rotation(version, value // n) + value) % n


def _member(version: int, block: int, index: int, n: int) -> int:
    """The one address of ``block`` in shard ``index``: (rotation + value) = index mod n."""
    return block * n + (index - rotation(version, block)) % n


def values_in(version: int, start: int, stop: int, index: int, n: int) -> Iterator[int]:
    """The addresses of [start, stop) in shard ``index``, ascending."""
    if n == 1:
        yield from range(start, stop)
        return
    for block in range(start // n, (stop - 1) // n + 1):
        value = _member(version, block, index, n)
        if start <= value < stop:
            yield value


def count_in(version: int, start: int, stop: int, index: int, n: int) -> int:
    """How many addresses of [start, stop) are in shard ``index``: two hashes at most."""
    if stop <= start:
        return 0
    if n == 1:
        return stop - start
    first, last = start // n, (stop - 1) // n
    if first == last:
        return int(start <= _member(version, first, index, n) < stop)
    # Blocks strictly between the end blocks are whole: one address each.
    return (
        (last - first - 1)
        + int(_member(version, first, index, n) >= start)
        + int(_member(version, last, index, n) < stop)
    )
