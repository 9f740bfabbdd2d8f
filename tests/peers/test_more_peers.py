"""exposcan's verdicts against more real servers nobody here wrote: PixelMed's Java storage
server, DCMTK's worklist SCP, Orthanc's worklist plugin and an SCP on odil.

Each is scanned as a new user would: ``exposcan.scan`` over a scope of 127.0.0.1 and the
peer's port, default options (the peers are in ``tests/support/peers_more.py``). The
verdicts asserted are what someone who knows the server expects: its exposure, the
services a stranger is granted, the worklist count where the worklist is open, and the
software named from the A-ASSOCIATE-AC (PS3.7 D.3.3.2).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification

import exposcan
from exposcan.fingerprints import identify
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.results import EndpointResult, Fingerprint, Matches
from tests.support import peers_more
from tests.support.peers import Peer
from tests.support.peers_more import (
    DEBIAN_PYTHON,
    JAVA,
    ODIL_MATCHES,
    PIXELMED_AE,
    PIXELMED_JAR,
    STUDIES,
    WORKLIST_ITEMS,
)
from tests.support.scope_files import scope_text
from tests.support.synthetic import find_synthetic

DEFAULTS = ScanOptions()

# The launchers' module-scoped fixtures, found by pytest under these names here.
pixelmed_server = peers_more.pixelmed_server
wlmscpfs_sample = peers_more.wlmscpfs_sample
orthanc_worklist = peers_more.orthanc_worklist
odil_scp = peers_more.odil_scp


async def scan(peer: Peer, write_scope: Any, options: ScanOptions = DEFAULTS) -> EndpointResult:
    scope = write_scope(["127.0.0.1"], [peer.port])
    report = await exposcan.scan(scope, options=options)
    (result,) = report.results
    assert result.duration_s < options.timeouts.endpoint + options.timeouts.release
    leaked = find_synthetic(json.dumps(result.to_dict()))
    assert not leaked, f"synthetic patient data in the result: {leaked[:3]}"
    return result


def ids(result: EndpointResult) -> set[str]:
    return {f.id for f in result.findings}


def fingerprint(peer: Peer, **named: str | None) -> Fingerprint:
    sent = peer.expected["fingerprint"]
    return Fingerprint(
        implementation_class_uid=sent["implementation_class_uid"],
        implementation_version_name=sent["implementation_version_name"],
        product=named.get("product"),
        toolkit=named.get("toolkit"),
        version=named.get("version"),
    )


def dcmtk(peer: Peer) -> Fingerprint:
    return fingerprint(peer, toolkit="DCMTK", version="3.6.7")


# --- the peers are what they claim, by DCMTK's own clients ------------------------------

FINDSCU = Path("/usr/bin/findscu")


def _dcmtk(argv: list[str]) -> subprocess.CompletedProcess[str]:
    if not Path(argv[0]).is_file():
        pytest.fail(f"{argv[0]} missing: apt-get install dcmtk")
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def pending(peer: Peer, model: str, called: str, *keys: str) -> int:
    """How many pending C-FIND responses findscu gets (``-v`` logs one line each)."""
    queries = [arg for key in keys for arg in ("-k", key)]
    done = _dcmtk([str(FINDSCU), "-v", model, "-aec", called, *queries, peer.host, str(peer.port)])
    assert done.returncode == 0, done.stdout + done.stderr
    return (done.stdout + done.stderr).count("(Pending)")


def rejected_called_ae(peer: Peer, called: str) -> bool:
    done = _dcmtk([str(ECHOSCU), "-aec", called, peer.host, str(peer.port)])
    return done.returncode != 0 and "Called AE Title Not Recognized" in done.stdout + done.stderr


STUDY_KEYS = ("QueryRetrieveLevel=STUDY", "StudyInstanceUID")


def test_the_peers_answer_dcmtks_clients_as_their_fixtures_say(
    pixelmed_server, wlmscpfs_sample, orthanc_worklist, odil_scp
):
    """Independent of exposcan: what each server grants, asked with findscu and echoscu."""
    assert rejected_called_ae(pixelmed_server, "ANY-SCP")
    assert pending(pixelmed_server, "-S", PIXELMED_AE, *STUDY_KEYS) == STUDIES
    assert rejected_called_ae(wlmscpfs_sample, "ANY-SCP")
    assert pending(wlmscpfs_sample, "-W", "OFFIS", "PatientName") == WORKLIST_ITEMS
    assert pending(orthanc_worklist, "-W", "ANY-SCP", "PatientName") == WORKLIST_ITEMS
    assert pending(odil_scp, "-S", "ANY-SCP", *STUDY_KEYS) == ODIL_MATCHES


# --- PixelMed -------------------------------------------------------------------------


async def test_pixelmed_with_a_site_title_is_protected(pixelmed_server, write_scope):
    """The called title is the site's own: a stranger is refused (A-ASSOCIATE-RJ reason 7)
    for every title tried, and nothing is fingerprinted (no A-ASSOCIATE-AC)."""
    result = await scan(pixelmed_server, write_scope)
    assert result.exposure is exposcan.Exposure.PROTECTED, result.detail
    assert "dicom-called-ae-checked" in ids(result)
    assert result.ae_title is None
    assert result.fingerprint is None
    assert result.matches is None


async def test_pixelmed_with_its_title_is_query_and_named(pixelmed_server, write_scope):
    """Its owner, who knows the title, sees what PixelMed grants anyone who knows it."""
    options = ScanOptions(ae_titles=(PIXELMED_AE,))
    result = await scan(pixelmed_server, write_scope, options)
    assert result.exposure is exposcan.Exposure.QUERY, result.detail
    assert result.ae_title == PIXELMED_AE
    assert result.matches == Matches(count=STUDIES, cap=100, cap_hit=False, level="STUDY")
    assert {"verification", "study-root-find"} <= set(result.services)
    assert "dicom-storage-accepted" in ids(result)
    assert result.fingerprint == fingerprint(pixelmed_server, toolkit="PixelMed Java DICOM Toolkit")
    assert "dicom-suspected-honeypot" not in ids(result)


async def test_a_title_the_user_gave_is_not_called_a_shipped_default(pixelmed_server, write_scope):
    """ARCHIVE7 is the site's own title, given by its owner: reporting it as "the called AE
    title is a shipped default" (high) tells the site to change a title nobody ships."""
    options = ScanOptions(ae_titles=(PIXELMED_AE,))
    result = await scan(pixelmed_server, write_scope, options)
    assert result.ae_title == PIXELMED_AE
    assert "dicom-stock-ae-title" not in ids(result)
    assert "dicom-called-ae-checked" in ids(result)


