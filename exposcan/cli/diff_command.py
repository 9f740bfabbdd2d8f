"""``exposcan diff OLD.jsonl NEW.jsonl``: what changed between two saved scans, without a
packet (:func:`exposcan.diff.diff_reports`; with ``--accept``,
:meth:`exposcan.accepted.AcceptedRisks.apply_report` on both first); ``--fail-on`` exits 1
on a new finding no acceptance covers, once the diff is written."""

from __future__ import annotations

import argparse
from typing import Any

from exposcan.cli.common import EXIT_FINDINGS, EXIT_OK, error_line, write_failed
from exposcan.files import FileIdentity, identity

NAME = "diff"


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    from exposcan.gating import GATE_SEVERITIES
    from exposcan.report.diff_render import DIFF_FORMATS

    diff = commands.add_parser(
        "diff",
        parents=[common],
        help="what changed between two JSONL reports (new, resolved, changed)",
        description="Compare two JSONL reports of the same site: new, resolved and changed "
        "exposures and findings. Endpoints only one report holds (other ports or scope) "
        "are counted as not compared, never as new or resolved.",
    )
    diff.add_argument("old", metavar="OLD", help="the earlier JSONL report")
    diff.add_argument("new", metavar="NEW", help="the later JSONL report")
    diff.add_argument("--format", choices=DIFF_FORMATS, default="text", help="output format")
    diff.add_argument("--output", "-o", metavar="FILE", help="write here (default stdout)")
    diff.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        help=f"exit 1 when a new finding at or above it ({'|'.join(GATE_SEVERITIES)}) "
        "is not covered by an acceptance",
    )
    diff.add_argument(
        "--accept",
        metavar="FILE",
        help="accepted-risk file (TOML): findings it covers are marked accepted in both "
        "reports and are not counted as new until their date passes",
    )


async def run(args: argparse.Namespace, tty: bool) -> int:
    from exposcan.accepted import lapsed, lapsed_message, load_accepted
    from exposcan.diff import diff_reports
    from exposcan.gating import parse_severity
    from exposcan.report.diff_render import render_diff
    from exposcan.report.read import read_report
    from exposcan.report.writer import open_output

    # Every user error before a byte is written.
    threshold = parse_severity(args.fail_on) if args.fail_on is not None else None
    accepted = load_accepted(args.accept) if args.accept is not None else None
    old, new = read_report(args.old), read_report(args.new)
    if accepted is not None:
        old, new = accepted.apply_report(old), accepted.apply_report(new)
    diff = diff_reports(old, new)
    output = open_output(args.output, whole_document=True, protect=_inputs(args))
    try:
        render_diff(diff, args.format, output.stream)
        output.commit()
    except OSError as exc:
        return write_failed(output, exc)
    finally:
        output.close()
    gone = lapsed(new.results)
    if gone:
        error_line(f"exposcan: warning: {lapsed_message(gone)}")
    found = diff.failing(threshold) if threshold is not None else ()
    if found:
        noun = "new finding" if len(found) == 1 else "new findings"
        error_line(f"exposcan: {len(found)} {noun} at or above {threshold}, not accepted")
        return EXIT_FINDINGS
    return EXIT_OK


def _inputs(args: argparse.Namespace) -> dict[FileIdentity, str]:
    """The two reports: the diff must never be written over one of them."""
    inputs: dict[FileIdentity, str] = {}
    named = ((args.old, "the OLD report"), (args.new, "the NEW report"))
    for path, what in (*named, (args.accept, "the accepted-risk file")):
        if path is None:
            continue
        found = identity(path)
        if found is not None:
            inputs[found] = what
    return inputs
