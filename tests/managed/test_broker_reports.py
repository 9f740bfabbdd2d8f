"""What a distributed scan leaves behind: every document of ``-oA`` (HTML, SARIF, CSV,
JSON, DefectDojo) saying what a local scan's say, and, when every worker dies mid-scan,
one line and exit 2 after a bounded wait, a report that keeps what had finished, and a
``--resume`` on a new worker that completes it with every endpoint once."""

from __future__ import annotations

import asyncio
import csv
import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

import exposcan
from exposcan.lab import running_lab
from exposcan.managed import distribute
from exposcan.managed.broker import BrokerError
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.report.jsonl import JsonlWriter
from exposcan.report.tee import document_path
from tests.cli.test_scan_outputs import assert_agree, jsonl
from tests.support.cli_child import FAST, run_cli


def text_of(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def facts(fmt: str, path: Path) -> Counter[tuple[object, ...]]:
    """What must agree between a local and a distributed scan of the same lab (times,
    ids and order differ; what was found does not)."""
    text = text_of(path)
    if fmt == "json":
        return Counter((e["host"], e["port"], e["exposure"]) for e in json.loads(text)["endpoints"])
    if fmt == "csv":
        rows = csv.DictReader(text.splitlines())
        return Counter((r["host"], r["port"], r["exposure"]) for r in rows)
    if fmt == "sarif":
        results = json.loads(text)["runs"][0]["results"]
        return Counter((r["ruleId"], r["level"], json.dumps(r["locations"])) for r in results)
    if fmt == "defectdojo":
        findings = json.loads(text)["findings"]
        return Counter((f["title"], f["severity"]) for f in findings)
    raise AssertionError(fmt)


async def test_every_document_of_a_distributed_scan_says_what_a_local_ones_say(
    redis_server, workers, tmp_path
):
    worker = workers(redis_server.url)
    worker.wait_listening()
    with running_lab() as lab:
        scope = tmp_path / "lab.toml"
        scope.write_text(lab.scope_toml(days=60), encoding="utf-8")
        local, shared = str(tmp_path / "local"), str(tmp_path / "shared")
        words = ("scan", "--scope", str(scope), *FAST)
        code, _, err = await run_cli(*words, "-oA", local)
        assert code == 0, err
        code, out, err = await run_cli(*words, "-oA", shared, "--broker", redis_server.url)
        assert code == 0, err
    assert out == ""
    assert "shard_finished" in worker.text()  # the worker ran it, not this process
    records = jsonl(Path(shared + ".jsonl"))
    assert records[-1]["record"] == "summary"
    assert_agree(shared, records)  # its own documents agree with its JSONL
    for fmt in ("json", "csv", "sarif", "defectdojo"):
        mine, theirs = (facts(fmt, Path(document_path(b, fmt))) for b in (shared, local))
        assert mine == theirs, fmt
        assert mine, fmt  # the lab has findings: an empty document would agree too
    page = text_of(Path(document_path(shared, "html")))
    assert records[0]["scan_id"] in page
    for exposure in {r["exposure"] for r in records if r["record"] == "endpoint"}:
        assert exposure in page


HOSTS = tuple(f"127.0.0.{i}" for i in range(61, 67))
QUICK = Timeouts(connect=1, read=2, release=0.5, endpoint=4)


async def test_a_scan_whose_workers_all_die_fails_in_bounded_time_and_resumes(
    redis_server, workers, counting_listener, write_scope, tmp_path
):
    listener = counting_listener(HOSTS, hold=1.0)
    scope = write_scope(list(HOSTS), [listener.port])
    pool = [workers(redis_server.url, "--shards-at-once", "1") for _ in range(2)]
    for worker in pool:
        worker.wait_listening()
    options = ScanOptions(limits=Limits(per_host_rate=2), timeouts=QUICK, ae_attempts=1)
    plan = distribute(
        await exposcan.prepare(scope, options=options), redis_server.url, no_worker_s=3
    )
    killed: list[float] = []

    def kill_all(progress: exposcan.Progress) -> None:
        if progress.done >= 1 and not killed:
            for worker in pool:
                assert worker.stop(signal.SIGKILL) == -signal.SIGKILL
            killed.append(time.monotonic())

    path = tmp_path / "scan.jsonl"
    with path.open("w", encoding="utf-8") as stream, pytest.raises(BrokerError) as caught:
        # a bound of the test's own: a submitter that waited for ever would fail it
        await asyncio.wait_for(plan.run(JsonlWriter(stream), on_progress=kill_all), 60)
    assert killed
    # a dead worker's heartbeat lives 10 s (WORKER_TTL_S), then the 3 s without one
    assert time.monotonic() - killed[0] < 25
    assert "no exposcan worker is alive" in str(caught.value)
    assert "\n" not in str(caught.value)
    before = [r for r in jsonl(path) if r["record"] == "endpoint"]
    assert 1 <= len(before) < len(HOSTS)  # what had finished is kept

    again = workers(redis_server.url)
    again.wait_listening()
    code, _, err = await run_cli(
        "scan", "--scope", str(scope), "-o", str(path), "--resume", "--broker",
        redis_server.url, "--ae-attempts", "1", *FAST,
    )  # fmt: skip
    assert code == 0, err
    records = jsonl(path)
    hosts = Counter(r["host"] for r in records if r["record"] == "endpoint")
    assert hosts == Counter(HOSTS)  # every endpoint once over both runs
    assert records[-1]["record"] == "summary"
    assert records[-1]["endpoints_done"] == len(HOSTS)
    assert "shard_finished" in again.text()
