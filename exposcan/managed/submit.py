"""The submitter's side: shards out, records in, one results source for the report.

:class:`ShardedRun` is what :meth:`exposcan.scan.ScanPlan.run` iterates instead of its own
engine (the plan's ``source`` seam): results as they come, ``learnt`` evidence,
``stopped``. So the report, its summary, ``--resume`` and progress are the local scan's
code. A second copy of an endpoint's result (a shard redelivered after its worker died
mid-way) is dropped: the first one in is the one written; one probed under another host
lease (its fencing token) is counted and logged, as the endpoint was probed twice.

It never waits forever: when no worker has been alive for ``no_worker_s`` seconds, or no
record has come for ``stall_s`` seconds, the run fails with one line saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Container, Iterable
from typing import Any

from exposcan.engine import ProgressCallback
from exposcan.grid import port_lists
from exposcan.logs import get_logger
from exposcan.managed.broker import (
    TASK,
    BrokerError,
    check_url,
    open_redis,
    raise_lost_cancel,
    redact,
)
from exposcan.managed.channel import Channel, MemoryChannel, RedisChannel
from exposcan.managed.listed import listed_shards
from exposcan.managed.wire import ShardJob, options_to_wire, skip_for
from exposcan.probe import HostEvidence
from exposcan.probes.registry import SkipKey, endpoint_total, skip_key
from exposcan.results import EndpointResult
from exposcan.scan import ScanPlan
from exposcan.summary import Progress

log = get_logger("exposcan.managed")

#: at most this many shards; by default one per host up to it
MAX_SHARDS = 256
#: a shard that ends without all its results is sent again at most this often
MAX_RESENDS = 3
#: the fencing token of an endpoint a resumed scan already had
_RESUMED = object()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Distribution:
    broker: str
    shards: int | None = None
    no_worker_s: float = 30.0
    stall_s: float = 600.0
    #: a shard unacknowledged this long by a silent worker goes to another (Redis)
    redeliver_after_s: float = 60.0


def distribute(plan: ScanPlan, broker: str, **options: Any) -> ScanPlan:
    check_url(broker)
    how = Distribution(broker=broker, **options)

    def source(
        plan: ScanPlan,
        on_progress: ProgressCallback | None,
        skip: Container[SkipKey],
        evidence: Iterable[HostEvidence],
    ) -> ShardedRun:
        return ShardedRun(plan, how, on_progress=on_progress, skip=skip)

    return dataclasses.replace(plan, source=source)


Kick = Callable[[dict[str, Any]], Awaitable[Any]]


class ShardedRun:
    def __init__(
        self,
        plan: ScanPlan,
        how: Distribution,
        *,
        on_progress: ProgressCallback | None = None,
        skip: Container[SkipKey] = (),
    ) -> None:
        self.plan, self.how = plan, how
        self.total = plan.total
        self.learnt: list[HostEvidence] = []
        self.stopped: str | None = None
        self._on_progress = on_progress
        # a resumed scan's finished endpoints: a set, so that each shard gets its own
        self._skip: set[SkipKey] = set(skip) if isinstance(skip, Iterable) else set()
        hosts = plan.targets.count
        self.shards = min(how.shards or min(hosts, MAX_SHARDS), max(hosts, 1))
        # what has come in so far (kept across a broker that restarts), each with the
        # fencing token of the host lease its kept result was probed under
        self._seen: dict[SkipKey, object] = {}
        #: endpoints whose result came twice from two leases (probed twice)
        self.probed_twice = 0
        self._said: set[str] = set()
        self._done: set[int] = set()
        self._counts: Counter[str] = Counter()
        self._started = self._last = time.monotonic()
        # per shard: its endpoints, those in hand, and how often it was sent again
        lists = port_lists(plan.ports, plan.web_ports)
        # A listed scan's shards carry their own endpoints; an empty one is not sent.
        self._listed = (
            None if plan.endpoints is None else listed_shards(plan.endpoints, self.shards)
        )
        self._expected = [
            endpoint_total(plan.targets.shard(i, self.shards).count, lists)
            if self._listed is None
            else self._listed[i].endpoints
            for i in range(self.shards)
        ]
        if self._listed is not None:
            self._done.update(i for i, count in enumerate(self._expected) if not count)
        self._got = [0] * self.shards
        self._resent = Counter[int]()

    def jobs(self, run: str) -> list[ShardJob]:
        plan = self.plan
        scope, options = plan.scope.to_dict(), options_to_wire(plan.options)
        jobs = []
        for index in range(self.shards):
            # the plan the worker must make again: the whole scan's, or its listed shard's
            listed = self._listed[index] if self._listed is not None else None
            hosts = plan.targets.count if listed is None else listed.hosts
            jobs.append(
                ShardJob(
                    run=run,
                    shard=index,
                    shards=self.shards,
                    scope=scope,
                    targets=plan.requested,
                    listed=() if listed is None else listed.pairs,
                    options=options,
                    hosts=hosts,
                    endpoints=plan.total if listed is None else listed.endpoints,
                    skip=skip_for(self._skip, plan.targets.shard(index, self.shards)),
                )
            )
        return jobs

    async def run(self) -> AsyncIterator[EndpointResult]:
        run = uuid.uuid4().hex
        async with self._connect() as (kick, channel):
            jobs = self.jobs(run)
            for job in jobs:
                if job.shard not in self._done:
                    await self._kick(kick, job)
            log.info("shards_submitted", shards=self.shards, broker=redact(self.how.broker))
            self._seen = dict.fromkeys(self._skip, _RESUMED)
            for job in jobs:
                self._got[job.shard] = len(job.skip)
            self._started = self._last = time.monotonic()
            finished = False
            try:
                while True:
                    try:
                        async for result in self._collect(run, channel, kick, jobs):
                            yield result
                        finished = True
                        return
                    except channel.transient as exc:  # Redis restarting, the network
                        log.warning("broker_lost", error=type(exc).__name__)
                        await self._back(channel)
                    except channel.failures as exc:  # one the broker will not get over
                        raise self._failure(f"the broker answered {type(exc).__name__}") from None
                    # What Redis held may be gone (a restart without persistence): the
                    # shards not done go out again, without the endpoints already here.
                    for job in jobs:
                        if job.shard not in self._done:
                            again = dataclasses.replace(
                                job, skip=skip_for(self._seen, self._hosts(job.shard))
                            )
                            await self._kick(kick, again)
            finally:
                if self.probed_twice:
                    log.warning("endpoints_probed_twice", endpoints=self.probed_twice)
                with contextlib.suppress(Exception):
                    if not finished:  # interrupted, or failed: the workers stop its shards
                        await asyncio.shield(channel.cancel(run))
                    await asyncio.shield(channel.discard(run, self.shards))

    async def _kick(self, kick: Kick, job: ShardJob) -> None:
        """Send a shard again, through a pool whose connections died with Redis: the
        first tries may meet a closed connection."""
        for _ in range(10):
            try:
                await kick(job.to_dict())
                return
            except Exception:  # taskiq's SendTaskError over a ConnectionError
                await asyncio.sleep(0.5)
        raise self._failure(f"cannot send shard {job.shard} to {redact(self.how.broker)}")

    def _hosts(self, shard: int) -> object:
        return self.plan.targets.shard(shard, self.shards)

    async def _back(self, channel: Channel) -> None:
        """Wait for the broker to answer again, at most ``stall_s``."""
        since = time.monotonic()
        while True:
            try:
                await channel.workers()
                return
            except channel.transient:
                raise_lost_cancel()
                if time.monotonic() - since > self.how.stall_s:
                    raise self._failure(
                        f"the broker {redact(self.how.broker)} has not answered for "
                        f"{self.how.stall_s:g} s"
                    ) from None
                await asyncio.sleep(0.5)

    async def _collect(
        self, run: str, channel: Channel, kick: Kick, jobs: list[ShardJob]
    ) -> AsyncIterator[EndpointResult]:
        seen = self._seen
        lonely_since: float | None = None
        async for record in channel.records(run, wait_s=1.0):
            now = time.monotonic()
            if record is None:
                if now - self._last > self.how.stall_s:
                    raise self._failure(f"no shard has said anything for {self.how.stall_s:g} s")
                if await channel.workers() > 0:
                    lonely_since = None
                elif lonely_since is None:
                    lonely_since = now
                elif now - lonely_since > self.how.no_worker_s:
                    why = await channel.lonely(redact(self.how.broker), self.how.no_worker_s)
                    raise self._failure(why)  # naming the other versions' workers there
                continue
            self._last = now
            kind = record.get("record")
            if kind == "endpoint":
                result = EndpointResult.from_dict(record["result"])
                key = skip_key(result.host, result.port, result.protocol)
                if key in seen:
                    self._again(key, record.get("fence"))
                    continue
                seen[key] = record.get("fence")
                self._got[int(record["shard"])] += 1
                self._counts[result.exposure] += 1
                self._progress(len(seen) - len(self._skip), self._counts, self._started)
                yield result
            elif kind == "evidence":
                text = json.dumps(record["evidence"], sort_keys=True)
                if text not in self._said:
                    self._said.add(text)
                    self.learnt.append(HostEvidence.from_dict(record["evidence"]))
            elif kind == "shard-done":
                shard = int(record["shard"])
                if shard in self._done:
                    continue  # a second copy's
                if record.get("stopped") or self._got[shard] >= self._expected[shard]:
                    self._done.add(shard)
                    self.stopped = self.stopped or record.get("stopped")
                    if len(self._done) == self.shards:
                        return
                    continue
                # Done, yet some of its results never came (lost with a Redis that
                # restarted): the shard goes out again for those.
                self._resent[shard] += 1
                if self._resent[shard] > MAX_RESENDS:
                    raise self._failure(f"shard {shard} keeps ending without all its results")
                missing = self._expected[shard] - self._got[shard]
                log.warning("shard_incomplete", shard=shard, missing=missing)
                again = dataclasses.replace(jobs[shard], skip=skip_for(seen, self._hosts(shard)))
                await self._kick(kick, again)
            elif kind == "shard-refused":
                raise BrokerError(
                    f"a worker refused shard {record.get('shard')}: {record.get('reason')}"
                )

    def _again(self, key: SkipKey, fence: object) -> None:
        """A second copy of an endpoint's result: the report keeps the first. Each copy
        carries a fencing token of the shard run that sent it (its latest lease on the
        host then: tokens are never reused, so two runs never share one). The same token
        means the same run's result delivered again; another one means a second run
        probed the endpoint (a worker that stalled past its lease, or died between its
        probe and the result reaching Redis), which the operator is told."""
        kept = self._seen[key]
        if kept is _RESUMED or fence == kept:
            return  # an endpoint a --resume already had, or the same probe again
        self.probed_twice += 1
        log.warning(
            "endpoint_probed_twice",
            host=key[0],
            port=key[1],
            kept_fence=kept,
            other_fence=fence,
        )

    def _failure(self, why: str) -> BrokerError:
        return BrokerError(f"the distributed scan cannot finish: {why}")

    def _progress(self, done: int, counts: Counter[str], started: float) -> None:
        if self._on_progress is not None:
            self._on_progress(
                Progress(
                    total=self.total,
                    done=done,
                    in_flight=0,
                    elapsed_s=time.monotonic() - started,
                    by_exposure=dict(counts),
                )
            )

    @contextlib.asynccontextmanager
    async def _connect(self) -> AsyncIterator[tuple[Kick, Channel]]:
        from taskiq.kicker import AsyncKicker

        if check_url(self.how.broker) == "memory":
            async with _memory(self.plan) as (broker, channel):
                yield _kicker(AsyncKicker(TASK, broker, {})), channel
            return
        from exposcan.managed.broker import stream_broker

        redis = await open_redis(self.how.broker)
        broker = stream_broker(self.how.broker, idle_timeout_s=self.how.redeliver_after_s)
        try:
            await broker.startup()
            yield _kicker(AsyncKicker(TASK, broker, {})), RedisChannel(redis)
        finally:
            with contextlib.suppress(Exception):
                await broker.shutdown()
            await redis.aclose()


def _kicker(kicker: Any) -> Kick:
    async def kick(job: dict[str, Any]) -> None:
        await kicker.kiq(job)

    return kick


@contextlib.asynccontextmanager
async def _memory(plan: ScanPlan) -> AsyncIterator[tuple[Any, MemoryChannel]]:
    """taskiq's InMemoryBroker with the shard task: shards run in this process, behind
    one local gate (the limits of a local scan, for all shards together), counting the
    stock titles that worked in one mapping (what a local scan's DICOM run keeps)."""
    from taskiq import InMemoryBroker

    from exposcan.limits import LocalGate
    from exposcan.managed.broker import quiet_libraries
    from exposcan.managed.shard import run_shard
    from exposcan.probes.dimse import SHARED_WORKED

    quiet_libraries()
    broker = InMemoryBroker()
    channel = MemoryChannel()
    gate = LocalGate(plan.options.limits)
    worked: dict[str, int] = {}

    async def shard(job: dict[str, Any]) -> dict[str, Any]:
        token = SHARED_WORKED.set(worked)
        try:
            return await run_shard(job, channel, gate, clock=plan.clock)
        finally:
            SHARED_WORKED.reset(token)

    broker.register_task(shard, task_name=TASK)
    await broker.startup()
    try:
        yield broker, channel
    finally:
        running = list(getattr(broker, "_running_tasks", ()))
        for task in running:  # an interrupted scan: their associations abort politely
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await broker.shutdown()
