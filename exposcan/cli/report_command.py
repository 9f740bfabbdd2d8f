"""``exposcan report SCAN.jsonl``: render a saved JSONL report in any format, without a
packet (:func:`exposcan.read_report`, :meth:`exposcan.accepted.AcceptedRisks.apply_report`,
:func:`exposcan.report.convert.write_report`); ``--fail-on`` exits 1 on a finding at or
above it that no acceptance covers, once the report is written; one stderr line says how
many, as ``scan`` words it."""

from __future__ import annotations

import argparse
from typing import Any

from exposcan.cli.common import EXIT_FINDINGS, EXIT_OK, error_line, write_failed
from exposcan.files import FileIdentity, identity

NAME = "report"

#: ``--format`` when none is given and the output's name says none: the page for people.
DEFAULT_FORMAT = "html"


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    from exposcan.gating import GATE_SEVERITIES
    from exposcan.report import FORMATS

    report = commands.add_parser(
        "report",
        parents=[common],
        help="render a saved JSONL report in another format (sends nothing)",
        description="Read a JSONL report (resumed ones too) and write it in another format, "
        "without sending a packet. With --accept, findings the accepted-risk file covers are "
        "marked accepted (in every format) and leave --fail-on until their date passes.",
    )
    report.add_argument("report", metavar="SCAN.jsonl", help="the JSONL report a scan wrote")
    report.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="output format (default: the one the --output name ends with, as -oA names "
        f"them: .html .csv .sarif .json .jsonl .defectdojo.json; otherwise {DEFAULT_FORMAT})",
    )
    report.add_argument("--output", "-o", metavar="FILE", help="write here (default stdout)")
    report.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        help=f"exit 1 when a finding at or above it ({'|'.join(GATE_SEVERITIES)}) is present "
        "and not covered by an acceptance",
    )
    report.add_argument(
        "--accept", metavar="FILE", help="accepted-risk file (TOML; docs/accepted-risk.md)"
    )
    report.add_argument(
        "--quiet",
        action="store_true",
        help="no --fail-on line when nothing fails (a failing gate is always said)",
    )


def format_for(fmt: str | None, output: str | None) -> str:
    """The format asked for, else the one the output's name ends with as ``-oA`` names
    its files (``.defectdojo.json`` before ``.json``; ``.htm`` too), else
    :data:`DEFAULT_FORMAT`."""
    if fmt is not None:
        return fmt
    if output is None or output == "-":
        return DEFAULT_FORMAT
    from exposcan.report import FORMATS
    from exposcan.report.tee import document_path

    endings = [(document_path("", f), f) for f in FORMATS] + [(".htm", "html")]
    name = output.lower()
    for ending, named in sorted(endings, key=lambda e: -len(e[0])):
        if name.endswith(ending):
            return named
    return DEFAULT_FORMAT


async def run(args: argparse.Namespace, tty: bool) -> int:
    from exposcan.accepted import lapsed, lapsed_message, load_accepted
    from exposcan.gating import parse_severity
    from exposcan.report.convert import write_report
    from exposcan.report.read import read_report
    from exposcan.report.terminal import gate_line
    from exposcan.report.writer import open_output

    # Every user error before a byte is written.
    threshold = parse_severity(args.fail_on) if args.fail_on is not None else None
    accepted = load_accepted(args.accept) if args.accept is not None else None
    report = read_report(args.report)
    if accepted is not None:
        report = accepted.apply_report(report)
    try:
        write_report(
            report, args.output, format_for(args.format, args.output), protect=_inputs(args)
        )
    except OSError as exc:  # stdout only: a file's failure is an OutputError line
        return write_failed(open_output(None), exc)
    gone = lapsed(report.results)
    if gone:
        error_line(f"exposcan: warning: {lapsed_message(gone)}")
    if threshold is None:
        return EXIT_OK
    found, line = gate_line(report.results, threshold)  # worded as scan's gate
    if found or not args.quiet:
        error_line(line)
    return EXIT_FINDINGS if found else EXIT_OK


def _inputs(args: argparse.Namespace) -> dict[FileIdentity, str]:
    """What this command reads, which its output must never overwrite."""
    inputs: dict[FileIdentity, str] = {}
    for path, what in ((args.accept, "the accepted-risk file"), (args.report, "the report read")):
        found = identity(path) if path else None
        if found is not None:
            inputs[found] = what
    return inputs
