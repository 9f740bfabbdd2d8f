"""DefectDojo Generic Findings Import from whole reports: only the parser's keys, a
description its dedupe hash can keep from week to week, and reimport closing what was fixed.

The parser's rules are in ``tests/support/data/defectdojo-generic-keys.json`` (written
down from DefectDojo's ``dojo/tools/generic/json_parser.py``; the file names the commit).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from exposcan import findings as catalogue
from exposcan.report import make_writer
from exposcan.report.defectdojo import SEVERITY
from exposcan.report.sarif import FINGERPRINT_NAME
from exposcan.summary import ScanReport
from exposcan.vocabulary import Exposure, Protocol, Severity
from tests.support.synthetic_reports import PEER_WORDS, endpoint, render_text, weekly_report

PARSER = json.loads(
    (Path(__file__).parents[1] / "support" / "data" / "defectdojo-generic-keys.json").read_text(
        encoding="utf-8"
    )
)
WEEK_1 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
WEEK_2 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def dojo(report: ScanReport) -> dict:
    document: dict = json.loads(render_text(report, "defectdojo"))
    return document


def parse_as_defectdojo(document: dict) -> list[dict]:
    """What GenericJSONParser._get_test_json checks, as it checks it: the finding keys
    it takes out first, the required ones, then every other key against its list."""
    assert set(document) <= set(PARSER["top_level"]), set(document) - set(PARSER["top_level"])
    parsed = []
    for raw in document["findings"]:
        item = dict(raw)
        endpoints = [item.pop(key, None) for key in PARSER["finding_popped"]][
            PARSER["finding_popped"].index("endpoints")
        ]
        missing = set(PARSER["finding_required"]) - set(item)
        assert not missing, f"Required fields are missing: {sorted(missing)}"
        allowed = set(PARSER["finding_allowed"]) | set(PARSER["finding_required"])
        assert set(item) <= allowed, f"Not allowed fields are present: {set(item) - allowed}"
        assert item["severity"] in PARSER["severity"]
        if "date" in item:
            item["date"] = date.fromisoformat(item["date"])
        for place in endpoints or []:
            assert set(place) <= set(PARSER["endpoint"]), place
        item["endpoints"] = endpoints
        parsed.append(item)
    return parsed


def hash_code(item: dict) -> str:
    """Finding.compute_hash_code_legacy, the parser's dedupe and reimport match: title,
    cwe (default 0), line and file_path (default None), description; casefolded."""
    assert PARSER["hash_code_fields_legacy"] == ["title", "cwe", "line", "file_path", "description"]
    text = (
        item["title"]
        + str(item.get("cwe", 0))
        + str(item.get("line"))
        + str(item.get("file_path"))
        + item["description"]
    )
    return hashlib.sha256(text.casefold().encode("utf-8").strip()).hexdigest()


def test_the_key_list_names_its_source():
    source = PARSER["_source"]
    assert source["file"] == "dojo/tools/generic/json_parser.py"
    assert re.fullmatch(r"[0-9a-f]{40}", source["commit"])
    assert {"title", "severity", "description"} == set(PARSER["finding_required"])
    assert "unique_id_from_tool" in PARSER["finding_allowed"]


def test_every_key_written_is_one_the_parser_takes():
    document = dojo(weekly_report(start=WEEK_1))
    parsed = parse_as_defectdojo(document)
    report = weekly_report(start=WEEK_1)
    assert len(parsed) == sum(len(r.findings) for r in report.results)
    written = {key for finding in document["findings"] for key in finding}
    assert {"mitigation", "references", "unique_id_from_tool", "vuln_id_from_tool"} <= written
    assert {"endpoints", "date", "risk_accepted", "active", "cwe"} <= written


def test_the_parser_check_rejects_a_key_it_does_not_know():
    """The check above can fail: a finding with a key of ours that DefectDojo lacks."""
    document = dojo(weekly_report(start=WEEK_1))
    document["findings"][0]["evidence"] = "x"
    with pytest.raises(AssertionError, match="Not allowed fields are present"):
        parse_as_defectdojo(document)


def test_fields_come_from_the_catalogue_and_the_endpoint():
    document = dojo(weekly_report(start=WEEK_1))
    by_place = {
        (f["endpoints"][0]["host"], f["endpoints"][0]["port"], f["vuln_id_from_tool"]): f
        for f in document["findings"]
    }
    query = by_place[("192.0.2.10", 104, "dicom-query-matches")]
    entry = catalogue.DICOM_QUERY_MATCHES
    assert query["title"] == entry.title
    assert query["severity"] == "Critical"
    assert query["mitigation"] == entry.remediation
    assert query["references"] == "\n".join(entry.references)
    assert query["cwe"] == 306
    assert query["endpoints"] == [{"protocol": "dicom", "host": "192.0.2.10", "port": 104}]
    assert "7 match(es)" in query["steps_to_reproduce"]
    tls = by_place[("2001:db8::7", 2762, "tls-certificate-self-signed")]
    assert tls["endpoints"] == [{"protocol": "dicom-tls", "host": "2001:db8::7", "port": 2762}]
    assert tls["severity"] == "Info"
    assert "cwe" not in tls  # its references name no CWE
    web = by_place[("192.0.2.10", 8042, "web-orthanc-rest-open")]
    assert web["endpoints"][0]["protocol"] == "http"
    assert {SEVERITY[s] for s in Severity} == set(PARSER["severity"])


def test_descriptions_hold_no_time_no_scan_id_and_no_evidence():
    scan_id = str(uuid.uuid4())
    report = weekly_report(start=WEEK_1, scan_id=scan_id)
    text = render_text(report, "defectdojo")
    assert scan_id not in text
    assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}", text)  # no instant anywhere
    evidence = {f.evidence for r in report.results for f in r.findings}
    for finding in json.loads(text)["findings"]:
        assert PEER_WORDS not in finding["description"]
        assert not any(e in finding["description"] for e in evidence)
        assert "match(es)" not in finding["description"]  # counts change weekly
        assert finding["vuln_id_from_tool"] in finding["description"]
        assert str(finding["endpoints"][0]["port"]) in finding["description"]


def test_reimport_matches_last_weeks_findings_and_closes_the_fixed_one():
    """Week 2: another scan id, other times and counts, another order, and the web API on
    192.0.2.10:8042 fixed. DefectDojo matches on the hash: every finding still there
    matches last week's, and only the fixed endpoint's findings are left to close."""
    week_1 = parse_as_defectdojo(dojo(weekly_report(start=WEEK_1, matches=7)))
    fixed = weekly_report(start=WEEK_2, matches=9, reverse=True)
    still_open = tuple(r for r in fixed.results if r.port != 8042)
    week_2_report = ScanReport(header=fixed.header, results=still_open, summary=fixed.summary)
    week_2 = parse_as_defectdojo(dojo(week_2_report))
    old = {hash_code(f): f for f in week_1}
    new = {hash_code(f): f for f in week_2}
    assert len(old) == len(week_1)  # no two findings of one report merge
    assert set(new) <= set(old)
    closed = [old[h] for h in set(old) - set(new)]
    assert sorted(f["vuln_id_from_tool"] for f in closed) == [
        "web-orthanc-dicomweb-plugin",
        "web-orthanc-rest-open",
    ]
    assert {f["endpoints"][0]["port"] for f in closed} == {8042}
    for code, finding in new.items():
        assert old[code]["unique_id_from_tool"] == finding["unique_id_from_tool"]
        assert old[code]["vuln_id_from_tool"] == finding["vuln_id_from_tool"]


def test_unique_ids_are_sarifs_fingerprints():
    report = weekly_report(start=WEEK_1)
    sarif = json.loads(render_text(report, "sarif"))
    fingerprints = {r["partialFingerprints"][FINGERPRINT_NAME] for r in sarif["runs"][0]["results"]}
    unique = [f["unique_id_from_tool"] for f in dojo(report)["findings"]]
    assert len(unique) == len(set(unique))
    assert set(unique) == fingerprints


def test_the_date_is_the_probes_else_the_scans_start():
    start = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)
    echo = catalogue.DICOM_ECHO_UNAUTHENTICATED.found("C-ECHO")
    probed = endpoint(
        "192.0.2.20",
        104,
        Protocol.DIMSE,
        Exposure.ECHO,
        echo,
        probed_at="2026-12-01T00:00:01.250+00:00",
    )
    unprobed = endpoint("192.0.2.21", 104, Protocol.DIMSE, Exposure.ECHO, echo)
    base = weekly_report(start=start)
    report = ScanReport(header=base.header, results=(probed, unprobed), summary=base.summary)
    dates = {f["endpoints"][0]["host"]: f["date"] for f in dojo(report)["findings"]}
    assert dates == {"192.0.2.20": "2026-12-01", "192.0.2.21": "2026-11-30"}


def test_accepted_findings_use_defectdojos_flags():
    document = dojo(weekly_report(start=WEEK_1))
    by_id = {
        f["vuln_id_from_tool"]: f
        for f in document["findings"]
        if f["endpoints"][0]["host"] == "192.0.2.11"
    }
    held = by_id["dicom-worklist-offered"]
    assert held["risk_accepted"] is True
    assert held["active"] is False
    assert held["severity_justification"] == (
        "Risk accepted (until 2999-12-31): Worklist bridge behind a firewall, CHG-1234"
    )
    lapsed = by_id["dicom-storage-accepted"]
    assert "risk_accepted" not in lapsed
    assert "active" not in lapsed
    assert lapsed["severity_justification"].startswith("Acceptance lapsed (until 2020-01-31)")
    others = [f for f in document["findings"] if f["endpoints"][0]["host"] != "192.0.2.11"]
    assert others
    assert all("risk_accepted" not in f for f in others)


def test_the_same_findings_write_the_same_bytes_in_any_order():
    scan_id = str(uuid.uuid4())
    forward = render_text(weekly_report(start=WEEK_1, scan_id=scan_id), "defectdojo")
    backward = render_text(weekly_report(start=WEEK_1, scan_id=scan_id, reverse=True), "defectdojo")
    assert forward == backward
    hosts = [f["endpoints"][0]["host"] for f in json.loads(forward)["findings"]]
    assert hosts[0] == "192.0.2.10"
    assert hosts[-1] == "2001:db8::7"


def test_it_streams_like_the_other_writers_and_writes_at_finish():
    report = weekly_report(start=WEEK_1)
    stream = io.StringIO()
    writer = make_writer("defectdojo", stream)
    writer.start(report.header)
    for result in report.results:
        writer.endpoint(result)
    assert stream.getvalue() == ""
    writer.finish(report.summary)
    document = json.loads(stream.getvalue())
    assert document["name"] == "exposcan"
    assert document["type"] == "exposcan"
    assert document["description"] == (
        "Site: North campus\nOwner: Example Hospital IT Security\nAuthorisation: CHG-2026-0042"
    )
    assert stream.getvalue() == render_text(report, "defectdojo")
