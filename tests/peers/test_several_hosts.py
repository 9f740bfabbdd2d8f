"""One scan over several hosts, each a different real server, and one report.

Six loopback addresses share one port: DCMTK's ``dcmqrscp`` (its sample's READWRITE),
``storescp``, Orthanc with its shipped defaults, CTN's ``simple_storage`` with a site's own
title (each relayed from its netns forwarder, ``tests/support/relays.py``), a pynetdicom
Verification SCP bound to its address directly, and an address where nothing listens.
``exposcan scan`` runs as a user runs it, at its defaults, and writes JSONL: every endpoint
must be in it exactly once, with the status and verdict that server has when scanned alone.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification

from exposcan.classify import ANY_TITLE
from tests.support import ctn
from tests.support.cli_child import run
from tests.support.peers import Peer
from tests.support.relays import relaying, shared_port
from tests.support.synthetic import find_synthetic

ctn_site_title = ctn.ctn_site_title

HOSTS = {
    "dcmqrscp": "127.0.14.1",
    "storescp": "127.0.14.2",
    "pynetdicom": "127.0.14.3",
    "orthanc": "127.0.14.4",
    "ctn": "127.0.14.5",
    "nothing": "127.0.14.6",
}
#: (status, exposure, called title that got in) for each, as each is scanned alone.
EXPECTED = {
    "dcmqrscp": ("success", "query", "READWRITE"),
    "storescp": ("success", "store", ANY_TITLE),
    "pynetdicom": ("success", "echo", ANY_TITLE),
    "orthanc": ("success", "store", ANY_TITLE),
    "ctn": ("success", "protected", None),
    "nothing": ("connection-refused", "none", None),
}


@pytest.fixture
def port() -> int:
    return shared_port(list(HOSTS.values()))


@pytest.fixture
def echo_scp(port: int) -> Iterator[list[str]]:
    """pynetdicom's own AE, Verification only, on its address (no relay): the called
    titles it was asked for, as it saw them."""
    called: list[str] = []

    def requested(event: evt.Event) -> None:
        called.append(event.assoc.acceptor.ae_title)

    ae = AE(ae_title="ECHOSCP")
    ae.add_supported_context(Verification)
    server = ae.start_server(
        (HOSTS["pynetdicom"], port), block=False, evt_handlers=[(evt.EVT_REQUESTED, requested)]
    )
    try:
        yield called
    finally:
        server.shutdown()


def test_one_scan_reports_every_host_once_with_its_verdict(
    dcmqrscp_stock: Peer,
    storescp_plain: Peer,
    orthanc_default: Peer,
    ctn_site_title: Peer,
    echo_scp: list[str],
    port: int,
    write_scope,
    tmp_path: Path,
):
    relayed = {
        "dcmqrscp": dcmqrscp_stock,
        "storescp": storescp_plain,
        "orthanc": orthanc_default,
        "ctn": ctn_site_title,
    }
    routes = {(HOSTS[k], port): (p.host, p.port) for k, p in relayed.items()}
    scope = write_scope(list(HOSTS.values()), [port])
    out = tmp_path / "several.jsonl"
    with relaying(routes) as relay:
        done = run("scan", "--scope", str(scope), "--format", "jsonl", "--output", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text("utf-8")
    assert not find_synthetic(text)
    records = [json.loads(line) for line in text.splitlines()]
    endpoints = [r for r in records if r["record"] == "endpoint"]
    seen = Counter((r["host"], r["port"]) for r in endpoints)
    assert seen == Counter({(host, port): 1 for host in HOSTS.values()})
    by_host = {r["host"]: r for r in endpoints}
    got = {
        k: (by_host[h]["status"], by_host[h]["exposure"], by_host[h]["ae_title"])
        for k, h in HOSTS.items()
    }
    assert got == EXPECTED
    # The right server behind each address: its own findings and identity.
    assert by_host[HOSTS["dcmqrscp"]]["matches"]["count"] == dcmqrscp_stock.studies
    findings = {k: {f["id"] for f in by_host[h]["findings"]} for k, h in HOSTS.items()}
    assert "dicom-query-refused" in findings["orthanc"]
    assert "dicom-query-refused" not in findings["storescp"]
    assert "dicom-called-ae-checked" in findings["ctn"]
    assert by_host[HOSTS["pynetdicom"]]["fingerprint"]["toolkit"] == "pynetdicom"
    assert by_host[HOSTS["storescp"]]["fingerprint"]["toolkit"] == "DCMTK"
    assert not any(ids & {"dicom-suspected-honeypot"} for ids in findings.values())
    assert echo_scp, "the pynetdicom SCP was never asked"
    for name in relayed:
        assert relay.connections[(HOSTS[name], port)] == by_host[HOSTS[name]]["attempts"]
