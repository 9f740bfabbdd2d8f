"""The command line: a thin shell over the public API.

Parse, build options, prepare the plan (every user error surfaces here, before
a packet is sent), run it into a report, render. Exit codes: 0 finished,
2 user error (one line on stderr), 130/143 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from exposcan._version import __version__
from exposcan.errors import UserError
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.report import FORMATS, ProgressLine, make_writer, open_output, render_summary
from exposcan.report.resume import load_resume
from exposcan.results import EndpointResult
from exposcan.scan import LARGE_SCAN, prepare
from exposcan.scope import parse_port_list

EXIT_OK, EXIT_USAGE, EXIT_SIGINT, EXIT_SIGTERM = 0, 2, 130, 143


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, like every other user error."""

    def error(self, message: str) -> NoReturn:
        raise UserError(message)


def _positive_float(name: str) -> type[float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, not {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{name} must be above 0, not {text!r}")
        return value

    return parse  # type: ignore[return-value]


def _positive_int(name: str) -> type[int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a whole number, not {text!r}"
            ) from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be at least 1, not {text!r}")
        return value

    return parse  # type: ignore[return-value]


def build_parser() -> argparse.ArgumentParser:
    defaults_limits, defaults_timeouts = Limits(), Timeouts()
    parser = _Parser(
        prog="exposcan",
        description="Find DICOM/PACS services that answer strangers, within an authorised scope.",
    )
    parser.add_argument("--version", action="version", version=f"exposcan {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    scan = commands.add_parser("scan", help="scan targets inside an authorised scope")
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
        type=_positive_float("--rate"),
        default=defaults_limits.rate,
        help=f"new connections per second overall (default {defaults_limits.rate:g})",
    )
    scan.add_argument(
        "--per-host-rate",
        type=_positive_float("--per-host-rate"),
        default=defaults_limits.per_host_rate,
        help=f"new connections per second per host (default {defaults_limits.per_host_rate:g})",
    )
    scan.add_argument(
        "--concurrency",
        type=_positive_int("--concurrency"),
        default=defaults_limits.concurrency,
        help=f"endpoints probed at once (default {defaults_limits.concurrency})",
    )
    scan.add_argument(
        "--timeout",
        type=_positive_float("--timeout"),
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
        type=_positive_int("--ae-attempts"),
        default=ScanOptions().ae_attempts,
        help=f"associations one endpoint may cost (default {ScanOptions().ae_attempts})",
    )
    scan.add_argument(
        "--max-matches",
        type=_positive_int("--max-matches"),
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

    commands.add_parser("demo", help="scan an embedded lab on 127.0.0.1 and show the result")
    return parser


def options_from(args: argparse.Namespace) -> ScanOptions:
    timeout = args.timeout
    timeouts = Timeouts(
        endpoint=timeout,
        connect=min(Timeouts().connect, timeout),
        read=min(Timeouts().read, timeout),
        release=min(Timeouts().release, timeout),
    )
    extra: dict[str, Any] = {"called_ae_title": args.called_ae} if args.called_ae else {}
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


async def _scan(args: argparse.Namespace, tty: bool) -> int:
    options = options_from(args)
    plan = await prepare(args.scope, args.targets, options=options, allow_large=args.allow_large)
    resume = None
    if args.resume:
        if args.output is None or args.format != "jsonl":
            raise UserError("--resume needs --output FILE with --format jsonl")
        resume = load_resume(args.output, plan.header())
    # An unwritable path fails here, before any packet is sent.
    stream = open_output(args.output, resume_at=resume.good_bytes if resume else None)
    progress = ProgressLine(sys.stderr) if tty else None
    results: list[EndpointResult] = []
    try:
        summary = await plan.run(
            make_writer(args.format, stream),
            on_progress=progress,
            keep=results if tty else None,
            resume=resume,
        )
    finally:
        if progress is not None:
            progress.clear()
        if stream is not sys.stdout:
            stream.close()
    if tty:
        sys.stderr.write(render_summary(results, summary, colour=True) + "\n")
    return EXIT_OK


async def _demo(args: argparse.Namespace, tty: bool) -> int:
    from exposcan.lab import run_demo

    await run_demo(sys.stdout, colour=sys.stdout.isatty())
    return EXIT_OK


async def _main_async(args: argparse.Namespace) -> int:
    tty = sys.stderr.isatty()
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        task.cancel()  # in-flight associations abort politely as their tasks unwind

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        if args.command == "demo":
            return await _demo(args, tty)
        return await _scan(args, tty)
    except asyncio.CancelledError:
        if received:
            return EXIT_SIGTERM if received[0] == signal.SIGTERM else EXIT_SIGINT
        raise
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def main(argv: Sequence[str] | None = None) -> int:
    from exposcan import logs

    try:
        args = build_parser().parse_args(argv)
        logs.configure(verbosity=args.verbose)
        return asyncio.run(_main_async(args))
    except UserError as exc:
        print(f"exposcan: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_SIGINT


if __name__ == "__main__":
    sys.exit(main())
