"""SARIF and DefectDojo from real scans of the embedded lab (loopback), rendered through
:func:`exposcan.report.convert.render`: valid, keyed as DefectDojo's parser takes them,
identities the same on the next scan, and no synthetic patient value anywhere."""

from __future__ import annotations

import io
import json
from pathlib import Path

import exposcan
from exposcan.lab import running_lab
from exposcan.report.convert import render
from exposcan.report.sarif import FINGERPRINT_NAME
from exposcan.summary import ScanReport
from tests.support.sarif_schema import assert_valid_sarif

KEYS = json.loads(
    (Path(__file__).parents[1] / "support" / "data" / "defectdojo-generic-keys.json").read_text(
        encoding="utf-8"
    )
)
SYNTHETIC = ("EXPOSCAN-DEMO", "DEMO^")


def rendered(report: ScanReport, fmt: str) -> str:
    stream = io.StringIO()
    render(report, fmt, stream)
    text = stream.getvalue()
    for marker in SYNTHETIC:
        assert marker not in text, (fmt, marker)
    return text


async def test_two_lab_scans_render_valid_sarif_and_defectdojo_with_stable_ids(tmp_path):
    with running_lab() as lab:
        scope = tmp_path / "scope.toml"
        scope.write_text(lab.scope_toml(), encoding="utf-8")
        first = await exposcan.scan(scope, options=lab.scan_options())
        second = await exposcan.scan(scope, options=lab.scan_options())
    assert first.header["scan_id"] != second.header["scan_id"]

    sarif = [json.loads(rendered(report, "sarif")) for report in (first, second)]
    for document, report in zip(sarif, (first, second), strict=True):
        assert_valid_sarif(document)
        run = document["runs"][0]
        assert run["automationDetails"]["id"].endswith("/" + report.header["scan_id"])
        found = {f.id for r in report.results for f in r.findings}
        assert {rule["id"] for rule in run["tool"]["driver"]["rules"]} == found
        assert len(run["results"]) == sum(len(r.findings) for r in report.results)
    rule_ids = {r["ruleId"] for r in sarif[0]["runs"][0]["results"]}
    # The lab shows every level: a query that matches, storage, an open web API.
    assert {"dicom-query-matches", "dicom-storage-accepted", "dicom-echo-unauthenticated"} <= (
        rule_ids
    )
    assert any(rule.startswith("web-") for rule in rule_ids)

    def prints(document: dict) -> dict[tuple[str, str], str]:
        return {
            (
                r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                r["ruleId"],
            ): r["partialFingerprints"][FINGERPRINT_NAME]
            for r in document["runs"][0]["results"]
        }

    assert prints(sarif[0]) == prints(sarif[1])

    dojo = [json.loads(rendered(report, "defectdojo")) for report in (first, second)]
    allowed = set(KEYS["finding_allowed"]) | set(KEYS["finding_required"])
    allowed |= set(KEYS["finding_popped"])
    for document in dojo:
        assert set(document) <= set(KEYS["top_level"])
        for finding in document["findings"]:
            assert set(finding) <= allowed, set(finding) - allowed
            assert finding["severity"] in KEYS["severity"]
            for endpoint in finding["endpoints"]:
                assert set(endpoint) <= set(KEYS["endpoint"])
                assert endpoint["host"] == "127.0.0.1"

    def identities(document: dict) -> list[tuple[str, str, str]]:
        return [
            (f["unique_id_from_tool"], f["title"], f["description"]) for f in document["findings"]
        ]

    # What a reimport matches on is the same for the same network, in the same order.
    assert identities(dojo[0]) == identities(dojo[1])
    assert set(prints(sarif[0]).values()) == {f[0] for f in identities(dojo[0])}


async def test_a_report_read_back_from_jsonl_renders_the_same_bytes(tmp_path):
    """``exposcan report`` renders the JSONL read back: what it writes for DefectDojo and
    SARIF is what the scan itself would have written."""
    with running_lab() as lab:
        scope = tmp_path / "scope.toml"
        scope.write_text(lab.scope_toml(), encoding="utf-8")
        report = await exposcan.scan(scope, options=lab.scan_options())
    jsonl = tmp_path / "scan.jsonl"
    report.write(jsonl, format="jsonl")
    again = exposcan.read_report(jsonl)
    assert again.header["scan_id"] == report.header["scan_id"]
    for fmt in ("defectdojo", "sarif"):
        assert rendered(again, fmt) == rendered(report, fmt), fmt
