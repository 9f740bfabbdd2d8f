"""Reached addresses: the address a connection to an entry reaches, and which are refused.

A scope is about hosts, so every decision is made on the address the kernel will
connect to, not on the text as written (:mod:`exposcan.scope.entries` reads the
text). The same rules hold for scope includes, command-line targets and the
addresses a hostname resolves to; excludes follow them too, with the differences
said below (an exclude can only remove).

Checked as the address reached:

* IPv4-mapped ``::ffff:a.b.c.d`` (RFC 4291 §2.5.5.2): an AF_INET6 socket connects
  over IPv4 to ``a.b.c.d``, so it is read as ``a.b.c.d`` everywhere (include,
  exclude, target, resolved address): an exclude of ``127.0.0.0/8`` also keeps out
  ``::ffff:127.0.0.1``, and the host is scanned once, as IPv4.

Refused as a destination (in includes, targets and resolved addresses), because the
host reached is not the one written, or no single host at all:

* the unspecified addresses ``0.0.0.0`` and ``::``: Linux delivers a connection to
  them to this machine itself, which is how a DNS sinkhole's answer used to reach the
  scanner's own loopback; the rest of ``0.0.0.0/8`` is "this network", never a
  destination (RFC 1122 §3.2.1.3);
* multicast (``224.0.0.0/4``, ``ff00::/8``) and the limited broadcast
  ``255.255.255.255`` (RFC 919);
* IPv4-compatible ``::a.b.c.d`` (deprecated, RFC 4291 §2.5.5.1; the kernel's sit
  driver tunnels it to ``a.b.c.d``), 6to4 ``2002::/16`` (RFC 3056, a relay or tunnel
  to the embedded IPv4 address), NAT64 ``64:ff9b::/96`` (RFC 6052) and
  ``64:ff9b:1::/48`` (RFC 8215; a translator connects to the embedded IPv4 address)
  and Teredo ``2001::/32`` (RFC 4380, through a relay): the message names the IPv4
  address to write instead where the form embeds one;
* IPv6 link-local ``fe80::/10``: the same address is a different host on every link.

A CIDR include or target that reaches any refused address is refused whole, naming
the first such address. Not special: loopback (``127.0.0.0/8``, ``::1``: two
addresses of this machine, so an exclude of one does not exclude the other), IPv4
link-local (``169.254.0.0/16``) and ``240.0.0.0/4`` (reserved, RFC 1112 §4, but
routed like unicast by Linux) are reached as written; a subnet's (directed)
broadcast address is scanned like any other, because exposcan cannot know a remote
network's prefix, the kernel refuses a TCP connection to a broadcast route it knows
(``tcp_v4_connect``: ENETUNREACH) and routers drop directed broadcasts by default
(RFC 2644).

Excludes take every form, refused ones included (excluding more is always safe), and
win against the reached address: besides the IPv4-mapped reading, an exclude written
as IPv4-compatible, NAT64 (``64:ff9b::/96``) or 6to4 also excludes the IPv4
addresses it embeds (so ``exclude = ["2002::/16"]`` excludes all of IPv4).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Final

from exposcan.errors import UserError
from exposcan.scope.entries import V4_SIZE, Entry, address_text

__all__ = [
    "Address",
    "Piece",
    "Unreachable",
    "exclude_pieces",
    "parse_answer",
    "reach",
    "reach_answer",
    "reach_literal",
    "reached_address",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
#: (version, start, stop): a half-open interval of one address family
Piece = tuple[int, int, int]

_MAPPED: Final = 0xFFFF << 32  # ::ffff:0.0.0.0
_NAT64: Final = 0x0064FF9B << 96  # 64:ff9b::
_6TO4: Final = 0x2002 << 112  # 2002::


class Unreachable(ValueError):
    """An address (first of an interval) that is not scanned, and why (a noun phrase)."""

    def __init__(self, version: int, value: int, reason: str) -> None:
        super().__init__(reason)
        self.version = version
        self.value = value
        self.reason = reason

    @property
    def address(self) -> str:
        return address_text(self.version, self.value)


def _embedded(value: int) -> str:
    return str(ipaddress.IPv4Address(value & (V4_SIZE - 1)))


def _6to4_embedded(value: int) -> str:
    return str(ipaddress.IPv4Address((value >> 80) & (V4_SIZE - 1)))


_Reason = Callable[[int], str]
_UNSPECIFIED: Final = "the unspecified address, which the kernel delivers to this machine itself"
_MULTICAST: Final = "a multicast address ({}), which no TCP peer owns"

#: Refused destinations per family: sorted, disjoint (start, stop, reason for a value).
_REFUSED: Final[dict[int, tuple[tuple[int, int, _Reason], ...]]] = {
    4: (
        (0, 1, lambda v: _UNSPECIFIED),
        (
            1,
            1 << 24,
            lambda v: (
                'an address of 0.0.0.0/8 ("this network"), never a destination (RFC 1122 §3.2.1.3)'
            ),
        ),
        (224 << 24, 240 << 24, lambda v: _MULTICAST.format("224.0.0.0/4")),
        (V4_SIZE - 1, V4_SIZE, lambda v: "the limited broadcast address (RFC 919)"),
    ),
    6: (
        (0, 1, lambda v: _UNSPECIFIED),
        (
            2,
            V4_SIZE,
            lambda v: (
                f"an IPv4-compatible address (deprecated, RFC 4291 §2.5.5.1) that the "
                f"kernel may tunnel to {_embedded(v)}; write {_embedded(v)}"
            ),
        ),
        (
            _NAT64,
            _NAT64 + V4_SIZE,
            lambda v: (
                f"a NAT64 address (RFC 6052) that a translator turns into "
                f"{_embedded(v)}; write {_embedded(v)}"
            ),
        ),
        (
            (_NAT64 | 1 << 80),
            (_NAT64 | 1 << 80) + (1 << 80),
            lambda v: (
                "a local-use NAT64 address (RFC 8215) that a translator turns into an "
                "IPv4 address; write that address"
            ),
        ),
        (
            0x2001 << 112,
            (0x2001 << 112) + (1 << 96),
            lambda v: (
                "a Teredo address (RFC 4380), reached through a relay; write the host's own address"
            ),
        ),
        (
            _6TO4,
            _6TO4 + (1 << 112),
            lambda v: (
                f"a 6to4 address (RFC 3056), tunnelled to {_6to4_embedded(v)}; write "
                f"{_6to4_embedded(v)} or the host's own IPv6 address"
            ),
        ),
        (
            0xFE80 << 112,
            0xFEC0 << 112,
            lambda v: (
                "a link-local address (fe80::/10), which names a different host on every link"
            ),
        ),
        (0xFF << 120, 1 << 128, lambda v: _MULTICAST.format("ff00::/8")),
    ),
}

#: IPv6 forms that embed an IPv4 address: (start, stop, shift of the IPv4 bits).
_EMBEDDING: Final = (
    (0, V4_SIZE, 0),  # IPv4-compatible
    (_NAT64, _NAT64 + V4_SIZE, 0),
    (_6TO4, _6TO4 + (1 << 112), 80),
)


def normalise(version: int, start: int, stop: int) -> list[Piece]:
    """The interval as reached: its IPv4-mapped part becomes IPv4."""
    if version == 4:
        return [(4, start, stop)]
    pieces: list[Piece] = []
    low, high = max(start, _MAPPED), min(stop, _MAPPED + V4_SIZE)
    if low >= high:
        return [(6, start, stop)]
    if start < low:
        pieces.append((6, start, low))
    pieces.append((4, low - _MAPPED, high - _MAPPED))
    if high < stop:
        pieces.append((6, high, stop))
    return pieces


def first_refused(version: int, start: int, stop: int) -> Unreachable | None:
    """The lowest address of [start, stop) that is a refused destination, if any."""
    for low, high, reason in _REFUSED[version]:
        if low < stop and high > start:
            value = max(start, low)
            return Unreachable(version, value, reason(value))
    return None


def reach(version: int, start: int, stop: int) -> list[Piece]:
    """The interval as reached, for an include or a target. Raises :class:`Unreachable`."""
    pieces = normalise(version, start, stop)
    for piece in pieces:
        refused = first_refused(*piece)
        if refused is not None:
            raise refused
    return pieces


def exclude_pieces(version: int, start: int, stop: int) -> list[Piece]:
    """What an exclude keeps out: the interval as reached, plus any IPv4 it embeds."""
    pieces = normalise(version, start, stop)
    if version == 6:
        for low, high, shift in _EMBEDDING:
            a, b = max(start, low), min(stop, high)
            if a < b:  # the embedded bits are the top ones below the prefix: monotone
                first = ((a - low) >> shift) & (V4_SIZE - 1)
                last = ((b - 1 - low) >> shift) & (V4_SIZE - 1)
                pieces.append((4, first, last + 1))
    return pieces


def parse_answer(text: str) -> Address:
    """An address a resolver returned; a zone id (``%eth0``) is dropped here and the
    address is then judged by :func:`reach` like any other. Raises ValueError."""
    return ipaddress.ip_address(text.split("%", 1)[0].strip())


def reached_address(address: object) -> tuple[int, int] | None:
    """(version, value) of the address a connection to ``address`` reaches, or None if
    it is not a literal address (a hostname, a zone id) or not a scannable destination.

    The engine's last check before connecting uses this, so it agrees with the scope.
    """
    if isinstance(address, str):
        if "%" in address:
            return None
        try:
            parsed: Address = ipaddress.ip_address(address.strip())
        except ValueError:
            return None
    elif isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
        parsed = address
    else:
        return None
    value = int(parsed)
    try:
        ((version, start, _stop),) = reach(parsed.version, value, value + 1)
    except Unreachable:
        return None
    return version, start


# --------------------------------------------------------------------------- in messages


_SINKHOLE_HINT: Final = " (a DNS sinkhole answers a blocked name so)"


def reach_literal(entry: Entry, subject: str, error: type[UserError]) -> list[Piece]:
    """The pieces a written address or CIDR reaches, or ``error`` naming why not."""
    try:
        return reach(entry.version, entry.start, entry.stop)
    except Unreachable as exc:
        if entry.is_single and exc.address == entry.text:
            raise error(f"{subject} is {exc.reason}") from None
        raise error(f"{subject} reaches {exc.address}, {exc.reason}") from None


def reach_answer(address: Address, subject: str, error: type[UserError]) -> list[Piece]:
    """The piece a resolved address reaches, or ``error`` naming why not."""
    value = int(address)
    try:
        return reach(address.version, value, value + 1)
    except Unreachable as exc:
        shown = address_text(address.version, value)
        written = shown if exc.address == shown else f"{shown} (that is {exc.address})"
        hint = _SINKHOLE_HINT if exc.value == 0 else ""
        raise error(f"{subject} resolves to {written}, {exc.reason}{hint}") from None
