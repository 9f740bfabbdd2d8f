"""exposcan's verdicts against CTN, the RSNA Central Test Node (Debian ``ctn``), an
independent DICOM implementation nobody here wrote: its storage SCP ``simple_storage``
as shipped (any called title) and with a site's own title (``-c``).

Each is scanned as a new user would: ``exposcan.scan`` over 127.0.0.1 and the peer's port,
default options (the peers are in ``tests/support/ctn.py``). What each grants a stranger
is first asked with DCMTK's own clients, so a wrong verdict cannot hide behind a wrong
fixture.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

import exposcan
from exposcan.classify import ANY_TITLE
from exposcan.options import ScanOptions
from exposcan.results import EndpointResult, Fingerprint, Matches
from tests.support import ctn
from tests.support.ctn import CANNED_MATCHES, CANNED_VALUES, CTN_SITE_AE, images_received
from tests.support.peers import Peer

DEFAULTS = ScanOptions()
CTN_TOOLKIT = "CTN (RSNA Central Test Node)"
ECHOSCU = Path("/usr/bin/echoscu")
FINDSCU = Path("/usr/bin/findscu")

ctn_open = ctn.ctn_open
ctn_site_title = ctn.ctn_site_title


async def scan(peer: Peer, write_scope: Any, options: ScanOptions = DEFAULTS) -> EndpointResult:
    report = await exposcan.scan(write_scope(["127.0.0.1"], [peer.port]), options=options)
    (result,) = report.results
    text = json.dumps(result.to_dict())
    leaked = [value for value in CANNED_VALUES if value in text]
    assert not leaked, f"CTN's canned identifiers in the result: {leaked}"
    assert not images_received(peer), "something was stored on the peer"
    return result


def ids(result: EndpointResult) -> set[str]:
    return {f.id for f in result.findings}


def _dcmtk(*argv: str) -> str:
    if not Path(argv[0]).is_file():
        pytest.fail(f"{argv[0]} missing: apt-get install dcmtk")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    return f"exit {done.returncode}\n{done.stdout}{done.stderr}"


def test_ctn_answers_dcmtks_clients_as_its_fixtures_say(ctn_open, ctn_site_title):
    """Independent of exposcan: any title gets into simple_storage without ``-c``, and its
    C-FIND answers CTN's canned identifiers; with ``-c`` a wrong title is rejected."""
    port = str(ctn_open.port)
    echoed = _dcmtk(str(ECHOSCU), "-v", "-aec", "ANY-SCP", ctn_open.host, port)
    assert "Received Echo Response (Success)" in echoed, echoed
    found = _dcmtk(
        str(FINDSCU), "-v", "-S", "-aec", "ANY-SCP", "-k", "QueryRetrieveLevel=STUDY",
        "-k", "StudyInstanceUID", ctn_open.host, port,
    )  # fmt: skip
    assert found.startswith("exit 0"), found
    assert found.count("(Pending)") == CANNED_MATCHES
    # Keys nobody asked for come back (the answer is canned, not a match).
    assert "PatientBirthDate" in found
    refused = _dcmtk(str(ECHOSCU), "-aec", "ANY-SCP", ctn_site_title.host, str(ctn_site_title.port))
    assert "Called AE Title Not Recognized" in refused, refused
    accepted = _dcmtk(
        str(ECHOSCU), "-v", "-aec", CTN_SITE_AE, ctn_site_title.host, str(ctn_site_title.port)
    )
    assert "Received Echo Response (Success)" in accepted, accepted


async def test_ctn_as_shipped_is_query_and_named_ctn(ctn_open, write_scope):
    """Any title gets in, storage is accepted, and its C-FIND returns matches: query.
    The software is named from CTN's own identity in the A-ASSOCIATE-AC."""
    result = await scan(ctn_open, write_scope)
    assert result.status is exposcan.Status.SUCCESS, result.detail
    assert result.exposure is exposcan.Exposure.QUERY, result.detail
    assert result.ae_title == ANY_TITLE
    assert result.attempts == 1
    assert {
        "dicom-query-matches",
        "dicom-storage-accepted",
        "dicom-ae-title-not-checked",
        "dicom-echo-unauthenticated",
    } <= ids(result)
    assert result.matches == Matches(count=CANNED_MATCHES, cap=100, cap_hit=False, level="STUDY")
    assert {"verification", "study-root-find", "ct-storage"} <= set(result.services)
    assert result.fingerprint == Fingerprint(
        **ctn_open.expected["fingerprint"], product=None, toolkit=CTN_TOOLKIT, version=None
    )


async def test_ctn_is_not_a_suspected_honeypot(ctn_open, write_scope):
    """CTN answers every C-FIND with canned identifiers whatever keys were asked, as a
    decoy might; but it names itself (its own implementation UID), claims no product's
    title and answers at once: a real, if odd, toolkit, not reported as a decoy."""
    result = await scan(ctn_open, write_scope)
    assert result.fingerprint is not None
    assert result.fingerprint.toolkit == CTN_TOOLKIT
    assert "dicom-suspected-honeypot" not in ids(result), result.findings


async def test_ctn_with_a_site_title_is_protected(ctn_site_title, write_scope):
    """Every title exposcan may try is refused with reason 7: protected, nothing named
    (no A-ASSOCIATE-AC), and the report says the budget, not the peer, ended the search."""
    result = await scan(ctn_site_title, write_scope)
    assert result.status is exposcan.Status.SUCCESS, result.detail
    assert result.exposure is exposcan.Exposure.PROTECTED, result.detail
    assert result.ae_title is None
    assert result.fingerprint is None
    assert result.matches is None
    assert result.attempts == DEFAULTS.ae_attempts
    checked = next(f for f in result.findings if f.id == "dicom-called-ae-checked")
    assert "reason 7" in checked.evidence
    assert "the attempt budget (ae_attempts), not the peer, ended the search" in checked.evidence


async def test_ctn_with_its_title_is_query(ctn_site_title, write_scope):
    """The owner, who knows the title, sees what any holder of it gets."""
    result = await scan(ctn_site_title, write_scope, ScanOptions(ae_titles=(CTN_SITE_AE,)))
    assert result.exposure is exposcan.Exposure.QUERY, result.detail
    assert result.ae_title == CTN_SITE_AE
    assert "dicom-called-ae-checked" in ids(result)
    assert "dicom-stock-ae-title" not in ids(result)
    assert result.matches is not None
    assert result.matches.count == CANNED_MATCHES
