"""The command line: a thin shell over the public API.

Parse, build options, prepare the plan (every user error surfaces here, before
a packet is sent), run it into a report, render. Exit codes: 0 finished,
2 user error (one line on stderr: bad input, or a report that cannot be
written), 130/143 interrupted (SIGINT/SIGTERM; one line), 141 the reader of
stdout went away (``exposcan scan | head``: quiet, as a filter killed by SIGPIPE
is to its shell). See :mod:`exposcan.shutdown` for how a signal ends the process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from exposcan._version import __version__
from exposcan.errors import OutputError, UserError
from exposcan.files import FileIdentity, identity, write_reason
from exposcan.logs import is_terminal
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.report import FORMATS, ProgressLine, make_writer, open_output, render_summary
from exposcan.report.resume import load_resume
from exposcan.report.writer import GuardedWriter, ReportOutput
from exposcan.results import EndpointResult
from exposcan.scan import LARGE_SCAN, prepare
from exposcan.scope import parse_port_list
from exposcan.shutdown import EXIT_SIGPIPE, Interrupts, exit_code, silence_stdout

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


async def _scan(args: argparse.Namespace, tty: bool) -> int:
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
        return _write_failed(output, writer.error)
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


def _write_failed(output: ReportOutput, error: OSError) -> int:
    """A report that could not be written: one line and exit 2, or, for a reader that
    went away (``exposcan scan | head``), a quiet exit as a Unix filter's."""
    if output.is_stdout:
        silence_stdout()  # what is still buffered must not fail again at exit
        if error.errno == errno.EPIPE:
            return EXIT_SIGPIPE
    raise OutputError(f"cannot write report to {output.name}: {write_reason(error)}")


async def _demo(args: argparse.Namespace, tty: bool) -> int:
    from exposcan.lab import run_demo

    if sys.stdout is None:  # started with fd 1 closed (>&-), as open_output says for a scan
        raise OutputError("cannot write the demo to stdout: it is closed")
    try:
        await run_demo(sys.stdout, colour=sys.stdout.isatty())
    except OSError as exc:
        if exc.errno not in _WRITE_ERRORS:  # the lab's own (a port in use): not ours to word
            raise
        return _write_failed(ReportOutput(sys.stdout, "stdout"), exc)
    return EXIT_OK


#: What a write to stdout fails with when the disk or the reader does.
_WRITE_ERRORS = frozenset({errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


async def _main_async(args: argparse.Namespace, interrupts: Interrupts) -> int:
    tty = is_terminal(sys.stderr)
    task = asyncio.current_task()
    assert task is not None
    interrupts.attach(task)  # a signal now cancels the task: associations abort as it unwinds
    try:
        if args.command == "demo":
            return await _demo(args, tty)
        return await _scan(args, tty)
    except asyncio.CancelledError:
        if interrupts.signum is not None:
            return exit_code(interrupts.signum)  # the line is said once asyncio.run is done
        raise


def main(argv: Sequence[str] | None = None) -> int:
    from exposcan import logs

    interrupts = Interrupts()
    interrupts.install()
    try:
        args = build_parser().parse_args(argv)
        logs.configure(verbosity=args.verbose)
        code = asyncio.run(_main_async(args, interrupts))
        if interrupts.signum is not None and code == exit_code(interrupts.signum):
            interrupts.say(interrupts.line())  # not before: asyncio.run's end could hang
        return code
    except UserError as exc:
        _error_line(f"exposcan: error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:  # a signal before the event loop ran, or Ctrl-C in a library
        signum = interrupts.signum or signal.SIGINT
        interrupts.signum = signum
        interrupts.say(interrupts.line())
        return exit_code(signum)
    except BrokenPipeError:  # stdout's reader went away (the demo, --help | head)
        silence_stdout()
        return EXIT_SIGPIPE
    finally:
        interrupts.restore()


def _error_line(line: str) -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):  # stderr closed or gone
        print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
