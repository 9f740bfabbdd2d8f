"""What a diff of two scans holds (:func:`exposcan.diff.diff_reports` makes it):
:class:`ReportDiff`, its sections' records (:class:`EndpointChange`,
:class:`FindingChange`, :class:`NotCompared`) and the two sides (:class:`ScanSide`), each
with the dict its JSON carries. :mod:`exposcan.diff` re-exports them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from exposcan.gating import GATE_SEVERITIES
from exposcan.identity import scan_id_of
from exposcan.results import EndpointResult, Finding
from exposcan.summary import ScanReport
from exposcan.vocabulary import Severity


@dataclass(frozen=True, slots=True)
class ScanSide:
    """Which scan one side of the diff is: its id, site and dates."""

    scan_id: str | None
    site: str | None
    started_at: str
    finished_at: str
    interrupted: bool
    endpoints: int

    @classmethod
    def of(cls, report: ScanReport) -> ScanSide:
        site = report.header.get("site")
        return cls(
            scan_id=scan_id_of(report.header),
            site=site if isinstance(site, str) else None,
            started_at=report.summary.started_at,
            finished_at=report.summary.finished_at,
            interrupted=report.summary.interrupted,
            endpoints=len(report.results),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _side_dict(result: EndpointResult) -> dict[str, str]:
    return {
        name: str(getattr(result, name)) for name in ("protocol", "status", "exposure", "severity")
    }


@dataclass(frozen=True, slots=True)
class EndpointChange:
    """One endpoint both scans probed, as each saw it, and what differs."""

    host: str
    port: int
    kind: str
    old: EndpointResult
    new: EndpointResult
    #: which of ``protocol``, ``status``, ``exposure`` differ
    changed: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "kind": self.kind,
            "old": _side_dict(self.old),
            "new": _side_dict(self.new),
            "changed": list(self.changed),
        }


@dataclass(frozen=True, slots=True)
class FindingChange:
    """One finding that appeared, went away or changed severity on an endpoint."""

    host: str
    port: int
    kind: str
    id: str
    #: the finding as each scan reported it (``None``: not reported by that scan)
    old: Finding | None
    new: Finding | None
    #: its endpoint in the newer scan (the older one's for a resolved finding)
    endpoint: EndpointResult
    #: whether an acceptance covers it now (the newer scan's finding; the older's if gone)
    accepted: bool

    @property
    def severity(self) -> Severity:
        """The newer scan's severity, or the older's for a resolved finding."""
        finding = self.new or self.old
        assert finding is not None
        return finding.severity

    def to_dict(self) -> dict[str, Any]:
        finding = self.new or self.old
        assert finding is not None
        return {
            "host": self.host,
            "port": self.port,
            "kind": self.kind,
            "protocol": str(self.endpoint.protocol),
            "id": self.id,
            "title": finding.title,
            "old_severity": str(self.old.severity) if self.old else None,
            "new_severity": str(self.new.severity) if self.new else None,
            "accepted": finding.accepted.to_dict() if self.accepted and finding.accepted else None,
        }


@dataclass(frozen=True, slots=True)
class NotCompared:
    """Endpoints one report holds and the other does not, and why."""

    #: the report that holds them: ``"old"`` or ``"new"``
    side: str
    endpoints: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ReportDiff:
    """What changed from ``old`` to ``new``. Every section is a tuple, most severe first."""

    old: ScanSide
    new: ScanSide
    #: endpoints both scans probed
    compared: int
    #: exposed now and not before, or exposed further than before
    new_exposures: tuple[EndpointChange, ...]
    #: exposed before, not now (none or protected)
    resolved_exposures: tuple[EndpointChange, ...]
    #: any other change of exposure, status or protocol
    changed: tuple[EndpointChange, ...]
    new_findings: tuple[FindingChange, ...]
    resolved_findings: tuple[FindingChange, ...]
    severity_changed: tuple[FindingChange, ...]
    not_compared: tuple[NotCompared, ...]

    def counted_new_findings(self) -> tuple[FindingChange, ...]:
        """New findings no acceptance covers: what the gate and the summary count."""
        return tuple(f for f in self.new_findings if not f.accepted)

    def new_by_severity(self) -> dict[str, int]:
        """Counted new findings by severity, every gate severity present, highest first."""
        counts = Counter(str(f.severity) for f in self.counted_new_findings())
        return {s: counts.get(s, 0) for s in reversed(GATE_SEVERITIES)}

    def failing(self, threshold: Severity) -> tuple[FindingChange, ...]:
        """Counted new findings at or above ``threshold`` (``--fail-on``)."""
        return tuple(f for f in self.counted_new_findings() if f.severity >= threshold)

    def summary(self) -> dict[str, Any]:
        """Counts and a one-line ``text``, for a notification (a schedule's POST)."""
        accepted = len(self.new_findings) - len(self.counted_new_findings())
        return {
            "old_scan_id": self.old.scan_id,
            "new_scan_id": self.new.scan_id,
            "site": self.new.site or self.old.site,
            "compared": self.compared,
            "not_compared": sum(n.endpoints for n in self.not_compared),
            "new_exposures": len(self.new_exposures),
            "resolved_exposures": len(self.resolved_exposures),
            "changed": len(self.changed),
            "new_findings": self.new_by_severity(),
            "new_findings_accepted": accepted,
            "resolved_findings": len(self.resolved_findings),
            "severity_changed": len(self.severity_changed),
            "text": self._text(accepted),
        }

    def _text(self, accepted: int) -> str:
        by_severity = self.new_by_severity()
        counted = sum(by_severity.values())
        parts = [f"{_plural(counted, 'new finding')}"]
        if counted:
            parts[0] += " (" + ", ".join(f"{n} {s}" for s, n in by_severity.items() if n) + ")"
        if accepted:
            parts.append(f"{accepted} new accepted")
        parts.append(f"{_plural(len(self.resolved_findings), 'finding')} resolved")
        parts.append(_plural(len(self.new_exposures), "new exposure"))
        parts.append(f"{_plural(len(self.resolved_exposures), 'exposure')} resolved")
        skipped = sum(n.endpoints for n in self.not_compared)
        if skipped:
            parts.append(f"{_plural(skipped, 'endpoint')} not compared")
        site = self.new.site or self.old.site
        return (f"{site}: " if site else "") + ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old.to_dict(),
            "new": self.new.to_dict(),
            "compared": self.compared,
            "not_compared": [n.to_dict() for n in self.not_compared],
            "new_exposures": [c.to_dict() for c in self.new_exposures],
            "resolved_exposures": [c.to_dict() for c in self.resolved_exposures],
            "changed": [c.to_dict() for c in self.changed],
            "new_findings": [f.to_dict() for f in self.new_findings],
            "resolved_findings": [f.to_dict() for f in self.resolved_findings],
            "severity_changed": [f.to_dict() for f in self.severity_changed],
            "summary": self.summary(),
        }

    def __repr__(self) -> str:
        old, new = (side.scan_id[:8] if side.scan_id else "?" for side in (self.old, self.new))
        return f"<ReportDiff {old} → {new}: {self.summary()['text']}>"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"
