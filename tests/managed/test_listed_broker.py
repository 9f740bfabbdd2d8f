"""Listed scans (``--from-nmap``, ``--from-masscan``, ``endpoints=``) through a broker: the
listed endpoints split by the host hash of ``TargetSet.shard`` (all ports of a host in
one shard), each checked again by the worker, and the report the local listed scan writes,
every endpoint once; ``--resume`` goes on with what is left. In process (``memory://``)
and on Debian's redis-server with two worker processes."""

from __future__ import annotations

import dataclasses
import io
from collections import Counter
from datetime import timedelta
from pathlib import Path

import exposcan
from exposcan.lab import free_port
from exposcan.limits import LocalGate
from exposcan.managed import distribute
from exposcan.managed.channel import MemoryChannel
from exposcan.managed.listed import listed_shards
from exposcan.managed.shard import run_shard
from exposcan.managed.submit import ShardedRun
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.report.jsonl import JsonlWriter
from tests.managed.test_in_process import OPTIONS, records, records_of, stable
from tests.support.cli_child import FAST, run_cli

HOSTS = tuple(f"127.0.0.{i}" for i in range(31, 37))


def nmap_xml(pairs: list[tuple[str, int]]) -> str:
    """An nmap -oX report with these open TCP ports (and an ssh port on each host,
    which no probe of these scans takes)."""
    hosts: dict[str, list[int]] = {}
    for address, port in pairs:
        hosts.setdefault(address, []).append(port)
    body = "".join(
        f'<host><status state="up" reason="user-set"/><address addr="{address}" '
        'addrtype="ipv4"/><ports>'
        + "".join(
            f'<port protocol="tcp" portid="{port}"><state state="open" reason="syn-ack"/></port>'
            for port in [*ports, 22]
        )
        + "</ports></host>\n"
        for address, ports in hosts.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
        '<nmaprun scanner="nmap" args="nmap -sT -oX sweep.xml" version="7.93" '
        f'xmloutputversion="1.05">\n{body}</nmaprun>\n'
    )


def keys(report_records: list[dict]) -> Counter[tuple[str, int, str]]:
    return Counter(
        (r["host"], r["port"], r["protocol"]) for r in report_records if r["record"] == "endpoint"
    )


async def test_listed_shards_follow_the_target_set_shards(write_scope):
    scope = write_scope(["127.0.0.0/24"], [104, 11112, 4242])
    ports = (104, 11112, 4242)
    pairs = [(f"127.0.0.{i}", ports[j]) for i in range(1, 41) for j in range(1 + i % 3)]
    plan = await exposcan.prepare(scope, endpoints=[*pairs, ("127.0.0.50", 22)])
    assert plan.targets.count == 40
    assert plan.total == len(pairs)
    shards = listed_shards(plan.endpoints, 7)
    listed = [pair for shard in shards for pair in shard.pairs]
    assert sorted(listed) == sorted(pairs)  # each probed pair once, the ignored one not
    assert sum(s.endpoints for s in shards) == plan.total
    for index, shard in enumerate(shards):
        hosts = {h.address for h in plan.targets.shard(index, 7)}
        assert {address for address, _ in shard.pairs} == hosts  # every port of each
        assert shard.hosts == len(hosts)


