"""The HTML report for management, without a browser: what the page says, in which
order, what it keeps apart, what it escapes, and that it loads nothing from anywhere.

The reports are built from EndpointResult objects (synthetic hosts; no patient data):
:func:`hospital_report` is a small hospital network with every exposure level, an
accepted finding, an acceptance that has lapsed and a mostly empty range.
tests/cli/test_html_chromium.py renders the same report in Chromium.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from exposcan import findings as catalogue
from exposcan import read_report
from exposcan.report.convert import render
from exposcan.report.html import HtmlWriter
from exposcan.report.jsonl import JsonlWriter
from exposcan.results import EndpointResult, Finding, Fingerprint
from exposcan.summary import ScanReport, SummaryBuilder
from exposcan.vocabulary import Exposure, Protocol, Status
from tests.support.hospital_report import (
    NOW,
    SCAN_ID,
    SITE,
    accepted,
    endpoint,
    header,
    hospital_report,
    summarise,
)


def page_of(report: ScanReport, now: datetime = NOW) -> str:
    stream = io.StringIO()
    writer = HtmlWriter(stream, now=now)
    writer.start(report.header)
    for result in report.results:
        writer.endpoint(result)
    writer.finish(report.summary)
    return stream.getvalue()


def section(page: str, start: str, end: str) -> str:
    """The page's text from the heading ``start`` to the heading ``end``."""
    begin = page.index(f"<h2>{start}</h2>")
    return page[begin : page.index(f"<h2>{end}", begin)]


def card(page: str, finding_id: str, accepted: bool = False) -> str:
    """The card of one finding id (active, or with ``accepted`` the accepted one)."""
    start = page.index("<h2>Accepted risks</h2>") if accepted else 0
    at = page.index(f'<p class="id">{finding_id}</p>', start)
    begin = page.rindex("<article", 0, at)
    return page[begin : page.index("</article>", at)]


