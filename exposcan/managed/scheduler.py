"""The scheduler: exactly one active, however many are started.

Each ``exposcan scheduler`` takes the Redis lock ``exposcan:scheduler`` (redis-py Lock,
renewed every third of ``lock_s``) before it runs taskiq's scheduler loop over the
schedule book; the others wait on standby and one takes over within ``lock_s`` of the
active one's death. A scheduled run is kicked to an InMemoryBroker of the active
scheduler, so it runs there (its reports land on that machine) as a submitter: its
shards go to the workers of the broker. A scheduler that loses its lock (Redis gone
longer than ``lock_s``) stops scheduling and goes back to standby.

A schedule keeps its phase across a takeover: each run's start is kept in Redis
(:data:`LAST_RUN`), and a scheduler that becomes active starts taskiq's loop from those
instants, so an ``--every 1h`` schedule last run at 10:00 runs next at 11:00 whoever is
active then, not an hour after the takeover (nor at once); a cron schedule that ran this
minute does not run again in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from datetime import timedelta
from typing import Any

from exposcan.errors import UserError
from exposcan.logs import get_logger
from exposcan.managed.broker import (
    check_url,
    open_redis,
    quiet_libraries,
    raise_lost_cancel,
    redact,
)

log = get_logger("exposcan.managed")

LOCK = "exposcan:scheduler"
LOCK_S = 15.0
#: a hash: schedule name -> the POSIX time its last run was started
LAST_RUN = "exposcan:last-run"


async def serve_scheduler(
    url: str, *, lock_s: float = LOCK_S, ready: asyncio.Event | None = None
) -> None:
    """Schedule runs on ``url`` until cancelled (standby while another is active)."""
    from exposcan.managed.broker import BrokerError

    if check_url(url) == "memory":
        raise BrokerError("a scheduler needs a shared broker (redis://HOST:PORT/DB)")
    quiet_libraries()
    redis = await open_redis(url)
    me = f"{socket.gethostname()}:{os.getpid()}"
    try:
        if ready is not None:
            ready.set()
        while True:
            lock = redis.lock(LOCK, timeout=lock_s, thread_local=False)
            said = False
            while not await lock.acquire(blocking=False):
                raise_lost_cancel()  # stopped while on standby (broker.raise_lost_cancel)
                if not said:
                    log.info("scheduler_standby", scheduler=me, broker=redact(url))
                    said = True
                await asyncio.sleep(lock_s / 5)
            log.info("scheduler_active", scheduler=me, broker=redact(url))
            try:
                await _active(url, redis, lock, lock_s)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(lock.release())
            log.warning("scheduler_lost_lock", scheduler=me)
    finally:
        await redis.aclose()


async def _active(url: str, redis: Any, lock: Any, lock_s: float) -> None:
    """Run the schedules while the lock is ours; return when it is lost."""
    keep = asyncio.create_task(_keep(lock, lock_s))
    loop = asyncio.create_task(_schedule(url, redis))
    try:
        await asyncio.wait({keep, loop}, return_when=asyncio.FIRST_COMPLETED)
        for task in (keep, loop):
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in (keep, loop):
            task.cancel()
        await asyncio.gather(keep, loop, return_exceptions=True)


async def _keep(lock: Any, lock_s: float) -> None:
    while True:
        await asyncio.sleep(lock_s / 3)
        try:
            await lock.reacquire()
        except Exception:
            return  # no longer ours: another scheduler may be active now
        raise_lost_cancel()  # stopped: the lock is not renewed for ever


class ScheduledRuns:
    """What the active scheduler does when a schedule fires (or a paused run's window
    opens again): one run of a schedule at a time, as the submitter of a distributed
    scan on ``url``'s workers."""

    def __init__(self, url: str, redis: Any) -> None:
        self._url, self._redis = url, redis
        self.running: set[str] = set()

    async def fire(self, schedule: dict[str, Any]) -> None:
        """The schedule fired: its phase is kept for a scheduler that takes over (also
        when this run is skipped: taskiq's loop counts the interval from here too)."""
        import time

        from exposcan.managed.schedules import Schedule

        name = Schedule.from_dict(schedule).name
        with contextlib.suppress(Exception):
            await self._redis.hset(LAST_RUN, name, f"{time.time():.3f}")
        await self.resume(schedule)

    async def resume(self, schedule: dict[str, Any]) -> None:
        """A run, without touching the phase (a paused run going on is not a firing)."""
        from exposcan.managed.schedules import Schedule, run_schedule

        chosen = Schedule.from_dict(schedule)
        if chosen.name in self.running:
            log.info("scheduled_run_skipped", schedule=chosen.name, reason="still running")
            return
        self.running.add(chosen.name)
        try:
            await run_schedule(chosen, self._url)
        except UserError as exc:  # a scope file gone, no workers: logged, the next run tries
            log.warning("scheduled_run_failed", schedule=chosen.name, reason=str(exc))
        except Exception:
            log.exception("scheduled_run_failed", schedule=chosen.name)
        finally:
            self.running.discard(chosen.name)


