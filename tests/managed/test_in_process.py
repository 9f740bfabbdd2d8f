"""The in-process path: a scan split into shards by host, run through taskiq's
InMemoryBroker, writes the report a local scan writes."""

from __future__ import annotations

import io
import json
from typing import Any

import exposcan
from exposcan.lab import free_port
from exposcan.managed import distribute
from exposcan.managed.submit import Distribution, ShardedRun
from exposcan.options import Limits, ScanOptions
from exposcan.report.jsonl import JsonlWriter

#: what differs between two runs of one scan, whatever runs it
VOLATILE = {"probed_at", "duration_s", "scan_id", "started_at", "finished_at"}


def stable(record: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in record.items() if k not in VOLATILE}
    if isinstance(
        kept.get("findings"), list
    ):  # the evidence names the random called title the probe tried
        kept["findings"] = [{**f, "evidence": None} for f in kept["findings"]]
    return kept


def records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


OPTIONS = ScanOptions(limits=Limits(rate=200, per_host_rate=50, per_host_concurrency=2))


async def test_memory_broker_gives_the_local_report(scp_factory, write_scope):
    open_port = scp_factory("SHARD-SCP")
    closed = free_port("127.0.0.1")
    # four hosts (one answers), so four shards of one host each
    scope = write_scope([f"127.0.0.{i}" for i in range(1, 5)], [open_port, closed])
    local_plan = await exposcan.prepare(scope, options=OPTIONS)
    plan = distribute(local_plan, "memory://")
    source = plan.runner()
    assert isinstance(source, ShardedRun)
    assert source.shards == 4

    local, managed = io.StringIO(), io.StringIO()
    local_summary = await local_plan.run(JsonlWriter(local))
    progress: list[int] = []
    summary = await plan.run(JsonlWriter(managed), on_progress=lambda p: progress.append(p.done))

    ours, theirs = records(managed.getvalue()), records(local.getvalue())
    assert stable(ours[0]) == stable(theirs[0])  # the same header: scope, targets, options
    key = lambda r: (r["host"], r["port"])  # noqa: E731
    ends = [
        sorted((stable(r) for r in rs if r["record"] == "endpoint"), key=key)
        for rs in (ours, theirs)
    ]
    assert len(ends[0]) == 8
    assert ends[0] == ends[1]
    assert [r["host"] for r in ends[0] if r["exposure"] != "none"] == ["127.0.0.1"]
    assert stable(ours[-1]) | {"duration_s": 0} == stable(theirs[-1]) | {"duration_s": 0}
    assert summary.endpoints_done == local_summary.endpoints_done == 8
    assert progress == list(range(1, 9))


async def test_library_keyword_and_a_shard_per_host(scp_factory, write_scope):
    open_port = scp_factory("SHARD-SCP")
    scope = write_scope([f"127.0.0.{i}" for i in range(1, 4)], [open_port])
    report = await exposcan.scan(scope, options=OPTIONS, broker="memory://")
    local = await exposcan.scan(scope, options=OPTIONS)
    assert sorted(r.host for r in report.results) == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert sorted(stable(r.to_dict()).items().__repr__() for r in report.results) == sorted(
        stable(r.to_dict()).items().__repr__() for r in local.results
    )


async def test_resume_skips_what_is_finished(scp_factory, write_scope):
    open_port = scp_factory("SHARD-SCP")
    scope = write_scope([f"127.0.0.{i}" for i in range(1, 5)], [open_port])
    plan = distribute(await exposcan.prepare(scope, options=OPTIONS), "memory://")
    skip = {("127.0.0.2", open_port, "dicom"), ("127.0.0.3", open_port, "dicom")}
    got = [r.host async for r in plan.runner(skip=skip).run()]
    assert sorted(got) == ["127.0.0.1", "127.0.0.4"]


