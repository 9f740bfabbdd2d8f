"""Authorisation in time (issue 10, class 6): ``expires`` is an instant, checked again
before every endpoint; once it passes nothing new starts and the summary says why.

The clock is injected (a :class:`FakeClock` the test moves), so no test waits for
real time to pass except one short real-clock check. Only loopback is connected to.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import exposcan
from exposcan.engine import STOPPED_EXPIRED, Engine
from exposcan.errors import AuthorisationError, AuthorisationExpired
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.scope import parse_scope, resolve_targets
from exposcan.scope.authorisation import Authorisation
from exposcan.summary import Summary
from tests.support.fakes import FakeClock
from tests.support.scope_files import scope_text as conftest_scope_text
from tests.support.scope_toml import assert_one_line, scope_text

UTC = datetime.UTC
FAST = Timeouts(connect=1, read=2, release=0.5, endpoint=3)


def options(concurrency: int) -> ScanOptions:
    limits = Limits(concurrency=concurrency, rate=100, per_host_rate=100)
    return ScanOptions(limits=limits, timeouts=FAST)


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("expires", "needle"),
    [
        ("2026-12-02T00:00:01", "has no time zone: datetime.datetime(2026, 12, 2, 0, 0, 1)"),
        ("2026-12-02 00:00:01", "has no time zone"),
        ("00:00:01", "is a time of day without a date"),
        ('"2026-12-31"', "(write it without quotes)"),
        ("20261231", "not an integer 20261231"),
    ],
)
def test_expires_that_names_no_instant_is_refused(expires: str, needle: str) -> None:
    with pytest.raises(AuthorisationError) as caught:
        parse_scope(scope_text(expires=expires), source="s.toml")
    message = assert_one_line(caught.value)
    assert message.startswith("[authorisation] expires of scope file s.toml ")
    assert needle in message


def test_an_authorisation_built_in_code_is_checked_too() -> None:
    with pytest.raises(AuthorisationError, match="has no time zone"):
        Authorisation(owner="o", reference="r", expires=datetime.datetime(2999, 1, 1))
    with pytest.raises(AuthorisationError, match="must be a date or an offset date-time"):
        Authorisation(owner="o", reference="r", expires="2999-01-01")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("expires", "shown"),
    [
        ("2999-12-02T00:00:01Z", "2999-12-02T00:00:01+00:00"),
        ("2999-12-02T00:00:01.5-05:00", "2999-12-02T00:00:01.500000-05:00"),
        ("2999-12-31", "2999-12-31T23:59:59.999999+00:00"),
    ],
)
async def test_the_header_shows_the_full_instant(expires: str, shown: str) -> None:
    scope = parse_scope(scope_text(["127.0.0.1"], expires=expires))
    plan = await exposcan.prepare(scope)
    assert plan.header()["scope"]["expires"] == shown


async def test_the_hours_a_truncated_date_allowed_are_refused() -> None:
    """The issue's scope: it expired at 00:00:01Z; six hours later nothing may run."""
    scope = parse_scope(scope_text(["127.0.0.1"], expires="2026-12-02T00:00:01Z"))
    later = datetime.datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    with pytest.raises(AuthorisationError, match="expired at 2026-12-02T00:00:01"):
        await exposcan.prepare(scope, clock=lambda: later)
    with pytest.raises(AuthorisationError):
        await resolve_targets(scope, now=later)


# --------------------------------------------------------------------------- during the scan


def loopback_scope(write_scope: Any, hosts: list[str], ports: list[int], clock: FakeClock) -> Path:
    path: Path = write_scope(hosts, ports, expires=clock.expires)
    return path


