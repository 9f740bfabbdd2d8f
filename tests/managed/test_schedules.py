"""Schedules on Redis: added, listed and removed from the command line (kept as JSON),
bad input one line and exit 2; two schedulers started, one active, each run once,
every run a JSONL report and from the second on a diff against the previous one."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from datetime import date, timedelta

from redis.asyncio import Redis

from exposcan.lab import free_port
from exposcan.managed.schedules import Schedule, run_schedule
from exposcan.report import read_jsonl
from tests.support.cli_child import run_cli


async def test_add_list_remove_and_bad_input(redis_server, write_scope, tmp_path):
    scope = write_scope(["127.0.0.1"], [free_port()])
    url = redis_server.url
    add = ("schedule", "add", "weekly", "--scope", str(scope), "--out", str(tmp_path))
    code, _, err = await run_cli(*add, "--cron", "0 2 * * 1", "--format", "html", "--broker", url)
    assert code == 0, err
    code, _, err = await run_cli(*add, "--every", "1h", "--broker", url)
    assert code == 2
    assert "exists" in err
    code, out, err = await run_cli("schedule", "list", "--broker", url)
    assert code == 0, err
    assert out.split("\t")[:2] == ["weekly", "cron 0 2 * * 1"]
    assert out.strip().endswith("jsonl,html")
    redis = Redis.from_url(url)
    try:
        stored = json.loads(await redis.get("exposcan:schedule:data:weekly"))  # JSON, not pickle
    finally:
        await redis.aclose()
    assert stored["args"][0]["scope"] == str(scope)
    for words, expected in (
        (("schedule", "remove", "nightly"), "no schedule named nightly"),
        ((*add[:2], "x y", *add[3:], "--every", "1h"), "schedule name"),
        ((*add, "--cron", "61 * * *"), "does not parse"),
        ((*add[:2], "other", *add[3:], "--every", "soon"), "a duration"),
        ((*add[:2], "other", *add[3:], "--every", "1h", "--notify", "ftp://x/"), "http://"),
        ((*add[:2], "other", *add[3:], "--every", "1h", "--window", "25:00-01:00"), "HH:MM"),
    ):
        code, _, err = await run_cli(*words, "--broker", url)
        assert code == 2, (words, err)
        assert expected in err
        assert len(err.strip().splitlines()) == 1
    code, _, err = await run_cli("schedule", "remove", "weekly", "--broker", url)
    assert code == 0, err
    code, _, err = await run_cli(
        *add[:2], "night", *add[3:], "--every", "1h", "--window", "22:00-06:00", "--broker", url
    )
    assert code == 0, err
    code, out, _ = await run_cli("schedule", "list", "--broker", url)
    assert out.split("\t")[:2] == ["night", "every 3600s within 22:00-06:00"]
    code, _, err = await run_cli("schedule", "remove", "night", "--broker", url)
    assert code == 0, err
    code, out, _ = await run_cli("schedule", "list", "--broker", url)
    assert out == ""


async def test_two_schedulers_one_run_each_time(
    redis_server, workers, scp_factory, write_scope, tmp_path
):
    port = scp_factory("SCHEDULED-SCP")
    scope = write_scope(["127.0.0.1"], [port])
    url = redis_server.url
    out = tmp_path / "reports"
    code, _, err = await run_cli(
        "schedule", "add", "lab", "--scope", str(scope), "--out", str(out),
        "--every", "2s", "--format", "csv", "--broker", url,
    )  # fmt: skip
    assert code == 0, err
    worker = workers(url)
    schedulers = [workers(url, command="scheduler") for _ in range(2)]
    for process in (worker, *schedulers):
        process.wait_listening(said="listening on" if process is worker else "started on")
    folder = out / "lab"
    deadline = time.monotonic() + 25
    while len(list(folder.glob("*.diff.json"))) < 2 and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    for process in schedulers:
        assert process.stop(signal.SIGTERM) == 143
    logs = [s.text() for s in schedulers]
    assert sum(text.count("scheduler_active") for text in logs) == 1
    assert sum(text.count("scheduler_standby") for text in logs) == 1
    reports = sorted(p for p in folder.glob("*.jsonl"))
    finished = sum(text.count("scheduled_run_finished") for text in logs)
    started = sum(text.count("scheduled_run_started") for text in logs)
    assert len(reports) == started >= 3
    assert finished >= len(reports) - 1  # the last may have been stopped mid-run
    stamps = [p.name.removesuffix(".jsonl") for p in reports]
    assert len(set(stamps)) == len(stamps)
    for path in reports[: len(reports) - 1]:
        records = list(read_jsonl(path))
        assert [r["port"] for r in records if r["record"] == "endpoint"] == [port]
        assert path.with_suffix(".csv").exists()
    diffs = sorted(folder.glob("*.diff.json"))
    assert len(diffs) >= 2
    assert diffs[0].name.removesuffix(".diff.json") == stamps[1]  # none for the first run


async def test_an_expired_authorisation_is_not_started(redis_server, write_scope, tmp_path):
    scope = write_scope(["127.0.0.1"], [free_port()], expires=date.today() - timedelta(days=1))
    schedule = Schedule(name="old", scope=str(scope), out=str(tmp_path), every_s=60)
    assert await run_schedule(schedule, redis_server.url) is None
    assert not (tmp_path / "old").exists()


async def test_notify_posts_the_diff_summary_and_a_run_not_started(
    scp_factory, write_scope, tmp_path, monkeypatch
):
    from aiohttp import web

    import exposcan.managed.schedules as schedules

    posted: list[dict] = []

    async def receive(request: web.Request) -> web.Response:
        posted.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", free_port())
    await site.start()
    hook = f"http://127.0.0.1:{site._port}/hook"
    stamps = iter(["20260101T000000Z", "20260101T000100Z"])
    monkeypatch.setattr(schedules, "stamp", lambda: next(stamps))
    try:
        scope = write_scope(["127.0.0.1"], [scp_factory("NOTIFY-SCP")])
        schedule = Schedule(name="n", scope=str(scope), out=str(tmp_path), every_s=60, notify=hook)
        first = await run_schedule(schedule, "memory://")  # in process: no Redis needed
        assert first is not None
        assert posted == []  # nothing to compare with yet
        second = await run_schedule(schedule, "memory://")
        assert second is not None
        assert (tmp_path / "n" / "20260101T000100Z.diff.json").exists()
        assert len(posted) == 1
        assert posted[0]["event"] == "run"
        assert posted[0]["schedule"] == "n"
        assert sum(posted[0]["new_findings"].values()) == 0  # the same peer twice
        assert posted[0]["compared"] == 1
        assert posted[0]["text"].startswith("exposcan schedule n: 0 new findings")
        old = write_scope(["127.0.0.1"], [free_port()], expires=date.today() - timedelta(days=1))
        expired = Schedule(name="x", scope=str(old), out=str(tmp_path), every_s=60, notify=hook)
        assert await run_schedule(expired, "memory://") is None
        assert posted[1]["event"] == "not-started"
        assert "expired" in posted[1]["text"]
    finally:
        await runner.cleanup()


def test_windows():
    from datetime import UTC, datetime

    import pytest

    from exposcan.errors import OptionError
    from exposcan.managed.window import parse_window

    night = parse_window("22:00-06:00")
    at = lambda h, m=0: datetime(2026, 3, 1, h, m, tzinfo=UTC)  # noqa: E731
    assert night.seconds_left(at(23)) == 7 * 3600
    assert night.seconds_left(at(5, 30)) == 1800
    assert night.seconds_left(at(12)) is None
    assert parse_window("09:00-17:00").seconds_left(at(17)) is None
    for bad in ("25:00-01:00", "9-17", "10:00-10:00"):
        with pytest.raises(OptionError, match="--window"):
            parse_window(bad)


async def test_a_run_that_reaches_its_windows_end_is_paused_then_resumed(
    counting_listener, write_scope, tmp_path
):
    from datetime import UTC, datetime

    hosts = [f"127.0.0.{i}" for i in range(41, 45)]
    listener = counting_listener(tuple(hosts), hold=2.0)
    scope = write_scope(hosts, [listener.port])
    schedule = Schedule(
        name="w", scope=str(scope), out=str(tmp_path), every_s=60, window="10:00-11:00"
    )
    # each association is held 2 s: the run needs more than the 1.5 s left in the window
    closing = datetime(2026, 3, 1, 10, 59, 58, 500000, tzinfo=UTC)
    assert (
        await run_schedule(schedule, "memory://", now=lambda: datetime(2026, 3, 1, 9, tzinfo=UTC))
        is None
    )
    paused = await run_schedule(schedule, "memory://", now=lambda: closing)
    assert paused is not None
    assert paused.with_suffix(".paused").exists()
    first = list(read_jsonl(paused))
    assert first[-1]["record"] == "summary"
    assert first[-1]["interrupted"] is True
    done_before = [r["host"] for r in first if r["record"] == "endpoint"]
    assert len(done_before) < 4
    connections = len(listener.accepted)
    opening = datetime(2026, 3, 2, 10, 0, 30, tzinfo=UTC)
    resumed = await run_schedule(schedule, "memory://", now=lambda: opening)
    assert resumed == paused  # the same report, continued
    assert not paused.with_suffix(".paused").exists()
    assert sorted(tmp_path.joinpath("w").glob("*.jsonl")) == [paused]
    records = list(read_jsonl(paused))
    hosts_done = [r["host"] for r in records if r["record"] == "endpoint"]
    assert sorted(hosts_done) == hosts  # every endpoint once over both runs
    assert [r["record"] for r in records].count("resume") == 1
    assert len(listener.accepted) > connections
