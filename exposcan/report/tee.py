"""One scan, several outputs: :class:`Tee` fans a scan's records out to several writers,
:class:`Recorder` keeps what the terminal's table, the gate and the end-of-scan formats
need, and :class:`DocumentOutputs` writes the whole-document formats a run asked for
besides its streamed report (``--output-all BASE``, ``--also FORMAT=PATH``).

Those documents are written once the scan is over, each from the finished report (read
back from the JSONL file when there is one: the source of truth, so every format agrees
with it and a resumed scan's documents hold every run), each to a new version beside
its path that replaces it only when whole (:func:`~exposcan.report.writer.open_output`
with ``whole_document``). They are opened before the first packet, so a path that
cannot be written is a user error before the scan; an interrupted scan writes none of
them and leaves what was at their paths (its JSONL report is resumed, then they are).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exposcan.errors import OutputError
from exposcan.files import FileIdentity, write_reason
from exposcan.report.convert import render
from exposcan.report.writer import EvidenceWriter, ReportOutput, ReportWriter, open_output
from exposcan.results import EndpointResult
from exposcan.summary import ScanReport, Summary

if TYPE_CHECKING:
    from exposcan.probe import HostEvidence

__all__ = ["DocumentOutputs", "Recorder", "Tee", "document_path", "same_paths"]


class Tee:
    """A :class:`~exposcan.report.writer.ReportWriter` that hands every record to each of
    ``writers`` in turn (evidence only to those that keep it). Failures are the writers'
    business: give each its own :class:`~exposcan.report.writer.GuardedWriter`."""

    def __init__(self, *writers: ReportWriter) -> None:
        self.writers = writers

    def start(self, header: dict[str, Any]) -> None:
        for writer in self.writers:
            writer.start(header)

    def endpoint(self, result: EndpointResult) -> None:
        for writer in self.writers:
            writer.endpoint(result)

    def evidence(self, record: HostEvidence) -> None:
        for writer in self.writers:
            if isinstance(writer, EvidenceWriter):
                writer.evidence(record)

    def finish(self, summary: Summary) -> None:
        for writer in self.writers:
            writer.finish(summary)


class Recorder:
    """A writer that keeps the header, the summary, the results ``keep`` says yes to
    (every one without it) and, with ``evidence``, the evidence records: with all of
    them, a :class:`~exposcan.summary.ScanReport` of this run."""

    def __init__(
        self,
        *,
        keep: Callable[[EndpointResult], bool] | None = None,
        evidence: bool = True,
    ) -> None:
        self._keep = keep
        self._evidence = evidence
        self.header: dict[str, Any] | None = None
        self.results: list[EndpointResult] = []
        self.evidence_records: list[HostEvidence] = []
        #: set by ``finish``, also when the scan was interrupted
        self.summary: Summary | None = None

    def start(self, header: dict[str, Any]) -> None:
        self.header = header

    def endpoint(self, result: EndpointResult) -> None:
        if self._keep is None or self._keep(result):
            self.results.append(result)

    def evidence(self, record: HostEvidence) -> None:
        if self._evidence:
            self.evidence_records.append(record)

    def finish(self, summary: Summary) -> None:
        self.summary = summary

    def report(self) -> ScanReport:
        assert self.header is not None
        assert self.summary is not None
        return ScanReport(
            header=self.header,
            results=tuple(self.results),
            summary=self.summary,
            evidence=tuple(self.evidence_records),
        )


#: The file name ``--output-all BASE`` gives each format (BASE + this).
_SUFFIXES = {"defectdojo": ".defectdojo.json"}


def document_path(base: str, fmt: str) -> str:
    """``BASE.jsonl``, ``BASE.html``, ``BASE.sarif``, ``BASE.defectdojo.json``, ..."""
    return base + _SUFFIXES.get(fmt, f".{fmt}")


@dataclass(frozen=True)
class _Document:
    fmt: str
    path: str
    output: ReportOutput


class DocumentOutputs:
    """Whole documents in several formats, opened now, written from a finished report."""

    def __init__(
        self,
        wanted: Sequence[tuple[str, str]],
        *,
        protect: Mapping[FileIdentity, str] | None = None,
    ) -> None:
        """``wanted``: (format, path) pairs; each path is checked and opened here (an
        :class:`~exposcan.errors.OutputError` line for one that cannot be written)."""
        self._documents: list[_Document] = []
        try:
            for fmt, path in wanted:
                output = open_output(path, whole_document=True, protect=protect)
                self._documents.append(_Document(fmt, path, output))
        except BaseException:
            self.close()
            raise

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(d.path for d in self._documents)

    def __bool__(self) -> bool:
        return bool(self._documents)

    def write(self, report: ScanReport) -> None:
        """Render ``report`` into each document and put it in place; the first that
        cannot be written is one :class:`~exposcan.errors.OutputError` line (those
        before it are in place, those after it are not written)."""
        for document in self._documents:
            try:
                render(report, document.fmt, document.output.stream)
                document.output.commit()
            except OSError as exc:
                raise OutputError(
                    f"cannot write report to {document.output.name}: {write_reason(exc)}"
                ) from None

    def close(self) -> None:
        """Release every document; one not written is removed (its path keeps what it held)."""
        for document in self._documents:
            document.output.close()


def same_paths(paths: Iterable[str]) -> str | None:
    """A path given twice (as two spellings of one file name), if any."""
    seen: set[str] = set()
    for path in paths:
        key = os.path.normcase(os.path.abspath(path))
        if key in seen:
            return path
        seen.add(key)
    return None