class Tags(HTMLParser):
    """Every start tag with its attributes; fails on text between tags it cannot parse."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    tags.close()
    return tags


@pytest.fixture
def report() -> ScanReport:
    return hospital_report(NOW.date())


@pytest.fixture
def page(report: ScanReport) -> str:
    return page_of(report)


def test_verdict_first_in_plain_words(page: str):
    body = page[page.index("<body>") :]
    verdict = body[body.index('aria-label="Verdict"') :]
    verdict = verdict[: verdict.index("</section>")]
    # echo 2 + store 1 + query 2 answer; 2 query; 1 stores.
    assert (
        "5 services answer strangers; 2 let anyone query patient metadata; "
        "1 accepts images from anyone." in verdict
    )
    assert "2 other DICOM services refused an unknown caller, as they should." in verdict
    assert "Most urgent: Metadata query returns matches to an unknown peer" in verdict
    assert "1 finding is an accepted risk, listed apart." in verdict
    # Nothing before the verdict but the heading: the site, the date and the authority.
    before = body[: body.index('aria-label="Verdict"')]
    assert f"<h1>{SITE}</h1>" in before
    assert "Scanned 1 Dec 2026, 02:00 UTC" in before
    assert "authorised under CHG-2026-0042" in before
    assert 'class="verdict tone-query"' in page


@pytest.mark.parametrize(
    ("exposure", "expected"),
    [
        ({"echo": 1}, "1 service answers strangers."),
        ({"echo": 2, "query": 1}, "3 services answer strangers; 1 lets anyone query patient"),
        ({"protected": 4}, "No service answers strangers."),
        ({"none": 3}, "No service answers strangers."),
    ],
)
def test_verdict_agrees_with_its_numbers(exposure: dict[str, int], expected: str):
    results = [
        endpoint(f"10.0.0.{i}", 104, Exposure(level))
        for i, level in enumerate(e for e, n in exposure.items() for _ in range(n))
    ]
    page = page_of(
        ScanReport(
            header=header(), results=tuple(results), summary=summarise(results, len(results))
        )
    )
    assert expected in page


def test_nothing_probed_says_so():
    page = page_of(
        ScanReport(header=header(), results=(), summary=summarise([], 6, interrupted=True))
    )
    assert "Nothing was probed." in page
    assert '<p class="unfinished">Interrupted: 0 of 6 endpoints probed' in page


def test_no_all_clear_for_a_scan_that_did_not_finish():
    results = [endpoint("10.0.0.1", 104, Exposure.PROTECTED)]
    done = page_of(
        ScanReport(header=header(), results=tuple(results), summary=summarise(results, 1))
    )
    assert "No service answers strangers." in done
    assert "1 DICOM service refused an unknown caller, as it should." in done
    assert 'class="verdict tone-protected"' in done
    cut = page_of(
        ScanReport(
            header=header(),
            results=tuple(results),
            summary=summarise(results, 600, interrupted=True),
        )
    )
    assert "No service answered strangers in the 1 of 600 endpoints probed." in cut
    assert 'class="verdict tone-incomplete"' in cut


def test_scan_scope_and_authorisation_facts(page: str, report: ScanReport):
    text = " ".join(" ".join(parse(page).text).split())
    for fact in (
        f"Site {SITE}",
        f"Scan id {SCAN_ID}",
        "Started 1 Dec 2026, 02:00 UTC",
        "Finished 1 Dec 2026, 02:14 UTC",
        "Time scanning 14 min 5 s",
        f"Endpoints {len(report.results):,} of {len(report.results):,} probed",
        "State Complete",
        "Owner Example Hospital IT Security",
        "Reference CHG-2026-0042",
        "Valid until 31 Dec 2026 (end of day, UTC)",
        "Included 10.20.0.0/24 pacs.example.org",
        "Excluded 10.20.0.200/29",
        "DICOM ports 104, 2762, 11112",
        "Web ports 443, 8042, 8080",
    ):
        assert fact in text, fact
    assert "Interrupted" not in text


@pytest.mark.parametrize(
    ("interrupted", "stopped", "state"),
    [
        (True, None, "Interrupted: 3 of 10 endpoints probed"),
        (False, "authorisation-expired", "Stopped when the authorisation expired: 7 of 10"),
    ],
)
def test_an_unfinished_scan_says_what_is_unknown(interrupted, stopped, state):
    results = [endpoint(f"10.0.0.{i}", 104, Exposure.ECHO) for i in range(3)]
    summary = summarise(results, 10, interrupted=interrupted, stopped=stopped)
    page = page_of(ScanReport(header=header(), results=tuple(results), summary=summary))
    verdict = page[page.index('aria-label="Verdict"') :]
    verdict = verdict[: verdict.index("</section>")]
    assert f'<p class="unfinished">{state}' in verdict
    assert "what was not probed is unknown, not safe." in verdict
    assert "3 services answer strangers." in verdict
    assert "State Complete" not in " ".join(" ".join(parse(page).text).split())


def test_findings_grouped_by_id_most_severe_first(page: str):
    findings = section(page, "Findings", "Accepted risks")
    cards = re.findall(
        r'<article class="finding (\w+)">.*?<p class="id">([\w-]+)</p>', findings, re.S
    )
    ids = [finding_id for _, finding_id in cards]
    assert ids == [
        "dicom-query-matches",
        "web-orthanc-rest-open",
        "dicom-storage-accepted",
        "dicom-echo-unauthenticated",  # 3 endpoints: 10.20.0.11, .15 and .22 (lapsed)
        "dicom-retrieve-offered",
        "web-viewer-no-login",
    ]
    assert [severity for severity, _ in cards] == [
        "critical",
        "critical",
        "high",
        "medium",
        "medium",
        "low",
    ]
    # Each card: the catalogue's title, remediation and references; its endpoints.
    for finding_id in ids:
        rule = catalogue.CATALOGUE[finding_id]
        shown = card(findings, finding_id)
        assert f"<h3>{rule.title}</h3>" in shown
        assert f'sev-{rule.severity}">{rule.severity}</span>' in shown
        assert rule.remediation.replace("'", "&#x27;") in shown
        for reference in rule.references:
            assert reference.replace("'", "&#x27;") in shown
    first = findings[: findings.index('<p class="id">web-orthanc-rest-open')]
    assert "127.0.0.1" not in first
    assert "10.20.0.11:104</td><td>dimse</td>" in first
    echo = card(findings, "dicom-echo-unauthenticated")
    assert "3 endpoints" in echo
    assert "10.20.0.21" not in echo  # accepted: kept apart
    assert "acceptance expired 2 Nov 2026: Ultrasound cart, vendor patch pending" in echo
    # Informational findings: one short table, not cards.
    informational = findings[findings.index("For information") :]
    assert "dicom-called-ae-checked" in informational
    assert "dicom-tls-client-certificate-required" in informational
    assert '<article class="finding info' not in page


def test_accepted_risks_kept_apart(page: str):
    accepted = section(page, "Accepted risks", "Appendix")
    assert accepted.count('<article class="finding accepted') == 1
    assert "dicom-echo-unauthenticated" in accepted
    assert "10.20.0.21:104" in accepted
    assert "Legacy CT console on an isolated VLAN; replacement ordered" in accepted
    until = NOW.date() + timedelta(days=120)
    assert f"<td>{until.day} {until:%b %Y}</td>" in accepted
    assert "10.20.0.22" not in accepted  # its acceptance lapsed: it is active again
    overview = section(page, "Overview", "Findings")
    medium = re.search(
        r"sev-medium\">medium</span></td><td class=\"n\">(\d+)</td><td class=\"n\">(\d+)", overview
    )
    assert medium is not None
    assert medium.groups() == ("4", "1")  # 4 active (echo x3 + retrieve), 1 accepted


def test_acceptance_judged_when_the_page_is_written(report: ScanReport):
    later = page_of(report, now=NOW + timedelta(days=365))
    assert "<h2>Accepted risks</h2>" not in later
    assert "Legacy CT console" in section(later, "Findings", "Appendix")


def test_appendix_lists_every_service_and_counts_the_rest(page: str, report: ScanReport):
    appendix = page[page.index("<h2>Appendix") :]
    shown = re.findall(r'<span class="name">([^<]+)</span>', appendix)
    kept = [r for r in report.results if r.exposure >= Exposure.PROTECTED or r.findings]
    assert len(shown) == len(kept) == 8
    assert shown[:2] == ["10.20.0.11:104", "10.20.0.11:8042"]  # most exposed first
    assert shown[-1] == "10.20.0.50:8080"  # exposure none, but a finding
    assert "C-FIND at STUDY level: 100 matches (cap hit)" in appendix
    assert "100 matches at study level (the query stopped at its cap of 100" in appendix
    assert "Orthanc 1.12.1" in appendix
    assert "TLSv1.3; self-signed; client certificate required" in appendix
    assert "1,486 endpoints with exposure none and no finding" in appendix
    assert (
        "<td>connection-refused</td><td>refused the connection (port closed)</td>"
        '<td class="n">1,300</td>' in appendix
    )
    assert "<td>connection-timeout</td>" in appendix


def test_a_mostly_empty_range_is_a_short_page():
    """A /16 with three services: 65,536 endpoints, a page of a few dozen KiB."""
    results = [
        endpoint("10.30.0.5", 104, Exposure.ECHO, catalogue.DICOM_ECHO_UNAUTHENTICATED.found("ok"))
    ]
    stream = io.StringIO()
    writer = HtmlWriter(stream, now=NOW)
    writer.start(header(hosts=65536, endpoints=65536))
    builder = SummaryBuilder(started_at="2026-12-01T02:00:00+00:00", total=65536)
    writer.endpoint(results[0])
    builder.add(results[0])
    quiet = EndpointResult(
        host="10.30.1.1",
        port=104,
        protocol=Protocol.DIMSE,
        status=Status.CONNECTION_TIMEOUT,
        exposure=Exposure.NONE,
    )
    for _ in range(65535):
        writer.endpoint(quiet)
        builder.add(quiet)
    writer.finish(builder.build(finished_at="", duration_s=3600.0, interrupted=False))
    page = stream.getvalue()
    assert len(page) < 60_000
    assert "65,535 endpoints with exposure none" in page
    assert page.count('<span class="name">') == 1
    assert "Time scanning 1 h" in " ".join(" ".join(parse(page).text).split())


def test_self_contained_nothing_loaded_from_anywhere(page: str):
    tags = parse(page)
    names = {tag for tag, _ in tags.tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "base", "form"}
    for tag, attrs in tags.tags:
        assert not {"src", "href", "srcset", "action", "style"} & set(attrs), (tag, attrs)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
    for needle in ("src=", "href=", "url(", "@import", "<script", "@font-face", "http-equiv"):
        assert needle not in page.lower(), needle
    assert page.count("<svg") == 2  # the charts are inline SVG
    assert page.startswith("<!doctype html>")
    assert page.count("<title>") == 1
    assert "<title>exposcan report</title>" in page


def test_prints_on_a4(page: str):
    style = page[page.index("<style>") : page.index("</style>")]
    assert re.search(r"@page\s*\{\s*size:\s*A4;\s*margin:", style)
    assert re.search(r"\.finding \{[^}]*break-inside: avoid", style)
    assert re.search(r"\.endpoint \{[^}]*break-inside: avoid", style)
    assert "print-color-adjust: exact" in style
    # No fixed width in print: the screen's column (max-width in px) is lifted there,
    # and nothing else is sized in px wider than A4's printable 180 mm (about 680 px).
    widths = [int(w) for w in re.findall(r"(?<![\w(-])(?:max-|min-)?width:\s*(\d+)px", style)]
    assert widths
    assert all(w <= 1000 for w in widths)
    assert [w for w in widths if w > 680] == [1000]
    printed = style[style.index("@media print") :]
    assert re.search(r"\.page \{[^}]*max-width: none", printed)


def test_chart_bars_are_proportional(page: str):
    severity = page[page.index("<svg") : page.index("</svg>")]
    bars = {
        k: int(v)
        for k, v in re.findall(r'class="fill-(\w+)" x="\d+" y="\d+" width="(\d+)"', severity)
    }
    # Active findings: critical 2, high 1, medium 4 (the accepted one left out), low 1,
    # info 3; the longest bar is the most frequent severity.
    active = {"critical": 2, "high": 1, "medium": 4, "low": 1, "info": 3}
    assert bars == {k: round(n / 4 * 210) for k, n in active.items()}
    labels = re.findall(r'text-anchor="end">(\w+)</text>', severity)
    assert labels == ["Critical", "High", "Medium", "Low", "Info"]
    values = re.findall(r'<text x="\d+" y="\d+">([\d,]+)</text>', severity)
    assert values == ["2", "1", "4", "1", "3"]


HOSTILE = "\x1b]0;owned\x07\u202eevil\u200b<script>alert(1)</script>\"'&"


def test_every_value_escaped_and_cleaned():
    result = endpoint(
        "10.20.0.9",
        104,
        Exposure.ECHO,
        Finding(
            id="dicom-echo-unauthenticated",
            severity=catalogue.Severity.MEDIUM,
            title=HOSTILE,
            evidence=HOSTILE,
        ),
        accepted(catalogue.DICOM_STORAGE_ACCEPTED.found(HOSTILE), HOSTILE, None),
        ae_title="A<b>",
        fingerprint=Fingerprint(product=HOSTILE),
        services=(HOSTILE,),
    )
    hostile_header = header(
        site=HOSTILE,
        scope={
            "owner": HOSTILE,
            "reference": HOSTILE,
            "expires": HOSTILE,
            "include": [HOSTILE, 7, None, {"x": 1}],
            "exclude": HOSTILE,
        },
        ports="104",
        scan_id=["not", "text"],
    )
    report = ScanReport(header=hostile_header, results=(result,), summary=summarise([result], 1))
    page = page_of(report)
    for raw in ("<script", "<b>", "\x1b", "\x07", "\u202e", "\u200b", "owned\x07"):
        assert raw not in page, repr(raw)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&amp;" in page
    assert "A&lt;b&gt;" in page
    tags = parse(page)
    assert {tag for tag, _ in tags.tags} <= {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "main",
        "header",
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "section",
        "ul",
        "li",
        "div",
        "dl",
        "dt",
        "dd",
        "figure",
        "figcaption",
        "svg",
        "text",
        "rect",
        "table",
        "tr",
        "th",
        "td",
        "span",
        "article",
        "br",
        "footer",
    }
    # A header of the wrong shape: what can be read is shown, the rest left out.
    assert "Scan id" not in " ".join(tags.text)


def test_a_header_that_is_not_a_scan_record_still_renders():
    result = endpoint("10.20.0.9", 104, Exposure.ECHO)
    for odd in ({}, {"record": "resume", "scan_id": SCAN_ID}, {"scope": "text", "site": 5}):
        page = page_of(ScanReport(header=odd, results=(result,), summary=summarise([result], 1)))
        assert "1 service answers strangers." in page
        assert "not recorded" in page


def test_render_from_a_report_read_back(tmp_path: Path, report: ScanReport):
    """The path `exposcan report SCAN.jsonl --format html` takes: the JSONL source of
    truth, read back, rendered through convert.render (the streaming writer)."""
    path = tmp_path / "scan.jsonl"
    with path.open("w", encoding="utf-8") as stream:
        writer = JsonlWriter(stream)
        try:
            writer.start(report.header)
            for result in report.results:
                writer.endpoint(result)
            writer.finish(report.summary)
        finally:
            writer.close()
    again = read_report(path)
    out = io.StringIO()
    render(again, "html", out)
    page = out.getvalue()
    assert "5 services answer strangers; 2 let anyone query patient metadata" in page
    assert "Legacy CT console on an isolated VLAN" in section(page, "Accepted risks", "Appendix")
    assert page.count('<span class="name">') == 8
    assert f"Scan id {SCAN_ID}" in " ".join(" ".join(parse(page).text).split())


def test_a_card_lists_thirty_endpoints_and_counts_the_rest():
    echo = catalogue.DICOM_ECHO_UNAUTHENTICATED
    results = [endpoint(f"10.0.1.{i}", 104, Exposure.ECHO, echo.found("ok")) for i in range(1, 41)]
    page = page_of(
        ScanReport(header=header(), results=tuple(results), summary=summarise(results, 40))
    )
    shown = card(page, "dicom-echo-unauthenticated")
    assert "40 endpoints" in shown
    assert shown.count("<td>10.0.1.") == 30
    assert "and 10 more endpoints (all in the appendix)" in shown
    assert page.count('<span class="name">') == 40  # the appendix holds every one


def test_a_finding_the_catalogue_does_not_know_keeps_its_own_words():
    """A report from another version may carry an id this one has no entry for."""
    unknown = Finding(
        id="dicom-future-check",
        severity=catalogue.Severity.HIGH,
        title="Something a later version checks",
        evidence="seen",
        remediation="Do the later thing.",
    )
    result = endpoint("10.0.0.7", 104, Exposure.ECHO, unknown, hostname="ct1.example.org")
    page = page_of(ScanReport(header=header(), results=(result,), summary=summarise([result], 1)))
    shown = card(page, "dicom-future-check")
    assert "<h3>Something a later version checks</h3>" in shown
    assert 'sev-high">high</span>' in shown
    assert "Do the later thing." in shown
    assert "10.0.0.7:104 (ct1.example.org)" in shown
    assert "ct1.example.org" in page[page.index("<h2>Appendix") :]


def test_the_template_cleans_what_it_prints_whatever_the_source():
    """Defence in depth: results are cleaned when built, and the template's finalize
    cleans and escapes once more whatever reaches it (a value no reader cleaned)."""
    from exposcan.report.html import _escape

    assert _escape("\u202e<b a='1'>\x1b[2J") == "&lt;b a=&#x27;1&#x27;&gt;[2J"
    assert _escape(None) == ""
    assert _escape(1234) == "1234"


def test_every_status_has_a_meaning_on_the_page():
    """The appendix counts quiet endpoints by status with what it means; a status the
    vocabulary gains (host-silent) must not show with an empty meaning."""
    from exposcan.report.html.page import STATUS_MEANING

    assert set(STATUS_MEANING) == {str(s) for s in Status}
    assert all(STATUS_MEANING.values())


def test_a_registered_probes_own_port_list_is_a_fact_of_the_scan():
    """``--ports-for echo_ports=7,9``: the header names the list in options.more_ports and
    holds it beside ``ports``; the page shows it under its name. A name that is not a
    list's name (a hand-edited report) is not shown."""
    record = header()
    record["echo_ports"] = [7, 9]
    record["<b>_ports"] = [1]
    record["options"] = {
        **record.get("options", {}),
        "more_ports": {"echo_ports": [7, 9], "<b>_ports": [1]},
    }
    results = [endpoint("10.0.0.1", 104, Exposure.ECHO)]
    page = page_of(ScanReport(header=record, results=tuple(results), summary=summarise(results, 1)))
    text = " ".join(" ".join(parse(page).text).split())
    assert "Ports (echo_ports) 7, 9" in text
    assert "<b>_ports" not in page
    assert "&lt;b&gt;_ports" not in page
