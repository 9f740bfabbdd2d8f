"""Schedules: scans that run by themselves, kept in Redis as JSON (never pickle).

A schedule is a taskiq :class:`~taskiq.ScheduledTask` in a
:class:`~taskiq_redis.ListRedisScheduleSource` (JSON serializer), its id the schedule's
name, its one argument what the run needs (scope file, output directory, formats). The
active scheduler (:mod:`exposcan.managed.scheduler`) runs it: each run writes
``OUT/NAME/<UTC timestamp>.jsonl`` (plus each format asked for) and, from the second run
on, ``OUT/NAME/<UTC timestamp>.diff.json`` against that schedule's previous run. A run
whose authorisation has expired is not started (logged, nothing written).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exposcan.errors import OptionError, UserError
from exposcan.logs import get_logger

log = get_logger("exposcan.managed")

#: the taskiq task a schedule kicks
RUN_TASK = "exposcan.scheduled-run"
PREFIX = "exposcan:schedule"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_EVERY = re.compile(r"(\d+)\s*([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, kw_only=True)
class Schedule:
    name: str
    scope: str
    out: str
    formats: tuple[str, ...] = ()
    cron: str | None = None
    every_s: int | None = None
    #: POST each run's diff summary here (and a run not started for its authorisation)
    notify: str | None = None
    #: ``HH:MM-HH:MM`` (UTC): runs start inside it; one that reaches its end is paused
    window: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["formats"] = list(self.formats)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Schedule:
        return cls(
            name=str(data["name"]),
            scope=str(data["scope"]),
            out=str(data["out"]),
            formats=tuple(str(f) for f in data.get("formats", ())),
            cron=data.get("cron"),
            every_s=data.get("every_s"),
            notify=data.get("notify"),
            window=data.get("window"),
        )

    def when(self) -> str:
        when = f"cron {self.cron}" if self.cron else f"every {self.every_s}s"
        return f"{when} within {self.window}" if self.window else when


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise OptionError(
            f"schedule name {name[:70]!r}: 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def parse_every(text: str) -> int:
    """``90s``, ``15m``, ``2h``, ``1d`` or several (``1h30m``): whole seconds, at least 1."""
    compact = text.replace(" ", "").lower()
    parts = _EVERY.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise OptionError(f"--every {text[:40]!r}: a duration such as 90s, 15m, 2h or 1d")
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds < 1:
        raise OptionError("--every must be at least 1 second")
    return seconds


def check_notify(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise OptionError(f"--notify {url[:80]!r}: an http:// or https:// URL")
    return url


async def notify(url: str, payload: dict[str, Any]) -> bool:
    """POST ``payload`` as JSON (a chat webhook shows its ``text``); False, logged, when
    the receiver cannot be reached or refuses it: a notification never fails a run."""
    import aiohttp

    try:
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, json=payload) as answer,
        ):
            ok = answer.status < 300
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        log.warning("notify_failed", error=type(exc).__name__)
        return False
    if not ok:
        log.warning("notify_refused", status=answer.status)
    return ok


def check_cron(expression: str) -> str:
    import pycron  # type: ignore[import-untyped]

    fields = expression.split()
    try:
        if len(fields) != 5:
            raise ValueError
        pycron.is_now(expression)
    except (ValueError, TypeError, KeyError, IndexError):
        raise OptionError(
            f"--cron {expression[:60]!r} does not parse: five fields, minute hour day "
            "month weekday (e.g. '0 2 * * 1')"
        ) from None
    return expression


class ScheduleBook:
    """The schedules kept on a broker's Redis."""

    def __init__(self, url: str) -> None:
        from taskiq.serializers import JSONSerializer
        from taskiq_redis import ListRedisScheduleSource

        self.source = ListRedisScheduleSource(
            url, prefix=PREFIX, serializer=JSONSerializer(), skip_past_schedules=True
        )

    async def all(self) -> list[Schedule]:
        found = []
        for task in await self.source.get_schedules():
            with contextlib.suppress(KeyError, TypeError, IndexError):
                found.append(Schedule.from_dict(task.args[0]))
        return sorted(found, key=lambda s: s.name)

    async def add(self, schedule: Schedule) -> None:
        from taskiq import ScheduledTask

        if any(s.name == schedule.name for s in await self.all()):
            raise UserError(f"schedule {schedule.name} exists: remove it first")
        await self._forget(schedule.name)
        await self.source.add_schedule(
            ScheduledTask(
                task_name=RUN_TASK,
                labels={},
                args=[schedule.to_dict()],
                kwargs={},
                schedule_id=schedule.name,
                cron=schedule.cron,
                interval=schedule.every_s,
            )
        )

    async def remove(self, name: str) -> None:
        if not any(s.name == name for s in await self.all()):
            raise UserError(f"no schedule named {name}")
        await self.source.delete_schedule(name)
        await self._forget(name)

    async def _forget(self, name: str) -> None:
        """A schedule added again under this name starts with a phase of its own."""
        from redis.asyncio import Redis

        from exposcan.managed.scheduler import LAST_RUN

        async with Redis(connection_pool=self.source._connection_pool) as redis:
            await redis.hdel(LAST_RUN, name)

    async def close(self) -> None:
        await self.source.shutdown()
        await self.source._connection_pool.disconnect()


