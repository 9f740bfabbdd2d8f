"""Reading a JSONL report back into typed results: :func:`read_report`.

The report is input someone may have edited, cut or replaced, read as ``--resume``
reads it (:mod:`exposcan.report.resume`): by the one report reader
(:func:`exposcan.report.lines.read_lines`: whole lines only, a torn last line cut, each
line bounded and a JSON object), a scan record first and no second one, only the
records a report holds after it (endpoint, evidence, resume, summary), every endpoint by
address and a planned port. Each endpoint record becomes an :class:`EndpointResult` through
:meth:`~exposcan.results.EndpointResult.from_dict` (every field checked, text cleaned as
a peer's is); each evidence record a :class:`~exposcan.probe.HostEvidence` as ``--resume``
reads it (:func:`~exposcan.report.resume.evidence_record`), said by an endpoint the scan
planned (its probe's kind and port), each record once. Anything else is one
:class:`~exposcan.errors.ReportError` line naming the file and the line, never another
exception.

A resumed report holds several runs: the first from its scan record, each later one
from a ``resume`` record, each ending with a summary unless it was killed. The summary
:func:`read_report` returns is the scan's as a whole, merged:

- the counts (``endpoints_done``, ``exposure``, ``status``, ``findings``) are those of
  the endpoint records read, each endpoint once (an endpoint written twice counts
  once, its first record, as ``--resume`` counts it), so they hold whether or not the
  last run wrote its summary; for a report exposcan wrote they equal the last summary's;
- ``endpoints_planned`` is the scan record's ``endpoints`` (every run of a resumed scan
  plans the same scan);
- ``started_at`` is when the first run started (the scan record's), ``finished_at``
  when the last run wrote its summary (``""`` if it wrote none: it was killed);
- ``duration_s`` is the sum of the runs' durations (time spent scanning, not the gaps
  between runs; a killed run's time is unknown and not counted);
- ``interrupted`` and ``stopped`` are the last run's: a last run without a summary was
  interrupted; earlier interruptions were resumed.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any

from exposcan import peertext
from exposcan.decoding import RecordError, build
from exposcan.decoding import show as _show
from exposcan.errors import ReportError
from exposcan.files import show_path
from exposcan.probe import HostEvidence
from exposcan.report.lines import Line, UnreadableReport, read_lines
from exposcan.report.resume import LATER_RECORDS, endpoint_key, evidence_record, in_scan
from exposcan.results import EndpointResult
from exposcan.summary import ScanReport, Summary, SummaryBuilder

__all__ = ["read_report"]


@dataclass
class _Run:
    """One run of the scan: from its scan or resume record to its summary, if any."""

    summary: Summary | None = None


@dataclass
class _Reading:
    name: str
    header: dict[str, Any] | None = None
    results: list[EndpointResult] = field(default_factory=list)
    #: insertion-ordered: a record written again (its endpoint re-probed on resume) once
    evidence: dict[HostEvidence, None] = field(default_factory=dict)
    seen: set[tuple[str, int, str]] = field(default_factory=set)
    runs: list[_Run] = field(default_factory=list)

    def fail(self, line: Line, reason: str) -> ReportError:
        return ReportError(f"cannot read report {self.name} line {line.number}: {reason}")

    def add(self, line: Line) -> None:
        record = line.record
        kind = record.get("record")
        if self.header is None:
            if kind != "scan":
                raise ReportError(
                    f"cannot read report {self.name}: it does not start with a scan record"
                )
            self.header = record
            self.runs.append(_Run())
        elif kind == "endpoint":
            self._endpoint(line, self.header)
        elif kind == "evidence":
            self._evidence(line, self.header)
        elif kind == "resume":
            self.runs.append(_Run())
        elif kind == "summary":
            self.runs[-1].summary = self._summary(line)
        elif isinstance(kind, str) and kind in LATER_RECORDS:
            pass  # a record --resume reads that a report's reader has no use for
        else:
            what = "a second scan record" if kind == "scan" else f"record {_show(kind)}"
            raise ReportError(f"cannot read report {self.name} line {line.number} is {what}")

    def _endpoint(self, line: Line, header: dict[str, Any]) -> None:
        try:
            result = EndpointResult.from_dict(line.record)
        except RecordError as exc:
            raise self.fail(line, str(exc)) from None
        key = endpoint_key(result.host, result.port, str(result.protocol))
        if not in_scan(header, key):
            raise self.fail(line, f"{result.host} port {result.port} is not in this scan")
        if key in self.seen:  # written twice: read once, as --resume counts it
            return
        self.seen.add(key)
        self.results.append(result)

    def _evidence(self, line: Line, header: dict[str, Any]) -> None:
        try:
            evidence = evidence_record(line.record)
        except RecordError as exc:
            raise self.fail(line, str(exc)) from None
        try:  # the endpoint that said it: its probe's kind, and a port planned for it
            said_in_scan = in_scan(header, (evidence.host, evidence.source_port, evidence.source))
        except KeyError:  # no probe of that kind
            said_in_scan = False
        if not said_in_scan:
            raise self.fail(
                line,
                f"evidence from {evidence.source} port {evidence.source_port} "
                "is not from this scan",
            )
        self.evidence[evidence] = None

    def _summary(self, line: Line) -> Summary:
        try:
            summary = build(Summary, line.record, "summary")
        except RecordError as exc:
            raise self.fail(line, str(exc)) from None
        return summary

    def report(self) -> ScanReport:
        if self.header is None:
            raise ReportError(f"cannot read report {self.name}: it holds no scan record")
        return ScanReport(
            header=self.header,
            results=tuple(self.results),
            summary=self._merged(self.header),
            evidence=tuple(self.evidence),
        )

    def _merged(self, header: dict[str, Any]) -> Summary:
        summaries = [run.summary for run in self.runs if run.summary is not None]
        last = self.runs[-1].summary
        planned = header.get("endpoints")
        if type(planned) is not int or planned < 0:
            planned = summaries[-1].endpoints_planned if summaries else len(self.results)
        started = header.get("started_at")
        if not isinstance(started, str):
            started = summaries[0].started_at if summaries else ""
        builder = SummaryBuilder(started_at=peertext.clean(started, 64), total=planned)
        for result in self.results:
            builder.add(result)
        return builder.build(
            finished_at=peertext.clean(last.finished_at, 64) if last is not None else "",
            duration_s=sum(s.duration_s for s in summaries),
            interrupted=last is None or last.interrupted,
            stopped=peertext.clean_optional(last.stopped, 64) if last is not None else None,
        )


def read_report(path: str | os.PathLike[str]) -> ScanReport:
    """The scan a JSONL report holds: its scan record (``header``, as the file holds it),
    every endpoint as an :class:`~exposcan.results.EndpointResult` (in the order written,
    each once), the host evidence (``evidence``: :class:`~exposcan.probe.HostEvidence`,
    in the order written, each once), and the summary of the whole scan, merged over the
    runs of a resumed one (see this module). Sends nothing; any problem with the file is one
    :class:`~exposcan.errors.ReportError`.

    Example (in a notebook)::

        report = exposcan.read_report("scan.jsonl")
        report.summary.exposure                     # {'none': 12, 'echo': 1, ...}
        [r.host for r in report.exposed()]
    """
    reading = _Reading(show_path(path))
    try:
        with contextlib.closing(read_lines(path)) as lines:
            for line in lines:
                reading.add(line)
    except UnreadableReport as exc:
        raise ReportError(exc.sentence("cannot read report")) from None
    return reading.report()