async def test_memory_broker_gives_the_local_listed_report(scp_factory, write_scope):
    open_port = scp_factory("LISTED-SCP")
    closed = free_port("127.0.0.1")
    scope = write_scope(["127.0.0.0/29"], [open_port, closed])
    pairs = [
        ("127.0.0.1", open_port),
        ("127.0.0.1", closed),
        ("127.0.0.2", closed),
        ("127.0.0.3", open_port),
        ("127.0.0.4", open_port),
        ("127.0.0.4", closed),
        ("127.0.0.5", 22),  # a port no probe takes: in the header's count, not sent
    ]
    local_plan = await exposcan.prepare(scope, options=OPTIONS, endpoints=pairs)
    plan = distribute(local_plan, "memory://")
    source = plan.runner()
    assert isinstance(source, ShardedRun)
    assert source.shards == 4  # one per probed host
    sent = [job for job in source.jobs("r") if job.listed]
    assert sum(len(job.listed) for job in sent) == 6
    assert all(job.targets == () for job in source.jobs("r"))

    local, managed = io.StringIO(), io.StringIO()
    await local_plan.run(JsonlWriter(local))
    progress: list[int] = []
    summary = await plan.run(JsonlWriter(managed), on_progress=lambda p: progress.append(p.done))
    ours, theirs = records(managed.getvalue()), records(local.getvalue())
    assert ours[0]["endpoints_from"]["ignored"] == 1
    assert stable(ours[0]) == stable(theirs[0])  # the list's digest and counts too
    assert keys(ours) == keys(theirs)
    assert set(keys(ours).values()) == {1}
    assert len(keys(ours)) == 6
    key = lambda r: (r["host"], r["port"])  # noqa: E731
    ends = [
        sorted((stable(r) for r in rs if r["record"] == "endpoint"), key=key)
        for rs in (ours, theirs)
    ]
    assert ends[0] == ends[1]
    assert stable(ours[-1]) | {"duration_s": 0} == stable(theirs[-1]) | {"duration_s": 0}
    assert summary.endpoints_done == 6
    assert progress == list(range(1, 7))


async def test_library_scan_with_endpoints_and_a_broker(scp_factory, write_scope):
    open_port = scp_factory("LISTED-SCP")
    scope = write_scope(["127.0.0.0/29"], [open_port])
    pairs = [(f"127.0.0.{i}", open_port) for i in range(1, 5)]
    report = await exposcan.scan(scope, options=OPTIONS, endpoints=pairs, broker="memory://")
    local = await exposcan.scan(scope, options=OPTIONS, endpoints=pairs)
    assert sorted(r.host for r in report.results) == [h for h, _ in pairs]
    assert report.header["endpoints_from"] == local.header["endpoints_from"]
    assert sorted(repr(stable(r.to_dict())) for r in report.results) == sorted(
        repr(stable(r.to_dict())) for r in local.results
    )


async def test_the_worker_checks_every_listed_endpoint_again(write_scope, counting_listener):
    listener = counting_listener(("127.0.0.1", "127.0.1.1"))
    scope = write_scope(["127.0.0.0/29"], [listener.port])
    plan = distribute(
        await exposcan.prepare(scope, options=OPTIONS, endpoints=[("127.0.0.1", listener.port)]),
        "memory://",
    )
    source = plan.runner()
    assert isinstance(source, ShardedRun)
    (job,) = source.jobs("run-l")
    channel, gate = MemoryChannel(), LocalGate(OPTIONS.limits)
    # a queue is no way around the scope: a pair outside it, counts adjusted to match
    outside = dataclasses.replace(
        job, listed=((*job.listed[0],), ("127.0.1.1", listener.port)), hosts=2, endpoints=2
    )
    refused = await run_shard(outside.to_dict(), channel, gate)
    assert refused["record"] == "shard-refused"
    assert "127.0.1.1" in refused["reason"]
    # nor around the authorisation: a worker whose clock is past its expiry
    late = plan.scope.authorisation.expires_at + timedelta(seconds=1)
    refused = await run_shard(job.to_dict(), channel, gate, clock=lambda: late)
    assert refused["record"] == "shard-refused"
    assert "expired" in refused["reason"]
    # nor around the plan: an endpoint added without saying so
    more = dataclasses.replace(job, listed=(*job.listed, ("127.0.0.2", listener.port)))
    refused = await run_shard(more.to_dict(), channel, gate)
    assert "the plan differs" in refused["reason"]
    assert listener.accepted == []  # not one connection for any of them
    done = await run_shard(job.to_dict(), channel, gate)
    assert done == {"record": "shard-done", "shard": 0, "sent": 1, "stopped": None}
    assert [a for a, _ in listener.accepted] == ["127.0.0.1"]


