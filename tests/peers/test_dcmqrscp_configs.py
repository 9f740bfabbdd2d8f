"""exposcan's verdicts against DCMTK's ``dcmqrscp`` configured as sites configure it:
an area for listed peers only, a read-only area beside a read-write one, and several AEs
on one port (``tests/support/dcmqrscp_configs.py``; the sample configuration itself is
``tests/peers/test_real_peers.py``'s).

Each is scanned as a new user would, ``exposcan.scan`` at default options; where the port
matters, on DICOM's registered port 11112 (a relay on 127.0.14.x, ``tests/support/relays.py``).
What each peer grants is asked first with DCMTK's ``echoscu``/``findscu`` and a pynetdicom
association that proposes storage and releases without sending anything.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import exposcan
from exposcan.options import ScanOptions
from exposcan.results import EndpointResult, Matches
from tests.support import dcmqrscp_configs
from tests.support.dcmqrscp_configs import SITE_PEER_AE, STUDIES
from tests.support.peer_checks import FINDSCU, dcmtk, echo, evidence, ids, storage_context
from tests.support.relays import relaying, shared_port
from tests.support.synthetic import find_synthetic

DEFAULTS = ScanOptions()
DICOM_PORT = 11112
RELAY_HOST = "127.0.14.20"
BUDGET_ENDED = "the attempt budget (ae_attempts), not the peer, ended the search"

dcmqrscp_peers_only = dcmqrscp_configs.dcmqrscp_peers_only
dcmqrscp_upstream_sample = dcmqrscp_configs.dcmqrscp_upstream_sample


async def scan(
    host: str, port: int, write_scope: Any, options: ScanOptions = DEFAULTS
) -> EndpointResult:
    report = await exposcan.scan(write_scope([host], [port]), options=options)
    (result,) = report.results
    assert not find_synthetic(json.dumps(result.to_dict()))
    return result


def test_the_configurations_do_what_their_fixtures_say(
    dcmqrscp_peers_only, dcmqrscp_upstream_sample
):
    """Independent of exposcan: the restriction admits its peer only, COMMON answers
    anyone's C-FIND and refuses storage, ACME_STORE admits ACME1 and no one else."""
    restricted = dcmqrscp_peers_only
    assert "Echo Response (Success)" in echo(restricted, SITE_PEER_AE, "READWRITE")
    refused = echo(restricted, "EXPOSCAN", "READWRITE")
    assert "Called AE Title Not Recognized" in refused, refused
    sample = dcmqrscp_upstream_sample
    found = dcmtk(
        str(FINDSCU), "-v", "-S", "-aec", "COMMON", "-k", "QueryRetrieveLevel=STUDY",
        "-k", "StudyInstanceUID", sample.host, str(sample.port),
    )  # fmt: skip
    assert found.count("(Pending)") == STUDIES, found
    assert storage_context(sample, "COMMON") == 1  # rejected by the user: read-only
    assert "Echo Response (Success)" in echo(sample, "ACME1", "ACME_STORE")
    assert "Called AE Title Not Recognized" in echo(sample, "EXPOSCAN", "ACME_STORE")


# --- peers only -----------------------------------------------------------------------


async def test_a_stock_area_for_listed_peers_only_is_protected(dcmqrscp_peers_only, write_scope):
    """READWRITE is tried (a stock title) and refused like every other: a stranger gets
    nothing, though the title is the sample's. Nothing named, nothing offered."""
    peer = dcmqrscp_peers_only
    result = await scan(peer.host, peer.port, write_scope)
    assert result.status is exposcan.Status.SUCCESS, result.detail
    assert result.exposure is exposcan.Exposure.PROTECTED, result.detail
    assert result.ae_title is None
    assert result.fingerprint is None
    assert result.services == ()
    assert result.attempts == DEFAULTS.ae_attempts
    checked = evidence(result, "dicom-called-ae-checked")
    assert "reason 7" in checked
    assert "dicom-stock-ae-title" not in ids(result)


async def test_the_right_called_title_does_not_open_a_peers_only_area(
    dcmqrscp_peers_only, write_scope
):
    """Even told the title, a stranger calling as EXPOSCAN is not the listed peer."""
    peer = dcmqrscp_peers_only
    options = ScanOptions(ae_titles=("READWRITE",))
    result = await scan(peer.host, peer.port, write_scope, options)
    assert result.exposure is exposcan.Exposure.PROTECTED, result.detail
    assert result.ae_title is None
    assert "dicom-called-ae-checked" in ids(result)


# --- several AEs on one port, read-only and read-write --------------------------------


async def test_on_dicoms_port_the_sample_order_reaches_common(
    dcmqrscp_upstream_sample, write_scope
):
    """On 11112 the DCMTK titles come first: COMMON, the third AE of the table and the
    only one open to anyone, gets in with the last association of the budget. Its area
    is read-only: query, and storage not accepted (read from the A-ASSOCIATE-AC)."""
    peer = dcmqrscp_upstream_sample
    port = shared_port([RELAY_HOST], preferred=DICOM_PORT)
    if port != DICOM_PORT:
        pytest.fail(f"{RELAY_HOST}:{DICOM_PORT} is taken on this machine")
    with relaying({(RELAY_HOST, port): (peer.host, peer.port)}):
        result = await scan(RELAY_HOST, port, write_scope)
    assert result.status is exposcan.Status.SUCCESS, result.detail
    assert result.exposure is exposcan.Exposure.QUERY, result.detail
    assert result.ae_title == "COMMON"
    assert result.attempts == DEFAULTS.ae_attempts
    assert result.matches == Matches(count=STUDIES, cap=100, cap_hit=False, level="STUDY")
    assert {"dicom-stock-ae-title", "dicom-query-matches"} <= ids(result)
    assert "dicom-storage-accepted" not in ids(result)
    assert not [s for s in result.services if s.endswith("-storage")], result.services
    assert {"verification", "study-root-find"} <= set(result.services)


async def test_on_an_unknown_port_the_budget_ends_before_common(
    dcmqrscp_upstream_sample, write_scope
):
    """The same server on a port no product is known for: COMMON is past the default
    budget, and the report says the budget, not the peer, ended the search."""
    peer = dcmqrscp_upstream_sample
    result = await scan(peer.host, peer.port, write_scope)
    assert result.exposure is exposcan.Exposure.PROTECTED, result.detail
    assert result.attempts == DEFAULTS.ae_attempts
    assert BUDGET_ENDED in evidence(result, "dicom-called-ae-checked")


async def test_read_write_accepts_storage_and_read_only_does_not(
    dcmqrscp_upstream_sample, dcmqrscp_stock, write_scope
):
    """The same product, the title known: RW (the shipped sample's READWRITE) is store
    and query, with storage accepted; R (COMMON) is query without it."""
    rw = await scan(dcmqrscp_stock.host, dcmqrscp_stock.port, write_scope)
    sample = dcmqrscp_upstream_sample
    ro = await scan(sample.host, sample.port, write_scope, ScanOptions(ae_titles=("COMMON",)))
    assert (rw.ae_title, ro.ae_title) == ("READWRITE", "COMMON")
    assert rw.exposure is ro.exposure is exposcan.Exposure.QUERY
    assert "dicom-storage-accepted" in ids(rw)
    assert "dicom-storage-accepted" not in ids(ro)
    assert "ct-storage" in rw.services
    assert "ct-storage" not in ro.services
