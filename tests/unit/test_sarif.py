"""SARIF 2.1.0 from whole reports: valid against the OASIS schema, rules from the catalogue,
fingerprints that survive the next scan, the scan id, and accepted findings suppressed."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime

import jsonschema
import pytest

from exposcan import findings as catalogue
from exposcan.report import FORMATS
from exposcan.report.sarif import (
    FINGERPRINT_NAME,
    SECURITY_SEVERITY,
    endpoint_uri,
    finding_key,
    reference_url,
)
from exposcan.results import EndpointResult, Finding
from exposcan.summary import ScanReport
from exposcan.vocabulary import Exposure, Protocol, Severity
from tests.support.sarif_schema import assert_valid_sarif, sarif_schema, sarif_validator
from tests.support.synthetic_reports import PEER_WORDS, endpoint, render_text, weekly_report

WEEK_1 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
WEEK_2 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def sarif(report: ScanReport) -> dict:
    document: dict = json.loads(render_text(report, "sarif"))
    return document


def results_by_place(document: dict) -> dict[tuple[str, str], dict]:
    return {
        (r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], r["ruleId"]): r
        for r in document["runs"][0]["results"]
    }


def test_the_schema_is_the_oasis_2_1_0_schema():
    schema = sarif_schema()
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    assert schema["properties"]["version"]["enum"] == ["2.1.0"]


def test_a_report_is_valid_sarif_2_1_0():
    document = sarif(weekly_report(start=WEEK_1))
    assert_valid_sarif(document)
    assert document["version"] == "2.1.0"
    assert len(document["runs"]) == 1


def test_the_validator_rejects_what_the_schema_forbids():
    """The check above can fail: a level SARIF does not know, a result without a
    message, a key the schema does not allow, a fingerprint that is not a string."""
    good = sarif(weekly_report(start=WEEK_1))
    broken = []
    for change in ("level", "message", "extra", "fingerprint"):
        document = copy.deepcopy(good)
        run = document["runs"][0]
        if change == "level":
            run["results"][0]["level"] = "fatal"
        elif change == "message":
            del run["results"][0]["message"]
        elif change == "extra":
            run["results"][0]["severity"] = "high"
        else:
            run["results"][0]["partialFingerprints"][FINGERPRINT_NAME] = 7
        broken.append(document)
    validator = sarif_validator()
    for document in broken:
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(document)


def test_one_rule_per_finding_id_described_by_the_catalogue():
    document = sarif(weekly_report(start=WEEK_1))
    run = document["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [rule["id"] for rule in rules]
    assert len(ids) == len(set(ids))
    assert set(ids) == {r["ruleId"] for r in run["results"]}
    order = list(catalogue.CATALOGUE)
    assert ids == sorted(ids, key=order.index)  # catalogue order, whatever came first
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    for rule in rules:
        entry = catalogue.CATALOGUE[rule["id"]]
        assert rule["shortDescription"]["text"] == entry.title
        assert rule["help"]["text"] == (
            entry.remediation or "Informational: no remediation needed."
        )
        assert rule["properties"]["security-severity"] == SECURITY_SEVERITY[entry.severity]
        assert rule["properties"]["tags"][0] == "security"
        assert float(rule["properties"]["security-severity"]) <= 10.0
    by_id = {rule["id"]: rule for rule in rules}
    query = by_id["dicom-query-matches"]
    assert query["properties"]["security-severity"] == "9.5"
    assert query["defaultConfiguration"]["level"] == "error"
    assert query["properties"]["tags"] == ["security", "dicom", "pacs"]
    # The first reference that names a page: DICOM PS3.4 (its part page).
    assert (
        query["helpUri"] == "https://dicom.nema.org/medical/dicom/current/output/html/part04.html"
    )
    assert by_id["web-orthanc-rest-open"]["helpUri"] == (
        "https://orthanc.uclouvain.be/book/faq/security.html"
    )
    assert by_id["tls-certificate-self-signed"]["properties"]["tags"] == ["security", "tls"]
    assert by_id["dicom-echo-unauthenticated"]["properties"]["security-severity"] == "5.0"


def test_every_catalogued_reference_that_names_a_page_becomes_its_url():
    for entry in catalogue.CATALOGUE.values():
        for reference in entry.references:
            url = reference_url(reference)
            if reference.startswith(("DICOM PS3.", "CWE-", "RFC ", "https://")):
                assert (url or "").startswith("https://"), reference
    assert reference_url("CWE-306: Missing Authentication") == (
        "https://cwe.mitre.org/data/definitions/306.html"
    )
    assert reference_url("RFC 8446 §4.3.2 (CertificateRequest)") == (
        "https://www.rfc-editor.org/rfc/rfc8446"
    )
    assert reference_url("a vendor's manual") is None


def test_one_result_per_endpoint_and_finding_located_at_the_endpoint():
    report = weekly_report(start=WEEK_1)
    run = sarif(report)["runs"][0]
    expected = {(endpoint_uri(r), f.id) for r in report.results for f in r.findings}
    assert set(results_by_place(sarif(report))) == expected
    assert len(run["results"]) == len(expected)
    tls = results_by_place(sarif(report))[
        ("dicom-tls://[2001:db8::7]:2762", "tls-certificate-self-signed")
    ]
    (logical,) = tls["locations"][0]["logicalLocations"]
    assert logical == {
        "name": "[2001:db8::7]:2762",
        "fullyQualifiedName": "dicom-tls://[2001:db8::7]:2762",
        "kind": "resource",
    }
    assert tls["level"] == "note"


def test_messages_hold_the_fixed_title_and_peer_words_only_evidence():
    document = sarif(weekly_report(start=WEEK_1))
    echo = results_by_place(document)[("dicom://192.0.2.10:104", "dicom-echo-unauthenticated")]
    assert echo["message"]["text"] == (
        f"{catalogue.DICOM_ECHO_UNAUTHENTICATED.title} (dicom://192.0.2.10:104)"
    )
    assert PEER_WORDS in echo["properties"]["evidence"]
    for result in document["runs"][0]["results"]:
        assert PEER_WORDS not in result["message"]["text"]
    for rule in document["runs"][0]["tool"]["driver"]["rules"]:
        assert PEER_WORDS not in json.dumps(rule)


def test_an_old_reports_peer_title_is_replaced_by_the_catalogue_title():
    old = Finding(
        id="dicom-stock-ae-title",
        severity=Severity.HIGH,
        title="The called AE title is a shipped default: 'PEERTITLE'",
        evidence="stock title 'PEERTITLE' was accepted",
    )
    result = endpoint("192.0.2.9", 104, Protocol.DIMSE, Exposure.ECHO, old)
    base = weekly_report(start=WEEK_1)
    report = ScanReport(header=base.header, results=(result,), summary=base.summary)
    document = sarif(report)
    assert_valid_sarif(document)
    (sarif_result,) = document["runs"][0]["results"]
    assert "PEERTITLE" not in sarif_result["message"]["text"]
    assert "PEERTITLE" in sarif_result["properties"]["evidence"]


def test_fingerprints_survive_the_next_scan_and_tell_endpoints_apart():
    """Two weeks: another scan id, other times, other evidence counts, another order."""
    week_1 = sarif(weekly_report(start=WEEK_1, scan_id=str(uuid.uuid4()), matches=7))
    week_2 = sarif(weekly_report(start=WEEK_2, scan_id=str(uuid.uuid4()), matches=9, reverse=True))
    one, two = results_by_place(week_1), results_by_place(week_2)
    assert set(one) == set(two)
    assert week_1 != week_2  # the scans do differ
    prints = set()
    for place, result in one.items():
        fingerprint = result["partialFingerprints"][FINGERPRINT_NAME]
        assert fingerprint == two[place]["partialFingerprints"][FINGERPRINT_NAME]
        assert len(fingerprint) == 64
        assert int(fingerprint, 16) >= 0
        prints.add(fingerprint)
    # Distinct per (endpoint, finding): the same finding on two endpoints differs.
    assert len(prints) == len(one)
    assert (
        one[("dicom://192.0.2.10:104", "dicom-echo-unauthenticated")]["partialFingerprints"]
        != one[("dicom-tls://[2001:db8::7]:2762", "dicom-echo-unauthenticated")][
            "partialFingerprints"
        ]
    )


def test_a_port_that_moved_to_tls_keeps_its_fingerprint():
    def on(protocol: Protocol, host: str = "192.0.2.5") -> EndpointResult:
        return endpoint(host, 2762, protocol, Exposure.ECHO)

    echo = catalogue.DICOM_ECHO_UNAUTHENTICATED.found("C-ECHO")
    assert finding_key(on(Protocol.DIMSE), echo) == finding_key(on(Protocol.DIMSE_TLS), echo)
    assert finding_key(on(Protocol.DIMSE), echo) != finding_key(on(Protocol.HTTP), echo)
    # The host as the engine names it: an IPv4-mapped spelling is the same endpoint.
    assert finding_key(on(Protocol.DIMSE, "::ffff:192.0.2.5"), echo) == finding_key(
        on(Protocol.DIMSE), echo
    )
    other = catalogue.DICOM_AE_TITLE_NOT_CHECKED.found("random title")
    assert finding_key(on(Protocol.DIMSE), echo) != finding_key(on(Protocol.DIMSE), other)


def test_the_run_names_the_scan_its_site_and_its_times():
    scan_id = str(uuid.uuid4())
    run = sarif(weekly_report(start=WEEK_1, scan_id=scan_id))["runs"][0]
    assert run["automationDetails"] == {"id": f"exposcan/North-campus/{scan_id}", "guid": scan_id}
    (invocation,) = run["invocations"]
    assert invocation["startTimeUtc"] == "2026-11-24T09:00:00.000Z"
    assert invocation["endTimeUtc"] == "2026-11-24T09:00:06.000Z"
    assert invocation["executionSuccessful"] is True
    driver = run["tool"]["driver"]
    assert driver["name"] == "exposcan"
    assert driver["version"]
    unnamed = sarif(weekly_report(start=WEEK_1, scan_id=scan_id, site=None))["runs"][0]
    assert unnamed["automationDetails"]["id"] == f"exposcan/{scan_id}"


def test_a_report_without_a_scan_id_is_still_valid():
    report = weekly_report(start=WEEK_1)
    header = {k: v for k, v in report.header.items() if k != "scan_id"}
    document = sarif(ScanReport(header=header, results=report.results, summary=report.summary))
    assert_valid_sarif(document)
    assert document["runs"][0]["automationDetails"] == {"id": "exposcan/North-campus/"}


def test_accepted_findings_are_suppressed_and_lapsed_ones_say_so():
    places = results_by_place(sarif(weekly_report(start=WEEK_1)))
    (held,) = places[("dicom://192.0.2.11:11112", "dicom-worklist-offered")]["suppressions"]
    assert held == {
        "kind": "external",
        "status": "accepted",
        "justification": "Worklist bridge behind a firewall, CHG-1234",
        "properties": {"expires": "2999-12-31"},
    }
    (lapsed,) = places[("dicom://192.0.2.11:11112", "dicom-storage-accepted")]["suppressions"]
    assert lapsed["status"] == "rejected"  # expired 2020-01-31, long before the probe
    assert lapsed["justification"] == "Modality migration, CHG-0042"
    unaccepted = places[("dicom://192.0.2.10:104", "dicom-query-matches")]
    assert "suppressions" not in unaccepted


def test_the_same_report_renders_the_same_bytes():
    report = weekly_report(start=WEEK_1, scan_id=str(uuid.uuid4()))
    assert render_text(report, "sarif") == render_text(report, "sarif")


def test_defectdojo_is_a_format():
    assert "defectdojo" in FORMATS
    assert "sarif" in FORMATS
