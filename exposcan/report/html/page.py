"""The HTML report's page: everything the template shows, worked out from one scan.

Pure: no template and no I/O here, so what the page says (the verdict, the counts, the
order of the findings) can be tested without parsing HTML. Counts per exposure level
come from the summary (it counts every endpoint, those the page only summarises too);
counts of findings from the endpoints the writer kept, which hold every finding.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from exposcan.gating import acceptance_holds
from exposcan.report.html import text
from exposcan.report.html.evidence import (
    EndpointView,
    Group,
    appendix_order,
    endpoint_view,
    group_findings,
)
from exposcan.results import EndpointResult
from exposcan.summary import Summary
from exposcan.vocabulary import Exposure, Severity

SEVERITIES: Final = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO)
EXPOSURES: Final = (Exposure.QUERY, Exposure.STORE, Exposure.ECHO, Exposure.PROTECTED)

EXPOSURE_MEANING: Final = {
    Exposure.QUERY: "answers a metadata query: anyone can list studies",
    Exposure.STORE: "accepts images from anyone (nothing was sent)",
    Exposure.ECHO: "accepts a stranger's association and C-ECHO",
    Exposure.PROTECTED: "DICOM, but refused every attempt, as it should",
    Exposure.NONE: "closed, silent, or not DICOM",
}
STATUS_MEANING: Final = {
    "success": "answered, but nothing DICOM",
    "connection-refused": "refused the connection (port closed)",
    "connection-timeout": "did not answer (no host, or filtered)",
    "io-timeout": "connected, then fell silent",
    "connection-closed": "closed the connection at once",
    "protocol-error": "answered in something other than DICOM",
    "tls-error": "the TLS handshake failed",
    "out-of-scope": "not probed: outside the scope",
    "host-silent": "not probed: its host never answered its first ports",
    "error": "the probe failed",
}

#: Bar chart geometry, in SVG user units (the chart scales to its column).
_WIDTH, _LABEL_END, _BAR_START, _BAR_MAX, _ROW = 340, 78, 84, 210, 28


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    count: int
    tone: str
    y: int
    width: int


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    bars: tuple[Bar, ...]
    height: int
    width: int = _WIDTH
    label_end: int = _LABEL_END
    bar_start: int = _BAR_START
    bar_max: int = _BAR_MAX


@dataclass(frozen=True, slots=True)
class Verdict:
    headline: str
    lines: tuple[str, ...]
    #: the worst exposure reached ("query" ... "protected", "none"), for its colour;
    #: "incomplete" when none answered but the scan did not finish
    tone: str
    #: what the scan did not cover, when it did not finish
    unfinished: str | None = None


@dataclass(frozen=True, slots=True)
class Row:
    """One line of an overview table."""

    key: str
    label: str
    count: int
    accepted: int = 0
    meaning: str = ""


@dataclass(frozen=True, slots=True)
class Page:
    site: str | None
    heading: str
    #: under the heading: when the scan started, on whose authority
    started: str | None
    reference: str | None
    verdict: Verdict
    scan_facts: tuple[tuple[str, str], ...]
    authorisation: tuple[tuple[str, str], ...]
    include: tuple[list[str], int]
    exclude: tuple[list[str], int]
    severity_rows: tuple[Row, ...]
    exposure_rows: tuple[Row, ...]
    charts: tuple[Chart, ...]
    #: findings to act on (low or worse), most severe first
    active: tuple[Group, ...]
    #: informational findings (what was refused, what was checked): one short table
    informational: tuple[Group, ...]
    accepted: tuple[Group, ...]
    endpoints: tuple[EndpointView, ...]
    quiet: tuple[Row, ...]
    quiet_total: int
    generated: str


def build_page(
    header: Mapping[str, Any],
    summary: Summary,
    kept: Sequence[EndpointResult],
    quiet: Counter[str],
    *,
    now: datetime,
) -> Page:
    """The page for a scan: ``kept`` are the endpoints the appendix shows (exposure
    protected or more, or any finding); ``quiet`` counts the rest by status."""
    ordered = sorted(kept, key=appendix_order)
    active, accepted = group_findings(ordered, now)
    scope = text.mapping(header, "scope")
    site = text.text(header, "site")
    exposure = {e: _int(summary.exposure.get(str(e))) for e in Exposure}
    severity_rows = _severity_rows(ordered, now)
    return Page(
        site=site,
        heading=site or text.text(scope, "owner") or "DICOM exposure scan",
        started=text.when(summary.started_at or text.text(header, "started_at")),
        reference=text.text(scope, "reference"),
        verdict=verdict(exposure, summary, active, accepted),
        scan_facts=tuple(_scan_facts(header, summary)),
        authorisation=tuple(_authorisation(scope)),
        include=text.texts(scope, "include"),
        exclude=text.texts(scope, "exclude"),
        severity_rows=severity_rows,
        exposure_rows=tuple(
            Row(str(e), str(e), exposure[e], meaning=EXPOSURE_MEANING[e])
            for e in (*EXPOSURES, Exposure.NONE)
        ),
        charts=(
            _chart("Findings by severity", [(r.label, r.count, r.key) for r in severity_rows]),
            _chart("Endpoints by exposure", [(str(e), exposure[e], str(e)) for e in EXPOSURES]),
        ),
        active=tuple(g for g in active if g.severity > Severity.INFO),
        informational=tuple(g for g in active if g.severity <= Severity.INFO),
        accepted=tuple(accepted),
        endpoints=tuple(endpoint_view(r, now) for r in ordered),
        quiet=tuple(
            Row(status, status, n, meaning=STATUS_MEANING.get(status, ""))
            for status, n in sorted(quiet.items(), key=lambda item: (-item[1], item[0]))
        ),
        quiet_total=sum(quiet.values()),
        generated=text.when(now.isoformat()) or "",
    )


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def verdict(
    exposure: Mapping[Exposure, int],
    summary: Summary,
    active: Sequence[Group],
    accepted: Sequence[Group],
) -> Verdict:
    """The page's first sentence, and the few lines a reader needs next to it."""
    answering = sum(exposure[e] for e in (Exposure.ECHO, Exposure.STORE, Exposure.QUERY))
    query, store = exposure[Exposure.QUERY], exposure[Exposure.STORE]
    if summary.endpoints_done == 0:
        headline = "Nothing was probed"
    elif answering == 0 and not _complete(summary):
        headline = (
            f"No service answered strangers in the {summary.endpoints_done:,} of "
            f"{summary.endpoints_planned:,} endpoints probed"
        )
    elif answering == 0:
        headline = "No service answers strangers"
    else:
        parts = [
            f"{text.count(answering, 'service')} {text.verb(answering, 'answers', 'answer')} "
            "strangers"
        ]
        if query:
            parts.append(
                f"{query:,} {text.verb(query, 'lets', 'let')} anyone query patient metadata"
            )
        if store:
            parts.append(f"{store:,} {text.verb(store, 'accepts', 'accept')} images from anyone")
        headline = "; ".join(parts)
    lines: list[str] = []
    protected = exposure[Exposure.PROTECTED]
    if protected:
        lines.append(
            f"{text.count(protected, 'other DICOM service' if answering else 'DICOM service')} "
            "refused an unknown caller, "
            f"as {text.verb(protected, 'it', 'they')} should."
        )
    urgent = [g for g in active if g.severity >= Severity.MEDIUM]
    if urgent:
        first = urgent[0]
        lines.append(
            f"Most urgent: {first.title.rstrip('.')} "
            f"({text.count(first.total, 'endpoint')}, {first.severity}). "
            "What to do is under Findings."
        )
    taken = sum(g.total for g in accepted)
    if taken:
        lines.append(
            f"{text.count(taken, 'finding')} {text.verb(taken, 'is an', 'are')} accepted "
            f"{text.verb(taken, 'risk', 'risks')}, listed apart."
        )
    tone = next((str(e) for e in EXPOSURES if exposure[e]), "none")
    if tone in ("protected", "none") and not _complete(summary):
        tone = "incomplete"  # not the all-clear colour: part of the scope is unknown
    unfinished = None
    if not _complete(summary):
        unfinished = f"{_state(summary)}: what was not probed is unknown, not safe."
    return Verdict(headline=headline, lines=tuple(lines), tone=tone, unfinished=unfinished)


