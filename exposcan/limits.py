"""Politeness: global and per-host connection rates, and one association per host.

The engine asks a :class:`Gate` twice: for a *host slot* (held for the whole
endpoint: one association per host at a time, by default) and, inside it, for a
*permit* before every new connection. :class:`LocalGate` is the gate of one
process; a gate shared by several processes or machines implements the same two
calls and is handed to the engine instead.

A connection to an address that has never answered may instead ask for a
*first-contact* permit (:meth:`LocalGate.first_contact`): its own, higher budget, then
:meth:`LocalGate.converted` once the address answers, before the conversation starts.

Rates are exact sliding windows (:class:`SlidingWindow`): never more than
``count`` grants in any ``period``, each counted at the instant its connection starts
(the SYNs on the wire, not the wake-ups of a loaded loop, are what a rate promises).
Waiting is free however many endpoints queue: a waiter awaits a future, and each
window keeps at most one timer, set for the instant its oldest grant leaves the
window. Waiters are served first come, first served; a cancelled waiter takes
nothing, and a permit cancelled after its grant hands it back.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import math
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from exposcan.options import Limits

__all__ = ["WIRE_GUARD_S", "Gate", "LocalGate", "SlidingWindow", "window_for_rate"]


class Gate(Protocol):
    """What the engine needs from the politeness limits.

    The engine neither opens nor closes a gate it is given: one that needs a
    lifetime (a connection to whatever coordinates several processes) is opened
    and closed by its maker, and may serve several scans at once.
    """

    def host(self, address: str) -> AbstractAsyncContextManager[None]:
        """Hold one of ``address``'s association slots while the block runs."""
        ...

    async def permit(self, address: str) -> None:
        """Return when a new connection to ``address`` may be opened. Called inside
        ``host(address)``; cancelling it takes nothing from any limit."""
        ...


#: What a window adds to its period. A DICOM connect's grants are recorded again once its
#: connect syscall has returned (:meth:`LocalGate.issued`), after its SYN, so a stall
#: between permit and SYN cannot make two SYNs leave closer than a period; a web
#: connect's stay recorded at its permit. Counted on the wire with kernel time stamps
#: (benchmarks/sparse.py), exact one-second windows recorded at the permit let 421 SYNs
#: into a second against 420; the guard, 1 % of the rate, covers what is left: a web
#: connect's stall and the difference between the loop's clock and the capture's.
WIRE_GUARD_S = 0.01


def window_for_rate(rate: float) -> tuple[int, float]:
    """``(count, period)`` for ``rate`` per second: whole grants per second, or one
    grant per ``1/rate`` seconds when the rate is below 1."""
    if rate >= 1:
        return int(rate), 1.0
    return 1, 1.0 / rate


