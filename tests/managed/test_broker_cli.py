"""``--broker`` and ``exposcan worker`` from the command line and the library: a broker
URL's password is never logged or written; bad, unreachable or refused brokers are one
line and exit 2; a scan without workers fails after a bounded wait; a worker re-checks
the authorisation of every shard (a queue is no way around it)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

import exposcan
from exposcan.lab import free_port
from exposcan.managed import distribute
from exposcan.managed.broker import BrokerError, redact
from tests.support.cli_child import FAST, run_cli
from tests.support.redis_server import start_redis, stop_redis

PASSWORD = "pw-Zq81xV"  # what must never appear


@pytest.fixture
def guarded_redis():
    server = start_redis(password=PASSWORD)
    try:
        yield server
    finally:
        stop_redis(server)


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


async def test_password_never_logged_or_reported(
    guarded_redis, workers, scp_factory, write_scope, tmp_path
):
    port = scp_factory("PW-SCP")
    scope = write_scope(["127.0.0.1", "127.0.0.2"], [port])
    url = guarded_redis.url
    assert PASSWORD in url
    assert PASSWORD not in redact(url)
    worker = workers("", env={"EXPOSCAN_BROKER": url})  # the variable stands for --broker
    worker.wait_listening()
    report = tmp_path / "scan.jsonl"
    code, out, err = await run_cli(
        "scan", "--scope", str(scope), "--broker", url, "-o", str(report), "-vv", *FAST
    )
    assert code == 0, err
    records = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["host"] for r in records if r["record"] == "endpoint") == [
        "127.0.0.1",
        "127.0.0.2",
    ]
    assert "shards_submitted" in err  # -vv logs the broker: redacted
    for text in (err, out, report.read_text(encoding="utf-8"), worker.text()):
        assert PASSWORD not in text
    assert ":***@127.0.0.1:" in worker.text()


async def test_wrong_password_unreachable_and_bad_urls_are_one_line(
    guarded_redis, write_scope, tmp_path
):
    scope = write_scope(["127.0.0.1"], [free_port()])
    wrong = f"redis://:not-{PASSWORD}@127.0.0.1:{guarded_redis.port}/0"
    nobody = f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0"
    for url, expected in (
        (wrong, "cannot reach broker"),
        (nobody, "cannot reach broker"),
        ("http://127.0.0.1:1/0", "scheme must be one of"),
        ("redis://127.0.0.1:notaport/0", "does not parse"),
    ):
        for words in (
            ("scan", "--scope", str(scope), "--broker", url, "-o", str(tmp_path / "r.jsonl")),
            ("worker", "--broker", url),
            ("schedule", "list", "--broker", url),
            ("scheduler", "--broker", url),
        ):
            code, _, err = await run_cli(*words, timeout=30)
            line = one_line(err)
            assert code == 2, (words, err)
            assert expected in line
            assert PASSWORD not in line


async def test_an_unreachable_broker_leaves_an_earlier_report_alone(write_scope, tmp_path):
    """The broker is reached before any output is opened: a typo in its URL must not
    truncate last week's report at the same path (-o, or -oA's JSONL and documents)."""
    scope = write_scope(["127.0.0.1"], [free_port()])
    nobody = f"redis://127.0.0.1:{free_port()}/0"
    report, base = tmp_path / "weekly.jsonl", tmp_path / "all"
    earlier = '{"record": "scan"}\n{"record": "summary"}\n'
    kept = [report, tmp_path / "all.jsonl", tmp_path / "all.html"]
    for path in kept:
        path.write_text(earlier, encoding="utf-8")
    for output in (("-o", str(report)), ("-oA", str(base))):
        code, out, err = await run_cli(
            "scan", "--scope", str(scope), "--broker", nobody, *output, timeout=30
        )
        assert code == 2, err
        assert "cannot reach broker" in one_line(err)
        assert out == ""
    assert [p.read_text(encoding="utf-8") for p in kept] == [earlier] * len(kept)


async def test_every_command_takes_its_broker_from_exposcan_broker(
    guarded_redis, write_scope, tmp_path, monkeypatch
):
    """``EXPOSCAN_BROKER`` stands for ``--broker`` in scan, schedule and scheduler as in
    worker: a broker named only there, refusing its password, is one line and exit 2 for
    each (so each one did reach for it), and the variable's password is never printed."""
    scope = write_scope(["127.0.0.1"], [free_port()])
    url = f"redis://:not-{PASSWORD}@127.0.0.1:{guarded_redis.port}/0"
    monkeypatch.setenv("EXPOSCAN_BROKER", url)
    for words in (
        ("scan", "--scope", str(scope), "-o", str(tmp_path / "r.jsonl")),
        ("schedule", "list"),
        ("scheduler",),
        ("worker",),
    ):
        code, _, err = await run_cli(*words, timeout=30)
        line = one_line(err)
        assert code == 2, (words, err)
        assert "cannot reach broker" in line
        assert PASSWORD not in line


async def test_worker_needs_a_broker(monkeypatch):
    monkeypatch.delenv("EXPOSCAN_BROKER", raising=False)
    code, _, err = await run_cli("worker", timeout=30)
    assert code == 2
    assert "--broker" in one_line(err)


async def test_no_worker_fails_after_a_bounded_wait(redis_server, write_scope):
    scope = write_scope(["127.0.0.1"], [free_port()])
    plan = distribute(await exposcan.prepare(scope), redis_server.url, no_worker_s=1.5)
    with pytest.raises(BrokerError, match="no exposcan worker is alive") as caught:
        [r async for r in plan.runner().run()]
    assert "\n" not in str(caught.value)


async def test_the_worker_checks_the_authorisation_again(redis_server, workers, write_scope):
    yesterday = date.today() - timedelta(days=1)
    scope = write_scope(["127.0.0.1"], [free_port()], expires=yesterday)
    worker = workers(redis_server.url)
    worker.wait_listening()
    # the submitter's clock says the authorisation holds; the worker's says it does not
    past = datetime.now(UTC) - timedelta(days=3)
    plan = await exposcan.prepare(scope, clock=lambda: past)
    plan = distribute(plan, redis_server.url)
    with pytest.raises(BrokerError, match=r"refused shard 0: .*expired"):
        [r async for r in plan.runner().run()]
    assert "shard_refused" in worker.text()
