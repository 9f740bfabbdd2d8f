"""``exposcan scheduler --broker URL``: run the broker's schedules in the foreground;
several may be started, exactly one is active (:mod:`exposcan.managed.scheduler`)."""

from __future__ import annotations

import argparse
from typing import Any

from exposcan.cli.common import EXIT_USAGE, error_line, positive_float

NAME = "scheduler"


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    from exposcan.cli.worker_command import add_broker

    scheduler = commands.add_parser(
        "scheduler",
        parents=[common],
        help="run the scheduled scans of a broker (one active, the others on standby)",
    )
    add_broker(scheduler, required=True)
    scheduler.add_argument(
        "--lock",
        type=positive_float("--lock"),
        default=15.0,
        metavar="SECONDS",
        help="a standby scheduler takes over this long after the active one dies "
        "(default 15; the same on every scheduler)",
    )


async def run(args: argparse.Namespace, tty: bool) -> int:
    import asyncio

    from exposcan.managed.broker import redact
    from exposcan.managed.scheduler import serve_scheduler

    if not args.broker:
        error_line("exposcan: error: scheduler needs --broker URL (or $EXPOSCAN_BROKER)")
        return EXIT_USAGE
    ready = asyncio.Event()

    async def announce() -> None:
        await ready.wait()
        error_line(f"exposcan: scheduler started on {redact(args.broker)}")

    said = asyncio.create_task(announce())
    try:
        await serve_scheduler(args.broker, lock_s=args.lock, ready=ready)
    finally:
        said.cancel()
    return 0
