"""``exposcan worker --broker redis://HOST:PORT/DB``: run the shards of distributed scans
(:func:`exposcan.managed.worker.serve`) in the foreground, until SIGTERM or SIGINT, which
abort its associations politely and end it within seconds (exit 143 or 130); its
unfinished shards go to another worker. ``EXPOSCAN_BROKER`` may stand for ``--broker``.

``EXPOSCAN_TEST_WORKER_VERSION`` is for tests only: the worker says it is that exposcan
version (its stream and heartbeat), to show what a worker of another version does."""

from __future__ import annotations

import argparse
import os
from typing import Any

from exposcan.cli.common import EXIT_USAGE, error_line, positive_float, positive_int

NAME = "worker"
BROKER_ENV = "EXPOSCAN_BROKER"
#: tests only: the version this worker pretends to be
TEST_VERSION_ENV = "EXPOSCAN_TEST_WORKER_VERSION"


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    worker = commands.add_parser(
        "worker",
        parents=[common],
        help="run the shards of distributed scans (scan --broker) from a Redis broker",
        description="Take shards of `exposcan scan --broker URL` off the broker and run them, "
        "re-checking each shard's scope and authorisation before its first packet. Every "
        "worker of a broker keeps the scans' politeness limits together (host leases and "
        "rate windows in Redis). Runs until SIGTERM or SIGINT.",
    )
    add_broker(worker, required=True)
    worker.add_argument(
        "--shards-at-once",
        type=positive_int("--shards-at-once"),
        default=4,
        help="shards this worker runs at once (default 4)",
    )
    worker.add_argument(
        "--redeliver-after",
        type=positive_float("--redeliver-after"),
        default=60.0,
        metavar="SECONDS",
        help="hand a shard to another worker once its worker has been silent this long "
        "(default 60; the same on every worker)",
    )
    worker.add_argument(
        "--lease",
        type=positive_float("--lease"),
        default=15.0,
        metavar="SECONDS",
        help="a host lease this worker holds lapses this long after it dies (default 15)",
    )


def add_broker(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """``--broker URL``, defaulting to ``EXPOSCAN_BROKER``."""
    parser.add_argument(
        "--broker",
        metavar="URL",
        default=os.environ.get(BROKER_ENV) or None,
        help=f"redis://[:PASSWORD@]HOST:PORT/DB (default: ${BROKER_ENV})"
        + ("" if required else "; runs the scan's shards on that broker's workers"),
    )


async def run(args: argparse.Namespace, tty: bool) -> int:
    from exposcan._version import __version__
    from exposcan.managed.broker import redact
    from exposcan.managed.worker import serve

    if not args.broker:
        error_line(f"exposcan: error: worker needs --broker URL (or ${BROKER_ENV})")
        return EXIT_USAGE
    import asyncio

    ready = asyncio.Event()

    async def announce() -> None:
        await ready.wait()
        error_line(f"exposcan: worker listening on {redact(args.broker)}")

    said = asyncio.create_task(announce())
    try:
        await serve(
            args.broker,
            shards_at_once=args.shards_at_once,
            redeliver_after_s=args.redeliver_after,
            lease_s=args.lease,
            ready=ready,
            version=os.environ.get(TEST_VERSION_ENV) or __version__,
        )
    finally:
        said.cancel()
    return 0
