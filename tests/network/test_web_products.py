"""Web servers unlike the known ones (issue 14, item 3), on loopback imitations.

A server that answers with a bare status line and a close is a web server; an
authentication wall in front of everything but the DICOMweb root hides an open QIDO-RS,
which is asked and reported; PixelMed's web server, Conquest's web interface and the
Horos and OsiriX portals are named from the product table, as OHIF, Kheops, Dicoogle and
dcm4chee-arc's UI are; the peers the probe knew before gain no product and no exposure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from exposcan.classify_web import classify_web
from exposcan.options import ScanOptions, Timeouts
from exposcan.probes.web import (
    MAX_BODY_BYTES,
    MAX_REQUESTS,
    Outcome,
    Product,
    UnsafePathError,
    Viewer,
    WebObservation,
    WebService,
    check_path,
    make_web_session,
    probe_web,
)
from exposcan.probes.web.dicomweb import DICOMWEB_ROOTS
from exposcan.probes.web.markers import WebProductDataError, parse_table, realms, viewers
from exposcan.probes.web.observation import VIEWER_PRODUCT
from exposcan.results import Verdict
from exposcan.vocabulary import Exposure, Protocol, Severity, Status
from tests.support import web_peers as wp
from tests.support import web_products as wpr
from tests.support.synthetic import MARKER, find_synthetic
from tests.support.web_peers import HOST, RETRIEVAL, WEB_SYNTHETIC, WebPeer

QUICK = ScanOptions(timeouts=Timeouts(connect=1, read=1, release=1, endpoint=4))
PATIENT_LIST = "/?requestType=PATIENTLIST"
NEW_VIEWERS = {
    Viewer.PIXELMED_WEB,
    Viewer.CONQUEST_WEB,
    Viewer.HOROS_WEB_PORTAL,
    Viewer.OSIRIX_WEB_PORTAL,
}
NEW_PRODUCTS = {Product.PIXELMED, Product.CONQUEST, Product.HOROS, Product.OSIRIX}


@pytest.fixture
async def raw_peers() -> AsyncIterator[wpr.RawPeers]:
    peers = wpr.RawPeers()
    try:
        yield peers
    finally:
        await peers.close()


async def scan(port: int) -> tuple[WebObservation, Verdict]:
    async with make_web_session(QUICK) as session:
        observation = await probe_web(HOST, port, QUICK, session=session)
    verdict = classify_web(observation)
    assert_clean(observation, verdict)
    return observation, verdict


def assert_clean(observation: WebObservation, verdict: Verdict) -> None:
    """Bounded, no retrieval (PixelMed's patient list is the one listing query), and no
    synthetic value in the observation, the verdict or the report row."""
    assert len(observation.requests) <= MAX_REQUESTS
    for record in observation.requests:
        assert record.bytes_read <= MAX_BODY_BYTES
        if record.path != PATIENT_LIST:
            assert not RETRIEVAL.search(record.path), record.path
    text = wpr.output_text(observation, verdict)
    assert not find_synthetic(text), find_synthetic(text)
    assert not find_synthetic(text, WEB_SYNTHETIC), find_synthetic(text, WEB_SYNTHETIC)
    assert MARKER not in text


def assert_log_clean(peer: WebPeer) -> None:
    asked = [p for p in peer.paths() if p != PATIENT_LIST]
    assert [p for p in asked if RETRIEVAL.search(p)] == []
    assert all(a.method == "GET" for a in peer.log)


def ids(verdict: Verdict) -> dict[str, Severity]:
    return {f.id: f.severity for f in verdict.findings}


# --------------------------------------------------------------------------- the table


def test_the_table_names_every_viewer_once_with_its_product_and_source():
    table = viewers()
    assert sorted(e.viewer for e in table) == sorted(Viewer)  # each one, once
    for entry in table:
        assert entry.product == VIEWER_PRODUCT[entry.viewer]
        assert len(entry.source) > 20
        assert entry.markers or entry.redirects
    assert {r.product for r in realms()} >= {Product.ORTHANC, Product.OSIRIX}


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('[[viewer]]\nid = "nope"\nproduct = "Orthanc"\nmarkers = ["x"]\nsource = "s"', "Viewer"),
        ('[[viewer]]\nid = "ohif"\nproduct = "Orthanc"\nmarkers = ["x"]\nsource = "s"', "ohif"),
        ('[[viewer]]\nid = "ohif"\nproduct = "OHIF Viewer"\nmarkers = ["("]\nsource = "s"', "bad"),
        ('[[viewer]]\nid = "ohif"\nproduct = "OHIF Viewer"\nmarkers = ["x"]', "source"),
        ('[[viewer]]\nid = "ohif"\nproduct = "OHIF Viewer"\nsource = "s"', "no marker"),
        (
            '[[viewer]]\nid = "ohif"\nproduct = "OHIF Viewer"\nmarkers = ["x"]\nsource = "s"\n'
            '[[viewer]]\nid = "ohif"\nproduct = "OHIF Viewer"\nmarkers = ["y"]\nsource = "s"',
            "twice",
        ),
        ('[[realm]]\nproduct = "Orthanc"\npattern = "x"\nsource = "s"\nextra = 1', "unknown"),
    ],
)
def test_a_malformed_table_is_refused_naming_the_entry(text, complaint):
    with pytest.raises(WebProductDataError, match=complaint):
        parse_table(text)


@pytest.mark.parametrize(
    "path",
    [
        "/x?requestType=PATIENTLIST",
        "/?requestType=PATIENTLIST&limit=1",
        "/?requesttype=PATIENTLIST",
        "/?requestType=patientlist",
        "/?requestType=STUDYLIST",
        "/?requestType=WADO",
        "/wado?requestType=PATIENTLIST",
        "/%3FrequestType=PATIENTLIST",
    ],
)
def test_the_guard_admits_the_patient_list_at_the_root_only(path):
    assert check_path(PATIENT_LIST) == PATIENT_LIST
    with pytest.raises(UnsafePathError):
        check_path(path)


# --------------------------------------------------------------------------- bare status


@pytest.mark.parametrize("serve_root", [True, False])
async def test_a_bare_status_line_and_a_close_is_a_web_server(raw_peers, serve_root):
    peer = await raw_peers.start("bare", wpr.bare_status_routes(serve_root))
    observation, verdict = await scan(peer.port)
    assert observation.status is Status.SUCCESS  # not connection-closed
    assert observation.protocol is Protocol.HTTP
    assert not observation.scheme_fallback
    baseline = observation.requests[0]
    assert (baseline.purpose, baseline.status, baseline.bare_status) == ("baseline", 404, True)
    assert baseline.error is None
    bare = sum(1 for r in observation.requests if r.bare_status)
    assert bare == len(observation.requests) - (1 if serve_root else 0)
    assert observation.detail == (
        f"{bare} answer(s) were a bare status line, then the connection closed"
    )
    assert verdict.exposure is Exposure.NONE
    assert verdict.findings == ()
    assert observation.product is None
    assert observation.checks == ()
    assert len(peer.log) == len(observation.requests)
    assert_log_clean(peer)


async def test_a_close_without_a_status_line_is_still_closed_without_an_answer(raw_peers):
    peer = await raw_peers.start("hang-up", lambda path: b"")
    observation, verdict = await scan(peer.port)
    assert observation.status is Status.CONNECTION_CLOSED
    assert not any(r.bare_status for r in observation.requests)
    assert verdict.exposure is Exposure.NONE


# --------------------------------------------------------------------------- PixelMed


@pytest.mark.parametrize("patients", [4, 0])
async def test_pixelmed_imitation_is_named_and_its_patients_counted(raw_peers, patients):
    peer = await raw_peers.start("pixelmed", wpr.pixelmed_routes(patients))
    observation, verdict = await scan(peer.port)
    assert observation.product == Product.PIXELMED
    assert observation.viewers == (Viewer.PIXELMED_WEB,)
    (check,) = [c for c in observation.checks if c.service == WebService.PIXELMED_PATIENT_LIST]
    assert (check.path, check.patients, check.cap) == (PATIENT_LIST, patients, None)
    assert peer.paths().count(PATIENT_LIST) == 1
    assert [p for p in peer.paths() if "requestType" in p] == [PATIENT_LIST]
    assert verdict.fingerprint is not None
    assert verdict.fingerprint.product == "PixelMed"
    if patients:
        assert check.outcome is Outcome.LISTED
        assert verdict.exposure is Exposure.QUERY
        assert ids(verdict) == {"web-pixelmed-patient-list-open": Severity.CRITICAL}
        assert "4 patients listed" in verdict.findings[0].evidence
        assert verdict.matches is not None
        assert (verdict.matches.count, verdict.matches.level) == (4, "PATIENT")
        assert not verdict.matches.cap_hit
    else:
        assert check.outcome is Outcome.EMPTY
        assert verdict.exposure is Exposure.ECHO
        assert ids(verdict) == {"web-pixelmed-patient-list-open-none-listed": Severity.HIGH}
    assert any(r.bare_status for r in observation.requests)  # its 404s are bare
    assert_log_clean(peer)


# --------------------------------------------------------------------------- walls


@pytest.mark.parametrize("root", ["/dicom-web", "/dcm4chee-arc/aets/DCM4CHEE/rs"])
async def test_a_wall_with_an_open_dicomweb_location_is_the_open_qido_finding(web_peers, root):
    peer = await web_peers.start("nginx-wall", wpr.nginx_wall_open_qido, 3, root)
    observation, verdict = await scan(peer.port)
    assert observation.auth_wall
    assert verdict.exposure is Exposure.QUERY
    assert ids(verdict) == {"web-dicomweb-qido-open": Severity.CRITICAL}
    evidence = verdict.findings[0].evidence
    assert f"GET {root}/studies?limit=1" in evidence
    assert "every other path asked for authentication" in evidence
    assert verdict.matches is not None
    assert verdict.matches.count == 1
    assert peer.paths().count(f"{root}/studies?limit=1") == 1
    assert_log_clean(peer)


async def test_a_wall_everywhere_asks_each_qido_root_once_and_proves_nothing(web_peers):
    peer = await web_peers.start("router", wp.router_basic_auth)
    observation, verdict = await scan(peer.port)
    qido = [p for p in peer.paths() if p.endswith("/studies?limit=1")]
    expected = [f"{r}/studies?limit=1" for r in DICOMWEB_ROOTS]
    assert qido == [*expected, "/dcm4chee-arc/aets/DCM4CHEE/rs/studies?limit=1"]
    assert peer.paths().count("/wado") == 1
    assert verdict.exposure is Exposure.NONE
    assert ids(verdict) == {"web-auth-required-unidentified": Severity.INFO}
    assert observation.checks == ()  # every refusal was the wall's: nothing is proven
    assert_log_clean(peer)


# --------------------------------------------------------------------------- products


@pytest.mark.parametrize(
    ("factory", "viewer", "product", "exposure"),
    [
        (wpr.conquest_site, Viewer.CONQUEST_WEB, Product.CONQUEST, Exposure.NONE),
        (wpr.horos_portal, Viewer.HOROS_WEB_PORTAL, Product.HOROS, Exposure.NONE),
        (wpr.osirix_portal, None, Product.OSIRIX, Exposure.PROTECTED),
        (wp.ohif_shell, Viewer.OHIF, Product.OHIF, Exposure.NONE),
        (wp.kheops, Viewer.KHEOPS_UI, Product.KHEOPS, Exposure.PROTECTED),
        (wp.dicoogle, Viewer.DICOOGLE_UI, Product.DICOOGLE, Exposure.NONE),
        (wp.dcm4chee_arc, Viewer.DCM4CHEE_UI, Product.DCM4CHEE, Exposure.QUERY),
    ],
)
async def test_each_product_is_named_from_the_table(web_peers, factory, viewer, product, exposure):
    peer = await web_peers.start(factory.__name__, factory)
    observation, verdict = await scan(peer.port)
    assert observation.product == product
    if viewer is not None:
        assert viewer in observation.viewers
    assert verdict.exposure is exposure
    assert_log_clean(peer)


async def test_conquest_version_comes_from_its_top_page(web_peers):
    peer = await web_peers.start("conquest", wpr.conquest_site, "1.5.0c")
    observation, verdict = await scan(peer.port)
    assert (observation.product, observation.version) == (Product.CONQUEST, "1.5.0c")
    assert peer.paths().count("/cgi-bin/dgate") == 1
    assert ids(verdict) == {"web-viewer-present": Severity.INFO}
    assert "Conquest web interface" in verdict.findings[0].evidence


async def test_osirix_realm_names_the_portal_behind_its_wall(web_peers):
    peer = await web_peers.start("osirix", wpr.osirix_portal)
    observation, verdict = await scan(peer.port)
    assert observation.auth_wall
    assert observation.auth_schemes == ("Basic",)
    assert ids(verdict) == {"web-auth-required": Severity.INFO}
    assert "product: OsiriX" in verdict.findings[0].evidence


@pytest.mark.parametrize(
    "factory",
    [
        wp.router_basic_auth,
        wp.wado_forbidden,
        wp.dicomweb_guarded,
        wp.login_redirect,
        wp.wado_uri_only,
        wp.dicomweb_json_everywhere,
        wp.orthanc_behind_proxy,
        wp.orthanc_default_password,
    ],
)
async def test_the_known_peers_gain_no_new_product(web_peers, factory):
    peer = await web_peers.start(factory.__name__, factory)
    observation, _verdict = await scan(peer.port)
    assert not NEW_VIEWERS & set(observation.viewers)
    assert observation.product not in NEW_PRODUCTS
    assert not any(c.service == WebService.PIXELMED_PATIENT_LIST for c in observation.checks)
    assert not any(r.bare_status for r in observation.requests)
    assert PATIENT_LIST not in peer.paths()
    assert "/cgi-bin/dgate" not in peer.paths()
    assert_log_clean(peer)
