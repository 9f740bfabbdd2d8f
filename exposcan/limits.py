"""Politeness: global and per-host connection rates, and one association per host.

asyncio-throttle's ``Throttler`` keeps an exact sliding window (never more than
N acquisitions in any ``period``), but every waiter polls it on a timer. So
that waiting stays cheap however many endpoints are queued, only one coroutine
ever waits on the global throttler (the gate's server task); workers wait on a
future, which costs nothing. Per-host throttlers see at most one waiter per
host slot, and hosts are few at a time (bounded by the engine's concurrency).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator

from asyncio_throttle.throttler import Throttler

from exposcan.options import Limits


def make_throttler(rate: float) -> Throttler:
    """A throttler for ``rate`` per second; rates below 1 widen the window instead."""
    if rate >= 1:
        count, period = int(rate), 1.0
    else:
        count, period = 1, 1.0 / rate
    # Poll about ten times per token interval: latency stays small, wake-ups few.
    retry = min(0.05, max(0.001, period / count / 10))
    return Throttler(rate_limit=count, period=period, retry_interval=retry)


class _HostSlot:
    __slots__ = ("last_used", "semaphore", "throttler", "users")

    def __init__(self, limits: Limits) -> None:
        self.semaphore = asyncio.Semaphore(limits.per_host_concurrency)
        self.throttler = make_throttler(limits.per_host_rate)
        self.users = 0
        self.last_used = time.monotonic()


class ConnectionGate:
    """Grants each new connection in turn, within the global and per-host limits."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._global = make_throttler(limits.rate)
        self._queue: asyncio.Queue[asyncio.Future[None]] = asyncio.Queue()
        self._hosts: OrderedDict[str, _HostSlot] = OrderedDict()
        self._server: asyncio.Task[None] | None = None
        self._window = max(1.0, 1.0 / limits.per_host_rate)
        self.granted = 0

    async def __aenter__(self) -> ConnectionGate:
        self._server = asyncio.create_task(self._serve(), name="exposcan-gate")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._server

    @contextlib.asynccontextmanager
    async def host(self, address: str) -> AsyncIterator[None]:
        """Hold one of the host's association slots (one, by default)."""
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
            slot.last_used = time.monotonic()

    async def permit(self, address: str) -> None:
        """Wait until a new connection to ``address`` is allowed. Call inside ``host()``."""
        slot = self._hosts[address]
        await slot.throttler.acquire()  # type: ignore[no-untyped-call]
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(granted)
        await granted

    async def _serve(self) -> None:
        while True:
            granted = await self._queue.get()
            if granted.done():  # its waiter was cancelled
                continue
            await self._global.acquire()  # type: ignore[no-untyped-call]
            if granted.done():
                # Cancelled while we waited: hand its token back to the window.
                self._global._task_logs.pop()
                continue
            self.granted += 1
            granted.set_result(None)

    def _evict_idle(self) -> None:
        # A host's rate window must outlive its slot (the next port of the same
        # host may come soon), but not forever: drop hosts idle for a window.
        now = time.monotonic()
        while self._hosts:
            address, slot = next(iter(self._hosts.items()))
            if slot.users or now - slot.last_used <= self._window:
                break
            del self._hosts[address]
