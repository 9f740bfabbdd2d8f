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
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exposcan.errors import OptionError, OutputError
from exposcan.files import FileIdentity, write_reason
from exposcan.report.convert import render
from exposcan.report.writer import EvidenceWriter, ReportOutput, ReportWriter, open_output
from exposcan.results import EndpointResult
from exposcan.summary import ScanReport, Summary
from exposcan.vocabulary import Exposure, Severity

if TYPE_CHECKING:
    from exposcan.probe import HostEvidence

__all__ = [
    "DocumentOutputs",
    "Recorder",
    "Tee",
    "document_path",
    "is_regular_file",
    "parse_also",
    "plan_outputs",
    "same_paths",
]


class Tee:
    """A :class:`~exposcan.report.writer.ReportWriter` that hands every record to each of
    ``writers`` in turn (evidence only to those that keep it). Failures are the writers'
    business: give each its own :class:`~exposcan.report.writer.GuardedWriter`.

    ``mark``: done to each result once, before any writer sees it (the accepted-risk
    file's marks: :meth:`exposcan.accepted.AcceptedRisks.apply`)."""

    def __init__(
        self,
        *writers: ReportWriter,
        mark: Callable[[EndpointResult], EndpointResult] | None = None,
    ) -> None:
        self.writers = writers
        self._mark = mark

    def start(self, header: dict[str, Any]) -> None:
        for writer in self.writers:
            writer.start(header)

    def endpoint(self, result: EndpointResult) -> None:
        if self._mark is not None:
            result = self._mark(result)
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

    @classmethod
    def needed(
        cls, *, everything: bool, table: bool = False, gate: Severity | None = None
    ) -> Recorder:
        """A recorder of everything (``everything``: documents made from memory), or
        only of what a terminal's ``table`` shows (exposed or protected endpoints) and
        what ``--fail-on gate`` counts: a scan of a million closed ports keeps none."""
        if everything:
            return cls()

        def notable(result: EndpointResult) -> bool:
            if table and result.exposure is not Exposure.NONE:
                return True
            return gate is not None and any(f.severity >= gate for f in result.findings)

        return cls(keep=notable, evidence=False)

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


def parse_also(text: str) -> tuple[str, str]:
    """``--also FORMAT=PATH`` as (format, path); one :class:`OptionError` line if not."""
    from exposcan.report import FORMATS

    fmt, sep, path = text.partition("=")
    if not sep or not path:
        raise OptionError(f"--also takes FORMAT=PATH, not {text[:60]!r}")
    if fmt not in FORMATS:
        raise OptionError(f"--also: format {fmt[:20]!r} is not one of {', '.join(FORMATS)}")
    if path == "-":
        raise OptionError("--also writes a file: stdout is --output's")
    return fmt, path


def plan_outputs(
    *,
    output: str | None,
    output_all: str | None,
    fmt: str | None,
    also: Sequence[tuple[str, str]] = (),
) -> tuple[str | None, str, list[tuple[str, str]]]:
    """A scan's outputs: the streamed report (its path, ``None`` or ``"-"`` for stdout,
    and its format) and the documents written at the end, as (format, path). With
    ``output_all``, the report is BASE.jsonl and every other format a document beside
    it (:func:`document_path`). A contradiction is one :class:`OptionError` line."""
    from exposcan.report import FORMATS

    documents = list(also)
    if output_all is not None:
        if output is not None:
            raise OptionError("give --output or --output-all, not both")
        if fmt not in (None, "jsonl"):
            raise OptionError("--output-all writes every format: leave out --format")
        path: str | None = document_path(output_all, "jsonl")
        streamed = "jsonl"
        documents += [(f, document_path(output_all, f)) for f in FORMATS if f != "jsonl"]
    else:
        path, streamed = output, fmt or "jsonl"
    named = [*([path] if path not in (None, "-") else []), *(p for _, p in documents)]
    twice = same_paths(p for p in named if p is not None)
    if twice is not None:
        raise OptionError(f"{twice[:200]} is named as two outputs")
    return path, streamed, documents


def is_regular_file(path: str | None) -> bool:
    """Whether ``path`` names a regular file (not stdout, a device or a FIFO)."""
    if path is None or path == "-":
        return False
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def same_paths(paths: Iterable[str]) -> str | None:
    """A path given twice (as two spellings of one file name), if any."""
    seen: set[str] = set()
    for path in paths:
        key = os.path.normcase(os.path.abspath(path))
        if key in seen:
            return path
        seen.add(key)
    return None
