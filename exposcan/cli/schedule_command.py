"""``exposcan schedule add|list|remove``: the schedules on a broker's Redis
(:mod:`exposcan.managed.schedules`); ``exposcan scheduler`` runs them."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from exposcan.cli.common import EXIT_OK, Parser

NAME = "schedule"


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    from exposcan.cli.worker_command import add_broker
    from exposcan.report import FORMATS

    schedule = commands.add_parser(
        "schedule",
        parents=[common],
        help="add, list or remove scheduled scans (run by `exposcan scheduler`)",
    )
    actions = schedule.add_subparsers(dest="action", required=True, parser_class=Parser)
    add = actions.add_parser("add", parents=[common], help="add a schedule")
    add.add_argument("name", metavar="NAME", help="the schedule's name (its folder in --out)")
    add.add_argument("--scope", required=True, metavar="FILE", help="scope file (TOML)")
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", metavar="EXPR", help="five-field cron expression, UTC")
    when.add_argument("--every", metavar="DURATION", help="e.g. 90s, 15m, 2h, 1d")
    add.add_argument(
        "--out", required=True, metavar="DIR", help="runs write DIR/NAME/<UTC timestamp>.jsonl"
    )
    add.add_argument(
        "--format",
        action="append",
        default=[],
        choices=[f for f in FORMATS if f != "jsonl"],
        help="also write this format beside each run's JSONL (repeatable)",
    )
    add.add_argument(
        "--notify",
        metavar="URL",
        help="POST each run's diff summary as JSON here (its text field for chat webhooks)",
    )
    add.add_argument(
        "--window",
        metavar="HH:MM-HH:MM",
        help="UTC: runs start only inside it; one that reaches its end is paused and "
        "resumed in the next window",
    )
    add_broker(add, required=True)
    listing = actions.add_parser("list", parents=[common], help="list the schedules")
    add_broker(listing, required=True)
    remove = actions.add_parser("remove", parents=[common], help="remove a schedule")
    remove.add_argument("name", metavar="NAME")
    add_broker(remove, required=True)


async def run(args: argparse.Namespace, tty: bool) -> int:
    from exposcan.errors import UserError
    from exposcan.managed.broker import check_url
    from exposcan.managed.schedules import check_name, schedule_book

    if not args.broker:
        raise UserError("schedule needs --broker URL (or $EXPOSCAN_BROKER)")
    if check_url(args.broker) == "memory":
        raise UserError("schedules live on a shared broker (redis://HOST:PORT/DB)")
    if args.action in ("add", "remove"):
        check_name(args.name)
    schedule = _schedule(args) if args.action == "add" else None
    async with schedule_book(args.broker) as book:
        if schedule is not None:
            await book.add(schedule)
        elif args.action == "remove":
            await book.remove(args.name)
        else:
            for found in await book.all():
                formats = ",".join(("jsonl", *found.formats))
                print(f"{found.name}\t{found.when()}\t{found.scope}\t{found.out}\t{formats}")
            sys.stdout.flush()
    return EXIT_OK


def _schedule(args: argparse.Namespace) -> Any:
    from exposcan.managed.schedules import Schedule, check_cron, check_notify, parse_every
    from exposcan.managed.window import parse_window
    from exposcan.scope import load_scope

    load_scope(args.scope)  # a scope that does not parse is refused now, not at 2 a.m.
    return Schedule(
        name=args.name,
        scope=os.path.abspath(args.scope),
        out=os.path.abspath(args.out),
        formats=tuple(dict.fromkeys(args.format)),
        cron=check_cron(args.cron) if args.cron else None,
        every_s=parse_every(args.every) if args.every else None,
        notify=check_notify(args.notify) if args.notify else None,
        window=str(parse_window(args.window)) if args.window else None,
    )