class SlidingWindow:
    """At most ``count`` grants in any half-open interval of ``period`` seconds.

    A grant counts from the instant it is given until it is *used*, and from then on
    is recorded at the instant of its use: the instant its connection starts, not the
    instant a busy loop woke its waiter (which can be long before the waiter runs, and
    unevenly so). The arithmetic (:meth:`ready_at`, :meth:`take`) is pure: it is given
    the time. :meth:`hold` and :meth:`acquire` drive it on the running loop's clock,
    FIFO.
    """

    __slots__ = ("_grants", "_held", "_timer", "_waiters", "count", "period")

    def __init__(self, count: int, period: float) -> None:
        if count < 1 or not period > 0:
            raise ValueError(f"a window needs count >= 1 and period > 0, not {count}/{period}")
        self.count = count
        self.period = period
        self._grants: deque[float] = deque()  # instants of the used grants still in the window
        self._held = 0  # grants given and not yet used: they fill the window meanwhile
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def for_rate(cls, rate: float) -> SlidingWindow:
        """The window of ``rate`` per second, its period :data:`WIRE_GUARD_S` longer."""
        count, period = window_for_rate(rate)
        return cls(count, period + WIRE_GUARD_S)

    def _expire(self, now: float) -> None:
        # A grant used at t counts for [t, t + period): at t + period it is gone.
        while self._grants and self._grants[0] + self.period <= now:
            self._grants.popleft()

    def ready_at(self, now: float) -> float:
        """The first instant from ``now`` on when a grant is possible (``now`` if it is
        now): when enough used grants have left the window; never while held grants
        alone fill it (``math.inf``: their use or return decides)."""
        self._expire(now)
        free = self.count - self._held
        if len(self._grants) < free:
            return now
        if free <= 0:
            return math.inf
        return self._grants[-free] + self.period

    def take(self, now: float) -> None:
        """Record a grant used at ``now``; only when :meth:`ready_at` says ``now``."""
        if self.ready_at(now) > now:
            raise RuntimeError("sliding window is full")
        self._grants.append(now)

    def refund(self, instant: float) -> None:
        """Forget a used grant whose connection was never opened."""
        with contextlib.suppress(ValueError):
            self._grants.remove(instant)
        self._serve()

    def idle(self, now: float) -> bool:
        """No grant in the window and nobody waiting: the window can be dropped."""
        self._expire(now)
        return not self._grants and not self._held and not self._waiters

    async def hold(self) -> None:
        """Wait for a grant, first come first served, and hold it until :meth:`use` or
        :meth:`unhold`. Cancelled while waiting, it takes nothing."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not self._waiters and self.ready_at(now) == now:
            self._held += 1
            return
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        self._serve()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.unhold()  # granted, but cancelled before it could run
            raise

    def use(self) -> float:
        """A held grant is used now (its connection starts): recorded at this instant,
        which is returned (for :meth:`refund`)."""
        now = asyncio.get_running_loop().time()
        self._release_held()
        self._expire(now)
        self._grants.append(now)
        self._serve()
        return now

    def unhold(self) -> None:
        """Give a held grant back unused."""
        self._release_held()
        self._serve()

    def restamp(self, instant: float, now: float) -> None:
        """A used grant recorded at ``instant`` really started at ``now`` (later): record
        it there. Moving a grant later never frees room sooner, so nobody is served."""
        if now <= instant:
            return
        try:
            self._grants.remove(instant)
        except ValueError:  # already out of the window (or given back)
            return
        bisect.insort(self._grants, now)

    def _release_held(self) -> None:
        if self._held < 1:
            raise RuntimeError("no grant is held")
        self._held -= 1

    async def acquire(self) -> float:
        """:meth:`hold` then :meth:`use` at once; returns the grant's instant."""
        await self.hold()
        return self.use()

    def _serve(self) -> None:
        """Grant the waiters the window allows now; set one timer for the rest (none
        while held grants fill the window: their use or return serves again)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._waiters:
            return
        loop = asyncio.get_running_loop()
        while self._waiters:
            if self._waiters[0].done():  # cancelled while it waited
                self._waiters.popleft()
                continue
            now = loop.time()
            ready = self.ready_at(now)
            if ready == math.inf:
                return
            if ready > now:
                # A timer may fire a little early (the loop's clock resolution):
                # _serve then just sets another one.
                self._timer = loop.call_at(ready, self._serve)
                return
            self._held += 1
            self._waiters.popleft().set_result(None)


async def _hold_all(windows: tuple[SlidingWindow, ...]) -> list[tuple[SlidingWindow, float]]:
    """A grant of every window, in the order given, then all used at one instant: the
    instant the caller's connection starts (it opens it before it awaits anything), each
    with the instant it was recorded at. Cancelled on the way, it gives back what it
    held."""
    held: list[SlidingWindow] = []
    try:
        for window in windows:
            await window.hold()
            held.append(window)
    except asyncio.CancelledError:
        for window in held:
            window.unhold()
        raise
    return [(window, window.use()) for window in windows]


class _HostSlot:
    __slots__ = ("pending", "semaphore", "users", "window")

    def __init__(self, limits: Limits) -> None:
        self.semaphore = asyncio.Semaphore(limits.per_host_concurrency)
        self.window = SlidingWindow.for_rate(limits.per_host_rate)
        self.users = 0
        #: the grants of the host's last permit, until its SYN is out (LocalGate.issued)
        self.pending: list[tuple[SlidingWindow, float]] = []


class LocalGate:
    """The gate of one process: the global rate, and per host its rate and its
    association slots (``per_host_concurrency``, one by default).

    A host's state outlives its slot for as long as its rate window holds a grant
    (the next port of the same host may come soon), then is dropped: hosts kept
    are those in use plus those used within the last window.
    """

    def __init__(
        self,
        limits: Limits,
        *,
        global_window: SlidingWindow | None = None,
        first_window: SlidingWindow | None = None,
    ) -> None:
        """``global_window``: the window the global rate is kept in, if not one of its
        own for ``limits.rate`` (one shared by several scans of this process);
        ``first_window``: the same for ``limits.first_contact_rate``."""
        self._limits = limits
        self._global = global_window or SlidingWindow.for_rate(limits.rate)
        self._first = first_window or SlidingWindow.for_rate(limits.first_contact_rate)
        self._hosts: OrderedDict[str, _HostSlot] = OrderedDict()
        #: permits granted so far
        self.granted = 0

    @contextlib.asynccontextmanager
    async def host(self, address: str) -> AsyncIterator[None]:
        """Hold one of the host's association slots."""
        slot = self._hosts.get(address)
        if slot is None:
            self._evict_idle()
            slot = self._hosts[address] = _HostSlot(self._limits)
        self._hosts.move_to_end(address)
        slot.users += 1
        try:
            async with slot.semaphore:
                yield
        finally:
            slot.users -= 1

    async def permit(self, address: str) -> None:
        """Wait until a new connection to ``address`` is allowed. Call inside ``host()``,
        and open the connection before awaiting anything else: the grants are recorded
        at the instant this returns."""
        slot = self._hosts[address]
        slot.pending = await _hold_all((slot.window, self._global))
        self.granted += 1

    async def first_contact(self, address: str) -> None:
        """:meth:`permit` for an address that has never answered: the host's rate, then
        the first-contact budget instead of the global rate. A global rate the user chose
        (``limits.rate_explicit``) is the rate of every new connection, this one too: it
        is taken instead of the first-contact budget (``--rate 2000`` on a sparse /16
        means 2,000 SYNs a second), or as well when that budget was chosen too. Call
        inside ``host()``, as :meth:`permit`."""
        limits = self._limits
        slot = self._hosts[address]
        windows = [slot.window]
        if not limits.rate_explicit or limits.first_contact_rate_explicit:
            windows.append(self._first)
        if limits.rate_explicit:
            windows.append(self._global)
        slot.pending = await _hold_all(tuple(windows))
        self.granted += 1

    def issued(self, address: str) -> None:
        """The SYN of the connection ``address``'s last permit was for has left (the
        connect syscall returned): its grants are recorded at this instant, which is
        after the SYN, so no window can count it early, whatever delayed it after the
        permit (a garbage collection, the process descheduled). A permit whose
        connection never says so (a reused web connection) stays recorded at its use."""
        slot = self._hosts.get(address)
        if slot is None or not slot.pending:
            return
        now = asyncio.get_running_loop().time()
        for window, instant in slot.pending:
            window.restamp(instant, now)
        slot.pending = []

    async def converted(self, address: str) -> None:
        """A first contact to ``address`` was answered: its conversation takes a grant of
        the global rate before its first byte (so conversations still start at most
        ``rate`` a second), unless its permit already took one."""
        if not self._limits.rate_explicit:
            await self._global.acquire()

    def _evict_idle(self) -> None:
        # Oldest first; stop at the first host still in use or inside its window.
        now = asyncio.get_running_loop().time()  # the clock the windows keep
        while self._hosts:
            address, slot = next(iter(self._hosts.items()))
            if slot.users or not slot.window.idle(now):
                break
            del self._hosts[address]
