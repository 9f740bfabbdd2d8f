"""A :class:`~exposcan.diff.ReportDiff` as text (for people), JSON (one document) or JSONL
(one record per change). See docs/diff.md for what each holds.

Text reads like nmap's ndiff: a line per endpoint that changed, ``+`` newly exposed,
``-`` no longer exposed, ``~`` otherwise changed, a blank mark when only its findings
did; under it a line per finding, ``+`` new, ``-`` resolved, ``~`` severity changed::

    + 10.0.0.5:104 dimse echo→query
        + dicom-query-matches (critical)

JSONL records: ``diff`` first (both scans), then ``not-compared``, ``new-exposure``,
``resolved-exposure``, ``changed``, ``new-finding``, ``resolved-finding``,
``severity-changed``, and ``diff-summary`` last; each carries both scan ids, so a line
cut out of the file still says which two scans it compares.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from exposcan.diff import EndpointChange, FindingChange, ReportDiff, ScanSide
from exposcan.report.safe_json import dumps

__all__ = ["DIFF_FORMATS", "diff_records", "diff_text", "render_diff"]

#: What ``exposcan diff --format`` takes.
DIFF_FORMATS = ("text", "json", "jsonl")


def render_diff(diff: ReportDiff, fmt: str, stream: IO[str]) -> None:
    """Write ``diff`` to ``stream`` in ``fmt`` (one of :data:`DIFF_FORMATS`)."""
    if fmt == "text":
        stream.write(diff_text(diff))
    elif fmt == "json":
        stream.write(dumps(diff.to_dict(), indent=2) + "\n")
    elif fmt == "jsonl":
        for record in diff_records(diff):
            stream.write(dumps(record) + "\n")
    else:
        raise ValueError(f"unknown diff format {fmt!r}")


def diff_records(diff: ReportDiff) -> Iterator[dict[str, Any]]:
    """The JSONL records, in order: ``diff``, one per change, ``diff-summary``."""
    stamp = {"old_scan_id": diff.old.scan_id, "new_scan_id": diff.new.scan_id}
    yield {
        "record": "diff",
        "old": diff.old.to_dict(),
        "new": diff.new.to_dict(),
        "compared": diff.compared,
        **stamp,
    }
    sections: tuple[tuple[str, tuple[Any, ...]], ...] = (
        ("not-compared", diff.not_compared),
        ("new-exposure", diff.new_exposures),
        ("resolved-exposure", diff.resolved_exposures),
        ("changed", diff.changed),
        ("new-finding", diff.new_findings),
        ("resolved-finding", diff.resolved_findings),
        ("severity-changed", diff.severity_changed),
    )
    for kind, items in sections:
        for item in items:
            yield {"record": kind, **item.to_dict(), **stamp}
    yield {"record": "diff-summary", **diff.summary(), **stamp}


def _side(word: str, side: ScanSide) -> str:
    scan = side.scan_id[:8] if side.scan_id else "without id"
    text = f"{word} scan {scan} {side.started_at or '(start unknown)'}"
    if side.interrupted:
        text += " (interrupted)"
    return text


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _endpoint_line(mark: str, change: EndpointChange) -> str:
    old, new = change.old, change.new
    protocol = (
        f"{old.protocol}→{new.protocol}" if "protocol" in change.changed else str(new.protocol)
    )
    parts = [f"{mark} {_where(change.host, change.port)} {protocol}"]
    if "exposure" in change.changed:
        parts.append(f"{old.exposure}→{new.exposure}")
    else:
        parts.append(str(new.exposure))
    if "status" in change.changed:
        parts.append(f"status {old.status}→{new.status}")
    return " ".join(parts)


def _finding_line(mark: str, finding: FindingChange) -> str:
    if finding.old is not None and finding.new is not None:
        severity = f"{finding.old.severity}→{finding.new.severity}"
    else:
        severity = str(finding.severity)
    line = f"    {mark} {finding.id} ({severity})"
    current = finding.new or finding.old
    if finding.accepted and current is not None and current.accepted is not None:
        until = f" until {current.accepted.expires}" if current.accepted.expires else ""
        line += f"  accepted{until}: {current.accepted.reason}"
    return line


def diff_text(diff: ReportDiff) -> str:
    """The diff for people: which scans, what was not compared, then each endpoint that
    changed (most severe first) with its findings under it, and a closing count line."""
    site = diff.new.site or diff.old.site
    lines = [
        f"exposcan diff{f' ({site})' if site else ''}: "
        f"{_side('OLD', diff.old)} → {_side('NEW', diff.new)}"
    ]
    if diff.old.scan_id is not None and diff.old.scan_id == diff.new.scan_id:
        lines.append("! both reports are of the same scan")
    if diff.old.site and diff.new.site and diff.old.site != diff.new.site:
        lines.append(f"! the scans are of different sites: {diff.old.site} and {diff.new.site}")
    for skipped in diff.not_compared:
        count = f"{skipped.endpoints} endpoint{'s' if skipped.endpoints != 1 else ''}"
        lines.append(f"! not compared: {skipped.reason} ({count})")
    lines.append(f"compared {diff.compared} endpoints")
    lines.append("")

    marks: dict[tuple[str, int, str], str] = {}
    order: list[tuple[str, int, str]] = []
    endpoints: dict[tuple[str, int, str], EndpointChange] = {}
    for mark, changes in (
        ("+", diff.new_exposures),
        ("-", diff.resolved_exposures),
        ("~", diff.changed),
    ):
        for change in changes:
            key = (change.host, change.port, change.kind)
            marks[key], endpoints[key] = mark, change
            order.append(key)
    findings: dict[tuple[str, int, str], list[str]] = {}
    heads: dict[tuple[str, int, str], str] = {}
    for mark, items in (
        ("+", diff.new_findings),
        ("-", diff.resolved_findings),
        ("~", diff.severity_changed),
    ):
        for finding in items:
            key = (finding.host, finding.port, finding.kind)
            findings.setdefault(key, []).append(_finding_line(mark, finding))
            if key not in marks and key not in heads:
                endpoint = finding.endpoint
                heads[key] = (
                    f"  {_where(finding.host, finding.port)} {endpoint.protocol} "
                    f"{endpoint.exposure}"
                )
                order.append(key)
    for key in order:
        if key in endpoints:
            lines.append(_endpoint_line(marks[key], endpoints[key]))
        else:
            lines.append(heads[key])
        lines.extend(findings.get(key, ()))
    if not diff.compared:
        lines.append("nothing to compare: the reports share no endpoint")
    elif not order:
        lines.append("no change")
    lines.append("")
    lines.append(diff.summary()["text"])
    return "\n".join(lines) + "\n"
