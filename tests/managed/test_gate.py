"""The Redis gate, two "workers" (two clients, two gates) on one Redis: one association
per host between them, a fencing token per lease that only grows, a dead holder's lease
lapsing, and per-host and per-run moving windows shared by both; each endpoint's record
on the channel carries its lease's token."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

import exposcan
from exposcan.lab import free_port
from exposcan.managed.channel import MemoryChannel, RedisChannel
from exposcan.managed.gate import RedisGate, RedisWindows
from exposcan.managed.shard import run_shard
from exposcan.managed.submit import Distribution, ShardedRun
from exposcan.options import Limits, ScanOptions


@pytest.fixture
async def pair(redis_server):
    clients = [Redis.from_url(redis_server.url) for _ in range(2)]
    windows = [RedisWindows(redis_server.url, c) for c in clients]
    yield clients, windows
    for client in clients:
        await client.aclose()


def gates(pair, limits: Limits, *, lease_s: float = 5.0) -> list[RedisGate]:
    clients, windows = pair
    return [
        RedisGate(c, w, limits, run="run-1", lease_s=lease_s)
        for c, w in zip(clients, windows, strict=True)
    ]


async def test_one_holder_per_host_and_growing_fences(pair):
    inside: list[int] = []
    most = 0

    async def hold(gate: RedisGate) -> int:
        nonlocal most
        async with gate.host("127.0.0.9"):
            inside.append(1)
            most = max(most, len(inside))
            await asyncio.sleep(0.15)
            inside.pop()
        fence = gate.fence("127.0.0.9")
        assert fence is not None
        return fence

    a, b = gates(pair, Limits())
    fences = await asyncio.gather(*(hold(g) for g in (a, b, a, b)))
    assert most == 1
    assert sorted(fences) == [1, 2, 3, 4]


async def test_a_dead_holders_lease_lapses(pair):
    clients, _ = pair
    # a worker that died holding the host: its lock is never released, never renewed
    dead = clients[0].lock("exposcan:lease:127.0.0.9:0", timeout=0.6, thread_local=False)
    assert await dead.acquire(blocking=False)
    (_, gate) = gates(pair, Limits())
    started = time.monotonic()
    async with gate.host("127.0.0.9"):
        waited = time.monotonic() - started
    assert 0.4 < waited < 3


async def test_a_held_lease_is_renewed(pair):
    a, b = gates(pair, Limits(), lease_s=0.6)
    async with a.host("127.0.0.9"):
        await asyncio.sleep(1.5)  # past two lease periods: still ours
        blocked = asyncio.ensure_future(b.host("127.0.0.9").__aenter__())
        await asyncio.sleep(0.3)
        assert not blocked.done()
    await asyncio.wait_for(blocked, 3)


async def test_windows_are_shared(pair):
    a, b = gates(pair, Limits(rate=100, per_host_rate=2, per_host_concurrency=2))
    times: list[float] = []

    async def permits(gate: RedisGate) -> None:
        async with gate.host("127.0.0.9"):
            for _ in range(3):
                await gate.permit("127.0.0.9")
                times.append(time.monotonic())

    await asyncio.gather(permits(a), permits(b))
    times.sort()
    assert len(times) == 6
    # 2 a second between both gates: the fifth grant is at least two windows after the first
    assert times[4] - times[0] > 1.9
    assert all(later - earlier > 0.95 for earlier, later in zip(times, times[2:], strict=False))


async def test_global_window_is_per_run(pair):
    a, b = gates(pair, Limits(rate=3, per_host_rate=100, per_host_concurrency=4))
    times: list[float] = []

    async def permits(gate: RedisGate, host: str) -> None:
        async with gate.host(host):
            for _ in range(3):
                await gate.permit(host)
                times.append(time.monotonic())

    await asyncio.gather(permits(a, "127.0.0.8"), permits(b, "127.0.0.9"))
    times.sort()
    assert times[3] - times[0] > 0.95  # six grants at 3 a second over two hosts, two gates


async def test_each_record_carries_its_lease_token(redis_server, pair, scp_factory, write_scope):
    clients, windows = pair
    port = scp_factory("FENCE-SCP")
    scope = write_scope(["127.0.0.1"], [port, free_port()])
    plan = await exposcan.prepare(scope, options=ScanOptions(limits=Limits(per_host_rate=50)))
    job = ShardedRun(plan, Distribution(broker=redis_server.url)).jobs("run-f")[0]
    channel = RedisChannel(clients[0])
    gate = RedisGate(clients[0], windows[0], plan.options.limits, run="run-f")
    done = await run_shard(job.to_dict(), channel, gate)
    assert done["record"] == "shard-done"
    assert done["sent"] == 2
    records = []
    async for record in channel.records("run-f", wait_s=0.2):
        if record is None:
            break
        records.append(record)
    fences = [r["fence"] for r in records if r["record"] == "endpoint"]
    assert fences == [1, 2]  # one lease per endpoint of the host, in order
    # what a redelivered shard would skip
    assert await channel.finished("run-f", 0) == {("127.0.0.1", p, "dicom") for p in plan.ports}


async def test_a_tampered_scope_is_refused():
    channel = MemoryChannel()
    job = {
        "format": 1,
        "version": exposcan.__version__,
        "run": "r",
        "shard": 0,
        "shards": 1,
        "scope": {
            "source": "x",
            "digest": "sha256:" + "0" * 64,
            "authorisation": {"owner": "o", "reference": "r", "expires": "2999-12-31"},
            "include": ["127.0.0.1"],
            "exclude": [],
            "ports": [104],
            "web_ports": [],
        },
        "targets": [],
        "options": {},
        "hosts": 1,
        "endpoints": 1,
        "skip": [],
    }
    done = await run_shard(job, channel, gate=None)  # type: ignore[arg-type]
    assert done["record"] == "shard-refused"
    assert "digest" in done["reason"]
    everything = {**job, "scope": {**job["scope"], "include": ["0.0.0.0/0"]}}
    refused = await run_shard(everything, channel, gate=None)  # type: ignore[arg-type]
    assert refused["record"] == "shard-refused"
    assert "every address" in refused["reason"]
    other = {**job, "version": "0.0.0-other"}
    refused = await run_shard(other, channel, gate=None)  # type: ignore[arg-type]
    assert "exposcan 0.0.0-other" in refused["reason"]


async def test_more_waiters_than_connections_wait_for_one(redis_server):
    """A worker's many endpoints waiting on windows at once share its pool: they wait for
    a free connection (redis-py's default pool raised MaxConnectionsError past 100)."""
    from exposcan.managed.broker import MAX_CONNECTIONS, open_redis
    from exposcan.managed.gate import rate_item

    redis = await open_redis(redis_server.url)
    try:
        windows = RedisWindows(redis_server.url, redis)
        item = rate_item(100_000)
        waiters = [windows.take(item, "many", str(i)) for i in range(MAX_CONNECTIONS + 200)]
        await asyncio.gather(*waiters)
        assert await windows.limiter.test(item, "many", "0")
    finally:
        await redis.aclose()
