"""Rendering a whole report (one read back, or one :func:`exposcan.scan` returned) in any
format, without a packet: the same writers a scan streams into, fed from the report.

:func:`render` writes to a stream; :func:`write_report` to a path (or stdout), as a new
version beside the file renamed over it once whole, in every format, JSONL included: a
conversion that fails half-way (disk full, a signal) leaves the earlier file as it was.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Mapping
from typing import IO

from exposcan.errors import OptionError, OutputError
from exposcan.files import FileIdentity, show_path, write_reason
from exposcan.probe import HostEvidence
from exposcan.report import FORMATS
from exposcan.report.writer import EvidenceWriter, make_writer, open_output
from exposcan.summary import ScanReport

__all__ = ["render", "write_report"]


def render(report: ScanReport, fmt: str, stream: IO[str]) -> None:
    """Write ``report`` to ``stream`` as ``fmt`` (one of :data:`exposcan.report.FORMATS`).

    A format that keeps host evidence (JSONL) gets each record just before the endpoint
    that learnt it (same host, the port it was said from), as a scan writes it, so a
    report converted to JSONL reads back as the one the scan wrote and a file cut after
    any endpoint still holds what that endpoint said; a record no endpoint of the report
    learnt goes first."""
    writer = make_writer(fmt, stream)
    try:
        writer.start(report.header)
        pending = _by_learner(report) if isinstance(writer, EvidenceWriter) else {}
        for record in pending.pop(None, ()):
            writer.evidence(record)  # type: ignore[attr-defined]  # an EvidenceWriter, above
        for result in report.results:
            for record in pending.pop((result.host, result.port), ()):
                writer.evidence(record)  # type: ignore[attr-defined]
            writer.endpoint(result)
        writer.finish(report.summary)
    finally:
        closer = getattr(writer, "close", None)  # JSONL's sync thread, also on a failure
        if closer is not None:
            closer()


def _by_learner(report: ScanReport) -> dict[tuple[str, int] | None, list[HostEvidence]]:
    """The evidence records keyed by the endpoint that said them (``None``: none here)."""
    endpoints = {(r.host, r.port) for r in report.results}
    grouped: dict[tuple[str, int] | None, list[HostEvidence]] = {}
    for record in report.evidence:
        learner = (record.host, record.source_port)
        grouped.setdefault(learner if learner in endpoints else None, []).append(record)
    return grouped


def write_report(
    report: ScanReport,
    path: str | os.PathLike[str] | None,
    fmt: str,
    *,
    protect: Mapping[FileIdentity, str] | None = None,
) -> None:
    """Write ``report`` as ``fmt`` to ``path`` (``None`` or ``"-"``: stdout).

    A file is written beside itself and renamed into place once whole, so a failed write
    never destroys an earlier report there. ``protect`` maps files that must never be
    overwritten (the report read, the accepted-risk file) to what they are, for the
    message. A problem with the path, or a failed write to a file, is one
    :class:`~exposcan.errors.OutputError` line. A failed write to stdout raises the
    OSError itself (:class:`BrokenPipeError` when its reader went away), as ``print``
    would: what to do about a closed pipe is the caller's to decide.
    """
    if fmt not in FORMATS:
        raise OptionError(f"unknown report format {fmt!r}: choose from {', '.join(FORMATS)}")
    if path is not None and os.fspath(path) != "-":
        _refuse_live_jsonl(path)
    output = open_output(path, whole_document=True, protect=protect)
    try:
        render(report, fmt, output.stream)
        output.commit()
    except OSError as exc:
        if output.is_stdout:
            raise
        raise OutputError(f"cannot write report to {output.name}: {write_reason(exc)}") from None
    finally:
        output.close()


def _refuse_live_jsonl(path: str | os.PathLike[str]) -> None:
    """A JSONL report a scan is writing now is locked (:mod:`exposcan.report.writer`);
    renaming a new version over it would take the scan's remaining lines with it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except (OSError, ValueError):
        return  # missing or unreadable: open_output says what is wrong, if anything
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise OutputError(
                f"cannot write report to {show_path(path)}: another exposcan is writing it now"
            ) from None
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
