"""``exposcan demo``: scan an embedded lab on 127.0.0.1 and show what exposcan is for."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from exposcan.cli.common import EXIT_OK, WRITE_ERRORS, write_failed
from exposcan.errors import OutputError
from exposcan.report.writer import ReportOutput

NAME = "demo"


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "demo",
        parents=[common],
        help="scan an embedded lab on 127.0.0.1 and show the result",
        description=(
            "Start a small lab on 127.0.0.1 (one service per exposure level: none, "
            "protected, echo, store, query, and a DICOMweb API), scan it, print the "
            "summary, and write a JSONL and an HTML report to a temporary folder."
        ),
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the folder with the reports (it is removed at the end otherwise)",
    )
    parser.add_argument(
        "--no-color", action="store_true", help="no colour on the terminal (as NO_COLOR=1)"
    )


async def run(args: argparse.Namespace, tty: bool) -> int:
    from exposcan.lab_demo import run_demo

    if sys.stdout is None:  # started with fd 1 closed (>&-), as open_output says for a scan
        raise OutputError("cannot write the demo to stdout: it is closed")
    try:
        # NO_COLOR: any non-empty value (https://no-color.org), as the scan's table
        colour = sys.stdout.isatty() and not args.no_color and not os.environ.get("NO_COLOR")
        await run_demo(sys.stdout, colour=colour, keep=bool(args.keep))
    except OSError as exc:
        if exc.errno not in WRITE_ERRORS:  # the lab's own (a port in use): not ours to word
            raise
        return write_failed(ReportOutput(sys.stdout, "stdout"), exc)
    return EXIT_OK
