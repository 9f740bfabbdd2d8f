"""``exposcan scan``: build options, prepare the plan (every user error surfaces here,
before a packet is sent), run it into a report, render. Its arguments and the options
they make: :mod:`exposcan.cli.scan_args`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, Any

from exposcan import logs
from exposcan.cli import target_args
from exposcan.cli.common import EXIT_FINDINGS, EXIT_OK, error_line, write_failed
from exposcan.cli.scan_args import EPILOG as EPILOG  # re-exported: their first home
from exposcan.cli.scan_args import NAME as NAME
from exposcan.cli.scan_args import add_parser as add_parser
from exposcan.cli.scan_args import options_from
from exposcan.errors import UserError
from exposcan.files import FileIdentity, identity
from exposcan.report import make_writer, open_output
from exposcan.report.read import read_report
from exposcan.report.resume import ResumeState, load_resume
from exposcan.report.tee import DocumentOutputs, Recorder, Tee, is_regular_file, plan_outputs
from exposcan.report.terminal import (
    PausingStream,
    ProgressLine,
    colour_wanted,
    gate_line,
    render_summary,
    resume_command,
)
from exposcan.report.writer import GuardedWriter, ReportOutput
from exposcan.summary import ScanReport
from exposcan.vocabulary import Severity

if TYPE_CHECKING:
    from exposcan.accepted import AcceptedRisks


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
        from exposcan.managed.broker import reach

        plan = distribute(plan, args.broker)
        # before the report is opened: a broker that cannot be reached (a typo in its
        # URL, a wrong password) must not leave last week's report truncated
        await reach(args.broker)
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
