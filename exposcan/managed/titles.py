"""Stock titles that worked, shared by the shards of a distributed scan.

A local scan tries first the stock AE titles that already got in on its other hosts
(issue 14: :func:`exposcan.probes.aetitle_order.order_titles`' ``worked``). A shard
knows only its own hosts, so the counts live in Redis too, a hash per run: a shard
starts from what the scan's other shards have learnt, adds what it learns as it learns
it, and picks up theirs every :data:`SYNC_S`. Only counts of titles (which stock title
worked on how many hosts) travel, never a host.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import Any

from exposcan.managed.broker import raise_lost_cancel
from exposcan.managed.channel import KEEP_S
from exposcan.probes.dimse import SHARED_WORKED

#: how often a shard sends what it learnt and reads what the others did
SYNC_S = 0.5


def worked_key(run: str) -> str:
    return f"exposcan:run:{run}:worked"


class SharedTitles(dict[str, int]):
    """The DICOM run's ``worked`` mapping: the run counts in it as in a dict; what it adds
    is kept for the next :meth:`sync`."""

    def __init__(self) -> None:
        super().__init__()
        self.unsent: Counter[str] = Counter()

    def __setitem__(self, title: str, count: int) -> None:
        more = count - self.get(title, 0)
        super().__setitem__(title, count)
        if more > 0:
            self.unsent[title] += more

    def merge(self, counts: Mapping[Any, Any]) -> None:
        """The scan's counts as Redis has them (this shard's sent ones among them)."""
        for raw, value in counts.items():
            title = raw.decode() if isinstance(raw, bytes) else str(raw)
            with contextlib.suppress(ValueError, TypeError):
                count = int(value) + self.unsent.get(title, 0)
                if count > self.get(title, 0):
                    super().__setitem__(title, count)

    async def sync(self, redis: Any, run: str) -> None:
        key = worked_key(run)
        sending, self.unsent = self.unsent, Counter()
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for title, more in sending.items():
                    pipe.hincrby(key, title, more)
                if sending:
                    pipe.expire(key, KEEP_S)
                pipe.hgetall(key)
                answers = await pipe.execute()
        except BaseException:
            self.unsent.update(sending)  # Redis away: sent next time
            raise
        self.merge(answers[-1])


@contextlib.asynccontextmanager
async def shared_titles(redis: Any, run: str) -> AsyncIterator[SharedTitles]:
    """While open, the DICOM runs started in this task (a shard's engine) count titles
    that worked in one :class:`SharedTitles`, kept in step with the run's other shards."""
    titles = SharedTitles()
    with contextlib.suppress(Exception):  # Redis away: the shard starts from nothing
        await titles.sync(redis, run)
    token = SHARED_WORKED.set(titles)

    async def keep() -> None:
        while True:
            await asyncio.sleep(SYNC_S)
            with contextlib.suppress(Exception):
                await titles.sync(redis, run)
            raise_lost_cancel()

    task = asyncio.create_task(keep())
    try:
        yield titles
    finally:
        SHARED_WORKED.reset(token)
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        with contextlib.suppress(Exception):
            await asyncio.shield(titles.sync(redis, run))
