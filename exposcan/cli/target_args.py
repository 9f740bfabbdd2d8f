"""``exposcan scan``'s targets from other tools: ``-iL FILE`` (nmap's habit: a target a
line, ``-`` for stdin), ``--from-nmap FILE.xml`` and ``--from-masscan FILE.json`` (their
open ports as the endpoints to probe). A thin shell over :mod:`exposcan.scope.imports`:
what a notebook would call, the CLI calls."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import IO

from exposcan.errors import OptionError
from exposcan.scope.imports import (
    ImportedEndpoints,
    read_masscan_json,
    read_nmap_xml,
    read_target_list,
)

__all__ = ["Targets", "add_arguments", "input_files", "targets_from"]


def add_arguments(scan: argparse.ArgumentParser) -> None:
    scan.add_argument(
        "-iL",
        "--target-list",
        dest="target_lists",
        action="append",
        default=[],
        metavar="FILE",
        help="read targets from FILE, one a line (# comments; - for stdin); with TARGETs",
    )
    sweep = scan.add_mutually_exclusive_group()
    sweep.add_argument(
        "--from-nmap",
        metavar="FILE.xml",
        help="probe the open TCP ports of an nmap -oX file (each host still checked "
        "against the scope; ports outside --ports/--web-ports are ignored)",
    )
    sweep.add_argument(
        "--from-masscan",
        metavar="FILE.json",
        help="probe the open TCP ports of a masscan -oJ file (as --from-nmap)",
    )


@dataclass(frozen=True, slots=True)
class Targets:
    """What :func:`exposcan.scan.prepare` takes: ``targets`` and ``endpoints``."""

    targets: list[str]
    endpoints: ImportedEndpoints | None = None


def targets_from(args: argparse.Namespace, *, stdin: IO[bytes] | None = None) -> Targets:
    """The positional targets merged with each ``-iL`` list (in the order given, repeats
    kept once), or the endpoints of ``--from-nmap``/``--from-masscan``. Raises a
    :class:`~exposcan.errors.UserError` (one line) for a bad file or a mix of both."""
    lists: list[str] = list(getattr(args, "target_lists", None) or [])
    if lists.count("-") > 1:
        raise OptionError("-iL - (stdin) can be given once")
    targets: dict[str, None] = dict.fromkeys(getattr(args, "targets", None) or [])
    for path in lists:
        targets.update(dict.fromkeys(read_target_list(path, stdin=stdin)))
    nmap, masscan = getattr(args, "from_nmap", None), getattr(args, "from_masscan", None)
    if nmap is None and masscan is None:
        return Targets(list(targets))
    flag = "--from-nmap" if nmap is not None else "--from-masscan"
    if targets:
        raise OptionError(
            f"{flag} gives the endpoints to probe: do not also give TARGETs or -iL "
            "(trim the sweep instead)"
        )
    endpoints = read_nmap_xml(nmap) if nmap is not None else read_masscan_json(str(masscan))
    return Targets([], endpoints)


def input_files(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(path, what) for every file these options read, which a report must never overwrite."""
    files = [(path, "a target list") for path in args.target_lists or () if path != "-"]
    if args.from_nmap:
        files.append((args.from_nmap, "the nmap XML file"))
    if args.from_masscan:
        files.append((args.from_masscan, "the masscan JSON file"))
    return files
