"""taskiq-redis' stream broker, redelivering a dead worker's shards and only theirs
(see :mod:`exposcan.managed.broker` for why each change)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError, ResponseError, TimeoutError
from taskiq import AckableMessage
from taskiq_redis import RedisStreamBroker

from exposcan.managed.broker import raise_lost_cancel


class ShardStreamBroker(RedisStreamBroker):
    def __init__(self, url: str, *, queue: str, idle_timeout_s: float) -> None:
        super().__init__(
            url,
            queue_name=queue,
            consumer_group_name="exposcan-workers",
            # A group made after jobs were added must still see them.
            consumer_id="0",
            # One shard at a time off the stream: a shard waiting in this worker's
            # prefetch is one no other worker can take.
            xread_count=1,
            xread_block=1000,
            idle_timeout=max(1, int(idle_timeout_s * 1000)),
            maxlen=100_000,
        )
        self.idle_timeout_s = idle_timeout_s
        #: stream ids of the shards this worker holds now
        self._held: dict[Any, str] = {}
        self._keeper: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        await super().startup()
        if self.is_worker_process and self._keeper is None:
            self._keeper = asyncio.create_task(self._keep_held(), name="exposcan-keep-held")

    async def shutdown(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        await super().shutdown()

    def _hold(self, msg_id: Any, stream: str, data: Any) -> AckableMessage:
        self._held[msg_id] = stream
        ack = self._ack_generator(id=msg_id, queue_name=stream)

        async def acknowledge() -> None:
            self._held.pop(msg_id, None)
            await ack()

        return AckableMessage(data=data, ack=acknowledge)

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        async with Redis(connection_pool=self.connection_pool) as redis:
            while True:
                raise_lost_cancel()  # the worker is stopping (broker.raise_lost_cancel)
                try:
                    fetched, claimed = await self._fetch(redis)
                except ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    # Redis restarted without its data: the group again, from the start
                    await self._declare_consumer_group()
                    continue
                except (ConnectionError, TimeoutError, OSError):
                    await asyncio.sleep(1)  # Redis restarting: wait for it
                    continue
                raise_lost_cancel()
                for stream, entries in fetched or ():
                    for msg_id, fields in entries:
                        yield self._hold(msg_id, _text(stream), fields[b"data"])
                for msg_id, fields in claimed[1]:
                    if fields is None:  # trimmed from the stream meanwhile
                        continue
                    yield self._hold(msg_id, self.queue_name, fields[b"data"])

    async def _fetch(self, redis: Redis) -> tuple[Any, Any]:
        fetched = await redis.xreadgroup(
            self.consumer_group_name,
            self.consumer_name,
            {self.queue_name: ">"},
            block=self.block,
            noack=False,
            count=self.count,
        )
        # XAUTOCLAIM is atomic, and claiming resets the idle time: one worker gets each
        # abandoned shard.
        claimed = await redis.xautoclaim(
            name=self.queue_name,
            groupname=self.consumer_group_name,
            consumername=self.consumer_name,
            min_idle_time=self.idle_timeout,
            count=1,
        )
        return fetched, claimed

    async def _keep_held(self) -> None:
        async with Redis(connection_pool=self.connection_pool) as redis:
            while True:
                await asyncio.sleep(self.idle_timeout_s / 4)
                for msg_id, stream in list(self._held.items()):
                    with contextlib.suppress(Exception):  # Redis restarting: next turn
                        await redis.xclaim(
                            stream,
                            self.consumer_group_name,
                            self.consumer_name,
                            min_idle_time=0,
                            message_ids=[msg_id],
                            justid=True,
                        )
                    raise_lost_cancel()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