async def test_pixelmed_web_server_is_a_web_server(pixelmed_server, tmp_path):
    """Its web interface lists patients to anyone (``/?requestType=PATIENTLIST``): a web
    service a stranger can query, never a port that closed without an answer."""
    scope = tmp_path / "web-scope.toml"
    scope.write_text(
        scope_text([pixelmed_server.host], [pixelmed_server.port])
        + f"web_ports = [{pixelmed_server.http_port}]\n",
        encoding="utf-8",
    )
    report = await exposcan.scan(scope)
    (web,) = [r for r in report.results if r.port == pixelmed_server.http_port]
    assert not find_synthetic(json.dumps(web.to_dict()))  # a list is counted, never kept
    assert web.status is not exposcan.Status.CONNECTION_CLOSED, web.detail
    assert web.exposure is exposcan.Exposure.QUERY, web.detail


# --- DCMTK wlmscpfs -------------------------------------------------------------------


async def test_wlmscpfs_on_an_unknown_port_says_the_budget_ended_the_search(
    wlmscpfs_sample, write_scope
):
    """On a port no product is known for, DCMTK's sample title (OFFIS) is far down the
    stock list: the default budget ends first, and the report says so rather than
    claiming the peer is protected by its title alone."""
    result = await scan(wlmscpfs_sample, write_scope)
    assert result.exposure is exposcan.Exposure.PROTECTED
    checked = next(f for f in result.findings if f.id == "dicom-called-ae-checked")
    assert "the attempt budget (ae_attempts), not the peer, ended the search" in checked.evidence
    assert result.attempts == DEFAULTS.ae_attempts
    assert result.fingerprint is None


async def test_wlmscpfs_with_a_larger_budget_opens_the_worklist(wlmscpfs_sample, write_scope):
    """A user who allows the most associations, and the time and rate they need (19 of
    them at the default 2 a second would nearly fill the default 10 s deadline), reaches
    OFFIS: the worklist is counted, and nothing but Verification and the worklist is
    offered."""
    options = ScanOptions(
        ae_attempts=32, limits=Limits(per_host_rate=10), timeouts=Timeouts(endpoint=20)
    )
    result = await scan(wlmscpfs_sample, write_scope, options)
    assert result.exposure is exposcan.Exposure.QUERY, result.findings
    assert result.ae_title == "OFFIS"
    assert {"dicom-stock-ae-title", "dicom-worklist-matches"} <= ids(result)
    assert result.matches == Matches(count=WORKLIST_ITEMS, cap=100, cap_hit=False, level="WORKLIST")
    assert set(result.services) == {"verification", "worklist-find"}
    assert result.fingerprint == dcmtk(wlmscpfs_sample)


# --- Orthanc worklist plugin ----------------------------------------------------------


async def test_orthanc_worklist_peer_refuses_the_query_and_offers_the_worklist(
    orthanc_worklist, write_scope
):
    """What the first association shows: any called title, the Study Root C-FIND aborted
    (Orthanc's shipped DicomAlwaysAllowFind false), the worklist context accepted."""
    result = await scan(orthanc_worklist, write_scope)
    assert result.exposure >= exposcan.Exposure.STORE
    assert {"dicom-query-refused", "dicom-ae-title-not-checked"} <= ids(result)
    refused = next(f for f in result.findings if f.id == "dicom-query-refused")
    assert "aborted" in refused.evidence
    assert "worklist-find" in result.services
    assert result.fingerprint == dcmtk(orthanc_worklist)


