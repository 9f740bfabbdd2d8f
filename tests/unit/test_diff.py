"""diff_reports without sockets: two ScanReports built from EndpointResults, each change
of exposure, status, protocol and findings put there by the test and looked for in the
diff; what only one report holds is not compared (and says why); accepted findings are
listed and not counted; the renderings carry the same facts."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from exposcan.diff import ReportDiff, diff_reports
from exposcan.findings import CATALOGUE
from exposcan.report.diff_render import DIFF_FORMATS, diff_records, diff_text, render_diff
from exposcan.results import AcceptedRisk, EndpointResult, Finding
from exposcan.summary import ScanReport, SummaryBuilder
from exposcan.vocabulary import Exposure, Protocol, Severity, Status

ECHO = CATALOGUE["dicom-echo-unauthenticated"].found("C-ECHO answered")
QUERY = CATALOGUE["dicom-query-matches"].found("3 matches")
STORE = CATALOGUE["dicom-storage-accepted"].found("CT Image Storage accepted")
QIDO = CATALOGUE["web-dicomweb-qido-open"].found("1 study listed")
CHECKED = CATALOGUE["dicom-called-ae-checked"].found("'ANY-SCP' rejected")
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def endpoint(
    port: int,
    exposure: Exposure,
    findings: Sequence[Finding] = (),
    *,
    host: str = "10.0.0.5",
    protocol: Protocol = Protocol.DIMSE,
    status: Status = Status.SUCCESS,
) -> EndpointResult:
    return EndpointResult(
        host=host,
        port=port,
        protocol=protocol,
        status=status,
        exposure=exposure,
        findings=tuple(findings),
    )


def closed(port: int, host: str = "10.0.0.5") -> EndpointResult:
    return endpoint(port, Exposure.NONE, host=host, status=Status.CONNECTION_REFUSED)


def report(
    results: Sequence[EndpointResult],
    *,
    ports: Sequence[int] = (104, 4242, 11112),
    web_ports: Sequence[int] = (8042,),
    site: str | None = "Example Hospital",
    started: str = "2026-11-25T02:00:00+00:00",
    interrupted: bool = False,
) -> ScanReport:
    header: dict[str, Any] = {
        "record": "scan",
        "scan_id": str(uuid.uuid4()),
        "site": site,
        "started_at": started,
        "ports": list(ports),
        "web_ports": list(web_ports),
        "endpoints": len(results),
    }
    builder = SummaryBuilder(started_at=started, total=len(results))
    for result in results:
        builder.add(result)
    summary = builder.build(finished_at=started, duration_s=1.0, interrupted=interrupted)
    return ScanReport(header=header, results=tuple(results), summary=summary)


def accepted(finding: Finding, expires: str | None) -> Finding:
    return replace(finding, accepted=AcceptedRisk(reason="behind the firewall", expires=expires))


def keys(changes: Sequence[Any]) -> list[tuple[str, int]]:
    return [(c.host, c.port) for c in changes]


# --- endpoints --------------------------------------------------------------------------


def test_an_exposure_that_rose_or_appeared_is_new_one_that_fell_away_resolved() -> None:
    old = report(
        [
            closed(104),
            endpoint(4242, Exposure.ECHO, [ECHO]),
            endpoint(11112, Exposure.STORE, [STORE, ECHO]),
            endpoint(104, Exposure.ECHO, [ECHO], host="10.0.0.6"),
        ]
    )
    new = report(
        [
            endpoint(104, Exposure.ECHO, [ECHO]),  # none → echo: newly exposed
            endpoint(4242, Exposure.QUERY, [ECHO, QUERY]),  # echo → query: exposed further
            endpoint(11112, Exposure.PROTECTED, [CHECKED]),  # store → protected: resolved
            endpoint(104, Exposure.ECHO, [ECHO], host="10.0.0.6"),  # unchanged
        ]
    )
    diff = diff_reports(old, new, now=NOW)
    # most severe first: the query one before the echo one
    assert keys(diff.new_exposures) == [("10.0.0.5", 4242), ("10.0.0.5", 104)]
    assert keys(diff.resolved_exposures) == [("10.0.0.5", 11112)]
    assert diff.changed == ()
    assert diff.compared == 4
    assert diff.not_compared == ()
    rose = diff.new_exposures[0]
    assert (rose.old.exposure, rose.new.exposure, rose.changed) == (
        Exposure.ECHO,
        Exposure.QUERY,
        ("exposure",),
    )
    assert {(f.port, f.id) for f in diff.new_findings} == {
        (104, ECHO.id),
        (4242, QUERY.id),
        (11112, CHECKED.id),
    }
    assert {(f.port, f.id) for f in diff.resolved_findings} == {
        (11112, STORE.id),
        (11112, ECHO.id),
    }
    assert diff.new_findings[0].id == QUERY.id  # critical first
    assert diff.new_by_severity() == {"critical": 1, "high": 0, "medium": 1, "low": 0, "info": 1}


def test_status_protocol_and_lesser_exposure_changes_are_changed() -> None:
    old = report(
        [
            endpoint(104, Exposure.QUERY, [QUERY]),
            endpoint(4242, Exposure.NONE, status=Status.IO_TIMEOUT),
            endpoint(11112, Exposure.ECHO, [ECHO]),
            endpoint(8042, Exposure.QUERY, [QIDO], protocol=Protocol.HTTP),
        ]
    )
    new = report(
        [
            endpoint(104, Exposure.ECHO, [QUERY]),  # still exposed, less: changed
            endpoint(4242, Exposure.NONE, status=Status.CONNECTION_REFUSED),
            endpoint(11112, Exposure.ECHO, [ECHO], protocol=Protocol.DIMSE_TLS),
            endpoint(8042, Exposure.QUERY, [QIDO], protocol=Protocol.HTTPS),
        ]
    )
    diff = diff_reports(old, new, now=NOW)
    assert diff.new_exposures == diff.resolved_exposures == ()
    changed = {(c.port, c.changed) for c in diff.changed}
    assert changed == {
        (104, ("exposure",)),
        (4242, ("status",)),
        (11112, ("protocol",)),
        (8042, ("protocol",)),
    }
    # http → https is the same web endpoint, dimse → dimse-tls the same DICOM one
    assert {c.kind for c in diff.changed if c.port in (11112, 8042)} == {"dicom", "web"}
    assert diff.new_findings == diff.resolved_findings == ()
    assert diff.compared == 4


def test_two_identical_reports_differ_in_nothing() -> None:
    results = [endpoint(104, Exposure.QUERY, [QUERY, ECHO]), closed(4242)]
    diff = diff_reports(report(results), report(results), now=NOW)
    for section in (
        diff.new_exposures,
        diff.resolved_exposures,
        diff.changed,
        diff.new_findings,
        diff.resolved_findings,
        diff.severity_changed,
        diff.not_compared,
    ):
        assert section == ()
    assert diff.compared == 2
    assert "no change" in diff_text(diff)
    assert diff.summary()["text"].startswith("Example Hospital: 0 new findings")


# --- findings ---------------------------------------------------------------------------


def test_a_finding_whose_severity_changed_is_listed_with_both() -> None:
    lower = replace(STORE, severity=Severity.MEDIUM)  # as an older catalogue had it
    diff = diff_reports(
        report([endpoint(104, Exposure.STORE, [lower])]),
        report([endpoint(104, Exposure.STORE, [STORE])]),
        now=NOW,
    )
    (moved,) = diff.severity_changed
    assert moved.old is not None
    assert moved.new is not None
    assert (moved.id, moved.old.severity, moved.new.severity) == (
        STORE.id,
        Severity.MEDIUM,
        Severity.HIGH,
    )
    assert diff.new_findings == diff.resolved_findings == ()
    assert f"~ {STORE.id} (medium→high)" in diff_text(diff)
    assert diff.failing(Severity.INFO) == ()  # not new: the gate is about new findings


def test_an_accepted_new_finding_is_listed_not_counted_until_it_lapses() -> None:
    old = report([closed(104), closed(4242)])
    new = report(
        [
            endpoint(104, Exposure.ECHO, [accepted(ECHO, "2027-01-31")]),
            endpoint(4242, Exposure.QUERY, [accepted(QUERY, "2026-11-30")]),  # lapsed
        ]
    )
    diff = diff_reports(old, new, now=NOW)
    assert {(f.id, f.accepted) for f in diff.new_findings} == {(ECHO.id, True), (QUERY.id, False)}
    assert [f.id for f in diff.counted_new_findings()] == [QUERY.id]
    assert diff.new_by_severity()["medium"] == 0
    assert diff.new_by_severity()["critical"] == 1
    assert [f.id for f in diff.failing(Severity.MEDIUM)] == [QUERY.id]
    summary = diff.summary()
    assert summary["new_findings_accepted"] == 1
    assert "1 new accepted" in summary["text"]
    text = diff_text(diff)
    assert f"+ {ECHO.id} (medium)  accepted until 2027-01-31: behind the firewall" in text
    assert f"+ {QUERY.id} (critical)\n" in text  # a lapsed acceptance is not shown as held
    # judged later, the first acceptance has lapsed too and the gate sees both
    later = diff_reports(old, new, now=datetime(2027, 2, 1, tzinfo=UTC))
    assert {f.id for f in later.failing(Severity.MEDIUM)} == {ECHO.id, QUERY.id}


def test_the_gate_threshold_is_inclusive() -> None:
    diff = diff_reports(
        report([closed(104)]), report([endpoint(104, Exposure.ECHO, [ECHO])]), now=NOW
    )
    assert [f.id for f in diff.failing(Severity.MEDIUM)] == [ECHO.id]
    assert diff.failing(Severity.HIGH) == ()


# --- what only one report holds ---------------------------------------------------------


def test_ports_and_hosts_only_in_one_report_are_not_compared_and_say_why() -> None:
    old = report(
        [endpoint(104, Exposure.ECHO, [ECHO]), endpoint(4242, Exposure.ECHO, [ECHO])],
        ports=(104, 4242),
        web_ports=(),
    )
    new = report(
        [
            closed(104),
            endpoint(8042, Exposure.QUERY, [QIDO], protocol=Protocol.HTTP),
            endpoint(104, Exposure.QUERY, [QUERY], host="10.0.0.9"),
        ],
        ports=(104,),
        web_ports=(8042,),
    )
    diff = diff_reports(old, new, now=NOW)
    assert diff.compared == 1
    assert keys(diff.resolved_exposures) == [("10.0.0.5", 104)]
    # none of what only one side holds is new or resolved
    assert [f.port for f in diff.new_findings] == []
    assert {(f.port, f.id) for f in diff.resolved_findings} == {(104, ECHO.id)}
    reasons = {(n.side, n.endpoints, n.reason) for n in diff.not_compared}
    assert reasons == {
        ("old", 1, "port 4242 only in OLD"),
        ("new", 1, "web port 8042 only in NEW"),
        ("new", 1, "host 10.0.0.9 only in NEW"),
    }
    assert diff.summary()["not_compared"] == 3
    text = diff_text(diff)
    assert "! not compared: port 4242 only in OLD (1 endpoint)" in text
    assert "3 endpoints not compared" in text


def test_an_endpoint_the_newer_scan_planned_but_never_reached_is_not_resolved() -> None:
    old = report([endpoint(104, Exposure.ECHO, [ECHO]), endpoint(4242, Exposure.ECHO, [ECHO])])
    new = report([endpoint(104, Exposure.ECHO, [ECHO])], interrupted=True)
    diff = diff_reports(old, new, now=NOW)
    assert diff.resolved_exposures == diff.resolved_findings == ()
    (skipped,) = diff.not_compared
    assert (skipped.side, skipped.endpoints) == ("old", 1)
    assert "stopped before them" in skipped.reason
    assert "(interrupted)" in diff_text(diff)


def test_a_host_an_interrupted_scan_never_reached_is_not_called_out_of_scope() -> None:
    old = report([closed(104), endpoint(104, Exposure.ECHO, [ECHO], host="10.0.0.6")])
    for interrupted, expected in ((True, "stopped before them"), (False, "host 10.0.0.6")):
        diff = diff_reports(old, report([closed(104)], interrupted=interrupted), now=NOW)
        (skipped,) = diff.not_compared
        assert expected in skipped.reason
        assert diff.resolved_exposures == ()


def test_many_hosts_only_in_one_report_are_named_up_to_five() -> None:
    extra = [closed(104, host=f"10.0.1.{n}") for n in range(1, 9)]
    diff = diff_reports(report([closed(104)]), report([closed(104), *extra]), now=NOW)
    (skipped,) = diff.not_compared
    assert skipped.endpoints == 8
    assert skipped.reason == (
        "hosts 10.0.1.1, 10.0.1.2, 10.0.1.3, 10.0.1.4, 10.0.1.5 and 3 more only in NEW"
    )


# --- the diff as data and as text -------------------------------------------------------


def two_weeks() -> ReportDiff:
    old = report([closed(104), endpoint(4242, Exposure.STORE, [STORE])])
    new = report(
        [endpoint(104, Exposure.QUERY, [QUERY]), closed(4242)], started="2026-12-02T02:00:00Z"
    )
    return diff_reports(old, new, now=NOW)


def test_the_diff_is_data_a_notebook_can_use() -> None:
    diff = two_weeks()
    assert isinstance(diff.new_findings, tuple)
    assert isinstance(diff.not_compared, tuple)
    data = diff.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["old"]["scan_id"] != data["new"]["scan_id"]
    assert data["new"]["started_at"] == "2026-12-02T02:00:00Z"
    assert data["new_exposures"][0]["old"]["exposure"] == "none"
    assert data["new_exposures"][0]["new"]["exposure"] == "query"
    assert data["new_findings"][0]["new_severity"] == "critical"
    assert data["resolved_findings"][0]["old_severity"] == "high"
    text = repr(diff)
    assert text.startswith(f"<ReportDiff {(diff.old.scan_id or '')[:8]} → ")
    assert len(text) < 200
    assert "1 new finding (1 critical)" in text
    summary = diff.summary()
    assert summary["new_findings"]["critical"] == 1
    assert summary["resolved_findings"] == 1
    assert summary["site"] == "Example Hospital"
    assert set(summary["new_findings"]) == {"critical", "high", "medium", "low", "info"}


def test_text_reads_like_ndiff() -> None:
    diff = two_weeks()
    text = diff_text(diff)
    lines = text.splitlines()
    assert lines[0].startswith("exposcan diff (Example Hospital): OLD scan ")
    assert "+ 10.0.0.5:104 dimse none→query status connection-refused→success" in lines
    assert "    + dicom-query-matches (critical)" in lines
    assert "- 10.0.0.5:4242 dimse store→none status success→connection-refused" in lines
    assert "    - dicom-storage-accepted (high)" in lines
    assert f"OLD scan {(diff.old.scan_id or '')[:8]} 2026-11-25T02:00:00+00:00" in lines[0]
    assert lines[-1] == diff.summary()["text"]  # the closing line is the summary's


def test_jsonl_has_one_record_per_change_each_naming_both_scans() -> None:
    diff = two_weeks()
    records = list(diff_records(diff))
    kinds = [r["record"] for r in records]
    assert kinds == [
        "diff",
        "new-exposure",
        "resolved-exposure",
        "new-finding",
        "resolved-finding",
        "diff-summary",
    ]
    for record in records:
        assert record["old_scan_id"] == diff.old.scan_id
        assert record["new_scan_id"] == diff.new.scan_id
    assert records[-1]["new_findings"]["critical"] == 1


@pytest.mark.parametrize("fmt", DIFF_FORMATS)
def test_every_format_renders_and_json_reads_back(fmt: str) -> None:
    stream = io.StringIO()
    render_diff(two_weeks(), fmt, stream)
    out = stream.getvalue()
    assert out.endswith("\n")
    if fmt == "json":
        assert json.loads(out)["summary"]["new_exposures"] == 1
    elif fmt == "jsonl":
        assert all(json.loads(line)["record"] for line in out.splitlines())
    else:
        assert "dicom-query-matches" in out


def test_an_ipv6_endpoint_is_bracketed_in_text() -> None:
    old = report([closed(104, host="2001:db8::5")])
    new = report([endpoint(104, Exposure.ECHO, [ECHO], host="2001:db8::5")])
    assert "+ [2001:db8::5]:104 dimse none→echo" in diff_text(diff_reports(old, new, now=NOW))


def test_text_warns_of_two_sites_and_of_one_scan_twice() -> None:
    old = report([closed(104)], site="Hospital A")
    new = report([closed(104)], site="Hospital B")
    text = diff_text(diff_reports(old, new, now=NOW))
    assert "! the scans are of different sites: Hospital A and Hospital B" in text
    assert "same scan" not in text
    assert "! both reports are of the same scan" in diff_text(diff_reports(old, old, now=NOW))


def test_reports_that_share_no_endpoint_say_so_and_name_a_few_ports() -> None:
    many = range(11000, 11025)
    old = report([closed(port) for port in many], ports=many, web_ports=())
    new = report([closed(104)], ports=(104,), web_ports=())
    diff = diff_reports(old, new, now=NOW)
    assert diff.compared == 0
    reasons = {n.reason for n in diff.not_compared}
    listed = ", ".join(str(p) for p in range(11000, 11010))
    assert reasons == {f"ports {listed} and 15 more only in OLD", "port 104 only in NEW"}
    assert "nothing to compare: the reports share no endpoint" in diff_text(diff)
    assert "no change" not in diff_text(diff)
