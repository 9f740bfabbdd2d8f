"""A cancel() that never reaches a Redis loop must not keep it running.

On Python 3.11, ``asyncio.wait_for`` returns its result and drops a cancel() that arrives
just as the result does (CPython gh-86296, fixed in 3.12), and redis-py sends every
command through ``wait_for`` when the pool has a ``socket_timeout`` (ours: 30 s). A
worker's host-lease renewal lost its cancel that way and renewed for ever, so the
endpoint whose block it guarded never ended, its shard never finished, and the submitter
waited for one endpoint (benchmarks/scaleout.py at 1,000 hosts: 999/1000).

The first tests make the lost cancel happen every time (a lock or a call that swallows
the CancelledError as wait_for does); the last one meets the real race on the real pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

from exposcan.managed.broker import beat, open_redis
from exposcan.managed.gate import RedisGate, RedisWindows
from exposcan.options import Limits


async def _swallow(seen: list[str], started: asyncio.Event) -> None:
    """What Python 3.11's wait_for does when the command completes as the cancel comes:
    the CancelledError is dropped and the call returns normally (once: later calls are
    cancelled as usual, so that the test's loop can be torn down whatever the outcome)."""
    started.set()
    if seen:
        await asyncio.sleep(0.2)
        return
    try:
        await asyncio.sleep(0.2)
    except asyncio.CancelledError:
        seen.append("swallowed")


async def _ends(task: asyncio.Future[object], within_s: float = 10) -> None:
    """``task`` ends (a bound, not a timing: a loop that lost its cancel never ends);
    ``asyncio.wait`` rather than ``wait_for``, whose own cancel the hung task would keep."""
    done, _ = await asyncio.wait({task}, timeout=within_s)
    if task not in done:  # fail, not hang: cancel the loops again until they end
        for _ in range(200):
            others = asyncio.all_tasks() - {asyncio.current_task()}
            if not others:
                break
            for other in others:
                other.cancel()
            await asyncio.sleep(0.01)
    assert task in done, "still running: a loop lost its cancel and went on"
    with contextlib.suppress(asyncio.CancelledError):
        task.result()


class SwallowingLock:
    def __init__(self) -> None:
        self.renewals = 0
        self.released = False
        self.in_flight = asyncio.Event()
        self.seen: list[str] = []

    async def acquire(self, blocking: bool = True) -> bool:
        return True

    async def reacquire(self) -> bool:
        self.renewals += 1
        await _swallow(self.seen, self.in_flight)
        return True

    async def release(self) -> None:
        self.released = True


class FakeRedis:
    def __init__(self, lock: SwallowingLock) -> None:
        self._lock = lock

    def lock(self, name: str, **options: object) -> SwallowingLock:
        return self._lock

    async def incr(self, name: str) -> int:
        return 1


async def test_a_lease_renewal_that_loses_its_cancel_ends_with_its_block():
    lock = SwallowingLock()
    gate = RedisGate(FakeRedis(lock), None, Limits(), run="r", lease_s=0.03)  # type: ignore[arg-type]

    async def hold() -> None:
        async with gate.host("127.0.0.9"):
            await lock.in_flight.wait()  # the block ends while a renewal is in Redis

    # bounded: without the fix the block's exit waits for the renewal for ever
    await _ends(asyncio.create_task(hold()))
    assert lock.seen == ["swallowed"]  # the cancel was lost, as on Python 3.11
    assert lock.released
    renewals = lock.renewals
    await asyncio.sleep(0.1)  # three renewal periods
    assert lock.renewals == renewals  # and nothing renews the lease any more


async def test_a_beat_that_loses_its_cancel_ends():
    seen: list[str] = []
    in_flight = asyncio.Event()

    async def call() -> None:
        in_flight.clear()
        await _swallow(seen, in_flight)

    task = asyncio.create_task(beat(0.01, call))
    await in_flight.wait()
    task.cancel()
    await _ends(task)
    assert seen == ["swallowed"]


async def test_many_leases_on_real_redis_all_end(redis_server):
    """Hundreds of host blocks on the worker's own pool (``open_redis``), each ended at a
    random point of its renewals: every block ends and no lease is left renewed."""
    redis = await open_redis(redis_server.url)
    try:
        windows = RedisWindows(redis_server.url, redis)
        gate = RedisGate(redis, windows, Limits(), run="r", lease_s=0.03)
        rng = random.Random(7)

        async def hold(index: int) -> None:
            async with gate.host(f"127.0.{index // 250}.{index % 250 + 1}"):
                await asyncio.sleep(rng.uniform(0.0, 0.05))

        await _ends(asyncio.gather(*(hold(i) for i in range(600))), 60)
        await asyncio.sleep(0.1)  # three lease lives: a renewed lease would still be there
        left = [key async for key in redis.scan_iter(match="exposcan:lease:*")]
        assert left == []
    finally:
        await redis.aclose()
