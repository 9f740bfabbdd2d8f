"""exposcan's verdicts against real servers: Debian's Orthanc and DCMTK, plain and TLS.

The peers (tests/peers.py) are started on free 127.0.0.1 ports with synthetic studies
loaded. Each has an expected verdict; a last test scans all of them at once through the
CLI with debug logs on, and searches every byte of output for the synthetic patients.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import exposcan
from exposcan.options import Limits, ScanOptions, Timeouts
from tests.peers import *  # noqa: F403
from tests.peers import Peer
from tests.synthetic import SYNTHETIC_STRINGS

PATIENT_STRINGS = sorted(s for s in SYNTHETIC_STRINGS if len(s) >= 6)
OPTIONS = ScanOptions(
    limits=Limits(per_host_rate=20),
    timeouts=Timeouts(connect=2, read=4, release=2, endpoint=20),
    ae_attempts=16,  # deep enough into the stock list for dcmqrscp's sample titles
)


async def scan_peer(peer: Peer, write_scope, options: ScanOptions = OPTIONS):
    scope = write_scope(["127.0.0.1"], [peer.port])
    report = await exposcan.scan(scope, options=options)
    (result,) = report.results
    return result


def ids(result) -> set[str]:
    return {f.id for f in result.findings}


def assert_no_patient_data(text: str) -> None:
    leaked = [s for s in PATIENT_STRINGS if s in text]
    assert not leaked, f"synthetic patient data in output: {leaked[:3]}"


async def test_orthanc_default_is_store_not_query(orthanc_default, write_scope):
    result = await scan_peer(orthanc_default, write_scope)
    assert result.exposure is exposcan.Exposure.STORE
    assert result.ae_title == "ANY-SCP"
    assert "ct-storage" in result.services
    assert "study-root-find" in result.services  # accepted, then refused when used
    assert {"dicom-storage-accepted", "dicom-query-refused", "dicom-ae-title-not-checked"} <= ids(
        result
    )
    assert result.matches is None
    refused = next(f for f in result.findings if f.id == "dicom-query-refused")
    assert "aborted" in refused.evidence
    assert result.fingerprint.toolkit == "DCMTK"
    assert result.fingerprint.product is None  # Orthanc sends DCMTK's identity unchanged


async def test_orthanc_find_open_is_query(orthanc_find_open, write_scope):
    result = await scan_peer(orthanc_find_open, write_scope)
    assert result.exposure is exposcan.Exposure.QUERY
    assert result.matches is not None
    assert result.matches.count == orthanc_find_open.studies
    assert not result.matches.cap_hit
    assert "dicom-query-matches" in ids(result)
    assert_no_patient_data(json.dumps(result.to_dict()))


async def test_orthanc_find_open_cap(orthanc_find_open, write_scope):
    options = ScanOptions(limits=OPTIONS.limits, timeouts=OPTIONS.timeouts, max_matches=2)
    result = await scan_peer(orthanc_find_open, write_scope, options)
    assert result.matches.count == 2
    assert result.matches.cap_hit


async def test_orthanc_guarded_is_protected(orthanc_guarded, write_scope):
    result = await scan_peer(orthanc_guarded, write_scope)
    assert result.exposure is exposcan.Exposure.PROTECTED
    assert result.ae_title is None
    # ANY-SCP: reason 7; ORTHANC: reason 3, which discloses the called title.
    assert {"dicom-called-ae-checked", "dicom-called-ae-disclosed"} <= ids(result)
    assert result.attempts == 2


async def test_dcmqrscp_stock_title_gets_in(dcmqrscp_stock, write_scope):
    result = await scan_peer(dcmqrscp_stock, write_scope)
    assert result.exposure is exposcan.Exposure.QUERY
    assert result.ae_title == dcmqrscp_stock.ae_title
    assert "dicom-stock-ae-title" in ids(result)
    assert result.matches.count == dcmqrscp_stock.studies


async def test_dcmqrscp_with_default_budget_is_protected(dcmqrscp_stock, write_scope):
    """With the default small budget the sample title is not reached: honest 'protected'."""
    options = ScanOptions(limits=OPTIONS.limits, timeouts=OPTIONS.timeouts)
    result = await scan_peer(dcmqrscp_stock, write_scope, options)
    assert result.exposure is exposcan.Exposure.PROTECTED
    assert result.attempts == options.ae_attempts


async def test_storescp_plain_is_store(storescp_plain, write_scope):
    result = await scan_peer(storescp_plain, write_scope)
    assert result.exposure is exposcan.Exposure.STORE
    assert result.protocol is exposcan.Protocol.DIMSE
    assert "study-root-find" not in result.services
    assert result.fingerprint.toolkit == "DCMTK"


async def test_storescp_tls_found_by_retry(storescp_tls, write_scope):
    result = await scan_peer(storescp_tls, write_scope)
    assert result.protocol is exposcan.Protocol.DIMSE_TLS
    assert result.exposure is exposcan.Exposure.STORE
    tls = result.tls
    assert tls is not None
    assert tls.version in ("TLSv1.2", "TLSv1.3")
    assert tls.subject == "CN=exposcan-test"
    assert tls.self_signed is True
    assert tls.key_bits == 2048
    assert tls.client_certificate_required is None
    assert "tls-certificate-self-signed" in ids(result)


async def test_storescp_tls_on_a_tls_port(storescp_tls, write_scope):
    options = ScanOptions(
        limits=OPTIONS.limits, timeouts=OPTIONS.timeouts, tls_ports=(storescp_tls.port,)
    )
    result = await scan_peer(storescp_tls, write_scope, options)
    assert result.protocol is exposcan.Protocol.DIMSE_TLS
    assert result.exposure is exposcan.Exposure.STORE
    assert result.attempts == 2  # first, random: no plaintext try on a TLS port


async def test_storescp_tls_client_certificate_is_protected(storescp_tls_client_cert, write_scope):
    result = await scan_peer(storescp_tls_client_cert, write_scope)
    assert result.protocol is exposcan.Protocol.DIMSE_TLS
    assert result.exposure is exposcan.Exposure.PROTECTED
    assert result.tls is not None
    assert result.tls.client_certificate_required is True
    assert "dicom-tls-client-certificate-required" in ids(result)


@pytest.mark.usefixtures("orthanc_default", "orthanc_guarded")
def test_one_cli_scan_of_every_peer_leaks_no_patient_data(
    orthanc_default,
    orthanc_find_open,
    orthanc_guarded,
    dcmqrscp_stock,
    storescp_plain,
    storescp_tls,
    storescp_tls_client_cert,
    write_scope,
    tmp_path,
):
    peers = [
        orthanc_default,
        orthanc_find_open,
        orthanc_guarded,
        dcmqrscp_stock,
        storescp_plain,
        storescp_tls,
        storescp_tls_client_cert,
    ]
    scope = write_scope(["127.0.0.1"], [p.port for p in peers])
    out = tmp_path / "report.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "exposcan",
            "-vv",
            "scan",
            "--scope",
            str(scope),
            "-o",
            str(out),
            "--per-host-rate",
            "20",
            "--timeout",
            "20",
            "--ae-attempts",
            "16",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONWARNINGS": "error"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = out.read_text(encoding="utf-8")
    for text in (report, proc.stdout, proc.stderr):
        assert_no_patient_data(text)
    endpoints = {
        r["port"]: r for r in map(json.loads, report.splitlines()) if r["record"] == "endpoint"
    }
    for peer in peers:
        assert endpoints[peer.port]["exposure"] == peer.expected["exposure"], peer.name
