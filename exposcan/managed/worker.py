"""A worker: takes shards off a Redis broker and runs them, until cancelled.

Cancelling :func:`serve` (the CLI: SIGTERM or SIGINT) cancels the shards it runs, so
their associations abort politely (A-ABORT, then close); their messages stay
unacknowledged and go to another worker once ``redeliver_after_s`` has passed.

A worker reads only its own exposcan version's stream (:func:`~exposcan.managed.broker.
queue_for`): the shards of a submitter of another version wait there for a worker of that
version, and this worker logs once (``shards_left_for_other_version``) that it leaves them.
``version`` is for tests alone (``EXPOSCAN_TEST_WORKER_VERSION`` of ``exposcan worker``):
a worker that says it is another version, to show what a mixed fleet does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

from exposcan._version import __version__
from exposcan.logs import get_logger
from exposcan.managed.broker import (
    QUEUES,
    TASK,
    BrokerError,
    beat,
    check_url,
    open_redis,
    queue_for,
    raise_lost_cancel,
    redact,
)
from exposcan.managed.channel import WORKER_TTL_S, RedisChannel
from exposcan.managed.gate import LEASE_S, RedisGate, RedisWindows
from exposcan.managed.shard import run_shard
from exposcan.managed.titles import shared_titles
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
    version: str = __version__,
) -> None:
    """Run shards from the broker at ``url`` until cancelled; ``ready`` is set once this
    worker listens. :class:`~exposcan.managed.broker.BrokerError` when the URL is not a
    reachable Redis. ``version``: tests only (see the module's text)."""
    if check_url(url) == "memory":
        raise BrokerError("a worker needs a shared broker (redis://HOST:PORT/DB), not memory://")
    from taskiq.api import run_receiver_task

    from exposcan.managed.broker import stream_broker

    redis = await open_redis(url)
    name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    channel = RedisChannel(redis)
    windows = RedisWindows(url, redis)
    broker = stream_broker(url, idle_timeout_s=redeliver_after_s, version=version)
    broker.is_worker_process = True

    running: set[asyncio.Task[Any]] = set()  # taskiq does not cancel them with its receiver

    async def shard(job: dict[str, Any]) -> dict[str, Any]:
        task = asyncio.current_task()
        if task is not None:
            running.add(task)
            task.add_done_callback(running.discard)
        try:
            limits = options_from_wire(job["options"]).limits
        except Exception:  # run_shard refuses the job before any packet: any limits do
            limits = Limits()
        gate = RedisGate(redis, windows, limits, run=str(job.get("run")), lease_s=lease_s)
        try:
            # the titles that worked on the scan's other shards go first here too
            async with shared_titles(redis, str(job.get("run"))):
                return await run_shard(job, channel, gate)
        except Exception as exc:  # Redis away mid-shard, a bug: the shard must not be lost
            return await _again(broker, channel, job, exc)

    broker.register_task(shard, task_name=TASK)
    info = {"version": version, "name": name}
    others = OtherVersions(redis, version)

    async def alive() -> None:
        await channel.heartbeat(name, info)
        await others.look()

    heart = asyncio.create_task(beat(WORKER_TTL_S / 3, alive))
    try:
        await broker.startup()
        log.info(
            "worker_started",
            broker=redact(url),
            worker=name,
            version=version,
            shards_at_once=shards_at_once,
        )
        if ready is not None:
            ready.set()
        await run_receiver_task(
            broker, max_async_tasks=shards_at_once, run_startup=False, max_prefetch=0
        )
    finally:
        # A shard still running (its associations, a put-back waiting for Redis) ends with
        # the worker, also when serve() runs inside a caller's loop: its message stays
        # unacknowledged and goes to another worker, never put back late as a second copy.
        for task in list(running):
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        heart.cancel()
        with contextlib.suppress(BaseException):
            await heart
        with contextlib.suppress(Exception):
            await asyncio.shield(channel.gone(name))
        with contextlib.suppress(Exception):
            await broker.shutdown()
        await redis.aclose()
        log.info("worker_stopped", worker=name)


class OtherVersions:
    """Says once, in this worker's log, that shards of another exposcan version wait on
    the broker and that this worker leaves them to a worker of that version (again if
    they come back after that version's stream was drained)."""

    def __init__(self, redis: Any, version: str) -> None:
        self._redis, self._own = redis, queue_for(version)
        self.version = version
        self._said: set[str] = set()

    async def waiting(self) -> dict[str, int]:
        """Per other version: its shards that no worker has taken yet."""
        found: dict[str, int] = {}
        async for key in self._redis.scan_iter(match=QUEUES + "*", count=100, _type="STREAM"):
            stream = key.decode() if isinstance(key, bytes) else str(key)
            if stream == self._own:
                continue
            # XINFO GROUPS' lag (Redis 7): entries the group has not delivered yet
            groups = await self._redis.xinfo_groups(stream)
            lag = sum(int(group.get("lag") or 0) for group in groups)
            if lag:
                found[stream.removeprefix(QUEUES)] = lag
        return found

    async def look(self) -> None:
        waiting = await self.waiting()
        self._said &= set(waiting)
        for version, shards in sorted(waiting.items()):
            if version not in self._said:
                self._said.add(version)
                log.warning(
                    "shards_left_for_other_version",
                    their_version=version[:40],
                    waiting=shards,
                    this_version=self.version,
                    hint="run a worker of their version on this broker",
                )


#: a shard that failed this often is given up (and the submitter told why)
MAX_TRIES = 3
#: how long a failed shard's put-back is tried: as long as its submitter waits for news
#: (``Distribution.stall_s``), so that a Redis away for minutes loses no shard
PUT_BACK_S = 600.0


def _pauses(first_s: float = 0.25, most_s: float = 8.0) -> Iterator[float]:
    pause = first_s
    while True:
        yield pause
        pause = min(pause * 2, most_s)


async def _again(
    broker: Any, channel: RedisChannel, job: dict[str, Any], exc: Exception
) -> dict[str, Any]:
    """Put a failed shard back on the broker (its finished endpoints are skipped), or
    after :data:`MAX_TRIES` refuse it: the submitter fails with the reason, not a hang."""
    from taskiq.kicker import AsyncKicker

    tries = int(job.get("tries", 0)) + 1
    log.warning("shard_failed", shard=job.get("shard"), tries=tries, error=type(exc).__name__)
    if tries < MAX_TRIES:
        kicker: Any = AsyncKicker(TASK, broker, {})
        # Redis away is the common cause, and it is away for the put-back too: keep trying
        # (the message stays this worker's meanwhile, so a worker killed now loses nothing:
        # it is redelivered), else the shard is lost and its scan waits out the stall.
        until = time.monotonic() + PUT_BACK_S
        for pause in _pauses():
            try:
                await kicker.kiq({**job, "tries": tries})
                break
            except Exception:
                left = until - time.monotonic()
                if left <= 0:
                    raise  # the last try's error is the shard's
                raise_lost_cancel()  # a stopping worker stops trying (broker.raise_lost_cancel)
                log.warning("shard_not_put_back_yet", shard=job.get("shard"), retry_in_s=pause)
                await asyncio.sleep(min(pause, left))
        return {"record": "shard-retried", "shard": job.get("shard"), "tries": tries}
    reason = f"it failed {tries} times, last with {type(exc).__name__}"
    record = {"record": "shard-refused", "shard": job.get("shard"), "reason": reason}
    await channel.publish(str(job.get("run")), record)
    return record
