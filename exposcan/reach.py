"""Which hosts of a scan have answered, and which have been silent (pure bookkeeping).

**The silent-host rule.** A host whose first ``silent_after`` endpoints (2 by default)
each ended in a connect timeout, and which never answered anything (no SYN-ACK, no RST,
no byte on any port, through any probe), is written off: its remaining endpoints are
reported as ``host-silent`` without a packet sent. A host that answered anything, even
one RST, is never written off, whatever its other ports did. ``silent_after=0`` turns
the rule off (every endpoint is tried).

Why: on the blocks hospitals hand a scanner, most addresses are unused or firewalled
and drop every packet; trying each of their five DICOM ports costs five timeouts for
nothing. nmap decides that a host is up before it scans its ports (a ping sweep) and
scans no port of a host it finds down; exposcan may only send to the ports the scope
lists, so it reads the same from those ports. The cost of the rule: a host whose
firewall drops its first ports and opens a later one (only 4242, say) is missed, as
nmap misses a host whose firewall drops its discovery probes. Scans are port-major,
so a host's first ports are the plan's first ports; put the port most likely open
first, or set ``silent_after`` to 0 where firewalls are known to do that.

Bounded: past ``kept`` hosts the oldest are forgotten, and a forgotten host is only
probed again, never written off sooner.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["SILENT_AFTER", "Reachability"]

#: Silent endpoints (connect timeouts) after which a host that never answered is written off.
SILENT_AFTER = 2
_KEPT = 1 << 20


class Reachability:
    def __init__(self, silent_after: int = SILENT_AFTER, *, kept: int = _KEPT) -> None:
        if silent_after < 0:
            raise ValueError(f"silent_after must be 0 or more, not {silent_after}")
        self.silent_after = silent_after
        self._kept = kept
        #: hosts that answered (never forgotten: a few per cent of a sparse block)
        self._answered: set[str] = set()
        #: hosts that never answered: how many of their endpoints timed out connecting
        self._silent: OrderedDict[str, int] = OrderedDict()

    def answered(self, host: str) -> None:
        """``host`` answered something: from now on it is never written off."""
        self._answered.add(host)
        self._silent.pop(host, None)

    def silent(self, host: str) -> None:
        """One of ``host``'s endpoints ended in a connect timeout."""
        if host in self._answered:
            return
        self._silent[host] = self._silent.get(host, 0) + 1
        self._silent.move_to_end(host)
        if len(self._silent) > self._kept:
            self._silent.popitem(last=False)  # forgotten: probed again, never skipped sooner

    def has_answered(self, host: str) -> bool:
        return host in self._answered

    def written_off(self, host: str) -> bool:
        """Silent on its first ``silent_after`` endpoints and never answered."""
        return self.silent_after > 0 and self._silent.get(host, 0) >= self.silent_after
