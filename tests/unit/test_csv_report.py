"""CSV rows say which findings are accepted (an acceptance that lapsed counts again, so
it is not listed), when each endpoint was probed, and the scan's site and id."""

from __future__ import annotations

import csv
import io

from exposcan.report.convert import render
from tests.support.hospital_report import SCAN_ID, SITE, hospital_report


def rows() -> dict[str, dict[str, str]]:
    stream = io.StringIO()
    render(hospital_report(), "csv", stream)
    table = list(csv.DictReader(io.StringIO(stream.getvalue())))
    return {f"{r['host']}:{r['port']}": r for r in table}


def test_accepted_findings_are_listed_and_lapsed_ones_are_not():
    table = rows()
    held, lapsed = table["10.20.0.21:104"], table["10.20.0.22:104"]
    assert held["accepted_finding_ids"] == held["finding_ids"] != ""
    assert lapsed["finding_ids"] != ""
    assert lapsed["accepted_finding_ids"] == ""
    assert table["10.20.0.15:11112"]["accepted_finding_ids"] == ""


def test_every_row_names_the_scan_and_the_site():
    table = rows()
    assert {r["scan_id"] for r in table.values()} == {SCAN_ID}
    assert {r["site"] for r in table.values()} == {SITE}
    assert table["10.20.0.21:104"]["probed_at"] == "2026-12-01T02:00:01.250+00:00"