def _complete(summary: Summary) -> bool:
    return (
        not summary.interrupted
        and summary.stopped is None
        and summary.endpoints_done >= summary.endpoints_planned
    )


def _state(summary: Summary) -> str:
    done, planned = summary.endpoints_done, summary.endpoints_planned
    if summary.stopped == "authorisation-expired":
        return (
            "Stopped when the authorisation expired: "
            f"{summary.endpoints_not_started:,} of {planned:,} endpoints were not probed"
        )
    if summary.stopped is not None:
        return f"Stopped ({summary.stopped}): {done:,} of {planned:,} endpoints probed"
    if summary.interrupted:
        return f"Interrupted: {done:,} of {planned:,} endpoints probed"
    if done < planned:
        return f"Incomplete: {done:,} of {planned:,} endpoints probed"
    return "Complete"


def _scan_facts(header: Mapping[str, Any], summary: Summary) -> list[tuple[str, str]]:
    ports, more_ports = text.texts(header, "ports")
    web, more_web = text.texts(header, "web_ports")
    version = text.text(header, "version")
    facts: list[tuple[str, str | None]] = [
        ("Scan id", text.text(header, "scan_id")),
        ("Started", text.when(summary.started_at or text.text(header, "started_at"))),
        ("Finished", text.when(summary.finished_at) or "not recorded (the last run was killed)"),
        ("Time scanning", text.duration(summary.duration_s)),
        ("Endpoints", f"{summary.endpoints_done:,} of {summary.endpoints_planned:,} probed"),
        ("Hosts", text.text(header, "hosts")),
        ("DICOM ports", _listed(ports, more_ports)),
        ("Web ports", _listed(web, more_web)),
        *_own_lists(header),
        ("State", _state(summary)),
        ("Tool", f"exposcan {version}" if version else None),
    ]
    return [(label, value) for label, value in facts if value]