#: how often the active scheduler looks for paused runs whose window has opened again
RESUME_CHECK_S = 30.0


async def _resume_paused(book: Any, run: Any) -> None:
    """A run paused at its window's end goes on when the window opens again, whether or
    not the schedule fires then."""
    from exposcan.managed.window import parse_window

    started: set[asyncio.Task[None]] = set()
    try:
        while True:
            await asyncio.sleep(RESUME_CHECK_S)
            with contextlib.suppress(Exception):  # Redis away: the next turn
                for schedule in await book.all():
                    folder = os.path.join(schedule.out, schedule.name)
                    if not schedule.window or not _has_paused(folder):
                        continue
                    if parse_window(schedule.window).seconds_left(_utc_now()) is not None:
                        task = asyncio.create_task(run(schedule.to_dict()))
                        started.add(task)
                        task.add_done_callback(started.discard)
            raise_lost_cancel()
    finally:
        for task in started:
            task.cancel()
        await asyncio.gather(*started, return_exceptions=True)


def _has_paused(folder: str) -> bool:
    try:
        return any(name.endswith(".paused") for name in os.listdir(folder))
    except OSError:
        return False


def _utc_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def last_runs(redis: Any) -> dict[str, Any]:
    """When each schedule's last run started (aware UTC, to the second: taskiq's loop ticks
    on whole seconds)."""
    from datetime import UTC, datetime

    found = {}
    for name, at in (await redis.hgetall(LAST_RUN)).items():
        with contextlib.suppress(ValueError, TypeError, OverflowError):
            when = datetime.fromtimestamp(int(float(at)), UTC)
            found[name.decode() if isinstance(name, bytes) else str(name)] = when
    return found


async def _schedule(url: str, redis: Any) -> None:
    from taskiq import InMemoryBroker, TaskiqScheduler
    from taskiq.cli.scheduler.run import SchedulerLoop

    from exposcan.managed.schedules import RUN_TASK, ScheduleBook

    broker = InMemoryBroker()
    runs = ScheduledRuns(url, redis)

    async def scheduled(schedule: dict[str, Any]) -> None:  # taskiq names a function
        await runs.fire(schedule)

    broker.register_task(scheduled, task_name=RUN_TASK)
    book = ScheduleBook(url)
    await broker.startup()
    resumer = asyncio.create_task(_resume_paused(book, runs.resume))
    try:
        await book.source.startup()
        loop = SchedulerLoop(TaskiqScheduler(broker, sources=[book.source]))
        # taskiq's loop keeps the last runs in memory: seeded from Redis, a takeover keeps
        # every schedule's phase (run_scheduler_task, which it replaces, starts them empty)
        last = await last_runs(redis)
        loop.interval_tasks_last_run.update(last)
        loop.cron_tasks_last_run.update(last)
        await loop.run(update_interval=timedelta(seconds=5), loop_interval=timedelta(seconds=1))
    finally:
        resumer.cancel()
        tasks = [resumer, *getattr(broker, "_running_tasks", ())]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await broker.shutdown()
        await book.close()
