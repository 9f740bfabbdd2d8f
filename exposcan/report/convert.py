"""Rendering a whole report (one read back, or one :func:`exposcan.scan` returned) in any
format, without a packet: the same writers a scan streams into, fed from the report."""

from __future__ import annotations

from typing import IO

from exposcan.report.writer import EvidenceWriter, make_writer
from exposcan.summary import ScanReport

__all__ = ["render"]


def render(report: ScanReport, fmt: str, stream: IO[str]) -> None:
    """Write ``report`` to ``stream`` as ``fmt`` (one of :data:`exposcan.report.FORMATS`).

    The host evidence goes before every endpoint (JSONL keeps it: each record then comes
    before the endpoint that learnt it, as a scan writes it)."""
    writer = make_writer(fmt, stream)
    writer.start(report.header)
    if isinstance(writer, EvidenceWriter):
        for record in report.evidence:
            writer.evidence(record)
    for result in report.results:
        writer.endpoint(result)
    writer.finish(report.summary)
