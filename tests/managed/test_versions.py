"""Workers of two exposcan versions on one broker: a worker of another version never takes
this version's shards (each version has a stream of its own), leaves them to a worker of
the right version and says so once in its log; with only such workers the scan fails
after its bounded wait, in one line naming the versions (exit 2 from the command line).

``EXPOSCAN_TEST_WORKER_VERSION`` (test only) makes a worker say it is another version."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

import exposcan
from exposcan.managed import distribute
from exposcan.managed.broker import BrokerError
from exposcan.options import Limits, ScanOptions
from tests.managed.test_redis_workers import QUICK
from tests.support.cli_child import FAST, run

HOSTS = tuple(f"127.0.0.{i}" for i in range(61, 67))  # six hosts: six shards
OTHER = {"EXPOSCAN_TEST_WORKER_VERSION": "9.9.9-other"}
#: the CLI's bounded wait for a worker, shortened for the test (30 s by default)
SHORT_WAIT = (
    "import sys, exposcan.managed.submit as s; "
    "s.Distribution.__init__.__kwdefaults__['no_worker_s'] = 3.0; "
    "from exposcan._entry import run; run()"
)


async def test_a_worker_of_another_version_leaves_the_shards_to_the_right_one(
    redis_server, workers, counting_listener, write_scope
):
    listener = counting_listener(HOSTS, hold=0.1)
    scope = write_scope(list(HOSTS), [listener.port])
    other = workers(redis_server.url, "--shards-at-once", "6", env=OTHER)
    right = workers(redis_server.url, "--shards-at-once", "2")
    for worker in (other, right):
        worker.wait_listening()
    options = ScanOptions(limits=Limits(per_host_rate=20), timeouts=QUICK, ae_attempts=1)
    report = await exposcan.scan(scope, options=options, broker=redis_server.url)

    keys = Counter((r.host, r.port) for r in report.results)
    assert sorted(host for host, _ in keys) == sorted(HOSTS)
    assert set(keys.values()) == {1}
    assert report.summary.endpoints_done == len(HOSTS)
    assert Counter(address for address, _ in listener.accepted) == Counter(HOSTS)
    assert "shard_started" not in other.text()
    assert "shard_refused" not in other.text()
    # the worker logs a shard's end after its results reach the submitter: wait for it
    for _ in range(50):
        if right.text().count("shard_finished") >= len(HOSTS):
            break
        await asyncio.sleep(0.1)
    assert right.text().count("shard_finished") == len(HOSTS)
    assert "9.9.9-other" in other.text()  # it said which version it is


async def test_only_workers_of_another_version_fail_the_scan_in_one_line(
    redis_server, workers, write_scope, tmp_path
):
    scope = write_scope(["127.0.0.68"], [1])
    other = workers(redis_server.url, env=OTHER)
    other.wait_listening()
    plan = distribute(await exposcan.prepare(scope), redis_server.url, no_worker_s=1.5)
    with pytest.raises(BrokerError) as caught:
        [r async for r in plan.runner().run()]
    message = str(caught.value)
    assert "\n" not in message
    assert f"no worker of this exposcan version ({exposcan.__version__})" in message
    assert "1 of exposcan 9.9.9-other" in message
    # from the command line: exit 2, one line, after the (shortened) bounded wait
    words = ("scan", "--scope", str(scope), "--broker", redis_server.url, *FAST)
    done = run(*words, "-o", str(tmp_path / "r.jsonl"), prefix=("-c", SHORT_WAIT), timeout=60)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "exposcan 9.9.9-other" in lines[0]
    assert "Traceback" not in done.stderr
    # the other version's worker took nothing, and said once why it left the shards
    text = other.text()
    assert "shard_started" not in text
    assert text.count("shards_left_for_other_version") == 1
    assert f'"their_version": "{exposcan.__version__}"' in text
