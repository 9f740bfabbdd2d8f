"""Honeypot imitations are flagged with the right signs; real servers are not.

The imitations (tests/support/honeypots.py) do what the public descriptions of dicompot
and DICOMHawk say; the real-looking peers are the suite's pynetdicom SCPs. Several of
each on 127.0.14.x test the cross-endpoint sign: one answer on many hosts. A suspected
honeypot keeps everything it showed: the finding is added, nothing is lowered.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

import exposcan
from exposcan.classify import classify_dimse
from exposcan.decoys import (
    SIGN_ANY_ABSTRACT_SYNTAX,
    SIGN_GO_NETDICOM_MAX_PDU,
    SIGN_NO_IMPLEMENTATION_UID,
    SIGN_PRODUCT_CONTRADICTED,
    SIGN_SAME_ACCEPT,
    SIGN_UNASKED_ATTRIBUTES,
    honeypot_signs,
    observed_signs,
)
from exposcan.dicom import uids
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.probe import Endpoint
from exposcan.probes.dimse import PROBE, SERVICE_MAP, probe_dimse
from exposcan.vocabulary import Exposure
from exposcan.vocabulary import Protocol as WireProtocol
from tests.support.honeypots import (
    CANNED_ATTRIBUTES,
    FIND_FAILED,
    STUDY_ROOT_FIND,
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
            SIGN_GO_NETDICOM_MAX_PDU,
            SIGN_PRODUCT_CONTRADICTED,
            SIGN_UNASKED_ATTRIBUTES,
            SIGN_SAME_ACCEPT,
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
    assert signs_of(verdict) == {
        SIGN_ANY_ABSTRACT_SYNTAX,
        SIGN_NO_IMPLEMENTATION_UID,
        SIGN_GO_NETDICOM_MAX_PDU,
    }
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


# The cross-endpoint sign: the same A-ASSOCIATE-AC (echoed titles aside) on many hosts of
# one scan. Weak: it needs another sign, so identical real servers stay unflagged.

#: A dicompot variant that names an implementation class UID: one A-ASSOCIATE-AC sign
#: (any abstract syntax accepted), not enough alone.
VARIANT_UID = "1.2.826.0.1.3680043.10.999.1"
FLEET = [f"127.0.14.{n}" for n in (11, 12, 13, 14)]
REAL = [f"127.0.14.{n}" for n in (21, 22, 23, 24)]
SCAN = ScanOptions(
    limits=Limits(concurrency=1, per_host_rate=20),
    timeouts=Timeouts(connect=1, read=2, release=1, endpoint=8),
)


async def test_a_one_sign_decoy_on_many_hosts_is_flagged_from_the_third(write_scope):
    async with contextlib.AsyncExitStack() as stack:
        port = 0
        for host in FLEET:
            peer = DicompotLike(
                find_delay=0.1,
                host=host,
                port=port,
                implementation_uid=VARIANT_UID,
                max_pdu=16384,  # fixed two of its three A-ASSOCIATE-AC signs
            )
            port = (await stack.enter_async_context(peer.serve())).port
        report = await exposcan.scan(write_scope(FLEET, [port]), options=SCAN)
    by_host = {r.host: r for r in report.results}
    assert [by_host[h].exposure for h in FLEET] == [Exposure.STORE] * 4  # never lowered
    # One sign alone on the first two (judged before the others were seen); from the
    # third on, the same answer as two or more hosts before it is the second sign.
    assert [HONEYPOT in {f.id for f in by_host[h].findings} for h in FLEET] == [
        False,
        False,
        True,
        True,
    ]
    for host in FLEET[2:]:
        assert signs_of(by_host[host]) == {SIGN_ANY_ABSTRACT_SYNTAX, SIGN_SAME_ACCEPT}


async def test_a_variant_that_names_itself_still_shows_two_signs():
    """A dicompot that was given an implementation class UID still announces go-netdicom's
    4 MiB and accepts a context nobody defined: two weak signs, suspected on its own host."""
    peer = DicompotLike(find_delay=0.1, implementation_uid=VARIANT_UID)
    async with peer.serve():
        observation = await probe_dimse("127.0.0.1", peer.port, OPTIONS)
    verdict = classify_dimse(observation)
    assert signs_of(verdict) == {SIGN_ANY_ABSTRACT_SYNTAX, SIGN_GO_NETDICOM_MAX_PDU}
    assert verdict.exposure is Exposure.STORE  # never lowered
    async with DicompotLike(
        find_delay=0.1, implementation_uid=VARIANT_UID, max_pdu=16384
    ).serve() as fixed:
        again = classify_dimse(await probe_dimse("127.0.0.1", fixed.port, OPTIONS))
    assert HONEYPOT not in {f.id for f in again.findings}  # one weak sign alone: not flagged


def _alike_scps(hosts: list[str]) -> tuple[list[Any], int]:
    """pynetdicom SCPs of one configuration on each host, one port; the third answers to
    its own title only (found by a stock title, so its AC echoes another called title)."""
    from pynetdicom import AE, evt

    servers: list[Any] = []
    port = 0
    for index, host in enumerate(hosts):
        checked = index == 2
        ae = AE(ae_title="STORESCP" if checked else "ARCHIVE")
        ae.require_called_aet = checked
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
        for uid in (uids.VERIFICATION, STUDY_ROOT_FIND):
            ae.add_supported_context(uid)
        server = ae.start_server(
            (host, port), block=False, evt_handlers=[(evt.EVT_C_ECHO, lambda event: 0x0000)]
        )
        servers.append(server)
        port = int(server.server_address[1])
    return servers, port


async def test_identical_real_servers_on_many_hosts_answer_alike_and_are_not_flagged():
    servers, port = _alike_scps(REAL)

    async def permit() -> None:
        return None

    try:
        async with PROBE.start(SCAN) as run:
            observations = [
                await run.observe(Endpoint(host, port, WireProtocol.DIMSE), permit) for host in REAL
            ]
    finally:
        for server in servers:
            server.shutdown()
    # Seen alike, the stock-title host too (the echoed called title is not compared) ...
    assert [o.alike_hosts for o in observations] == [0, 1, 2, 3]
    assert observations[2].first.rejected is not None
    for observation in observations[2:]:
        signs = observed_signs(observation.attempts, alike_hosts=observation.alike_hosts)
        assert [sign for sign, _ in signs] == [SIGN_SAME_ACCEPT]
    # ... and never a suspicion alone: nothing else looks like a decoy.
    for observation in observations:
        verdict = PROBE.verdict(observation, ())
        assert verdict.exposure is Exposure.ECHO
        assert HONEYPOT not in {f.id for f in verdict.findings}, verdict.findings
