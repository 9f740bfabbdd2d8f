"""A scheduler that takes over from a dead one keeps each schedule's phase: an ``--every``
schedule runs next at its last run plus the interval (kept in Redis), not at once on
takeover nor an interval after it."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime

from tests.support.cli_child import run_cli

EVERY_S = 10
LOCK_S = "2"  # the standby takes over within about 2.5 s of the active one's death


def started_at(path) -> float:
    return datetime.strptime(path.stem, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()


async def test_a_takeover_keeps_the_interval_phase(
    redis_server, workers, scp_factory, write_scope, tmp_path
):
    port = scp_factory("PHASE-SCP")
    scope = write_scope(["127.0.0.1"], [port])
    url = redis_server.url
    out = tmp_path / "reports"
    code, _, err = await run_cli(
        "schedule", "add", "phase", "--scope", str(scope), "--out", str(out),
        "--every", f"{EVERY_S}s", "--broker", url,
    )  # fmt: skip
    assert code == 0, err
    worker = workers(url)
    first = workers(url, "--lock", LOCK_S, command="scheduler")
    worker.wait_listening()
    first.wait_listening(said="started on")
    deadline = time.monotonic() + 20
    while "scheduled_run_finished" not in first.text() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    assert "scheduled_run_finished" in first.text(), first.text()[-2000:]
    second = workers(url, "--lock", LOCK_S, command="scheduler")
    second.wait_listening(said="started on")
    await asyncio.sleep(0.5)
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL  # dies holding the lock
    killed = time.time()
    folder = out / "phase"
    deadline = time.monotonic() + EVERY_S + 15
    while "scheduled_run_finished" not in second.text() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    assert "scheduled_run_finished" in second.text(), second.text()[-2000:]
    assert second.stop(signal.SIGTERM) == 143
    assert "scheduler_active" in second.text()
    runs = sorted(folder.glob("*.jsonl"))
    assert len(runs) == 2, runs
    took_over = second.text().index("scheduler_active")
    assert "scheduled_run_started" in second.text()[took_over:]
    gap = started_at(runs[1]) - started_at(runs[0])
    # the second run keeps the first one's phase: not at the takeover (about 3 s after
    # the first run), nor an interval after the takeover (about 13 s)
    assert EVERY_S - 1 <= gap <= EVERY_S + 1, gap
    assert started_at(runs[1]) + 1 > killed  # run by the second scheduler, after the kill