async def cli_resume(
    tmp_path: Path, scope: Path, pairs: list[tuple[str, int]], broker: str, *extra: str
) -> tuple[list[dict], list[dict]]:
    """``exposcan scan --from-nmap`` through ``broker``, its report cut after one endpoint
    (as a run killed there leaves it), then ``--resume``: both runs' records."""
    sweep = tmp_path / "sweep.xml"
    sweep.write_text(nmap_xml(pairs), encoding="utf-8")
    report = tmp_path / "scan.jsonl"
    words = ("scan", "--scope", str(scope), "--from-nmap", str(sweep), "-o", str(report))
    words += ("--broker", broker, *FAST, *extra)
    code, _, err = await run_cli(*words)
    assert code == 0, err
    first = records_of(report)
    lines = report.read_text(encoding="utf-8").splitlines()
    report.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    code, _, err = await run_cli(*words, "--resume")
    assert code == 0, err
    return first, records_of(report)


def check_resumed(first: list[dict], resumed: list[dict], listed: int) -> None:
    assert len(keys(first)) == listed
    assert set(keys(first).values()) == {1}
    assert keys(resumed) == keys(first)  # every endpoint once, none lost, none twice
    assert [r["record"] for r in resumed].count("resume") == 1
    assert resumed[0]["endpoints_from"] == first[0]["endpoints_from"]
    assert resumed[-1]["record"] == "summary"
    assert resumed[-1]["endpoints_done"] == listed


async def test_cli_from_nmap_through_a_broker_resumes(scp_factory, write_scope, tmp_path):
    port = scp_factory("RESUME-SCP")
    scope = write_scope(["127.0.0.0/29"], [port])
    pairs = [(f"127.0.0.{i}", port) for i in range(1, 4)]
    first, resumed = await cli_resume(tmp_path, scope, pairs, "memory://")
    check_resumed(first, resumed, 3)
    assert first[0]["endpoints_from"]["ignored"] == 3  # the ssh ports


QUICK = Timeouts(connect=1, read=2, release=0.5, endpoint=4)


async def test_two_redis_workers_run_a_listed_scan(
    redis_server, workers, counting_listener, write_scope, tmp_path
):
    listeners = [counting_listener(HOSTS, hold=0.1) for _ in range(2)]
    a, b = (lst.port for lst in listeners)
    scope = write_scope(["127.0.0.0/26"], [a, b])
    # some hosts on both ports, some on one: each host's ports in one shard
    pairs = [(h, a) for h in HOSTS] + [(h, b) for h in HOSTS[::2]]
    pool = [workers(redis_server.url, "--shards-at-once", "2") for _ in range(2)]
    for worker in pool:
        worker.wait_listening()
    options = ScanOptions(limits=Limits(rate=20, per_host_rate=2), timeouts=QUICK, ae_attempts=1)
    report = await exposcan.scan(scope, options=options, endpoints=pairs, broker=redis_server.url)
    local = await exposcan.scan(scope, options=options, endpoints=pairs)
    got = Counter((r.host, r.port) for r in report.results)
    assert got == Counter((r.host, r.port) for r in local.results) == Counter(pairs)
    assert report.header["endpoints_from"] == local.header["endpoints_from"]
    # what each endpoint said can hang on a loaded machine's timing: the keys cannot
    assert all(max(lst.max_open.values()) == 1 for lst in listeners)  # one per host at once
    assert min(w.text().count("shard_finished") for w in pool) >= 1  # both took shards

    before = [len(lst.accepted) for lst in listeners]
    first, resumed = await cli_resume(
        tmp_path, scope, pairs, redis_server.url, "--ae-attempts", "1"
    )
    check_resumed(first, resumed, len(pairs))
    assert sum(len(lst.accepted) for lst in listeners) > sum(before)
