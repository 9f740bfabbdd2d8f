"""Real Orthanc 1.10 with its DICOMweb plugin, remote access on, as a stranger sees it.

Three instances (``tests/support/peers.py``, web variants): authentication off (``query``, with the
study count, the plugin and Orthanc Explorer named), authentication on with a registered
user (``protected``), and authentication on with no RegisteredUsers, where Orthanc's own
default user orthanc/orthanc lets ``--try-default-credentials`` in, once per host.

Each runs with ``--verbose-http``; after every scan the test reads Orthanc's own access log
and checks that no image, frame, rendered or WADO retrieval was served, and that every
``/wado`` it served was the parameterless presence check (the plugin logs that no
requestType was given).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict

from exposcan.classify_web import classify_web
from exposcan.engine import Endpoint, endpoint_result
from exposcan.options import ScanOptions, Timeouts
from exposcan.probes.web import (
    MAX_REQUESTS,
    CredentialLedger,
    WebObservation,
    make_web_session,
    probe_web,
)
from exposcan.results import Verdict
from exposcan.vocabulary import Exposure, Protocol, Severity, Status
from tests.support.peers import Peer
from tests.support.synthetic import MARKER, find_synthetic
from tests.support.web_peers import RETRIEVAL

OPTIONS = ScanOptions(timeouts=Timeouts(connect=2, read=3, release=1, endpoint=8))
#: CivetWeb's request line as Orthanc logs it in the "http" category (HttpServer.cpp).
_SERVED = re.compile(r"\(http\) ([A-Z]+) (\S+)")
#: What the DICOMweb plugin 1.7 logs for a /wado request without requestType (seen in 1.10).
_WADO_WITHOUT_PARAMETERS = 'WADO-URI: Invalid requestType: ""'


class AccessLog:
    """Orthanc's log from a point on: what it served after :meth:`mark`."""

    def __init__(self, peer: Peer) -> None:
        self.path = peer.paths["log"]
        self.offset = self.path.stat().st_size

    def text(self) -> str:
        with self.path.open("rb") as stream:
            stream.seek(self.offset)
            return stream.read().decode("utf-8", "replace")

    def served(self) -> list[tuple[str, str]]:
        return [(m.group(1), m.group(2)) for m in _SERVED.finditer(self.text())]

    def assert_no_retrieval(self) -> None:
        served = self.served()
        assert all(method == "GET" for method, _ in served), served
        assert not [p for _, p in served if RETRIEVAL.search(p)], served
        wado = [p for _, p in served if p.startswith("/wado")]
        assert all(p == "/wado" for p in wado), wado
        assert self.text().count(_WADO_WITHOUT_PARAMETERS) == len(wado), self.text()
        assert not find_synthetic(self.text())


async def scan(
    peer: Peer, options: ScanOptions = OPTIONS, ledger: CredentialLedger | None = None
) -> tuple[WebObservation, Verdict]:
    assert peer.http_port is not None
    async with make_web_session(options) as session:
        observation = await probe_web(
            peer.host, peer.http_port, options, session=session, ledger=ledger
        )
    verdict = classify_web(observation)
    row = endpoint_result(Endpoint(peer.host, peer.http_port, Protocol.HTTP), observation, verdict)
    text = "\n".join(
        [
            repr(observation),
            json.dumps(asdict(observation), default=str),
            repr(verdict),
            json.dumps(row.to_dict()),
        ]
    )
    assert not find_synthetic(text), find_synthetic(text)
    assert MARKER not in text
    assert len(observation.requests) <= MAX_REQUESTS
    assert not [r.path for r in observation.requests if RETRIEVAL.search(r.path)]
    return observation, verdict


def ids(verdict: Verdict) -> dict[str, Severity]:
    return {f.id: f.severity for f in verdict.findings}


async def test_remote_access_without_auth_is_query_with_count_plugin_and_explorer(
    orthanc_web_open: Peer,
):
    peer = orthanc_web_open
    assert peer.expected["http"]["remote_access"] is True
    log = AccessLog(peer)
    observation, verdict = await scan(peer)

    assert observation.status is Status.SUCCESS
    assert verdict.exposure is Exposure.QUERY
    assert (observation.product, observation.version) == ("Orthanc", "1.10.1")
    assert verdict.matches is not None
    assert (verdict.matches.count, verdict.matches.cap_hit) == (peer.studies, False)
    assert ids(verdict)["web-orthanc-rest-open"] is Severity.CRITICAL
    assert ids(verdict)["web-dicomweb-qido-open"] is Severity.CRITICAL
    # The DICOMweb plugin, named by its own metadata (its /wado answers 404 here).
    assert ids(verdict)["web-orthanc-dicomweb-plugin"] is Severity.INFO
    plugin = next(c for c in observation.checks if c.service == "orthanc-dicomweb-plugin")
    assert (plugin.path, plugin.version) == ("/plugins/dicom-web", "1.7")
    assert [r.status for r in observation.requests if r.path == "/wado"] == [404]
    assert "wado-uri" not in verdict.services
    # Orthanc Explorer, from the redirect at "/".
    assert observation.viewers == ("orthanc-explorer",)
    # Orthanc's 301 to app/explorer.html: a redirect on this origin (its target is not kept).
    assert [r.same_origin for r in observation.requests if r.path == "/"] == [True]
    assert {"orthanc-rest", "orthanc-dicomweb-plugin", "dicomweb-qido", "orthanc-explorer"} <= set(
        verdict.services
    )

    served = [path for _, path in log.served()]
    assert {"/system", "/statistics", "/plugins/dicom-web", "/dicom-web/studies"} <= set(served)
    log.assert_no_retrieval()


