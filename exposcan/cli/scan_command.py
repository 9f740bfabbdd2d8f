"""``exposcan scan``: parse, build options, prepare the plan (every user error surfaces
here, before a packet is sent), run it into a report, render."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from exposcan.cli.common import EXIT_OK, positive_float, positive_int, write_failed
from exposcan.errors import UserError
from exposcan.files import FileIdentity, identity
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.report import FORMATS, ProgressLine, make_writer, open_output, render_summary
from exposcan.report.resume import load_resume
from exposcan.report.writer import GuardedWriter
from exposcan.results import EndpointResult
from exposcan.scan import LARGE_SCAN, prepare
from exposcan.scope import parse_port_list

NAME = "scan"


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    defaults_limits, defaults_timeouts = Limits(), Timeouts()
    scan = commands.add_parser(
        "scan", parents=[common], help="scan targets inside an authorised scope"
    )
    scan.add_argument("targets", nargs="*", metavar="TARGET", help="address, CIDR or hostname")
    scan.add_argument("--scope", required=True, metavar="FILE", help="scope file (TOML)")
    scan.add_argument("--ports", metavar="LIST", help="DICOM ports, e.g. 104,11112,4242-4250")
    scan.add_argument(
        "--web-ports", metavar="LIST", help="HTTP(S) ports, e.g. 8042,443 (default: the scope's)"
    )
    scan.add_argument(
        "--try-default-credentials",
        action="store_true",
        help="try each web product's documented default credentials, once per host",
    )
    scan.add_argument(
        "--rate",
        type=positive_float("--rate"),
        default=defaults_limits.rate,
        help=f"new connections per second overall (default {defaults_limits.rate:g})",
    )
    scan.add_argument(
        "--per-host-rate",
        type=positive_float("--per-host-rate"),
        default=defaults_limits.per_host_rate,
        help=f"new connections per second per host (default {defaults_limits.per_host_rate:g})",
    )
    scan.add_argument(
        "--concurrency",
        type=positive_int("--concurrency"),
        default=defaults_limits.concurrency,
        help=f"endpoints probed at once (default {defaults_limits.concurrency})",
    )
    scan.add_argument(
        "--timeout",
        type=positive_float("--timeout"),
        default=defaults_timeouts.endpoint,
        help=f"seconds for one endpoint, connect to close (default {defaults_timeouts.endpoint:g})",
    )
    scan.add_argument("--called-ae", default=None, metavar="TITLE", help="first called AE title")
    scan.add_argument(
        "--ae-titles",
        metavar="FILE",
        help="extra called AE titles to try when the called title is checked (text or TOML)",
    )
    scan.add_argument(
        "--ae-attempts",
        type=positive_int("--ae-attempts"),
        default=ScanOptions().ae_attempts,
        help=f"associations one endpoint may cost (default {ScanOptions().ae_attempts})",
    )
    scan.add_argument(
        "--max-matches",
        type=positive_int("--max-matches"),
        default=ScanOptions().max_matches,
        help=f"stop counting C-FIND matches here (default {ScanOptions().max_matches})",
    )
    scan.add_argument("--no-find", action="store_true", help="never send C-FIND")
    scan.add_argument(
        "--tls-ports", metavar="LIST", help="ports where DICOM starts with TLS (default 2762)"
    )
    scan.add_argument("--format", choices=FORMATS, default="jsonl", help="report format")
    scan.add_argument("--output", "-o", metavar="FILE", help="report file (default stdout)")
    scan.add_argument(
        "--resume",
        action="store_true",
        help="continue the scan recorded in --output: finished endpoints are not probed again",
    )
    scan.add_argument(
        "--allow-large",
        action="store_true",
        help=f"allow scans of more than {LARGE_SCAN:,} endpoints",
    )


def options_from(args: argparse.Namespace) -> ScanOptions:
    timeout = args.timeout
    timeouts = Timeouts(
        endpoint=timeout,
        connect=min(Timeouts().connect, timeout),
        read=min(Timeouts().read, timeout),
        release=min(Timeouts().release, timeout),
    )
    # An empty --called-ae is a mistake to report, not a request for the default.
    extra: dict[str, Any] = {}
    if args.called_ae is not None:
        extra["called_ae_title"] = args.called_ae
    if args.ae_titles:
        from exposcan.aetitles import load_ae_titles

        extra["ae_titles"] = tuple(t.value for t in load_ae_titles(args.ae_titles))
    if args.web_ports is not None:
        extra["web_ports"] = parse_port_list(args.web_ports, option="--web-ports")
    if args.tls_ports is not None:
        extra["tls_ports"] = parse_port_list(args.tls_ports, option="--tls-ports")
    return ScanOptions(
        ports=parse_port_list(args.ports, option="--ports") if args.ports is not None else None,
        limits=Limits(
            concurrency=args.concurrency, rate=args.rate, per_host_rate=args.per_host_rate
        ),
        timeouts=timeouts,
        ae_attempts=args.ae_attempts,
        max_matches=args.max_matches,
        find=not args.no_find,
        try_default_credentials=args.try_default_credentials,
        **extra,
    )


async def run(args: argparse.Namespace, tty: bool) -> int:
    options = options_from(args)
    plan = await prepare(args.scope, args.targets, options=options, allow_large=args.allow_large)
    resume = None
    if args.resume:
        if args.output in (None, "-") or args.format != "jsonl":
            raise UserError("--resume needs --output FILE with --format jsonl")
        resume = load_resume(args.output, plan.header(), targets=plan.targets)
    # An unwritable path, or one naming an input, fails here, before any packet is sent.
    output = open_output(
        args.output,
        resume_at=resume.good_bytes if resume else None,
        whole_document=args.format != "jsonl",
        protect=_inputs(args),
    )
    task = asyncio.current_task()
    assert task is not None

    def stop(_: OSError) -> None:  # as SIGINT does: in-flight associations end politely
        task.cancel()

    writer = GuardedWriter(make_writer(args.format, output.stream), output, on_error=stop)
    progress = ProgressLine(sys.stderr) if tty else None
    results: list[EndpointResult] = []
    try:
        summary = await plan.run(
            writer,
            on_progress=progress,
            keep=results if tty else None,
            resume=resume,
        )
    except asyncio.CancelledError:
        if writer.error is None:
            raise  # a signal
        task.uncancel()  # our own cancel, for the write error below
    finally:
        if progress is not None:
            progress.clear()
        writer.close()
        output.close()
    if writer.error is not None:
        return write_failed(output, writer.error)
    if tty:
        sys.stderr.write(render_summary(results, summary, colour=True) + "\n")
    return EXIT_OK


def _inputs(args: argparse.Namespace) -> dict[FileIdentity, str]:
    """The files this scan reads, which its report must never overwrite."""
    inputs: dict[FileIdentity, str] = {}
    for path, what in ((args.ae_titles, "the AE title file"), (args.scope, "the scope file")):
        found = identity(path) if path else None
        if found is not None:
            inputs[found] = what
    return inputs
