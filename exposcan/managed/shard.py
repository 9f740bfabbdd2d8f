"""What a worker does with one shard: rebuild the plan (scope and authorisation checked
again, here), run the engine on the shard's hosts, and put each result on the channel as
it finishes.

A shard is redelivered when its worker dies (or is too slow to say it lives): the new run
skips the endpoints the channel already has for it, so a result is sent at most once per
endpoint in the usual case, and the submitter drops any second copy (a result is
idempotent: the first one in is the one in the report).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from exposcan.engine import Engine
from exposcan.errors import UserError
from exposcan.limits import Gate
from exposcan.logs import get_logger
from exposcan.managed.broker import raise_lost_cancel
from exposcan.managed.channel import Channel
from exposcan.managed.wire import JobRefused, ShardJob, options_from_wire, rebuild_scope
from exposcan.probes.registry import skip_key
from exposcan.scan import ScanPlan, prepare
from exposcan.scope.authorisation import Clock

log = get_logger("exposcan.managed")


async def plan_for(job: ShardJob, *, clock: Clock | None = None) -> ScanPlan:
    """The job's plan as this worker makes it, or :class:`JobRefused` (one line)."""
    scope = rebuild_scope(job)
    options = options_from_wire(job.options)
    try:
        plan = await prepare(
            scope,
            list(job.targets) or None,
            options=options,
            clock=clock,
            allow_large=True,
            endpoints=list(job.listed) or None,
        )
    except JobRefused:
        raise
    except UserError as exc:  # an expired authorisation, a target out of scope
        raise JobRefused(str(exc)) from None
    if (plan.targets.count, plan.total) != (job.hosts, job.endpoints):
        raise JobRefused(
            f"the plan differs here ({plan.targets.count} hosts, {plan.total} endpoints; "
            f"the submitter's: {job.hosts}, {job.endpoints}): a name resolved differently?"
        )
    return plan


async def run_shard(
    data: Mapping[str, Any], channel: Channel, gate: Gate, *, clock: Clock | None = None
) -> dict[str, Any]:
    """Run the shard ``data`` describes; returns its last record (``shard-done`` or
    ``shard-refused``), also put on the channel."""
    try:
        job = ShardJob.from_dict(data)
    except JobRefused as exc:
        return await _refuse(channel, data, str(exc))
    try:
        plan = await plan_for(job, clock=clock)
    except JobRefused as exc:
        return await _refuse(channel, data, str(exc))
    if await channel.cancelled(job.run):
        return {"record": "shard-cancelled", "shard": job.shard}
    targets = plan.targets.shard(job.shard, job.shards)
    skip = set(job.skip) | await channel.finished(job.run, job.shard)
    log.info("shard_started", shard=job.shard, shards=job.shards, hosts=targets.count)
    engine = Engine(
        targets,
        plan.ports,
        plan.options,
        web_ports=plan.web_ports,
        skip=skip,
        expires_at=plan.scope.authorisation.expires_at,
        clock=plan.clock,
        gate=gate,
        endpoints=plan.endpoints,
    )
    task = asyncio.current_task()
    assert task is not None
    stop = asyncio.create_task(_stop_when_cancelled(channel, job.run, task))
    try:
        sent = await _send(job, engine, channel, gate)
    except asyncio.CancelledError:
        if not stop.done() or stop.cancelled() or not stop.result():
            raise  # the worker is stopping: the shard goes to another one
        task.uncancel()  # the submitter has gone: this shard is over, not to redeliver
        log.info("shard_cancelled", shard=job.shard)
        return {"record": "shard-cancelled", "shard": job.shard}
    finally:
        stop.cancel()
    done = {"record": "shard-done", "shard": job.shard, "sent": sent, "stopped": engine.stopped}
    await channel.publish(job.run, done)
    log.info("shard_finished", shard=job.shard, sent=sent, stopped=engine.stopped)
    return done


#: how often a running shard asks whether its submitter has gone
CANCEL_CHECK_S = 1.0


async def _stop_when_cancelled(channel: Channel, run: str, task: asyncio.Task[Any]) -> bool:
    while True:
        await asyncio.sleep(CANCEL_CHECK_S)
        with contextlib.suppress(Exception):  # Redis away: ask again
            if await channel.cancelled(run):
                task.cancel()  # its associations abort politely as the engine unwinds
                return True
        raise_lost_cancel()  # the shard is over: this watcher too


async def _send(job: ShardJob, engine: Engine, channel: Channel, gate: Gate) -> int:
    """Put each result of the shard on the channel as it finishes; how many were sent."""
    fence = getattr(gate, "fence", None)
    written = sent = 0
    async for result in engine.run():
        for learnt in engine.learnt[written:]:
            evidence = {"record": "evidence", "shard": job.shard, "evidence": learnt.to_dict()}
            await channel.publish(job.run, evidence)
        written = len(engine.learnt)
        record = {
            "record": "endpoint",
            "shard": job.shard,
            "fence": fence(result.host) if fence is not None else None,
            "result": result.to_dict(),
        }
        key = skip_key(result.host, result.port, result.protocol)
        await channel.publish(job.run, record, key)
        sent += 1
    return sent


async def _refuse(channel: Channel, data: Mapping[str, Any], reason: str) -> dict[str, Any]:
    log.warning("shard_refused", reason=reason)
    record = {"record": "shard-refused", "shard": data.get("shard"), "reason": reason}
    run = data.get("run") if isinstance(data, Mapping) else None
    if isinstance(run, str) and isinstance(record["shard"], int):
        await channel.publish(run, record)
    return record
