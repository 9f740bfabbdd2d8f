"""A worker: takes shards off a Redis broker and runs them, until cancelled.

Cancelling :func:`serve` (the CLI: SIGTERM or SIGINT) cancels the shards it runs, so
their associations abort politely (A-ABORT, then close); their messages stay
unacknowledged and go to another worker once ``redeliver_after_s`` has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from typing import Any

from exposcan._version import __version__
from exposcan.logs import get_logger
from exposcan.managed.broker import TASK, BrokerError, beat, check_url, open_redis, redact
from exposcan.managed.channel import WORKER_TTL_S, RedisChannel
from exposcan.managed.gate import LEASE_S, RedisGate, RedisWindows
from exposcan.managed.shard import run_shard
from exposcan.managed.wire import options_from_wire
from exposcan.options import Limits

log = get_logger("exposcan.managed")

#: the default: a shard is handed to another worker once its worker is silent this long
REDELIVER_AFTER_S = 60.0


async def serve(
    url: str,
    *,
    shards_at_once: int = 4,
    redeliver_after_s: float = REDELIVER_AFTER_S,
    lease_s: float = LEASE_S,
    ready: asyncio.Event | None = None,
) -> None:
    """Run shards from the broker at ``url`` until cancelled; ``ready`` is set once this
    worker listens. :class:`~exposcan.managed.broker.BrokerError` when the URL is not a
    reachable Redis."""
    if check_url(url) == "memory":
        raise BrokerError("a worker needs a shared broker (redis://HOST:PORT/DB), not memory://")
    from taskiq.api import run_receiver_task

    from exposcan.managed.broker import stream_broker

    redis = await open_redis(url)
    name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    channel = RedisChannel(redis)
    windows = RedisWindows(url)
    broker = stream_broker(url, idle_timeout_s=redeliver_after_s)
    broker.is_worker_process = True

    async def shard(job: dict[str, Any]) -> dict[str, Any]:
        try:
            limits = options_from_wire(job["options"]).limits
        except Exception:  # run_shard refuses the job before any packet: any limits do
            limits = Limits()
        gate = RedisGate(redis, windows, limits, run=str(job.get("run")), lease_s=lease_s)
        return await run_shard(job, channel, gate)

    broker.register_task(shard, task_name=TASK)
    info = {"version": __version__, "name": name}
    heart = asyncio.create_task(beat(WORKER_TTL_S / 3, lambda: channel.heartbeat(name, info)))
    try:
        await broker.startup()
        log.info("worker_started", broker=redact(url), worker=name, shards_at_once=shards_at_once)
        if ready is not None:
            ready.set()
        await run_receiver_task(
            broker, max_async_tasks=shards_at_once, run_startup=False, max_prefetch=0
        )
    finally:
        heart.cancel()
        with contextlib.suppress(BaseException):
            await heart
        with contextlib.suppress(Exception):
            await asyncio.shield(channel.gone(name))
        with contextlib.suppress(Exception):
            await broker.shutdown()
        await redis.aclose()
        log.info("worker_stopped", worker=name)
