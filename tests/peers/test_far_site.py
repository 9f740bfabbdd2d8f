"""A slow, far site: real peers behind added latency, scanned at exposcan's defaults.

The peers are DCMTK's ``dcmqrscp`` as its sample ships (``READWRITE``, reached with the
last association of the default budget) and ``storescp``, each behind a relay
(``tests/support/relays.py``) that holds every chunk, both ways, before passing it on: 150 ms
one way (a 0.3 s round trip, another continent) and 600 ms (1.2 s, a satellite hop and a
congested uplink). Every A-ASSOCIATE, C-ECHO, C-FIND and A-RELEASE exchange pays it.

What must hold: the far site is found with the verdict it has near (same exposure, title,
services, match count), its endpoint ends in ``success`` (not ``io-timeout``, not written
off as silent), and every association exposcan made did cross the latency (the relay
counts them). The TCP handshake itself is not delayed (the kernel completes it with the
relay; this kernel has no ``sch_netem`` for ``tc ... netem delay``), so the adaptive
connect timeout sees a loopback round trip and the reads carry the distance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import exposcan
from exposcan.classify import ANY_TITLE
from exposcan.options import ScanOptions
from exposcan.results import EndpointResult
from tests.support.cli_child import run
from tests.support.peers import Peer
from tests.support.relays import Relay, relaying, shared_port
from tests.support.synthetic import find_synthetic

DEFAULTS = ScanOptions()
FAR_S = 0.15
FARTHER_S = 0.6
FAR_HOST = "127.0.14.100"
FARTHER_HOST = "127.0.14.101"


def ids(result: EndpointResult) -> set[str]:
    return {f.id for f in result.findings}


def crossed(relay: Relay, where: tuple[str, int], attempts: int) -> None:
    """Each association was a connection through the relay, each delayed both ways."""
    assert relay.connections[where] == attempts
    assert relay.delayed_chunks >= 2 * attempts


async def scan_one(host: str, port: int, write_scope: Any) -> EndpointResult:
    report = await exposcan.scan(write_scope([host], [port]))
    (result,) = report.results
    assert not find_synthetic(json.dumps(result.to_dict()))
    return result


async def test_far_dcmqrscp_has_its_near_verdict(dcmqrscp_stock: Peer, write_scope):
    near = await scan_one(dcmqrscp_stock.host, dcmqrscp_stock.port, write_scope)
    port = shared_port([FAR_HOST])
    where = (FAR_HOST, port)
    with relaying({where: (dcmqrscp_stock.host, dcmqrscp_stock.port)}, delay_s=FAR_S) as relay:
        far = await scan_one(FAR_HOST, port, write_scope)
    assert far.status is exposcan.Status.SUCCESS, far.detail
    assert far.exposure is exposcan.Exposure.QUERY, far.detail
    assert far.ae_title == "READWRITE" == near.ae_title
    assert far.attempts == DEFAULTS.ae_attempts == near.attempts
    assert far.matches == near.matches
    assert far.matches is not None
    assert far.matches.count == dcmqrscp_stock.studies
    assert far.services == near.services
    assert far.fingerprint == near.fingerprint
    assert ids(far) == ids(near)
    crossed(relay, where, far.attempts)


def test_a_scan_over_near_and_far_sites_reports_each_once(
    dcmqrscp_stock: Peer, storescp_plain: Peer, tmp_path: Path, write_scope
):
    """``exposcan scan`` as a user runs it, at its defaults, over a far dcmqrscp and a
    farther storescp: both endpoints once in the report, status success, right verdicts."""
    port = shared_port([FAR_HOST, FARTHER_HOST])
    far, farther = (FAR_HOST, port), (FARTHER_HOST, port)
    scope = write_scope([FAR_HOST, FARTHER_HOST], [port])
    out = tmp_path / "far.jsonl"
    with (
        relaying({far: (dcmqrscp_stock.host, dcmqrscp_stock.port)}, delay_s=FAR_S) as near_relay,
        relaying({farther: (storescp_plain.host, storescp_plain.port)}, delay_s=FARTHER_S) as relay,
    ):
        done = run("scan", "--scope", str(scope), "--format", "jsonl", "--output", str(out))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    endpoints = {(r["host"], r["port"]): r for r in records if r["record"] == "endpoint"}
    assert len(endpoints) == sum(r["record"] == "endpoint" for r in records) == 2
    assert {k: (r["status"], r["exposure"]) for k, r in endpoints.items()} == {
        far: ("success", "query"),
        farther: ("success", "store"),
    }
    assert endpoints[far]["ae_title"] == "READWRITE"
    assert endpoints[farther]["ae_title"] == ANY_TITLE
    assert endpoints[farther]["attempts"] == 1
    crossed(near_relay, far, endpoints[far]["attempts"])
    crossed(relay, farther, 1)
    assert not find_synthetic(out.read_text("utf-8"))
