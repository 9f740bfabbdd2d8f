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
from datetime import datetime

from exposcan.diff_records import (  # re-exported: their first home
    EndpointChange,
    FindingChange,
    NotCompared,
    ReportDiff,
    ScanSide,
)
from exposcan.gating import acceptance_holds
from exposcan.probes.registry import PROBES, SkipKey
from exposcan.report.resume import endpoint_key, in_scan
from exposcan.results import EndpointResult
from exposcan.summary import ScanReport
from exposcan.vocabulary import Exposure

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
