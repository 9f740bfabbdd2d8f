"""What a scan adds up to: the end-of-scan summary (counts by exposure, status and
finding, nothing else), the progress snapshot after each endpoint, and the
:class:`ScanReport` that :func:`exposcan.scan` returns and :func:`exposcan.read_report`
reads back. No engine here: reading a report loads none.

``stopped`` says why a scan ended before its last endpoint although nobody
interrupted it: ``"authorisation-expired"`` (no endpoint was started after the
scope's ``expires``; those in flight finished). It is null for a scan that ran to
its end or was interrupted (``interrupted``); when it is set,
``endpoints_not_started`` counts the planned endpoints that never sent a packet.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from exposcan.probe import HostEvidence
from exposcan.results import EndpointResult
from exposcan.vocabulary import Exposure


@dataclass(kw_only=True)
class SummaryBuilder:
    started_at: str
    total: int
    counts_exposure: Counter[str] = field(default_factory=Counter)
    counts_status: Counter[str] = field(default_factory=Counter)
    counts_finding: Counter[str] = field(default_factory=Counter)
    done: int = 0

    def add(self, result: EndpointResult) -> None:
        self.add_counts(
            exposure=result.exposure,
            status=result.status,
            findings=[f.id for f in result.findings],
        )

    def add_counts(self, *, exposure: str, status: str, findings: list[str]) -> None:
        # Plain str keys whether a result or a report's record counted (StrEnum members
        # would make the dicts' keys of two kinds, and their reprs noisy in a notebook).
        self.done += 1
        self.counts_exposure[str(exposure)] += 1
        self.counts_status[str(status)] += 1
        for finding in findings:
            self.counts_finding[str(finding)] += 1

    def build(
        self,
        *,
        finished_at: str,
        duration_s: float,
        interrupted: bool,
        stopped: str | None = None,
    ) -> Summary:
        return Summary(
            started_at=self.started_at,
            finished_at=finished_at,
            duration_s=round(duration_s, 3),
            endpoints_planned=self.total,
            endpoints_done=self.done,
            interrupted=interrupted,
            exposure={str(e): self.counts_exposure.get(e, 0) for e in Exposure},
            status=dict(sorted(self.counts_status.items())),
            findings=dict(sorted(self.counts_finding.items())),
            stopped=stopped,
            endpoints_not_started=max(0, self.total - self.done) if stopped else 0,
        )


@dataclass(frozen=True, kw_only=True)
class Summary:
    started_at: str
    finished_at: str
    duration_s: float
    endpoints_planned: int
    endpoints_done: int
    interrupted: bool
    exposure: dict[str, int]
    status: dict[str, int]
    findings: dict[str, int]
    stopped: str | None = None
    endpoints_not_started: int = 0

    def __repr__(self) -> str:
        # A notebook cell shows this: the counts that matter, not every field.
        levels = ", ".join(f"{e} {n}" for e, n in self.exposure.items() if n)
        state = " interrupted" if self.interrupted else ""
        if self.stopped is not None:
            state += f" stopped ({self.stopped})"
        return (
            f"<Summary {self.endpoints_done}/{self.endpoints_planned} endpoints, "
            f"{self.exposed} exposed ({levels or 'none'}), {self.duration_s:g} s{state}>"
        )

    @property
    def exposed(self) -> int:
        """Endpoints a stranger got into (echo or worse)."""
        return sum(n for e, n in self.exposure.items() if Exposure(e) >= Exposure.ECHO)

    def to_dict(self) -> dict[str, Any]:
        stopped: dict[str, Any] = {"stopped": self.stopped}
        if self.stopped is not None:
            stopped["endpoints_not_started"] = self.endpoints_not_started
        return {
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_s": self.duration_s,
            "endpoints_planned": self.endpoints_planned,
            "endpoints_done": self.endpoints_done,
            "interrupted": self.interrupted,
            "exposed": self.exposed,
            "exposure": dict(self.exposure),
            "status": dict(self.status),
            "findings": dict(self.findings),
            **stopped,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Progress:
    """A snapshot after each finished endpoint."""

    total: int
    done: int
    in_flight: int
    elapsed_s: float
    by_exposure: dict[str, int] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, kw_only=True)
class ScanReport:
    """A finished scan: its header, every endpoint result, the summary, and the host
    evidence its probes learnt. What :func:`scan` returns, and what
    :func:`exposcan.read_report` reads back from a JSONL report (a resumed scan's summary
    merged over its runs: :mod:`exposcan.report.read`)."""

    header: dict[str, Any]
    results: tuple[EndpointResult, ...]
    summary: Summary
    #: what one endpoint's probe learnt about another of its host (Orthanc's ``/system``
    #: naming its DICOM port and product), in the order learnt, each record once
    evidence: tuple[HostEvidence, ...] = ()

    def __repr__(self) -> str:
        scan_id = self.header.get("scan_id")
        scan = f", scan {scan_id[:4]}\u2026" if isinstance(scan_id, str) and scan_id else ""
        return (
            f"<ScanReport {len(self.results)} endpoints, {len(self.exposed())} exposed"
            f"{scan}{_minute(self.summary.started_at)}>"
        )

    def exposed(self) -> tuple[EndpointResult, ...]:
        """Endpoints where a stranger got at least as far as C-ECHO."""
        return tuple(r for r in self.results if r.exposure >= Exposure.ECHO)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scan": self.header,
            "endpoints": [r.to_dict() for r in self.results],
            "evidence": [e.to_dict() for e in self.evidence],
            "summary": self.summary.to_dict(),
        }

    def write(self, path: str | os.PathLike[str], format: str = "jsonl") -> None:
        """Write this report to ``path`` as ``format`` (one of
        :data:`exposcan.report.FORMATS`), as ``exposcan report`` would: a new version
        beside the file, renamed into place once whole. An unknown format or a path that
        cannot be written is one :class:`~exposcan.errors.UserError` line."""
        from exposcan.errors import OptionError
        from exposcan.report import FORMATS
        from exposcan.report.convert import write_report

        if format not in FORMATS:
            raise OptionError(f"unknown report format {format!r}: choose from {', '.join(FORMATS)}")
        write_report(self, path, format)

    def to_frame(self) -> Any:
        """One row per endpoint as a ``pandas.DataFrame`` (needs the ``pandas`` extra:
        ``pip install 'exposcan[pandas]'``); columns in :data:`exposcan.frame.COLUMNS`."""
        from exposcan.frame import to_frame

        return to_frame(self)


def _minute(started_at: str) -> str:
    """``2026-12-02T15:00:07+00:00`` as ``, 2026-12-02T15:00Z``; nothing if unknown."""
    if len(started_at) < 16 or started_at[10] != "T":
        return ""
    zone = "Z" if started_at.endswith(("+00:00", "Z")) else ""
    return f", {started_at[:16]}{zone}"
