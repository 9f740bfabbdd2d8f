"""Real PixelMed web server (Debian libpixelmed-java's DicomAndWebStorageServer), as a
stranger sees it: its index page names it, its patient list is counted (never kept), and
its bare 404s (a status line, then a close) are answers of a web server.

The server runs in a network namespace that holds only ``lo`` (it binds every address),
forwarded to 127.0.0.1; three synthetic patients are stored into it with ``storescu``
before the scan (the test's setup; the scan itself never stores).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exposcan.classify_web import classify_web
from exposcan.options import ScanOptions, Timeouts
from exposcan.probes.web import (
    MAX_REQUESTS,
    Outcome,
    Product,
    Viewer,
    WebService,
    make_web_session,
    probe_web,
)
from exposcan.vocabulary import Exposure, Severity, Status
from tests.support import web_products as wpr
from tests.support.synthetic import MARKER, find_synthetic
from tests.support.web_peers import HOST, RETRIEVAL

PATIENTS = 3
OPTIONS = ScanOptions(timeouts=Timeouts(connect=2, read=3, release=1, endpoint=8))


@pytest.fixture(scope="module")
def pixelmed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[wpr.PixelMedWeb]:
    with wpr.pixelmed_server(tmp_path_factory.mktemp("pixelmed"), PATIENTS) as server:
        yield server


async def test_real_pixelmed_web_server_lists_patients_to_a_stranger(pixelmed):
    async with make_web_session(OPTIONS) as session:
        observation = await probe_web(HOST, pixelmed.web_port, OPTIONS, session=session)
    verdict = classify_web(observation)

    assert observation.status is Status.SUCCESS
    assert observation.product == Product.PIXELMED
    assert observation.viewers == (Viewer.PIXELMED_WEB,)
    (check,) = [c for c in observation.checks if c.service == WebService.PIXELMED_PATIENT_LIST]
    assert (check.outcome, check.patients) == (Outcome.LISTED, PATIENTS)
    assert verdict.exposure is Exposure.QUERY
    assert {f.id: f.severity for f in verdict.findings} == {
        "web-pixelmed-patient-list-open": Severity.CRITICAL
    }
    assert f"{PATIENTS} patients listed" in verdict.findings[0].evidence
    assert verdict.matches is not None
    assert (verdict.matches.count, verdict.matches.level) == (PATIENTS, "PATIENT")

    # Its baseline and every path it does not serve: a bare 404 status line, then a close.
    baseline = observation.requests[0]
    assert (baseline.status, baseline.bare_status, baseline.error) == (404, True, None)
    assert observation.detail is not None
    assert "bare status line" in observation.detail

    sent = [r.path for r in observation.requests]
    assert len(sent) <= MAX_REQUESTS
    assert [p for p in sent if "requestType" in p] == ["/?requestType=PATIENTLIST"]
    assert not [p for p in sent if p != "/?requestType=PATIENTLIST" and RETRIEVAL.search(p)]
    text = wpr.output_text(observation, verdict)
    assert not find_synthetic(text), find_synthetic(text)
    assert MARKER not in text
