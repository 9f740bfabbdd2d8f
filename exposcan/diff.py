"""What changed between two scans: :func:`diff_reports` (``exposcan diff``, ndiff's habit).

Endpoints are matched on (host, port, probe kind): the kind is the probe registry's
(:func:`~exposcan.probes.registry.skip_key`: ``dimse`` and ``dimse-tls`` are one
``dicom`` endpoint, ``http`` and ``https`` one ``web`` endpoint), so a port that moved to
TLS is a change of that endpoint, not one resolved and one new. Findings are matched on
their endpoint and their ``id``.

Only what both scans looked at is compared. An endpoint that one report holds and the
other does not was not planned by the other scan (its ports or scope differ), or that
scan stopped before it: neither says it was fixed or newly opened, so it is counted in
:attr:`ReportDiff.not_compared` with the reason, never as resolved or new.

A new finding whose acceptance holds (:func:`~exposcan.gating.acceptance_holds`: the
accepted-risk file covers it and has not expired) is listed, marked accepted, and left
out of the counts the gate and a schedule's summary read.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from exposcan.gating import GATE_SEVERITIES, acceptance_holds
from exposcan.identity import scan_id_of
from exposcan.probes.registry import PROBES, SkipKey
from exposcan.report.resume import endpoint_key, in_scan
from exposcan.results import EndpointResult, Finding
from exposcan.summary import ScanReport
from exposcan.vocabulary import Exposure, Severity

__all__ = [
    "EndpointChange",
    "FindingChange",
    "NotCompared",
    "ReportDiff",
    "ScanSide",
    "diff_reports",
]

#: How many hosts and ports a "not compared" reason names before "and N more".
_HOSTS_NAMED, _PORTS_NAMED = 5, 10


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


def diff_reports(old: ScanReport, new: ScanReport, *, now: datetime | None = None) -> ReportDiff:
    """What changed from the scan ``old`` to the scan ``new`` (both as
    :func:`exposcan.read_report` returns them, or as :func:`exposcan.scan` does).
    ``now``: when acceptances are judged (the wall clock, UTC, by default).

    Example (in a notebook)::

        diff = exposcan.diff_reports(exposcan.read_report("last-week.jsonl"),
                                     exposcan.read_report("today.jsonl"))
        diff.new_by_severity()          # {'critical': 1, 'high': 0, ...}
        [(f.host, f.port, f.id) for f in diff.new_findings]
    """
    old_by_key, new_by_key = _keyed(old.results), _keyed(new.results)
    both = [key for key in new_by_key if key in old_by_key]
    endpoints = [_endpoint_change(key, old_by_key[key], new_by_key[key]) for key in both]
    new_exposures, resolved, changed = [], [], []
    for change in endpoints:
        if change is None:
            continue
        before, after = change.old.exposure, change.new.exposure
        if after >= Exposure.ECHO and after > before:
            new_exposures.append(change)
        elif before >= Exposure.ECHO > after:
            resolved.append(change)
        else:
            changed.append(change)
    new_findings, resolved_findings, severity_changed = [], [], []
    for key in both:
        added, gone, moved = _finding_changes(key, old_by_key[key], new_by_key[key], now)
        new_findings += added
        resolved_findings += gone
        severity_changed += moved
    return ReportDiff(
        old=ScanSide.of(old),
        new=ScanSide.of(new),
        compared=len(both),
        new_exposures=_ranked(new_exposures),
        resolved_exposures=_ranked(resolved),
        changed=_ranked(changed),
        new_findings=_ranked_findings(new_findings),
        resolved_findings=_ranked_findings(resolved_findings),
        severity_changed=_ranked_findings(severity_changed),
        not_compared=(
            *_not_compared("old", old_by_key, new_by_key, new),
            *_not_compared("new", new_by_key, old_by_key, old),
        ),
    )


def _keyed(results: Iterable[EndpointResult]) -> dict[SkipKey, EndpointResult]:
    keyed: dict[SkipKey, EndpointResult] = {}
    for result in results:  # read_report keeps each endpoint once; a scan's own list too
        keyed.setdefault(endpoint_key(result.host, result.port, str(result.protocol)), result)
    return keyed


def _endpoint_change(
    key: SkipKey, old: EndpointResult, new: EndpointResult
) -> EndpointChange | None:
    changed = tuple(
        name
        for name in ("protocol", "status", "exposure")
        if getattr(old, name) != getattr(new, name)
    )
    if not changed:
        return None
    return EndpointChange(*key, old, new, changed)


def _finding_changes(
    key: SkipKey, old: EndpointResult, new: EndpointResult, now: datetime | None
) -> tuple[list[FindingChange], list[FindingChange], list[FindingChange]]:
    before = {f.id: f for f in old.findings}
    after = {f.id: f for f in new.findings}

    def change(fid: str, endpoint: EndpointResult) -> FindingChange:
        held = acceptance_holds(after.get(fid) or before[fid], now)
        return FindingChange(*key, fid, before.get(fid), after.get(fid), endpoint, held)

    added = [change(fid, new) for fid in after if fid not in before]
    gone = [change(fid, old) for fid in before if fid not in after]
    moved = [
        change(fid, new)
        for fid in after
        if fid in before and after[fid].severity != before[fid].severity
    ]
    return added, gone, moved


def _host_order(host: str) -> tuple[int, int, str]:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return (9, 0, host)
    return (address.version, int(address), host)


def _ranked(changes: list[EndpointChange]) -> tuple[EndpointChange, ...]:
    def order(c: EndpointChange) -> tuple[int, tuple[int, int, str], int, str]:
        worst = max(c.old.exposure.rank, c.new.exposure.rank)
        return (-worst, _host_order(c.host), c.port, c.kind)

    return tuple(sorted(changes, key=order))


def _ranked_findings(changes: list[FindingChange]) -> tuple[FindingChange, ...]:
    def order(f: FindingChange) -> tuple[int, tuple[int, int, str], int, str, str]:
        return (-f.severity.rank, _host_order(f.host), f.port, f.kind, f.id)

    return tuple(sorted(changes, key=order))


def _not_compared(
    side: str,
    ours: Mapping[SkipKey, EndpointResult],
    theirs: Mapping[SkipKey, EndpointResult],
    their_report: ScanReport,
) -> list[NotCompared]:
    """The endpoints only ``side`` holds, grouped by why the other report does not."""
    label, other = side.upper(), "NEW" if side == "old" else "OLD"
    # A host the other scan has no record of: another scope or targets, unless that scan
    # did not finish (then it may only not have got there yet).
    their_hosts = {key[0] for key in theirs}
    unfinished = their_report.summary.interrupted or their_report.summary.stopped is not None
    ports: dict[str, set[int]] = {}
    hosts: set[str] = set()
    counts: Counter[str] = Counter()
    for key in ours:
        if key in theirs:
            continue
        if not in_scan(their_report.header, key):
            ports.setdefault(key[2], set()).add(key[1])
            counts[f"ports:{key[2]}"] += 1
        elif key[0] not in their_hosts and not unfinished:
            hosts.add(key[0])
            counts["hosts"] += 1
        else:
            counts["unreached"] += 1
    found: list[NotCompared] = []
    for kind in (r.kind for r in PROBES):
        if kind in ports:
            listed = _first(sorted(ports[kind]), _PORTS_NAMED)
            word = "port" if len(ports[kind]) == 1 else "ports"
            what = f"{kind} {word}" if kind != "dicom" else word
            found.append(
                NotCompared(side, counts[f"ports:{kind}"], f"{what} {listed} only in {label}")
            )
    if hosts:
        named: list[str] = sorted(hosts, key=_host_order)
        listed = _first(named, _HOSTS_NAMED)
        word = "host" if len(hosts) == 1 else "hosts"
        found.append(NotCompared(side, counts["hosts"], f"{word} {listed} only in {label}"))
    if counts["unreached"]:
        found.append(
            NotCompared(
                side,
                counts["unreached"],
                f"planned by {other} but not in it (that scan stopped before them)",
            )
        )
    return found


def _first(items: Sequence[object], most: int) -> str:
    """``a, b, c and N more``: a reason stays one line whatever the scope's size."""
    listed = ", ".join(map(str, items[:most]))
    return listed + (f" and {len(items) - most} more" if len(items) > most else "")