async def test_remote_access_with_auth_is_protected(orthanc_web_auth: Peer):
    peer = orthanc_web_auth
    log = AccessLog(peer)
    observation, verdict = await scan(peer)

    assert verdict.exposure is Exposure.PROTECTED
    assert observation.auth_wall
    assert observation.product == "Orthanc"  # Orthanc's own realm
    assert "Basic" in observation.auth_schemes
    assert set(ids(verdict)) == {"web-auth-required"}
    assert verdict.matches is None
    assert {r.status for r in observation.requests} == {peer.expected["http"]["status"]}
    # Orthanc served nothing: every request was refused before its handler.
    assert log.served() == []
    log.assert_no_retrieval()

    # Its registered user's password is not the default: one refused try.
    options = ScanOptions(timeouts=OPTIONS.timeouts, try_default_credentials=True)
    observation, verdict = await scan(peer, options)
    assert observation.credentials is not None
    assert observation.credentials.outcome == "refused"
    assert verdict.exposure is Exposure.PROTECTED
    assert [r.path for r in observation.requests if r.with_credentials] == ["/system"]
    assert log.served() == []


async def test_default_user_is_found_once_per_host(orthanc_web_default_user: Peer):
    peer = orthanc_web_default_user
    log = AccessLog(peer)

    # Off by default: protected, nothing tried.
    observation, verdict = await scan(peer)
    assert verdict.exposure is Exposure.PROTECTED
    assert not any(r.with_credentials for r in observation.requests)
    assert log.served() == []

    options = ScanOptions(timeouts=OPTIONS.timeouts, try_default_credentials=True)
    ledger = CredentialLedger()  # one per scan, as the engine keeps it
    first, verdict = await scan(peer, options, ledger)
    again, _ = await scan(peer, options, ledger)

    assert first.credentials is not None
    assert first.credentials.outcome == "accepted"
    assert ids(verdict)["web-default-credentials"] is Severity.CRITICAL
    assert "'orthanc'" in next(f.evidence for f in verdict.findings if f.id.endswith("credentials"))
    assert verdict.exposure is Exposure.QUERY
    assert verdict.matches is not None
    assert verdict.matches.count == peer.studies
    assert [r.path for r in first.requests if r.with_credentials] == ["/system", "/statistics"]
    # Same host, same scan: the pair is not sent again.
    assert again.credentials is not None
    assert again.credentials.outcome == "already-tried"
    assert not any(r.with_credentials for r in again.requests)
    assert len(ledger) == 1
    # Orthanc's side: it served exactly the one accepted try and its count.
    assert log.served() == [("GET", "/system"), ("GET", "/statistics")]
    log.assert_no_retrieval()


async def test_web_api_names_the_product_behind_its_dicom_port(orthanc_web_open: Peer, tmp_path):
    """Orthanc answers A-ASSOCIATE with DCMTK's identity; its /system names its DicomPort.
    One scan of both ports: the web port goes first and the DICOM row says Orthanc 1.10.1,
    on DCMTK, while a DICOM port the web API did not name keeps the toolkit alone."""
    import exposcan
    from tests.support.scope_files import scope_text

    peer = orthanc_web_open
    observation, _ = await scan(peer)
    assert observation.dicom_port == peer.port
    assert peer.http_port is not None
    scope = tmp_path / "scope.toml"
    text = scope_text([peer.host], [peer.port]) + f"web_ports = [{peer.http_port}]\n"
    scope.write_text(text, encoding="utf-8")
    report = await exposcan.scan(scope, options=ScanOptions(timeouts=OPTIONS.timeouts))
    rows = {(r.protocol, r.port): r for r in report.results}
    assert [r.protocol for r in report.results] == [Protocol.HTTP, Protocol.DIMSE]
    dicom = rows[(Protocol.DIMSE, peer.port)]
    assert dicom.fingerprint is not None
    assert (dicom.fingerprint.product, dicom.fingerprint.version) == ("Orthanc", "1.10.1")
    assert dicom.fingerprint.toolkit == "DCMTK"

    # Without the web port in the scan, the same DICOM port is only its toolkit.
    alone = tmp_path / "alone.toml"
    alone.write_text(scope_text([peer.host], [peer.port]), encoding="utf-8")
    (only,) = (await exposcan.scan(alone, options=ScanOptions(timeouts=OPTIONS.timeouts))).results
    assert only.fingerprint is not None
    assert only.fingerprint.product != "Orthanc"
    assert only.fingerprint.toolkit == "DCMTK"
