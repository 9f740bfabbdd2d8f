"""Connect timeouts that follow the round trips a scan measures (pure: given the samples).

A connect that gets an answer, a SYN-ACK (the connection opens) or a RST (refused), took
one round trip; its duration is a sample of the path to that host and its network. The
timeout for the next connect there is the smoothed round trip plus four deviations
(RFC 6298 section 2, the estimator TCP and nmap's ``timing.cc`` use: ``srtt + 4·rttvar``),
clamped between a floor and a ceiling:

* **ceiling**: the connect timeout the caller configured (3 s by default): an adaptive
  timeout only ever shortens a wait, never lengthens one past what the user allowed;
* **floor** (:data:`FLOOR_S`, 0.5 s): the shortest wait for any address, whatever its
  network measured. Loopback and a LAN measure well under a millisecond, and a single
  slow answer (an embedded modality's TCP stack under load, a firewall's connection-table
  lookup, our own event loop busy with a thousand sockets) must not be lost to a timeout
  of a few milliseconds. Half a second is above every terrestrial round trip (the far
  side of the planet is ~0.3 s) and five times nmap's own minimum (100 ms), which nmap
  can afford because it retransmits and we, with a kernel connect, get one SYN;
* **initial** (:data:`INITIAL_S`, 1 s): an address whose host and network have not
  answered yet. This is nmap's ``--initial-rtt-timeout`` and RFC 6298's initial RTO: the
  kernel itself would retransmit the SYN at 1 s, so an answer later than that is a lost
  SYN or a path slower than a geostationary link (~0.6 s), neither of which a longer
  wait would serve on a block where most addresses never answer.

A far, slow site keeps a long timeout because its own answers say so: samples of 1.2 s
there give ``srtt + 4·rttvar`` near the ceiling. Estimates are per scan (nothing carried
between runs), per host when the host has answered, else per network (:func:`network_of`:
the /24 of an IPv4 address, the /64 of an IPv6 one), and bounded in number.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections import OrderedDict
from dataclasses import dataclass

__all__ = [
    "FLOOR_S",
    "INITIAL_S",
    "Estimate",
    "RttTable",
    "network_of",
]

#: The shortest connect timeout for any address (see the module's docstring).
FLOOR_S = 0.5
#: The connect timeout for an address whose host and network have not answered yet.
INITIAL_S = 1.0
#: RFC 6298's gains (alpha = 1/8, beta = 1/4) and its K = 4.
_ALPHA, _BETA, _K = 0.125, 0.25, 4.0
#: Estimates kept (hosts and networks each): past this the least recently used go, and an
#: address without an estimate is only waited for longer (the initial timeout), never less.
_KEPT = 65_536


@dataclass(slots=True)
class Estimate:
    """One path's smoothed round trip and its deviation, in seconds."""

    srtt: float
    rttvar: float
    samples: int = 1

    @classmethod
    def first(cls, rtt: float) -> Estimate:
        # RFC 6298 (2.2): SRTT <- R, RTTVAR <- R/2.
        return cls(rtt, rtt / 2)

    def add(self, rtt: float) -> None:
        # RFC 6298 (2.3): RTTVAR first, from the old SRTT.
        self.rttvar = (1 - _BETA) * self.rttvar + _BETA * abs(self.srtt - rtt)
        self.srtt = (1 - _ALPHA) * self.srtt + _ALPHA * rtt
        self.samples += 1

    @property
    def timeout(self) -> float:
        return self.srtt + _K * self.rttvar


_NETWORK_4 = (1 << 32) - 1 - 0xFF
_NETWORK_6 = (1 << 128) - (1 << 64)


# Asked at every connect and every answer, and parsing a network string per call
# was most of this module's CPU (issue 13): cached, an IPv4 address read by the C
# parser (inet_pton takes exactly the dotted quads ipaddress takes), the prefix
# taken from the address's integer.
@functools.lru_cache(maxsize=4096)
def network_of(address: str) -> str:
    """The network an address's estimate is shared with: its /24 (IPv4) or /64 (IPv6)."""
    try:
        a, b, c, _ = socket.inet_pton(socket.AF_INET, address)
    except (OSError, ValueError):
        pass
    else:
        return f"{a}.{b}.{c}.0/24"
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return f"{ipaddress.IPv4Address(int(ip) & _NETWORK_4)}/24"
    return f"{ipaddress.IPv6Address(int(ip) & _NETWORK_6)}/64"


class RttTable:
    """Round-trip estimates of one scan, per host and per network."""

    def __init__(
        self, *, floor: float = FLOOR_S, initial: float = INITIAL_S, kept: int = _KEPT
    ) -> None:
        if not 0 < floor <= initial:
            raise ValueError(f"need 0 < floor <= initial, not {floor} and {initial}")
        self.floor, self.initial, self._kept = floor, initial, kept
        self._hosts: OrderedDict[str, Estimate] = OrderedDict()
        self._networks: OrderedDict[str, Estimate] = OrderedDict()

    def answered(self, address: str, rtt: float) -> None:
        """A SYN-ACK or a RST came back ``rtt`` seconds after the SYN."""
        rtt = max(0.0, rtt)
        self._add(self._hosts, address, rtt)
        self._add(self._networks, network_of(address), rtt)

    def _add(self, table: OrderedDict[str, Estimate], key: str, rtt: float) -> None:
        estimate = table.get(key)
        if estimate is None:
            table[key] = Estimate.first(rtt)
            if len(table) > self._kept:
                table.popitem(last=False)
        else:
            estimate.add(rtt)
            table.move_to_end(key)

    def estimate(self, address: str) -> Estimate | None:
        """The host's own estimate if it has answered, else its network's, else None."""
        return self._hosts.get(address) or self._networks.get(network_of(address))

    def timeout(self, address: str, ceiling: float) -> float:
        """How long a connect to ``address`` waits: ``srtt + 4·rttvar`` of the closest
        estimate, clamped to ``[floor, ceiling]``; the initial timeout without one. Never
        more than ``ceiling`` (the user's connect timeout), whatever else is said."""
        estimate = self.estimate(address)
        wanted = self.initial if estimate is None else max(self.floor, estimate.timeout)
        return min(ceiling, wanted)