def _own_lists(header: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """A registered probe's own port lists (``options.more_ports`` names them; each is a
    key of the header beside ``ports``), labelled by their names, which are the report's
    own words only when they look like one (``echo_ports``)."""
    named = text.mapping(text.mapping(header, "options"), "more_ports") or {}
    facts: list[tuple[str, str | None]] = []
    for name in sorted(named)[: text.LIST_SHOWN]:
        if isinstance(name, str) and _LIST_NAME.fullmatch(name):
            facts.append((f"Ports ({name})", _listed(*text.texts(header, name))))
    return facts


_LIST_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,40}_ports")


def _authorisation(scope: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    facts: list[tuple[str, str | None]] = [
        ("Owner", text.text(scope, "owner")),
        ("Reference", text.text(scope, "reference")),
        ("Valid until", text.until(text.text(scope, "expires"))),
        ("Scope file", text.text(scope, "source", 512)),
        ("Scope digest", _short_digest(text.text(scope, "digest"))),
    ]
    return [(label, value) for label, value in facts if value]


def _short_digest(digest: str | None) -> str | None:
    """``sha256:3c5f9a94e59b50e8…``: enough to tell two scope files apart on paper (the
    JSONL report holds it whole)."""
    if digest is None or len(digest) <= 24:
        return digest
    return digest[:23] + "\u2026"


def _listed(values: list[str], more: int) -> str | None:
    if not values:
        return None
    return ", ".join(values) + (f" and {more:,} more" if more else "")


def _severity_rows(results: Sequence[EndpointResult], now: datetime) -> tuple[Row, ...]:
    active: Counter[Severity] = Counter()
    accepted: Counter[Severity] = Counter()
    for result in results:
        for finding in result.findings:
            held = finding.accepted is not None and acceptance_holds(finding, now)
            (accepted if held else active)[finding.severity] += 1
    return tuple(
        Row(str(s), str(s).capitalize(), active[s], accepted=accepted[s]) for s in SEVERITIES
    )


def _chart(title: str, rows: list[tuple[str, int, str]]) -> Chart:
    peak = max((n for _, n, _ in rows), default=0)
    bars = tuple(
        Bar(
            label=label,
            count=n,
            tone=tone,
            y=8 + i * _ROW,
            # a count of one still shows: 2 units at least; none shows no bar
            width=0 if n == 0 else max(2, round(n / peak * _BAR_MAX)),
        )
        for i, (label, n, tone) in enumerate(rows)
    )
    return Chart(title=title, bars=bars, height=8 + len(rows) * _ROW)