async def test_no_endpoint_starts_after_expiry(counting_listener: Any, write_scope: Any) -> None:
    """One endpoint at a time; the clock passes the expiry as the first one finishes."""
    listeners = [counting_listener() for _ in range(4)]
    clock = FakeClock()
    scope = loopback_scope(write_scope, ["127.0.0.1"], [lst.port for lst in listeners], clock)

    def on_progress(progress: exposcan.Progress) -> None:
        clock.expire()

    with pytest.raises(AuthorisationExpired) as caught:
        await exposcan.scan(scope, options=options(1), on_progress=on_progress, clock=clock)
    message = assert_one_line(caught.value)
    assert "expired at " in message
    assert "during the scan: 3 of 4 endpoints not started" in message
    report = caught.value.report
    assert isinstance(report, exposcan.ScanReport)
    assert len(report.results) == 1
    summary = report.summary
    assert summary.stopped == STOPPED_EXPIRED == "authorisation-expired"
    assert (summary.endpoints_done, summary.endpoints_not_started) == (1, 3)
    assert summary.to_dict()["stopped"] == "authorisation-expired"
    assert summary.to_dict()["endpoints_not_started"] == 3
    assert caught.value.summary == summary
    probed = [lst for lst in listeners if lst.accepted]
    assert len(probed) == 1
    assert probed[0].port == report.results[0].port


async def test_in_flight_endpoints_finish(counting_listener: Any, write_scope: Any) -> None:
    """Two hosts in flight when the clock passes the expiry: both finish, none follows."""
    hosts = [f"127.0.0.{i}" for i in range(1, 5)]
    listener = counting_listener(tuple(hosts), hold=0.4)
    clock = FakeClock()
    scope = loopback_scope(write_scope, hosts, [listener.port], clock)

    class ExpiresOnSecondConnection(FakeClock):
        def __call__(self) -> datetime.datetime:
            if len(listener.accepted) >= 2:
                clock.expire()
            return clock.now

    with pytest.raises(AuthorisationExpired) as caught:
        await exposcan.scan(scope, options=options(2), clock=ExpiresOnSecondConnection())
    results = caught.value.report.results
    assert sorted(r.host for r in results) == ["127.0.0.1", "127.0.0.2"]
    assert all(r.duration_s >= 0.3 for r in results)  # each held its connection to the end
    assert sorted(address for address, _ in listener.accepted) == ["127.0.0.1", "127.0.0.2"]
    assert caught.value.report.summary.endpoints_not_started == 2


async def test_an_endpoint_waiting_for_its_host_does_not_start_after_expiry(
    counting_listener: Any, write_scope: Any
) -> None:
    """Three ports of one host are scheduled at once; one association per host means two
    wait for the host's slot, and by the time they get it the authorisation is over."""
    listeners = [counting_listener(hold=0.3) for _ in range(3)]
    clock = FakeClock()
    scope = loopback_scope(write_scope, ["127.0.0.1"], [lst.port for lst in listeners], clock)

    def now() -> datetime.datetime:
        if any(lst.accepted for lst in listeners):
            clock.expire()
        return clock.now

    with pytest.raises(AuthorisationExpired) as caught:
        await exposcan.scan(scope, options=options(3), clock=now)
    assert len(caught.value.report.results) == 1
    assert sum(1 for lst in listeners if lst.accepted) == 1
    assert caught.value.report.summary.endpoints_not_started == 2


async def test_scan_iter_raises_after_the_last_result(
    counting_listener: Any, write_scope: Any
) -> None:
    listeners = [counting_listener() for _ in range(3)]
    clock = FakeClock()
    scope = loopback_scope(write_scope, ["127.0.0.1"], [lst.port for lst in listeners], clock)
    seen: list[exposcan.EndpointResult] = []

    async def consume() -> None:
        async for result in exposcan.scan_iter(scope, options=options(1), clock=clock):
            seen.append(result)
            clock.expire()

    with pytest.raises(AuthorisationExpired, match="2 of 3 endpoints not started"):
        await consume()
    assert len(seen) == 1


