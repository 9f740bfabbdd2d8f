"""A stock title learnt on one shard's host is tried first on another shard's host, through
Redis (issue 14's "what already worked on other hosts of this scan", distributed): two
"workers" (two Redis clients) run the shards of one scan one after the other; the
listener counts the associations each host is asked for. In one process (``memory://``)
the shards share one mapping, as one local scan does."""

from __future__ import annotations

import struct

from redis.asyncio import Redis

import exposcan
from exposcan.aetitles import stock_ports, stock_titles
from exposcan.lab import free_port
from exposcan.managed.broker import TASK
from exposcan.managed.channel import RedisChannel
from exposcan.managed.gate import RedisGate, RedisWindows
from exposcan.managed.shard import run_shard
from exposcan.managed.submit import Distribution, ShardedRun, _memory
from exposcan.managed.titles import shared_titles, worked_key
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.probes.aetitle_order import order_titles
from tests.support import pdu

#: A-ASSOCIATE-RJ, permanent, by the service user, "called AE title not recognised"
#: (PS3.8 Table 9-21)
REJECT = pdu.pdu(0x03, bytes([0, 1, 1, 7]))
DEPTH = 4  # the title is the 4th stock title tried at this port


def split_hosts(plan) -> tuple[str, str]:
    """One host of each of the two shards."""
    first = next(iter(plan.targets.shard(0, 2))).address
    second = next(iter(plan.targets.shard(1, 2))).address
    return str(first), str(second)


async def two_shard_lab(listener_factory, write_scope):
    """A scan of two hosts in two shards, each accepting only the stock title tried
    DEPTH-th at its port: the plan, the hosts (shard 0's, shard 1's), the title, and per
    host the called titles it was asked for."""
    port = free_port()
    title = order_titles(stock_titles(), port=port, port_products=stock_ports())[DEPTH - 1]
    called: dict[str, list[str]] = {}

    async def checks_the_called_title(reader, writer, listener):
        header = await reader.readexactly(6)
        body = await reader.readexactly(struct.unpack(">L", header[2:])[0])
        address = writer.get_extra_info("sockname")[0]
        asked = body[4:20].decode("ascii").strip()
        called.setdefault(address, []).append(asked)
        writer.write(pdu.associate_ac() if asked == title else REJECT)
        await writer.drain()
        await reader.read(65536)  # the next PDU, or the close; then this side closes

    candidates = [f"127.0.0.{i}" for i in range(81, 97)]
    scope = write_scope(candidates, [port])
    options = ScanOptions(
        limits=Limits(per_host_rate=50, rate=200),
        timeouts=Timeouts(connect=1, read=2, release=0.5, endpoint=10),
        ae_attempts=DEPTH + 2,
    )
    everyone = await exposcan.prepare(scope, options=options)
    hosts = split_hosts(everyone)
    listener = await listener_factory(hosts, behaviour=checks_the_called_title, port=port)
    assert listener.port == port
    scope = write_scope(list(hosts), [port])
    plan = await exposcan.prepare(scope, options=options)
    return plan, hosts, title, called


def assert_learnt_once(called, hosts, title) -> None:
    learner, follower = (called[h] for h in hosts)
    # the first shard's host: a random title, then stock titles until this one
    assert learner[-1] == title
    assert len(learner) == 1 + DEPTH
    # the second shard's host: a random title, then at once the one learnt elsewhere
    assert follower[1:] == [title]


async def test_a_title_learnt_in_one_shard_goes_first_in_another(
    redis_server, listener_factory, write_scope
):
    plan, hosts, title, called = await two_shard_lab(listener_factory, write_scope)
    jobs = ShardedRun(plan, Distribution(broker=redis_server.url, shards=2)).jobs("run-t")
    assert [next(iter(plan.targets.shard(j.shard, 2))).address for j in jobs] == list(hosts)
    clients = [Redis.from_url(redis_server.url) for _ in range(2)]
    try:
        for job, client in zip(jobs, clients, strict=True):  # worker 1, then worker 2
            gate = RedisGate(
                client, RedisWindows(redis_server.url, client), plan.options.limits, run="run-t"
            )
            async with shared_titles(client, "run-t"):
                done = await run_shard(job.to_dict(), RedisChannel(client), gate)
            assert done["record"] == "shard-done", done
        assert int(await clients[0].hget(worked_key("run-t"), title)) == 2
    finally:
        for client in clients:
            await client.aclose()
    assert_learnt_once(called, hosts, title)


async def test_in_process_shards_share_what_worked(listener_factory, write_scope):
    """``memory://``: the shards in this process count the titles that worked in one
    mapping, as one local scan does (run one after the other, as the two workers above)."""
    plan, hosts, title, called = await two_shard_lab(listener_factory, write_scope)
    jobs = ShardedRun(plan, Distribution(broker="memory://", shards=2)).jobs("run-m")
    async with _memory(plan) as (broker, _channel):
        shard = broker.find_task(TASK).original_func
        for job in jobs:
            done = await shard(job.to_dict())
            assert done["record"] == "shard-done", done
    assert_learnt_once(called, hosts, title)