async def test_orthanc_worklist_behind_a_refused_query_is_counted(orthanc_worklist, write_scope):
    """Its worklist plugin is open to anyone here: a stranger reads every item of it."""
    result = await scan(orthanc_worklist, write_scope)
    assert result.exposure is exposcan.Exposure.QUERY, result.detail
    assert {"dicom-query-refused", "dicom-worklist-matches"} <= ids(result)
    assert result.matches == Matches(count=WORKLIST_ITEMS, cap=100, cap_hit=False, level="WORKLIST")


# --- odil -----------------------------------------------------------------------------


async def test_odil_scp_is_query_and_named(odil_scp, write_scope):
    """odil's default acceptor takes every context and any called title; its C-FIND
    answers are counted, and it is named odil from its own identity."""
    result = await scan(odil_scp, write_scope)
    assert result.exposure is exposcan.Exposure.QUERY, result.detail
    assert result.matches == Matches(count=ODIL_MATCHES, cap=100, cap_hit=False, level="STUDY")
    assert "dicom-ae-title-not-checked" in ids(result)
    assert result.fingerprint == fingerprint(odil_scp, toolkit="odil", version="0")
    assert odil_scp.expected["version_name"] == "Odil 0"
    assert {"verification", "study-root-find", "worklist-find"} <= set(result.services)


async def test_odil_scp_is_not_a_suspected_honeypot(odil_scp, write_scope):
    """A real toolkit with its own implementation identity, answering only what it was
    asked: accepting a context nobody defined is odil's default acceptor, not a decoy."""
    result = await scan(odil_scp, write_scope)
    assert result.fingerprint is not None
    assert result.fingerprint.toolkit == "odil"
    assert "dicom-suspected-honeypot" not in ids(result), result.detail


# --- the same toolkits as clients: what their A-ASSOCIATE-RQ says ----------------------

ECHOSCU = Path("/usr/bin/echoscu")
ODIL_ECHO = """
import sys, odil
association = odil.Association()
association.set_peer_host("127.0.0.1")
association.set_peer_port(int(sys.argv[1]))
context = odil.AssociationParameters.PresentationContext(
    1, odil.registry.Verification, [odil.registry.ImplicitVRLittleEndian],
    odil.AssociationParameters.PresentationContext.Role.SCU)
association.update_parameters().set_calling_ae_title("ODILSCU").set_called_ae_title(
    "ANY-SCP").set_presentation_contexts([context])
association.associate()
odil.EchoSCU(association).echo()
association.release()
"""


@pytest.fixture
def requestors() -> Iterator[tuple[int, list[tuple[str, str]]]]:
    """A pynetdicom Verification SCP on 127.0.0.1 that keeps each requestor's identity."""
    seen: list[tuple[str, str]] = []

    def requested(event: evt.Event) -> None:
        peer = event.assoc.requestor
        seen.append((str(peer.implementation_class_uid), str(peer.implementation_version_name)))

    ae = AE(ae_title="ANY-SCP")
    ae.add_supported_context(Verification)
    server = ae.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_REQUESTED, requested)]
    )
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()


def _echo(argv: list[str]) -> None:
    if not Path(argv[0]).is_file():
        pytest.fail(f"{argv[0]} missing: apt-get install dcmtk libpixelmed-java python3-odil")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_installed_toolkits_name_themselves_as_the_table_says(requestors) -> None:
    """DCMTK's echoscu, PixelMed's VerificationSOPClassSCU and odil's EchoSCU, each as
    Debian ships it, open an association; the identity each sends is the one the table
    (and the entries' sources) give, and is identified as that toolkit and version."""
    port, seen = requestors
    if not PIXELMED_JAR.is_file():
        pytest.fail(f"{PIXELMED_JAR} missing: apt-get install libpixelmed-java")
    _echo([str(ECHOSCU), "-aec", "ANY-SCP", "127.0.0.1", str(port)])
    _echo(
        [
            str(JAVA),
            "-Djava.awt.headless=true",
            "-cp",
            str(PIXELMED_JAR),
            "com.pixelmed.network.VerificationSOPClassSCU",
            "127.0.0.1",
            str(port),
            "ANY-SCP",
            "PIXELMEDSCU",
            "NONSECURE",
        ]
    )
    _echo([str(DEBIAN_PYTHON), "-c", ODIL_ECHO, str(port)])
    assert seen == [
        ("1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367"),
        ("1.3.6.1.4.1.5962.99.2", "PIXELMEDJAVA001"),
        ("1.2.826.0.1.3680043.9.55600.0", "Odil 0"),
    ]
    named = [identify(uid, name) for uid, name in seen]
    assert [(g.product, g.toolkit, g.version) if g else None for g in named] == [
        (None, "DCMTK", "3.6.7"),
        (None, "PixelMed Java DICOM Toolkit", None),
        (None, "odil", "0"),
    ]
