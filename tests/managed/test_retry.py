"""A shard whose run fails (Redis away mid-shard, a bug) is put back on the broker, and
given up after a few tries with a reason the submitter reports: never lost, never a hang."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from exposcan.managed.broker import QUEUE, stream_broker
from exposcan.managed.channel import RedisChannel
from exposcan.managed.worker import MAX_TRIES, _again
from tests.support.redis_server import start_redis, stop_redis


async def test_failed_shard_is_retried_then_refused(redis_server):
    redis = Redis.from_url(redis_server.url)
    broker = stream_broker(redis_server.url, idle_timeout_s=5)
    await broker.startup()
    try:
        channel = RedisChannel(redis)
        job = {"run": "r1", "shard": 3}
        first = await _again(broker, channel, job, ConnectionError("gone"))
        assert first == {"record": "shard-retried", "shard": 3, "tries": 1}
        assert await redis.xlen(QUEUE) == 1  # on the broker again
        last = await _again(broker, channel, {**job, "tries": MAX_TRIES - 1}, OSError())
        assert last["record"] == "shard-refused"
        assert "failed 3 times" in last["reason"]
        records = [r async for r in _until_quiet(channel)]
        assert records == [last]
    finally:
        await broker.shutdown()
        await redis.aclose()


async def _until_quiet(channel):
    async for record in channel.records("r1", wait_s=0.2):
        if record is None:
            return
        yield record


async def test_a_shard_failed_while_redis_is_away_is_put_back_once_it_returns():
    """The usual cause of a failed shard, Redis away, is there for its put-back too: the
    worker keeps trying for a while instead of losing the shard (a scan then waited out
    the submitter's 600 s stall: tests/managed/test_redis_restart.py hung once in CI)."""
    server = start_redis()
    servers = [server]
    broker = stream_broker(server.url, idle_timeout_s=5)
    await broker.startup()
    try:
        stop_redis(server)  # away: the first tries to put the shard back fail

        async def back() -> None:
            await asyncio.sleep(1.0)
            servers.append(start_redis(port=server.port))

        returning = asyncio.create_task(back())
        record = await _again(broker, None, {"run": "r2", "shard": 4}, ConnectionError("gone"))
        await returning
        assert record == {"record": "shard-retried", "shard": 4, "tries": 1}
        redis = Redis.from_url(server.url)
        try:
            assert await redis.xlen(QUEUE) == 1  # on the broker again, not lost
        finally:
            await redis.aclose()
    finally:
        await broker.shutdown()
        for running in servers:
            stop_redis(running)


async def test_a_put_back_gives_up_once_its_submitter_would_have(monkeypatch):
    """Trying for ever would be a loop without a bound: the put-back ends with the
    broker's error once :data:`PUT_BACK_S` (the submitter's own wait) has passed."""
    import time

    from exposcan.managed import worker

    monkeypatch.setattr(worker, "PUT_BACK_S", 1.5)
    server = start_redis()
    broker = stream_broker(server.url, idle_timeout_s=5)
    await broker.startup()
    try:
        stop_redis(server)  # away for good
        started = time.monotonic()
        from taskiq.exceptions import SendTaskError

        with pytest.raises(SendTaskError):
            await _again(broker, None, {"run": "r3", "shard": 5}, ConnectionError("gone"))
        assert 1.0 < time.monotonic() - started < 6
    finally:
        await broker.shutdown()
