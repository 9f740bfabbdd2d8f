"""Honeypot imitations are flagged with the right signs; real servers are not.

The imitations (tests/support/honeypots.py) do what the public descriptions of dicompot
and DICOMHawk say; the real-looking peers are the suite's pynetdicom SCPs. A suspected
honeypot keeps everything it showed: the finding is added, nothing is lowered.
"""

from __future__ import annotations

import pytest

from exposcan.classify import classify_dimse
from exposcan.decoys import (
    SIGN_ANY_ABSTRACT_SYNTAX,
    SIGN_NO_IMPLEMENTATION_UID,
    SIGN_PRODUCT_CONTRADICTED,
    SIGN_UNASKED_ATTRIBUTES,
    honeypot_signs,
)
from exposcan.dicom import uids
from exposcan.options import ScanOptions, Timeouts
from exposcan.probes.dimse import SERVICE_MAP, probe_dimse
from exposcan.vocabulary import Exposure
from tests.support.honeypots import (
    CANNED_ATTRIBUTES,
    FIND_FAILED,
    DicompotLike,
    start_dicomhawk_like,
)

HONEYPOT = "dicom-suspected-honeypot"
#: The C-FIND delay of the dicompot imitation fits inside ``read``.
OPTIONS = ScanOptions(timeouts=Timeouts(connect=1, read=3, release=1, endpoint=8))


def signs_of(verdict) -> set[str]:  # type: ignore[no-untyped-def]
    (finding,) = [f for f in verdict.findings if f.id == HONEYPOT]
    return {
        s
        for s in (
            SIGN_ANY_ABSTRACT_SYNTAX,
            SIGN_NO_IMPLEMENTATION_UID,
            SIGN_PRODUCT_CONTRADICTED,
            SIGN_UNASKED_ATTRIBUTES,
        )
        if f"{s}:" in finding.evidence
    }


async def test_dicompot_like_is_flagged_and_keeps_its_exposure():
    async with DicompotLike(find_delay=1.5).serve() as peer:
        observation = await probe_dimse("127.0.0.1", peer.port, OPTIONS)
    verdict = classify_dimse(observation)
    first = observation.first
    assert first.accepted is not None
    assert first.accepted.implementation_class_uid is None
    assert first.accepted.max_pdu_length == 4 * 1024 * 1024
    # The impossible context went out with the map, and came back accepted.
    assert peer.proposed[0] == len(SERVICE_MAP)
    assert uids.NONEXISTENT_ABSTRACT_SYNTAX in {c.abstract_syntax for c in first.accepted.accepted}
    assert first.echo_status == 0x0000
    assert first.find is not None
    assert first.find.final_status == FIND_FAILED
    assert signs_of(verdict) == {SIGN_ANY_ABSTRACT_SYNTAX, SIGN_NO_IMPLEMENTATION_UID}
    # Never dropped, never lowered: it accepted storage contexts, so it reads as store.
    assert verdict.exposure is Exposure.STORE
    assert "dicom-echo-unauthenticated" in {f.id for f in verdict.findings}
    assert verdict.detail is not None
    assert "suspected honeypot" in verdict.detail
    # The impossible syntax is a test of the peer, never a service it offers.
    assert uids.NONEXISTENT_ABSTRACT_SYNTAX not in verdict.services
    assert 0x0001 not in peer.commands  # no C-STORE, ever


async def test_dicomhawk_like_is_flagged_for_canned_answers(scp_launcher):
    port = start_dicomhawk_like(scp_launcher)
    observation = await probe_dimse("127.0.0.1", port, OPTIONS)
    verdict = classify_dimse(observation)
    find = observation.first.find
    assert find is not None
    assert find.count == 3
    assert find.asked_elements == 2  # Query/Retrieve Level and Study Instance UID
    assert find.most_elements == CANNED_ATTRIBUTES
    assert signs_of(verdict) == {SIGN_UNASKED_ATTRIBUTES}
    assert verdict.exposure is Exposure.QUERY  # three matches were shown: that stands
    assert verdict.matches is not None
    assert verdict.matches.count == 3


async def test_dicomhawk_like_claiming_orthanc_is_contradicted(scp_launcher):
    port = start_dicomhawk_like(scp_launcher, require_called_aet=True)
    observation = await probe_dimse(
        "127.0.0.1", port, OPTIONS, stock_titles=("ORTHANC", "DCM4CHEE")
    )
    verdict = classify_dimse(observation)
    assert verdict.ae_title == "ORTHANC"
    assert signs_of(verdict) == {SIGN_PRODUCT_CONTRADICTED, SIGN_UNASKED_ATTRIBUTES}
    (finding,) = [f for f in verdict.findings if f.id == HONEYPOT]
    assert "Orthanc" in finding.evidence


async def test_the_web_side_claim_is_contradicted_too(scp_launcher):
    port = start_dicomhawk_like(scp_launcher, matches=0)
    observation = await probe_dimse("127.0.0.1", port, OPTIONS)
    assert not honeypot_signs(observation.attempts)  # nothing without the claim
    verdict = classify_dimse(observation, hints={"web_product": "Orthanc"})
    assert signs_of(verdict) == {SIGN_PRODUCT_CONTRADICTED}


async def test_real_pynetdicom_scps_are_not_flagged(scp_factory, find_scp_factory):
    # An open echo SCP, a guarded one found by its stock title, and query SCPs whose
    # matches carry a few attributes beyond the keys (as real archives' do).
    ports = [
        scp_factory("OPEN-SCP"),
        scp_factory("STORESCP", require_called_aet=True),
        scp_factory("QUERY-SCP", find_matches=5),
        find_scp_factory(matches=5).port,
    ]
    for port in ports:
        observation = await probe_dimse("127.0.0.1", port, OPTIONS, stock_titles=("STORESCP",))
        verdict = classify_dimse(observation)
        assert verdict.exposure >= Exposure.ECHO, port
        assert HONEYPOT not in {f.id for f in verdict.findings}, (port, verdict.findings)
        assert verdict.detail is None or "honeypot" not in verdict.detail
        # The impossible context was proposed with the map and refused (result 3).
        (accepted,) = [
            a.accepted for a in observation.attempts if a.accepted and a.echo_status == 0
        ]
        refused = {c.abstract_syntax: c.result for c in accepted.rejected}
        assert refused.get(uids.NONEXISTENT_ABSTRACT_SYNTAX) == 3, port


@pytest.mark.parametrize(
    "name", ["orthanc_default", "orthanc_find_open", "dcmqrscp_stock", "storescp_plain"]
)
async def test_real_dicom_servers_are_not_flagged(name, request):
    """Orthanc and DCMTK (tests/support/peers.py; FAILs in CI where they are missing)."""
    peer = request.getfixturevalue(name)
    options = ScanOptions(timeouts=OPTIONS.timeouts, ae_attempts=6)
    observation = await probe_dimse(
        peer.host, peer.port, options, stock_titles=(peer.ae_title, "READWRITE")
    )
    verdict = classify_dimse(observation)
    assert verdict.exposure >= Exposure.STORE, verdict
    assert HONEYPOT not in {f.id for f in verdict.findings}, verdict.findings
    # The association that proposed the map (the random opening, or a stock title).
    (accepted,) = [
        a.accepted for a in observation.attempts if a.accepted and a.purpose != "storage"
    ]
    refused = {c.abstract_syntax: c.result for c in accepted.rejected}
    assert refused.get(uids.NONEXISTENT_ABSTRACT_SYNTAX) == 3, name