async def test_cli_resume_through_a_broker(scp_factory, write_scope, tmp_path):
    """An interrupted distributed scan (here: its report cut after one endpoint) goes on
    with --resume: finished endpoints are not probed again, every endpoint is there once."""
    from tests.support.cli_child import FAST, run_cli

    port = scp_factory("RESUME-SCP")
    scope = write_scope([f"127.0.0.{i}" for i in range(1, 4)], [port])
    report = tmp_path / "scan.jsonl"
    words = ("scan", "--scope", str(scope), "-o", str(report), "--broker", "memory://", *FAST)
    code, _, err = await run_cli(*words)
    assert code == 0, err
    lines = report.read_text(encoding="utf-8").splitlines()
    kept = lines[:2]  # the header and one endpoint: as a run killed there leaves it
    report.write_text("\n".join(kept) + "\n", encoding="utf-8")
    code, _, err = await run_cli(*words, "--resume")
    assert code == 0, err
    records = records_of(report)
    hosts = [r["host"] for r in records if r["record"] == "endpoint"]
    assert sorted(hosts) == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert [r["record"] for r in records].count("resume") == 1
    assert records[-1]["record"] == "summary"
    assert records[-1]["endpoints_done"] == 3


def records_of(path) -> list[dict[str, Any]]:
    return records(path.read_text(encoding="utf-8"))


async def test_a_shard_done_without_all_its_results_goes_out_again(
    scp_factory, write_scope, monkeypatch
):
    from exposcan.managed.channel import MemoryChannel

    real = MemoryChannel.publish
    lost: list[dict[str, Any]] = []

    async def lossy(self, run, record, key=None):
        if record["record"] == "endpoint" and not lost:
            lost.append(record)  # as a record put on a Redis that then restarted empty
            return
        await real(self, run, record, key)

    monkeypatch.setattr(MemoryChannel, "publish", lossy)
    port = scp_factory("LOSSY-SCP")
    scope = write_scope(["127.0.0.1", "127.0.0.2"], [port])
    plan = distribute(await exposcan.prepare(scope, options=OPTIONS), "memory://")
    got = [r.host async for r in plan.runner().run()]
    assert len(lost) == 1
    assert sorted(got) == ["127.0.0.1", "127.0.0.2"]  # the lost one probed again, once


async def test_a_second_copy_is_dropped_and_one_from_another_lease_is_said(
    scp_factory, write_scope, monkeypatch
):
    """The fencing token of the host lease travels with each result: a second copy under
    the same token (the same probe delivered again) is dropped quietly; one under another
    token means the endpoint was probed twice, which the submitter counts and logs (the
    report still keeps the first copy alone)."""
    import structlog

    from exposcan.managed.channel import MemoryChannel

    real = MemoryChannel.publish

    async def doubling(self, run, record, key=None):
        if record["record"] != "endpoint":
            await real(self, run, record, key)
            return
        await real(self, run, {**record, "fence": 7}, key)
        late = 7 if record["result"]["host"] == "127.0.0.1" else 3
        await real(self, run, {**record, "fence": late}, key)

    monkeypatch.setattr(MemoryChannel, "publish", doubling)
    port = scp_factory("FENCED-SCP")
    scope = write_scope(["127.0.0.1", "127.0.0.2", "127.0.0.3"], [port])
    plan = await exposcan.prepare(scope, options=OPTIONS)
    run = ShardedRun(plan, Distribution(broker="memory://"))
    with structlog.testing.capture_logs() as logs:
        got = [r.host async for r in run.run()]
    assert sorted(got) == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]  # one copy each
    assert run.probed_twice == 2  # .2 and .3 came again under another lease
    twice = [e for e in logs if e["event"] == "endpoint_probed_twice"]
    assert sorted(e["host"] for e in twice) == ["127.0.0.2", "127.0.0.3"]
    assert all((e["kept_fence"], e["other_fence"]) == (7, 3) for e in twice)
    assert [e["endpoints"] for e in logs if e["event"] == "endpoints_probed_twice"] == [2]
