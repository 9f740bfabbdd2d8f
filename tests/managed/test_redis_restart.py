"""Redis restarting mid-scan (without persistence: everything it held is gone) loses no
finished endpoint: the submitter has written what it read, puts the unfinished shards
out again without the endpoints it has, and the workers make their group again."""

from __future__ import annotations

import signal
from collections import Counter

import exposcan
from exposcan.managed import distribute
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.report.jsonl import JsonlWriter
from tests.support.redis_server import start_redis, stop_redis

HOSTS = tuple(f"127.0.0.{i}" for i in range(31, 37))


async def test_redis_restart_mid_scan(workers, counting_listener, write_scope, tmp_path):
    first = start_redis()
    servers = [first]
    try:
        listeners = [counting_listener(HOSTS, hold=0.4) for _ in range(2)]
        scope = write_scope(list(HOSTS), [lst.port for lst in listeners])
        pool = [workers(first.url, "--redeliver-after", "2", "--lease", "2") for _ in range(2)]
        for worker in pool:
            worker.wait_listening()
        options = ScanOptions(
            limits=Limits(concurrency=4, rate=50, per_host_rate=2),
            timeouts=Timeouts(connect=1, read=2, release=0.5, endpoint=4),
            ae_attempts=1,
        )
        plan = distribute(await exposcan.prepare(scope, options=options), first.url, no_worker_s=20)
        restarted: list[int] = []

        def restart(progress: exposcan.Progress) -> None:
            if progress.done == 3 and not restarted:
                stop_redis(servers[0])
                servers.append(start_redis(port=first.port))
                restarted.append(progress.done)

        path = tmp_path / "scan.jsonl"
        with path.open("w", encoding="utf-8") as stream:
            summary = await plan.run(JsonlWriter(stream), on_progress=restart)
        assert restarted == [3]
        report = exposcan.read_report(path)
        keys = Counter((r.host, r.port) for r in report.results)
        assert len(keys) == 12, sorted(keys)
        assert set(keys.values()) == {1}, keys
        assert summary.endpoints_done == 12
        for worker in pool:  # the workers lived through it
            assert worker.process.poll() is None, worker.text()[-3000:]
            assert worker.stop(signal.SIGTERM) == 143, worker.text()[-3000:]
    finally:
        for server in servers:
            stop_redis(server)
