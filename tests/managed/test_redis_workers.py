"""Distributed scans on Debian's redis-server with two ``exposcan worker`` processes:
the report holds every endpoint once, and the politeness limits hold for both workers
together (per-host windows, one association per host, the global rate), also when one
worker is killed mid-shard."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import signal
import time
from collections import Counter, defaultdict

import pytest

import exposcan
from exposcan.managed import distribute
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.report.jsonl import JsonlWriter
from exposcan.vocabulary import Status

HOSTS = tuple(f"127.0.0.{i}" for i in range(21, 27))  # six hosts: six shards
QUICK = Timeouts(connect=1, read=2, release=0.5, endpoint=4)
#: a worker silent this long loses its shard; its host leases lapse as fast
FAST_REDELIVERY = ("--redeliver-after", "2", "--lease", "2")


def most_in_window(times: list[float], period: float, jitter: float = 0.03) -> int:
    """The most instants in any window of ``period`` (less the accept thread's jitter)."""
    times = sorted(times)
    return max(
        (bisect.bisect_left(times, t + period - jitter) - i for i, t in enumerate(times)),
        default=0,
    )


def shards_run(worker) -> int:
    return worker.text().count("shard_finished")


async def test_two_workers_keep_the_limits_together(
    redis_server, workers, counting_listener, write_scope
):
    listeners = [counting_listener(HOSTS, hold=0.15) for _ in range(2)]
    scope = write_scope(list(HOSTS), [lst.port for lst in listeners])
    pool = [workers(redis_server.url, "--shards-at-once", "3") for _ in range(2)]
    for worker in pool:
        worker.wait_listening()
    # each worker alone would allow 3 at once per host slot... the limits are the scan's
    options = ScanOptions(
        limits=Limits(concurrency=8, rate=4, per_host_rate=1), timeouts=QUICK, ae_attempts=1
    )
    report = await exposcan.scan(scope, options=options, broker=redis_server.url)

    keys = Counter((r.host, r.port) for r in report.results)
    assert len(keys) == 12
    assert set(keys.values()) == {1}
    assert report.summary.endpoints_done == 12
    accepted = [(a, t) for lst in listeners for a, t in lst.accepted]
    by_host = defaultdict(list)
    for address, at in accepted:
        by_host[address].append(at)
    assert set(by_host) == set(HOSTS)
    assert all(most_in_window(times, 1.0) <= 1 for times in by_host.values())
    assert most_in_window([t for _, t in accepted], 1.0) <= 4
    # one association per host at a time, across both workers and both ports
    assert all(max(lst.max_open.values()) == 1 for lst in listeners)
    assert min(shards_run(w) for w in pool) >= 1  # both workers took shards


async def test_a_killed_worker_costs_no_endpoint(
    redis_server, workers, counting_listener, write_scope, tmp_path
):
    listener = counting_listener(HOSTS, hold=0.6)
    other = counting_listener(HOSTS, hold=0.6)
    scope = write_scope(list(HOSTS), [listener.port, other.port])
    pool = [workers(redis_server.url, "--shards-at-once", "2", *FAST_REDELIVERY)]
    pool.append(workers(redis_server.url, "--shards-at-once", "2", *FAST_REDELIVERY))
    for worker in pool:
        worker.wait_listening()
    options = ScanOptions(
        limits=Limits(concurrency=4, rate=50, per_host_rate=2), timeouts=QUICK, ae_attempts=1
    )
    plan = distribute(
        await exposcan.prepare(scope, options=options),
        redis_server.url,
        redeliver_after_s=2,
        no_worker_s=20,
    )
    killed: list[int] = []

    def kill_one(progress: exposcan.Progress) -> None:
        if progress.done == 2 and not killed:
            victim = next(w for w in pool if "shard_started" in w.text())
            killed.append(victim.stop(signal.SIGKILL))

    path = tmp_path / "scan.jsonl"
    started = time.monotonic()
    with path.open("w", encoding="utf-8") as stream:
        summary = await plan.run(JsonlWriter(stream), on_progress=kill_one)
    assert killed == [-signal.SIGKILL]
    report = exposcan.read_report(path)
    keys = Counter((r.host, r.port) for r in report.results)
    assert len(keys) == 12
    assert set(keys.values()) == {1}
    assert summary.endpoints_done == 12
    assert all(r.status is not Status.ERROR for r in report.results)
    assert time.monotonic() - started < 40
    # the killed worker's unfinished shards started again on the other one
    began = sum(w.text().count("shard_started") for w in pool)
    assert began > 6, [w.text().count("shard_started") for w in pool]


@pytest.mark.parametrize(("stop", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
async def test_a_stopped_worker_ends_within_seconds_mid_association(
    redis_server, workers, listener_factory, write_scope, stop, code
):
    """SIGTERM (systemd's stop) or SIGINT (Ctrl-C): the worker ends within seconds, and
    the association it had open is ended with an A-ABORT (PS3.8 9.3.8: type 07H, length
    4), not left to the peer's timeout."""

    async def silent(reader, writer, listener):  # never answers: the probe waits
        while data := await reader.read(4096):
            listener.received.extend(data)

    listener = await listener_factory(HOSTS[:1], behaviour=silent)
    scope = write_scope(list(HOSTS[:1]), [listener.port])
    worker = workers(redis_server.url)
    worker.wait_listening()
    options = ScanOptions(timeouts=Timeouts(connect=1, read=10, release=1, endpoint=12))
    plan = distribute(await exposcan.prepare(scope, options=options), redis_server.url)
    results = plan.runner().run()
    pending = asyncio.ensure_future(anext(results))
    deadline = time.monotonic() + 10
    while not listener.received and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    assert listener.received, "the worker never sent its association request"
    stopped = time.monotonic()
    assert worker.stop(stop) == code
    assert time.monotonic() - stopped < 5
    await asyncio.sleep(0.3)
    assert sum(listener.open_now.values()) == 0  # its association was closed, not left
    request = bytes(listener.received)
    assert request[:1] == b"\x01"  # the A-ASSOCIATE-RQ, then
    assert b"\x07\x00\x00\x00\x00\x04" in request[1:]  # the A-ABORT
    assert "Traceback" not in worker.text()
    pending.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pending
    await results.aclose()


async def test_an_interrupted_submitter_stops_its_shards(
    redis_server, workers, counting_listener, write_scope
):
    listeners = [counting_listener(HOSTS, hold=0.2) for _ in range(3)]
    scope = write_scope(list(HOSTS), [lst.port for lst in listeners])
    worker = workers(redis_server.url, "--shards-at-once", "6")
    worker.wait_listening()
    # a connection per host every 4 s: uninterrupted, new ones would come at 4 s and 8 s
    options = ScanOptions(limits=Limits(per_host_rate=0.25), timeouts=QUICK, ae_attempts=1)
    plan = distribute(await exposcan.prepare(scope, options=options), redis_server.url)
    results = plan.runner().run()
    await anext(results)  # the scan is under way: then the submitter is interrupted
    await results.aclose()
    await asyncio.sleep(2.5)  # a running shard asks every second (give it two)
    settled = sum(len(lst.accepted) for lst in listeners)
    assert settled <= len(HOSTS)  # at most the first port of each host
    await asyncio.sleep(3.0)  # past the 4 s mark
    assert sum(len(lst.accepted) for lst in listeners) == settled
    assert all(sum(lst.open_now.values()) == 0 for lst in listeners)
    assert worker.text().count("shard_cancelled") >= 1
    assert worker.process.poll() is None  # the worker goes on, for other scans
