"""Conquest's patient list, counted and never kept.

The imitation (tests/support/web_products.py, ``conquest_site(patients=N)``) answers
``cgi-bin/dgate?mode=querypatients`` as dgate.cpp (marcelvanherk/Conquest-DICOM-Server
019d7d5) does without a query: "List of all patients on local server", one row per
patient linking its studies. The probe asks it once the top page has shown Conquest.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import exposcan
from exposcan.probes.web.conquest import PATIENT_LIST
from exposcan.probes.web.safety import UnsafePathError, check_path
from tests.support.title_claims import web_result
from tests.support.web_products import ASKED, conquest_site

HOST = "127.0.14.8"


async def scan(app, tmp_path: Path) -> exposcan.EndpointResult:  # type: ignore[no-untyped-def]
    return await web_result(app, HOST, tmp_path)


def ids(result: exposcan.EndpointResult) -> set[str]:
    return {f.id for f in result.findings}


async def test_an_open_patient_list_is_a_query_exposure_with_its_rows_counted(tmp_path):
    app = conquest_site(patients=12)
    result = await scan(app, tmp_path)
    assert result.exposure is exposcan.Exposure.QUERY, result.detail
    assert result.matches is not None
    assert (result.matches.count, result.matches.level) == (12, "PATIENT")
    assert "web-conquest-patient-list-open" in ids(result)
    (finding,) = [f for f in result.findings if f.id == "web-conquest-patient-list-open"]
    assert "12 patients listed" in finding.evidence
    assert "conquest-patient-list" in result.services
    assert result.fingerprint is not None
    assert result.fingerprint.product == "Conquest"
    lists = [line for line in app[ASKED] if "mode=" in line]
    assert lists == [f"GET {PATIENT_LIST}"]  # once; no study, series or image page


async def test_a_windows_cgi_is_asked_by_its_own_name(tmp_path):
    """Most Conquest servers run on Windows, where the CGI is dgate.exe."""
    app = conquest_site(patients=3, exe=True)
    result = await scan(app, tmp_path)
    assert result.matches is not None
    assert result.matches.count == 3
    lists = [line for line in app[ASKED] if "mode=" in line]
    assert lists == ["GET /cgi-bin/dgate.exe?mode=querypatients"]


async def test_an_empty_database_is_still_an_open_list(tmp_path):
    result = await scan(conquest_site(patients=0), tmp_path)
    assert "web-conquest-patient-list-open-none-listed" in ids(result)
    assert result.exposure is exposcan.Exposure.ECHO


async def test_a_guarded_list_is_not_an_exposure(tmp_path):
    result = await scan(conquest_site(patients=12, list_status=401), tmp_path)
    assert not any(f.id.startswith("web-conquest-patient-list") for f in result.findings)
    assert result.matches is None


async def test_a_top_page_without_the_list_changes_nothing(tmp_path):
    """dgate answering every mode with its top page (the imitation's default): no list."""
    result = await scan(conquest_site(), tmp_path)
    assert not any(f.id.startswith("web-conquest-patient-list") for f in result.findings)
    assert result.matches is None


@pytest.mark.parametrize(
    "path",
    [
        "/cgi-bin/dgate?mode=querystudies",
        "/cgi-bin/dgate?mode=querypatients&query=1",
        "/cgi-bin/dgate.exe?mode=querystudies",
        "/cgi-bin/DGATE?mode=querypatients",
        "/cgi-bin/dgate?mode=queryallimages",
        "/?mode=querypatients",
    ],
)
def test_the_guard_admits_that_one_list_and_nothing_like_it(path):
    assert check_path(PATIENT_LIST) == PATIENT_LIST
    assert check_path("/cgi-bin/dgate.exe?mode=querypatients")
    with pytest.raises(UnsafePathError):
        check_path(path)