@contextlib.asynccontextmanager
async def schedule_book(url: str) -> AsyncIterator[ScheduleBook]:
    """The book of ``url``'s Redis, checked reachable (:class:`BrokerError` if not)."""
    from exposcan.managed.broker import open_redis

    redis = await open_redis(url)  # one clear line for a broker that is not there
    await redis.aclose()
    book = ScheduleBook(url)
    try:
        yield book
    finally:
        await book.close()


def stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


async def run_schedule(
    schedule: Schedule, broker: str, *, now: Callable[[], datetime] | None = None
) -> Path | None:
    """One run of ``schedule``, its shards on ``broker``'s workers: a paused run of it
    resumed, else a new one. The JSONL path, or None when no run was started (outside
    the window, or the authorisation has expired). ``now``: the clock of the window."""
    from exposcan.errors import AuthorisationError
    from exposcan.managed import distribute
    from exposcan.managed.window import parse_window
    from exposcan.scan import prepare

    clock = now or (lambda: datetime.now(UTC))
    left = parse_window(schedule.window).seconds_left(clock()) if schedule.window else None
    if schedule.window and left is None:
        log.info("scheduled_run_outside_window", schedule=schedule.name, window=schedule.window)
        return None
    folder = Path(schedule.out) / schedule.name
    try:
        plan = await prepare(schedule.scope)
    except AuthorisationError as exc:
        log.warning("scheduled_run_not_started", schedule=schedule.name, reason=str(exc))
        if schedule.notify:
            text = f"exposcan schedule {schedule.name}: run not started: {exc}"
            payload = {"schedule": schedule.name, "event": "not-started", "text": text}
            await notify(schedule.notify, payload)
        return None
    folder.mkdir(parents=True, exist_ok=True)
    paused = sorted(folder.glob("*.paused"))
    earlier = sorted(folder.glob("*.jsonl"))
    name = paused[-1].stem if paused else stamp()
    path = folder / f"{name}.jsonl"
    if paused:
        earlier.remove(path)
    log.info("scheduled_run_started", schedule=schedule.name, report=str(path))
    if not await _run(distribute(plan, broker), path, resumed=bool(paused), seconds=left):
        (folder / f"{name}.paused").touch()
        log.info("scheduled_run_paused", schedule=schedule.name, window=schedule.window)
        return path
    for marker in paused:
        marker.unlink()
    summary = _documents(schedule, folder, name, path, earlier[-1] if earlier else None)
    if schedule.notify and summary is not None:
        summary["text"] = f"exposcan schedule {schedule.name}: {summary['text']}"
        await notify(schedule.notify, {"schedule": schedule.name, "event": "run", **summary})
    log.info("scheduled_run_finished", schedule=schedule.name, report=str(path))
    return path


async def _run(plan: Any, path: Path, *, resumed: bool, seconds: float | None) -> bool:
    """Run (or resume) ``plan`` into the JSONL report ``path``; False when the window
    ended first (the report then ends with an interrupted summary, ready to resume)."""
    import asyncio

    from exposcan.report.jsonl import JsonlWriter
    from exposcan.report.resume import load_resume
    from exposcan.report.writer import open_output

    resume = load_resume(path, plan.header(), targets=plan.targets) if resumed else None
    output = open_output(path, resume_at=resume.good_bytes if resume else None)
    try:
        async with asyncio.timeout(seconds):
            await plan.run(JsonlWriter(output.stream), resume=resume)
    except TimeoutError:
        return False
    finally:
        output.close()
    return True


def _documents(
    schedule: Schedule, folder: Path, name: str, path: Path, previous: Path | None
) -> dict[str, Any] | None:
    """Each format, and the diff against ``previous``; the diff's summary (None without a
    previous run)."""
    from exposcan.report.convert import render
    from exposcan.report.read import read_report
    from exposcan.report.tee import document_path

    report = read_report(path)
    for fmt in schedule.formats:
        if fmt != "jsonl":
            with open(document_path(os.fspath(folder / name), fmt), "x", encoding="utf-8") as out:
                render(report, fmt, out)
    if previous is not None:
        from exposcan.diff import diff_reports
        from exposcan.report.diff_render import render_diff

        diff = diff_reports(read_report(previous), report)
        with (folder / f"{name}.diff.json").open("x", encoding="utf-8") as out:
            render_diff(diff, "json", out)
        return diff.summary()
    return None
