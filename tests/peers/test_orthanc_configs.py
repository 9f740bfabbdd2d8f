"""exposcan's verdicts against real Orthanc in configurations the other tests lack
(``tests/support/peers_orthanc.py``): stores refused from strangers
(``DicomAlwaysAllowStore`` false), and the called AE title checked against a site's own
``DicomAet``.

Each is scanned as a new user would, ``exposcan.scan`` at default options, over the DICOM
port alone and over the DICOM port with Orthanc's HTTP port (whose ``/system`` names the
product and its DicomPort: host evidence for the DICOM verdict). What each grants a
stranger is asked first with DCMTK's clients and a pynetdicom association that proposes
storage and releases without a DIMSE message (``tests/support/peer_checks.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import exposcan
from exposcan.options import ScanOptions
from exposcan.product_notes import ORTHANC_STORE_NOTE
from exposcan.results import EndpointResult, Matches
from tests.support import peers_orthanc
from tests.support.peer_checks import FINDSCU, dcmtk, echo, evidence, ids, storage_context
from tests.support.peers import STORESCU, Peer
from tests.support.peers_orthanc import SITE_AET
from tests.support.scope_files import scope_text
from tests.support.synthetic import find_synthetic

DEFAULTS = ScanOptions()
BUDGET_ENDED = "the attempt budget (ae_attempts), not the peer, ended the search"
STORE_UNCONFIRMED = f"store unconfirmed: {ORTHANC_STORE_NOTE}"

orthanc_store_refused = peers_orthanc.orthanc_store_refused
orthanc_own_title = peers_orthanc.orthanc_own_title
orthanc_echo_refused = peers_orthanc.orthanc_echo_refused


async def scan(
    peer: Peer, tmp_path: Path, *, web: bool, options: ScanOptions = DEFAULTS
) -> tuple[EndpointResult, exposcan.ScanReport]:
    """The DICOM port's result, scanned alone or with the peer's HTTP port."""
    assert peer.http_port is not None
    scope = tmp_path / ("scope-web.toml" if web else "scope.toml")
    text = scope_text([peer.host], [peer.port])
    scope.write_text(text + (f"web_ports = [{peer.http_port}]\n" if web else ""), "utf-8")
    report = await exposcan.scan(scope, options=options)
    (result,) = [r for r in report.results if r.port == peer.port]
    assert not find_synthetic(json.dumps([r.to_dict() for r in report.results]))
    return result, report


# --- DicomAlwaysAllowStore false ---------------------------------------------------------


def test_orthanc_accepts_storage_contexts_and_then_refuses_the_store(orthanc_store_refused):
    """Independent of exposcan: the A-ASSOCIATE-AC accepts CT storage from a stranger, and
    a C-STORE of a synthetic instance it already holds (the fixture's own check, with
    DCMTK's storescu) ends in an A-ABORT."""
    peer = orthanc_store_refused
    assert "Echo Response (Success)" in echo(peer, "STRANGER", "ANY-SCP")
    assert storage_context(peer, "ANY-SCP") == 0  # accepted
    stored = dcmtk(
        str(STORESCU), "-v", "-aet", "STRANGER", "-aec", "ORTHANC",
        peer.host, str(peer.port), str(peer.files[0]),
    )  # fmt: skip
    # Orthanc 1.10 answers the C-STORE-RQ of an unknown peer with an A-ABORT, as it does
    # a C-FIND-RQ it does not allow: no C-STORE-RSP at all.
    assert "Store Response" not in stored, stored
    assert "Peer Aborted Association" in stored, stored


async def test_store_refused_orthanc_alone_is_store_as_its_association_shows(
    orthanc_store_refused, tmp_path
):
    """Seen from DICOM alone the peer is DCMTK-based, not named Orthanc: exposcan reports
    what the association showed (storage accepted) without the product's caveat."""
    result, _ = await scan(orthanc_store_refused, tmp_path, web=False)
    assert result.status is exposcan.Status.SUCCESS, result.detail
    assert result.exposure is exposcan.Exposure.STORE, result.detail
    assert "dicom-storage-accepted" in ids(result)
    assert result.fingerprint is not None
    assert (result.fingerprint.product, result.fingerprint.toolkit) == (None, "DCMTK")
    assert STORE_UNCONFIRMED not in (result.detail or "")


async def test_store_refused_orthanc_named_by_its_web_side_keeps_store_with_the_caveat(
    orthanc_store_refused, tmp_path
):
    """With its HTTP port, /system names Orthanc behind the DICOM port: the fingerprint says
    Orthanc, the verdict stays store (issue 14 item 6, decided in
    docs/decoys-and-products.md) and says the A-ASSOCIATE-AC alone cannot confirm it:
    here the store is in fact refused (the test above)."""
    peer = orthanc_store_refused
    result, report = await scan(peer, tmp_path, web=True)
    assert [(e.port, e.product) for e in report.evidence] == [(peer.port, "Orthanc")]
    assert result.fingerprint is not None
    assert result.fingerprint.product == "Orthanc"
    assert result.exposure is exposcan.Exposure.STORE, result.detail
    assert STORE_UNCONFIRMED in (result.detail or ""), result.detail
    assert evidence(result, "dicom-storage-accepted").endswith(ORTHANC_STORE_NOTE)


# --- DicomCheckCalledAet true, the site's own DicomAet ------------------------------------


def test_orthanc_with_its_own_title_refuses_every_other(orthanc_own_title):
    """Independent of exposcan: ORTHANC (the shipped title) is refused as an unknown called
    title; the site's title gets in from any calling title."""
    peer = orthanc_own_title
    refused = echo(peer, "STRANGER", "ORTHANC")
    assert "Called AE Title Not Recognized" in refused, refused
    assert "Echo Response (Success)" in echo(peer, "STRANGER", SITE_AET)


async def test_orthanc_with_its_own_title_is_protected_and_the_budget_ended_the_search(
    orthanc_own_title, tmp_path
):
    result, _ = await scan(orthanc_own_title, tmp_path, web=False)
    assert result.status is exposcan.Status.SUCCESS, result.detail
    assert result.exposure is exposcan.Exposure.PROTECTED, result.detail
    assert result.ae_title is None
    assert result.fingerprint is None
    assert result.attempts == DEFAULTS.ae_attempts
    checked = evidence(result, "dicom-called-ae-checked")
    assert "reason 7" in checked
    assert BUDGET_ENDED in checked


async def test_the_web_side_names_orthanc_but_not_its_title(orthanc_own_title, tmp_path):
    """/system names Orthanc behind the DICOM port, so ORTHANC is tried first; it is not
    the site's title: still protected, every attempt refused with reason 7."""
    peer = orthanc_own_title
    result, report = await scan(peer, tmp_path, web=True)
    assert [(e.port, e.product) for e in report.evidence] == [(peer.port, "Orthanc")]
    assert result.exposure is exposcan.Exposure.PROTECTED, result.detail
    assert result.ae_title is None
    assert result.attempts == DEFAULTS.ae_attempts
    assert "reason 7" in evidence(result, "dicom-called-ae-checked")


async def test_the_owner_with_the_site_title_sees_store_with_the_caveat(
    orthanc_own_title, tmp_path
):
    """Told the title (--ae-titles), exposcan gets what any holder of it gets: echo and
    storage accepted (DicomAlwaysAllowStore true, as shipped); with the web side, Orthanc
    is named and the caveat said."""
    options = ScanOptions(ae_titles=(SITE_AET,))
    result, _ = await scan(orthanc_own_title, tmp_path, web=True, options=options)
    assert result.exposure is exposcan.Exposure.STORE, result.detail
    assert result.ae_title == SITE_AET
    assert "dicom-called-ae-checked" in ids(result)
    assert "dicom-stock-ae-title" not in ids(result)
    assert result.fingerprint is not None
    assert result.fingerprint.product == "Orthanc"
    assert STORE_UNCONFIRMED in (result.detail or ""), result.detail


# --- DicomAlwaysAllowEcho false, DicomAlwaysAllowFind true -------------------------------


def test_orthanc_aborts_a_strangers_echo_and_answers_its_find(orthanc_echo_refused):
    """Independent of exposcan: C-ECHO ends in an A-ABORT; a C-FIND on its own association
    returns every study (DCMTK's findscu)."""
    peer = orthanc_echo_refused
    echoed = echo(peer, "STRANGER", "ANY-SCP")
    assert "Echo Response" not in echoed, echoed
    assert "Peer Aborted Association" in echoed, echoed
    found = dcmtk(
        str(FINDSCU), "-v", "-S", "-aet", "STRANGER", "-aec", "ANY-SCP",
        "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID", peer.host, str(peer.port),
    )  # fmt: skip
    assert found.count("(Pending)") == peer.studies, found


async def test_an_aborted_echo_is_not_reported_as_answered(orthanc_echo_refused, tmp_path):
    """What the association showed stands (storage accepted, Orthanc's defaults let anyone
    store); the echo is not called answered, and the abort is said."""
    result, _ = await scan(orthanc_echo_refused, tmp_path, web=False)
    assert result.status is exposcan.Status.SUCCESS, result.detail
    assert "dicom-storage-accepted" in ids(result)
    assert "dicom-echo-unauthenticated" not in ids(result)
    assert "aborted" in (result.detail or ""), result.detail


async def test_the_query_behind_an_aborted_echo_is_counted(orthanc_echo_refused, tmp_path):
    """The C-ECHO's A-ABORT ends the first association; one fresh association proposing
    the FIND models without Verification asks the query, and its count is the verdict's."""
    peer = orthanc_echo_refused
    result, _ = await scan(peer, tmp_path, web=False)
    assert result.exposure is exposcan.Exposure.QUERY, result.detail
    assert result.matches == Matches(
        count=peer.studies, cap=DEFAULTS.max_matches, cap_hit=False, level="STUDY"
    )
    assert result.attempts == 2  # the opening, then the fresh query
    query = next(f for f in result.findings if f.id == "dicom-query-matches")
    assert "fresh association (the C-ECHO had ended the first)" in query.evidence