async def test_a_plan_run_after_its_expiry_sends_nothing_and_says_so(
    counting_listener: Any, write_scope: Any, tmp_path: Path
) -> None:
    from exposcan.report import make_writer

    listener = counting_listener()
    clock = FakeClock()
    scope = loopback_scope(write_scope, ["127.0.0.1", "127.0.0.2"], [listener.port], clock)
    plan = await exposcan.prepare(scope, options=options(4), clock=clock)
    clock.expire()  # prepared in time, run too late
    out = tmp_path / "report.jsonl"
    with out.open("w", encoding="utf-8") as stream:
        writer = make_writer("jsonl", stream)
        with pytest.raises(AuthorisationExpired, match="2 of 2 endpoints not started") as caught:
            await plan.run(writer)
        getattr(writer, "close", lambda: None)()
    assert listener.accepted == []
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["record"] for r in records] == ["scan", "summary"]
    assert records[-1]["stopped"] == "authorisation-expired"
    assert records[-1]["endpoints_not_started"] == 2
    assert records[-1]["interrupted"] is False
    assert isinstance(caught.value.summary, Summary)


async def test_expiry_on_the_real_clock(counting_listener: Any) -> None:
    """No fake clock: an expiry half a second away, endpoints that take a second each."""
    hosts = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
    listener = counting_listener(hosts, hold=1.0)
    expires_at = datetime.datetime.now(UTC) + datetime.timedelta(seconds=0.5)
    scope = parse_scope(conftest_scope_text(list(hosts), [listener.port], expires=expires_at))
    targets = await resolve_targets(scope)
    engine = Engine(targets, (listener.port,), options(1), expires_at=expires_at)
    results = [result async for result in engine.run()]
    assert engine.stopped == STOPPED_EXPIRED
    assert len(results) <= 1  # the first one, unless this machine stalled half a second
    assert engine.refused_at_start == 0
    assert len(listener.accepted) == len(results)


# --------------------------------------------------------------------------- the CLI

#: The CLI with its clock moved a year ahead once $EXPIRE_FLAG exists.
CLI_WITH_CLOCK = """
import datetime, os, sys
import exposcan.scan
scan_module = sys.modules["exposcan.scan"]  # the package's scan() hides the module
real = scan_module.utc_now
def clock():
    now = real()
    if os.path.exists(os.environ["EXPIRE_FLAG"]):
        return now + datetime.timedelta(days=365)
    return now
scan_module.utc_now = clock
from exposcan.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_cli_stops_writes_the_summary_and_exits_2_then_refuses_resume(
    counting_listener: Any, tmp_path: Path
) -> None:
    hosts = tuple(f"127.0.0.{i}" for i in range(1, 7))
    listener = counting_listener(hosts, hold=1.0)
    scope = tmp_path / "scope.toml"
    scope.write_text(conftest_scope_text(list(hosts), [listener.port]), encoding="utf-8")
    flag, out = tmp_path / "expired", tmp_path / "report.jsonl"
    env = {**os.environ, "PYTHONWARNINGS": "error", "EXPIRE_FLAG": str(flag)}
    command = [sys.executable, "-c", CLI_WITH_CLOCK, "scan", "--scope", str(scope)]
    command += ["--concurrency", "1", "--rate", "100", "--per-host-rate", "100", "-o", str(out)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while len(listener.accepted) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        flag.touch()  # the second endpoint is in flight (it holds for a second)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    lines = stderr.decode().strip().splitlines()
    assert proc.returncode == 2, stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("exposcan: error: authorisation TEST-1 expired at ")
    assert "during the scan" in lines[0]
    assert "the report is complete up to then" in lines[0]
    assert stdout == b""
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    summary = records[-1]
    endpoints = [r for r in records if r["record"] == "endpoint"]
    assert summary["record"] == "summary"
    assert summary["stopped"] == "authorisation-expired"
    assert summary["endpoints_done"] == len(endpoints) >= 2
    assert summary["endpoints_done"] + summary["endpoints_not_started"] == 6
    assert summary["endpoints_not_started"] >= 1
    assert len(listener.accepted) == len(endpoints)

    before, accepted = out.read_bytes(), len(listener.accepted)
    resumed = subprocess.run(
        [*command, "--resume"], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert resumed.returncode == 2, resumed.stderr
    assert resumed.stderr.count("\n") == 1
    assert "expired at" in resumed.stderr
    assert "during the scan" not in resumed.stderr  # refused before anything ran
    assert out.read_bytes() == before
    time.sleep(0.1)
    assert len(listener.accepted) == accepted
