"""One scan's pacing: which budget an endpoint takes, how long its connects wait, and
which hosts it writes off.

Two budgets (see docs/timing.md for the numbers and why):

* **load**: ``limits.concurrency`` endpoints in conversation at once and ``limits.rate``
  new connections a second to hosts that have answered; this, with the per-host limits
  (:mod:`exposcan.limits`), is what protects clinical systems;
* **first contact**: ``limits.first_contact_concurrency`` endpoints at once whose host
  has never answered, and ``limits.first_contact_rate`` SYNs a second to such hosts
  (:meth:`~exposcan.limits.LocalGate.first_contact`). A first contact that is answered
  is handed to the load budget before its first byte (:meth:`Ticket.established`: a load
  slot, then a grant of the global rate), so conversations never outnumber
  ``concurrency`` nor start faster than ``rate``. While an answered first contact waits
  for its load slot, no new first contact starts: on a dense block the first-contact
  budget shrinks to the load's instead of piling up idle connections.

A user who sets ``concurrency`` gets it as a ceiling on every endpoint in flight (no
first-contact pool); one who sets ``rate`` gets it on every new connection (the gate).

Each endpoint's :class:`Ticket` is also its connect policy (:mod:`exposcan.connecting`):
the connect timeout from the scan's round trips (:class:`~exposcan.rtt.RttTable`), and
every answer recorded as a round-trip sample and as the host having answered
(:class:`~exposcan.reach.Reachability`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from exposcan.limits import Gate
from exposcan.options import ScanOptions
from exposcan.reach import Reachability
from exposcan.rtt import RttTable

__all__ = ["Pacing", "Ticket"]


class Pacing:
    def __init__(self, options: ScanOptions, gate: Gate) -> None:
        limits = options.limits
        self.gate = gate
        #: None when adaptive timeouts are off: every connect waits its own timeout
        self.rtt: RttTable | None = RttTable() if options.adaptive_timeouts else None
        self.reach = Reachability(options.silent_after)
        self._load = asyncio.Semaphore(limits.concurrency)
        self._first: asyncio.Semaphore | None = (
            None
            if limits.concurrency_explicit
            else asyncio.Semaphore(limits.first_contact_concurrency)
        )
        self._calm = asyncio.Event()  # set while no answered first contact waits for a slot
        self._calm.set()
        self._waiting = 0
        self._held = 0
        self._all_back = asyncio.Event()
        self._all_back.set()
        # A gate of another kind (shared between processes) may not split its rates.
        self._split_rate = hasattr(gate, "first_contact") and hasattr(gate, "converted")
        # A gate that records grants where the SYN leaves (LocalGate.issued).
        self._issued: Callable[[str], None] | None = getattr(gate, "issued", None)

    async def admit(self, host: str) -> Ticket:
        """A slot for an endpoint of ``host``: first contact if it never answered."""
        if self._first is not None and not self.reach.has_answered(host):
            await self._calm.wait()
            await self._first.acquire()
            ticket = Ticket(self, host, first=True)
        else:
            await self._load.acquire()
            ticket = Ticket(self, host, first=False)
        self._held += 1
        self._all_back.clear()
        return ticket

    async def drained(self) -> None:
        """Until every ticket has been released."""
        await self._all_back.wait()

    def _released(self) -> None:
        self._held -= 1
        if not self._held:
            self._all_back.set()


class Ticket:
    """One endpoint's slot, its permits, and its connect policy."""

    __slots__ = ("_first_permit", "_pacing", "_permits", "_released", "first", "host")

    def __init__(self, pacing: Pacing, host: str, *, first: bool) -> None:
        self._pacing, self.host, self.first = pacing, host, first
        self._permits = 0
        self._first_permit = False  # the last permit came from the first-contact budget
        self._released = False

    @property
    def reach(self) -> Reachability:
        """The scan's record of which hosts answered."""
        return self._pacing.reach

    async def permit(self) -> None:
        """Before each new connection of the endpoint."""
        pacing = self._pacing
        if self.first and self._permits:
            await self._convert()  # a second connection: the endpoint is talking
        self._permits += 1
        if pacing._split_rate and not pacing.reach.has_answered(self.host):
            await pacing.gate.first_contact(self.host)  # type: ignore[attr-defined]
            self._first_permit = True
        else:
            await pacing.gate.permit(self.host)
            self._first_permit = False

    # -- exposcan.connecting.ConnectPolicy ------------------------------------------

    def connect_timeout(self, host: str, ceiling: float) -> float:
        table = self._pacing.rtt
        return ceiling if table is None else table.timeout(host, ceiling)

    def issued(self, host: str) -> None:
        issued = self._pacing._issued
        if issued is not None:
            issued(host)

    def answered(self, host: str, rtt: float) -> None:
        pacing = self._pacing
        pacing.reach.answered(host)
        if pacing.rtt is not None:
            pacing.rtt.answered(host, rtt)

    async def established(self, host: str) -> None:
        await self._convert()
        if self._first_permit:
            self._first_permit = False
            await self._pacing.gate.converted(host)  # type: ignore[attr-defined]

    # ---------------------------------------------------------------------------------

    async def _convert(self) -> None:
        """From the first-contact pool to a load slot (waiting for one if need be)."""
        if not self.first:
            return
        pacing = self._pacing
        assert pacing._first is not None
        pacing._waiting += 1
        pacing._calm.clear()
        try:
            await pacing._load.acquire()
        finally:
            pacing._waiting -= 1
            if not pacing._waiting:
                pacing._calm.set()
        self.first = False
        pacing._first.release()

    def release(self) -> None:
        """Give the slot back (once; the engine does when the result has been taken)."""
        if self._released:
            return
        self._released = True
        pacing = self._pacing
        if self.first:
            assert pacing._first is not None
            pacing._first.release()
        else:
            pacing._load.release()
        pacing._released()
