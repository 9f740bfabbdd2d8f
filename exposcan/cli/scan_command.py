"""``exposcan scan``: parse, build options, prepare the plan (every user error surfaces
here, before a packet is sent), run it into a report, render."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, Any

from exposcan import logs
from exposcan.cli import target_args
from exposcan.cli.common import (
    EXIT_FINDINGS,
    EXIT_OK,
    error_line,
    positive_float,
    positive_int,
    write_failed,
)
from exposcan.errors import UserError
from exposcan.files import FileIdentity, identity
from exposcan.gating import GATE_SEVERITIES, parse_severity
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.report import FORMATS, make_writer, open_output
from exposcan.report.read import read_report
from exposcan.report.resume import ResumeState, load_resume
from exposcan.report.tee import (
    DocumentOutputs,
    Recorder,
    Tee,
    document_path,
    is_regular_file,
    parse_also,
    plan_outputs,
)
from exposcan.report.terminal import (
    PausingStream,
    ProgressLine,
    colour_wanted,
    gate_line,
    render_summary,
    resume_command,
)
from exposcan.report.writer import GuardedWriter, ReportOutput
from exposcan.scope import parse_port_list
from exposcan.sizes import LARGE_SCAN
from exposcan.summary import ScanReport
from exposcan.vocabulary import Severity

if TYPE_CHECKING:
    from exposcan.accepted import AcceptedRisks

NAME = "scan"
_DOCUMENTS = ", ".join(document_path("BASE", f) for f in FORMATS if f != "jsonl")

EPILOG = f"""outputs:
  -o/--output FILE     the report, in --format (default jsonl), written as the scan runs
                       (default stdout); a JSONL file is the source of truth and the one
                       --resume continues
  -oA/--output-all BASE
                       nmap's habit: BASE.jsonl as the report (streamed, resumable) and,
                       once the scan is over, every other format beside it, rendered
                       from BASE.jsonl:
                       {_DOCUMENTS}
                       (-oA is one word: -oAx still means -o Ax)
  --also FORMAT=PATH   one more whole document, written at the end (repeatable)
  Documents written at the end replace the file at their path only once whole; an
  interrupted scan writes none of them (resume it, and they are written then).

terminal (when stderr is one):
  a progress line (done/planned, rate, ETA, exposed so far) and a summary table that
  fits the width (COLUMNS is honoured). When the report also goes to the terminal, the
  progress line is erased around each of its lines, never mixed into them.
  NO_COLOR (any value) or --no-color: no colour. --quiet: no progress and no table.
  Ctrl-C (SIGINT): the summary so far and the command that resumes the scan.

gate:
  --fail-on SEVERITY ({"|".join(GATE_SEVERITIES)}): exit 1 when a finding at
  or above it is in the report (all runs of a resumed scan), once every report is
  written; one line on stderr says how many (kept with --quiet). A finding the
  --accept FILE covers is marked accepted in every output and does not count until
  its acceptance expires.
