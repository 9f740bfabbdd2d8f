"""The politeness limits of every worker together, kept in Redis.

* **One association per host at a time** (``per_host_concurrency`` of them): a lease per
  slot, redis-py's asyncio :class:`~redis.asyncio.lock.Lock` (``SET NX PX`` with a random
  token; released by compare-and-delete), renewed while held. A worker that dies stops
  renewing; its leases expire after ``lease_s`` and the host is free again. Each lease
  taken draws a **fencing token** (``INCR``, per host, never reused); the worker sends
  its latest one on the host with each result, so the submitter tells a second copy of
  one run's result from a second run's probe
  (:meth:`~exposcan.managed.submit.ShardedRun._again`).
* **Rates**: moving windows of the ``limits`` library in the same Redis
  (``async+redis://``): per host (whatever scan or worker connects to it) and per run
  (the scan's ``--rate``, for all its workers together). Windows are whole seconds: a
  rate below 1/s waits for the next whole second (stricter, never looser). Timestamps are
  the workers' clocks: keep them in NTP sync.

A permit is taken in the order that wastes least: wait until the host's window has room
(only this lease's holder connects to the host), take the global grant, then the host's.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from typing import Any

from exposcan.limits import window_for_rate
from exposcan.logs import get_logger
from exposcan.managed.broker import raise_lost_cancel
from exposcan.options import Limits

log = get_logger("exposcan.managed")

#: a lease not renewed for this long lapses (a dead worker's host is free again)
LEASE_S = 15.0
_POLL_S = 0.02


def limits_uri(url: str) -> str:
    """The ``limits`` storage URI of a broker URL (the same Redis)."""
    return "async+" + url


def rate_item(rate: float) -> Any:
    from limits import RateLimitItemPerSecond

    count, period = window_for_rate(rate)
    return RateLimitItemPerSecond(count, max(1, math.ceil(period - 1e-9)))


class RedisWindows:
    """The moving windows of one worker, shared by its gates, on the connection pool of
    ``redis`` (closed with it)."""

    def __init__(self, url: str, redis: Any) -> None:
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import MovingWindowRateLimiter

        self.storage = RedisStorage(
            limits_uri(url), implementation="redispy", connection_pool=redis.connection_pool
        )
        self.limiter = MovingWindowRateLimiter(self.storage)

    async def wait_room(self, item: Any, *ids: str) -> None:
        while not await self.limiter.test(item, *ids):
            await self._pause(item, ids)
        raise_lost_cancel()

    async def take(self, item: Any, *ids: str) -> None:
        while not await self.limiter.hit(item, *ids):
            await self._pause(item, ids)
        raise_lost_cancel()

    async def _pause(self, item: Any, ids: tuple[str, ...]) -> None:
        raise_lost_cancel()  # a cancel lost in Redis (broker.raise_lost_cancel)
        stats = await self.limiter.get_window_stats(item, *ids)
        raise_lost_cancel()
        wait = stats.reset_time - time.time()
        await asyncio.sleep(min(max(wait, _POLL_S), item.get_expiry()))


class RedisGate:
    """The :class:`~exposcan.limits.Gate` of one shard run: ``limits`` are its scan's,
    ``run`` names its scan's global window."""

    def __init__(
        self,
        redis: Any,
        windows: RedisWindows,
        limits: Limits,
        *,
        run: str,
        lease_s: float = LEASE_S,
    ) -> None:
        self._redis, self._windows, self._limits = redis, windows, limits
        self._run = run
        self._lease_s = lease_s
        self._host_item = rate_item(limits.per_host_rate)
        self._global_item = rate_item(limits.rate)
        self._fences: dict[str, int] = {}
        #: permits granted so far
        self.granted = 0

    def fence(self, address: str) -> int | None:
        """The fencing token of the last lease this gate took on ``address``."""
        return self._fences.get(address)

    @contextlib.asynccontextmanager
    async def host(self, address: str) -> AsyncIterator[None]:
        lock = await self._lease(address)
        try:
            self._fences[address] = int(await self._redis.incr(f"exposcan:fence:{address}"))
            renewal = asyncio.create_task(self._renew(lock, address))
            try:
                yield
            finally:
                renewal.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewal
        finally:
            with contextlib.suppress(Exception):  # lapsed already: nothing to give back
                await asyncio.shield(lock.release())

    async def _lease(self, address: str) -> Any:
        slots = [
            self._redis.lock(
                f"exposcan:lease:{address}:{slot}", timeout=self._lease_s, thread_local=False
            )
            for slot in range(self._limits.per_host_concurrency)
        ]
        while True:
            for lock in slots:
                got = await lock.acquire(blocking=False)
                try:
                    raise_lost_cancel()
                except asyncio.CancelledError:
                    if got:  # cancelled meanwhile: the host is not kept for nobody
                        with contextlib.suppress(Exception):
                            await asyncio.shield(lock.release())
                    raise
                if got:
                    return lock
            await asyncio.sleep(_POLL_S * 2)

    async def _renew(self, lock: Any, address: str) -> None:
        while True:
            await asyncio.sleep(self._lease_s / 3)
            try:
                await lock.reacquire()
            except Exception:  # lapsed (a long pause) or Redis away: say so, keep trying
                log.warning("lease_not_renewed", host=address)
            # the block is over and its cancel was lost in Redis: stop renewing, or the
            # block's exit (which awaits this task) and its endpoint never end
            raise_lost_cancel()

    async def permit(self, address: str) -> None:
        windows = self._windows
        while True:
            await windows.wait_room(self._host_item, "exposcan-host", address)
            await windows.take(self._global_item, "exposcan-run", self._run)
            granted = await windows.limiter.hit(self._host_item, "exposcan-host", address)
            raise_lost_cancel()
            if granted:
                self.granted += 1
                return
            # another holder of a second slot of the host took the room: try again
