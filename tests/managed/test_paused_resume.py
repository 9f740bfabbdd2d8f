"""The active scheduler's own resume of a run paused at its window's end: when the
window opens again the run goes on (the same report, every endpoint once), whether or
not the schedule fires then; schedules outside their window, without a paused run or
without a window are left alone, and a resume does not move the schedule's phase."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from exposcan.managed import scheduler
from exposcan.managed.schedules import Schedule, run_schedule
from exposcan.report import read_jsonl

HOSTS = [f"127.0.0.{i}" for i in range(51, 55)]


def _window(start: datetime, end: datetime) -> str:
    return f"{start:%H:%M}-{end:%H:%M}"


class Book:
    """The schedule book as the resumer sees it; its first answer is Redis away."""

    def __init__(self, schedules: list[Schedule]) -> None:
        self.schedules, self.asked = schedules, 0

    async def all(self) -> list[Schedule]:
        self.asked += 1
        if self.asked == 1:
            raise ConnectionError("Redis restarting")
        return self.schedules


class NoPhase:
    """Where the phase would be kept: a resume must not write it."""

    def __init__(self) -> None:
        self.written: list[object] = []

    async def hset(self, *args: object) -> None:
        self.written.append(args)


class Runs(scheduler.ScheduledRuns):
    def __init__(self) -> None:
        self.phase = NoPhase()
        super().__init__("memory://", self.phase)
        self.asked: list[str] = []

    async def resume(self, schedule: dict[str, object]) -> None:
        self.asked.append(str(schedule["name"]))
        await super().resume(schedule)


async def test_the_scheduler_resumes_a_paused_run_when_its_window_opens(
    counting_listener, write_scope, tmp_path, monkeypatch
):
    listener = counting_listener(tuple(HOSTS), hold=2.0)
    scope = write_scope(HOSTS, [listener.port])
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    open_now = _window(now - timedelta(hours=1), now + timedelta(hours=1))
    shut_now = _window(now + timedelta(hours=2), now + timedelta(hours=3))

    def schedule(name: str, window: str | None) -> Schedule:
        return Schedule(name=name, scope=str(scope), out=str(tmp_path), every_s=3600, window=window)

    paused_one = schedule("night", open_now)
    # paused 1.5 s before the window's end: each association is held 2 s
    closing = now + timedelta(hours=1) - timedelta(seconds=1.5)
    report = await run_schedule(paused_one, "memory://", now=lambda: closing)
    assert report is not None
    assert report.with_suffix(".paused").exists()
    before = [r["host"] for r in read_jsonl(report) if r["record"] == "endpoint"]
    assert len(before) < len(HOSTS)
    # decoys: a marker outside its window, an open window without one, no window at all
    for name in ("shut", "nowindow"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "20260101T000000Z.paused").touch()
    book = Book(
        [
            paused_one,
            schedule("shut", shut_now),
            schedule("unpaused", open_now),
            schedule("nowindow", None),
        ]
    )
    monkeypatch.setattr(scheduler, "RESUME_CHECK_S", 0.2)
    runs = Runs()
    resumer = asyncio.create_task(scheduler._resume_paused(book, runs.resume))
    try:
        for _ in range(150):  # at most 30 s
            await asyncio.sleep(0.2)
            if not report.with_suffix(".paused").exists() and not runs.running:
                break
    finally:
        resumer.cancel()
        await asyncio.gather(resumer, return_exceptions=True)
    assert not report.with_suffix(".paused").exists()
    assert set(runs.asked) == {"night"}  # asked again while it ran: skipped, not twice
    assert book.asked >= 2  # Redis away on the first turn did not end the resumer
    records = list(read_jsonl(report))
    hosts = [r["host"] for r in records if r["record"] == "endpoint"]
    assert sorted(hosts) == HOSTS  # every endpoint once over both runs
    assert [r["record"] for r in records].count("resume") == 1
    assert records[-1]["record"] == "summary"
    assert records[-1]["interrupted"] is False
    assert sorted((tmp_path / "night").glob("*.jsonl")) == [report]
    assert runs.phase.written == []  # a resume is not a firing: the phase stays