"""


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    defaults_limits, defaults_timeouts = Limits(), Timeouts()
    scan = commands.add_parser(
        "scan",
        parents=[common],
        help="scan targets inside an authorised scope",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scan.add_argument("targets", nargs="*", metavar="TARGET", help="address, CIDR or hostname")
    target_args.add_arguments(scan)
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
        "--first-contact-rate",
        type=positive_float("--first-contact-rate"),
        default=defaults_limits.first_contact_rate,
        help="SYNs per second to addresses that never answered (default "
        f"{defaults_limits.first_contact_rate:g}; an explicit --rate replaces it unless this "
        "is given too: docs/timing.md)",
    )
    scan.add_argument(
        "--silent-after",
        type=int,
        default=ScanOptions().silent_after,
        metavar="N",
        help="a host silent on its first N endpoints is not probed further: its other "
        f"endpoints are host-silent (default {ScanOptions().silent_after}; 0: never)",
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
    scan.add_argument(
        "--format", choices=FORMATS, default=None, help="report format (default jsonl)"
    )
    scan.add_argument("--output", "-o", metavar="FILE", help="report file (default stdout)")
    scan.add_argument(
        "--output-all",
        "-oA",
        metavar="BASE",
        help="BASE.jsonl, and every other format beside it at the end (see outputs below)",
    )
    scan.add_argument(
        "--also",
        action="append",
        default=[],
        type=parse_also,
        metavar="FORMAT=PATH",
        help="also write the report as FORMAT to PATH at the end (repeatable)",
    )
    scan.add_argument(
        "--resume",
        action="store_true",
        help="continue the scan recorded in --output (or --output-all's BASE.jsonl): "
        "finished endpoints are not probed again",
    )
    scan.add_argument(
        "--fail-on",
        type=parse_severity,
        default=None,
        metavar="SEVERITY",
        help=f"exit 1 if a finding at or above this is found ({', '.join(GATE_SEVERITIES)})",
    )
    scan.add_argument(
        "--accept",
        metavar="FILE",
        help="accepted-risk file (TOML; docs/accepted-risk.md): covered findings are marked "
        "accepted in every output and leave --fail-on until their date passes",
    )
    scan.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress line and no summary table (errors and the gate line stay)",
    )
    scan.add_argument(
        "--no-color", action="store_true", help="no colour on the terminal (as NO_COLOR=1)"
    )
    from exposcan.cli.worker_command import add_broker

    add_broker(scan, required=False)
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
            concurrency=args.concurrency,
            rate=args.rate,
            per_host_rate=args.per_host_rate,
            first_contact_rate=args.first_contact_rate,
        ),
        silent_after=args.silent_after,
        timeouts=timeouts,
        ae_attempts=args.ae_attempts,
        max_matches=args.max_matches,
        find=not args.no_find,
        try_default_credentials=args.try_default_credentials,
        **extra,
    )


async def run(args: argparse.Namespace, tty: bool) -> int:
    if args.no_color:
        logs.set_colour(False)
    path, fmt, wanted = plan_outputs(
        output=args.output, output_all=args.output_all, fmt=args.format, also=args.also
    )
    accepted = _load_accepted(args.accept)
    options = options_from(args)
    chosen = target_args.targets_from(args)
    from exposcan.scan import prepare  # the engine and the probes: only for a scan

    plan = await prepare(
        args.scope,
        chosen.targets,
        options=options,
        allow_large=args.allow_large,
        endpoints=chosen.endpoints,
    )
    if args.broker:  # the same plan, its shards run by the broker's workers
        from exposcan.managed import distribute

        plan = distribute(plan, args.broker)
    for warning in plan.warnings():  # the expiry coming, sweep ports no probe takes
        error_line(f"exposcan: warning: {warning}")
    resume = None
    if args.resume:
        if path in (None, "-") or fmt != "jsonl":
            raise UserError("--resume needs --output FILE with --format jsonl, or --output-all")
        resume = load_resume(path, plan.header(), targets=plan.targets)
    # An unwritable path, or one naming an input, fails here, before any packet is sent;
    # the documents first: opening the JSONL report truncates what it held.
    protect = _inputs(args)
    main = identity(path) if path not in (None, "-") else None
    documents = DocumentOutputs(
        wanted, protect={**protect, **({main: "the report"} if main else {})}
    )
    try:
        output = open_output(
            path,
            resume_at=resume.good_bytes if resume else None,
            whole_document=fmt != "jsonl",
            protect=protect,
        )
    except BaseException:
        documents.close()
        raise
    try:
        return await _scan(args, tty, plan, resume, output, fmt, documents, path, accepted)
    finally:
        documents.close()


async def _scan(
    args: argparse.Namespace,
    tty: bool,
    plan: Any,
    resume: ResumeState | None,
    output: ReportOutput,
    fmt: str,
    documents: DocumentOutputs,
    path: str | None,
    accepted: AcceptedRisks | None,
) -> int:
    task = asyncio.current_task()
    assert task is not None

    def stop(_: OSError) -> None:  # as SIGINT does: in-flight associations end politely
        task.cancel()

    interactive = tty and not args.quiet
    progress = None
    stream = output.stream
    if interactive:
        progress = ProgressLine(
            sys.stderr,
            colour=_colour(args),
            previous=[p.exposure for p in resume.previous] if resume else (),
        )
        if output.is_stdout and logs.is_terminal(sys.stdout):
            stream = PausingStream(output.stream, progress)  # type: ignore[assignment]
    # A JSONL file is read back at the end when it holds more than this run knows
    # (earlier runs) or feeds the documents (so that they agree with it, line for line).
    jsonl_file = fmt == "jsonl" and is_regular_file(path)
    reread = jsonl_file and (resume is not None or bool(documents))
    threshold: Severity | None = args.fail_on
    recorder = Recorder.needed(
        everything=bool(documents) and not reread, table=interactive, gate=threshold
    )
    writer = GuardedWriter(make_writer(fmt, stream), output, on_error=stop)
    try:
        mark = (lambda result: accepted.apply((result,))[0]) if accepted is not None else None
        await plan.run(Tee(writer, recorder, mark=mark), on_progress=progress, resume=resume)
    except asyncio.CancelledError:
        if writer.error is None:  # a signal: what was done, and how to go on
            if progress is not None:
                progress.clear()
            _interrupted(args, tty, recorder, resumable=jsonl_file)
            raise
        task.uncancel()  # our own cancel, for the write error below
    finally:
        if progress is not None:
            progress.clear()
        writer.close()
        output.close()
    if writer.error is not None:
        return write_failed(output, writer.error)
    report = read_report(path) if reread and path is not None else recorder.report()
    if accepted is not None:
        # The file given now decides, for the earlier runs' results too.
        report = accepted.apply_report(report)
        _warn_lapsed(report)
    documents.write(report)
    if interactive:
        _say(render_summary(report.results, report.summary, colour=_colour(args)))
    return _gate(report, threshold, quiet=args.quiet)


def _load_accepted(path: str | None) -> AcceptedRisks | None:
    if path is None:
        return None
    from exposcan.accepted import load_accepted

    return load_accepted(path)


def _warn_lapsed(report: ScanReport) -> None:
    from exposcan.accepted import lapsed, lapsed_message

    gone = lapsed(report.results)
    if gone:
        _say(f"exposcan: warning: {lapsed_message(gone)}")


def _colour(args: argparse.Namespace) -> bool:
    return colour_wanted(sys.stderr, no_color=args.no_color)


_say = error_line


def _gate(report: ScanReport, threshold: Severity | None, *, quiet: bool) -> int:
    """Exit 1 with one line when a finding at or above ``threshold`` is not accepted."""
    if threshold is None:
        return EXIT_OK
    found, line = gate_line(report.results, threshold)
    if found or not quiet:
        _say(line)
    return EXIT_FINDINGS if found else EXIT_OK


def _interrupted(
    args: argparse.Namespace, tty: bool, recorder: Recorder, *, resumable: bool
) -> None:
    """On a terminal: the summary so far (not with --quiet), and the command that
    resumes the scan (when its report is a JSONL file, the one thing ``--resume``
    continues). Elsewhere (cron, CI) the one "interrupted" line says it all."""
    if not tty:
        return
    if not args.quiet and recorder.summary is not None:
        _say(render_summary(recorder.results, recorder.summary, colour=_colour(args)))
    if resumable:
        argv = _argv(args)
        if argv is not None:
            _say(f"exposcan: resume with: {resume_command(argv)}")
        else:
            _say("exposcan: resume with the same command and --resume")


def _argv(args: argparse.Namespace) -> list[str] | None:
    """The words this scan was started with, if ``sys.argv`` holds them (a caller of
    :func:`exposcan.cli.main` may have passed others): they must parse to ``args``."""
    from exposcan.cli import build_parser

    given = getattr(args, "argv", None)
    words = list(given) if given is not None else sys.argv[1:]
    try:
        again = build_parser().parse_args(words)
    except (UserError, SystemExit):
        return None
    skip = {"verbose", "argv"}
    same = {k: v for k, v in vars(again).items() if k not in skip} == {
        k: v for k, v in vars(args).items() if k not in skip
    }
    return words if same else None


def _inputs(args: argparse.Namespace) -> dict[FileIdentity, str]:
    """The files this scan reads, which its report must never overwrite."""
    inputs: dict[FileIdentity, str] = {}
    for path, what in (
        (args.ae_titles, "the AE title file"),
        (args.scope, "the scope file"),
        (args.accept, "the accepted-risk file"),
        *target_args.input_files(args),
    ):
        found = identity(path) if path else None
        if found is not None:
            inputs[found] = what
    return inputs
