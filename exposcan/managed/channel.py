"""Where workers put a run's records and the submitter reads them.

A record is a JSON object: ``endpoint`` (a result, with the shard and the host lease's
fencing token), ``evidence``, ``shard-done`` or ``shard-refused``. On Redis a run is one
stream (``XADD``/``XREAD``: the submitter reads as records come, and nothing a worker
finished is lost if the submitter reconnects) plus, per shard, the set of endpoints
finished, which a redelivered shard reads to skip them. Both expire a week after their
last write; the submitter deletes them once its report is whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from exposcan._version import __version__
from exposcan.managed.broker import raise_lost_cancel
from exposcan.probes.registry import SkipKey

if TYPE_CHECKING:
    from redis.asyncio import Redis

KEEP_S = 7 * 24 * 3600
#: how long a worker counts as alive after its last heartbeat
WORKER_TTL_S = 10.0


class Channel(Protocol):
    #: the errors of a broker that went away for a while (a restart): worth waiting out
    transient: tuple[type[BaseException], ...]
    #: the broker's other errors (one line, not a traceback)
    failures: tuple[type[BaseException], ...]

    async def publish(self, run: str, record: dict[str, Any], key: SkipKey | None = None) -> None:
        """Add a record; ``key``: the endpoint it finishes (kept in its shard's set)."""
        ...

    async def finished(self, run: str, shard: int) -> set[SkipKey]: ...

    def records(self, run: str, wait_s: float) -> AsyncIterator[dict[str, Any] | None]:
        """Every record of the run, oldest first; None after ``wait_s`` without one."""
        ...

    async def workers(self) -> int:
        """How many workers of this exposcan version are alive now."""
        ...

    async def lonely(self, broker: str, waited_s: float) -> str:
        """Why no worker has run this submitter's shards for ``waited_s`` (one line)."""
        ...

    async def discard(self, run: str, shards: int) -> None: ...

    async def cancel(self, run: str) -> None:
        """The submitter has gone (interrupted): the run's shards stop."""
        ...

    async def cancelled(self, run: str) -> bool: ...


class MemoryChannel:
    """A run's records in this process (taskiq's InMemoryBroker runs shards here)."""

    transient: tuple[type[BaseException], ...] = ()
    failures: tuple[type[BaseException], ...] = ()

    def __init__(self) -> None:
        self._records: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        self._done: defaultdict[tuple[str, int], set[SkipKey]] = defaultdict(set)
        self._changed = asyncio.Event()

    async def publish(self, run: str, record: dict[str, Any], key: SkipKey | None = None) -> None:
        # through JSON, as on Redis: what the submitter reads is what a worker could send
        self._records[run].append(json.loads(json.dumps(record)))
        if key is not None:
            self._done[(run, int(record["shard"]))].add(key)
        self._changed.set()

    async def finished(self, run: str, shard: int) -> set[SkipKey]:
        return set(self._done[(run, shard)])

    async def records(self, run: str, wait_s: float) -> AsyncIterator[dict[str, Any] | None]:
        index = 0
        while True:
            records = self._records[run]
            while index < len(records):
                index += 1
                yield records[index - 1]
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), wait_s)
            except TimeoutError:
                yield None

    async def workers(self) -> int:
        return 1

    async def lonely(self, broker: str, waited_s: float) -> str:
        return "its shards run in this process"  # never asked: workers() is 1

    async def cancel(self, run: str) -> None:
        pass  # in one process the submitter cancels its shards' tasks itself

    async def cancelled(self, run: str) -> bool:
        return False

    async def discard(self, run: str, shards: int) -> None:
        self._records.pop(run, None)
        for shard in range(shards):
            self._done.pop((run, shard), None)


def _stream(run: str) -> str:
    return f"exposcan:run:{run}:records"


def _done(run: str, shard: int) -> str:
    return f"exposcan:run:{run}:done:{shard}"


class RedisChannel:
    def __init__(self, redis: Redis) -> None:
        from redis.exceptions import ConnectionError, RedisError, TimeoutError

        self._redis = redis
        self.transient: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, OSError)
        self.failures: tuple[type[BaseException], ...] = (RedisError,)

    async def publish(self, run: str, record: dict[str, Any], key: SkipKey | None = None) -> None:
        stream = _stream(run)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(stream, {"r": json.dumps(record, separators=(",", ":"))})
            pipe.expire(stream, KEEP_S)
            if key is not None:
                done = _done(run, int(record["shard"]))
                pipe.sadd(done, json.dumps(list(key)))
                pipe.expire(done, KEEP_S)
            await pipe.execute()

    async def finished(self, run: str, shard: int) -> set[SkipKey]:
        members: Any = await self._redis.smembers(_done(run, shard))
        keys: set[SkipKey] = set()
        for member in members:
            host, port, kind = json.loads(member)
            keys.add((str(host), int(port), str(kind)))
        return keys

    async def records(self, run: str, wait_s: float) -> AsyncIterator[dict[str, Any] | None]:
        last = "0-0"
        block = max(1, int(wait_s * 1000))
        while True:
            answer: Any = await self._redis.xread({_stream(run): last}, block=block, count=500)
            raise_lost_cancel()  # the scan was interrupted (broker.raise_lost_cancel)
            if not answer:
                yield None
                continue
            for _stream_name, entries in answer:
                for entry_id, fields in entries:
                    last = entry_id
                    yield json.loads(fields[b"r"])

    async def workers(self) -> int:
        return (await self.versions())[__version__]

    async def versions(self) -> Counter[str]:
        """The workers alive now, by the exposcan version each says it is."""
        keys = [key async for key in self._redis.scan_iter(match="exposcan:worker:*", count=100)]
        found = Counter[str]()
        for info in await self._redis.mget(keys) if keys else ():
            if info is not None:  # expired between SCAN and MGET
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    found[str(json.loads(info).get("version"))] += 1
        return found

    async def lonely(self, broker: str, waited_s: float) -> str:
        start = "start one with `exposcan worker --broker URL`"
        others = await self.versions()
        if not others:
            return f"no exposcan worker is alive on {broker} (none for {waited_s:g} s): {start}"
        there = ", ".join(f"{n} of exposcan {v:.40}" for v, n in sorted(others.items()))
        return (
            f"no worker of this exposcan version ({__version__}) is alive on {broker} "
            f"(none for {waited_s:g} s); the workers there ({there}) are of another version "
            f"and leave this version's shards alone: {start} of exposcan {__version__}"
        )

    async def heartbeat(self, worker: str, info: dict[str, Any]) -> None:
        await self._redis.set(
            f"exposcan:worker:{worker}", json.dumps(info), px=int(WORKER_TTL_S * 1000)
        )

    async def gone(self, worker: str) -> None:
        await self._redis.delete(f"exposcan:worker:{worker}")

    async def cancel(self, run: str) -> None:
        await self._redis.set(f"exposcan:run:{run}:cancelled", 1, ex=KEEP_S)

    async def cancelled(self, run: str) -> bool:
        return bool(await self._redis.exists(f"exposcan:run:{run}:cancelled"))

    async def discard(self, run: str, shards: int) -> None:
        worked = f"exposcan:run:{run}:worked"  # the shards' titles that worked (titles.py)
        await self._redis.delete(_stream(run), worked, *(_done(run, s) for s in range(shards)))
