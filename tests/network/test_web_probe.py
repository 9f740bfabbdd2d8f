"""The web probe and its verdicts: real Orthanc (with DICOMweb) and imitation web peers.

Every server here runs on 127.0.0.1 and is stopped by its fixture. After each probe the
test checks that no retrieval URL reached any server (access logs, and the probe's own
request records for Orthanc), that every body read stayed under the cap, and that no
synthetic patient value reached the observation, the verdict or the report row.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict

import aiohttp
import pytest

import exposcan
from exposcan.classify_web import classify_web
from exposcan.engine import Endpoint, endpoint_result
from exposcan.lab import free_port
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.probes.web import (
    MAX_BODY_BYTES,
    MAX_REQUESTS,
    USER_AGENT,
    CredentialLedger,
    LoginRedirect,
    Outcome,
    ServiceCheck,
    UnsafePathError,
    WebObservation,
    WebService,
    check_path,
    make_web_session,
    probe_web,
    schemes_for,
)
from exposcan.results import EndpointResult, Verdict
from exposcan.scope import parse_scope
from exposcan.vocabulary import Exposure, Protocol, Severity, Status
from tests.support import web_peers as wp
from tests.support.peers import Peer
from tests.support.synthetic import MARKER, find_synthetic
from tests.support.web_peers import RETRIEVAL, WEB_SYNTHETIC, WebPeer

HOST = "127.0.0.1"
QUICK = ScanOptions(timeouts=Timeouts(connect=1, read=1, release=1, endpoint=3))


async def scan(
    port: int,
    options: ScanOptions = QUICK,
    *,
    session: aiohttp.ClientSession | None = None,
    permit: Callable[[], Awaitable[None]] | None = None,
    ledger: CredentialLedger | None = None,
) -> tuple[WebObservation, Verdict]:
    if session is None:
        async with make_web_session(options) as own:
            observation = await probe_web(
                HOST, port, options, session=own, permit=permit, ledger=ledger
            )
    else:
        observation = await probe_web(
            HOST, port, options, session=session, permit=permit, ledger=ledger
        )
    verdict = classify_web(observation)
    _assert_clean(observation, verdict)
    return observation, verdict


def _row(observation: WebObservation, verdict: Verdict) -> EndpointResult:
    """The report row, built by the engine's own builder."""
    endpoint = Endpoint(observation.host, observation.port, Protocol.HTTP)
    return endpoint_result(endpoint, observation, verdict)


def _assert_clean(observation: WebObservation, verdict: Verdict) -> None:
    """Bounded bytes, no retrieval asked for, and no synthetic value anywhere in the output."""
    assert len(observation.requests) <= MAX_REQUESTS
    for record in observation.requests:
        assert record.bytes_read <= MAX_BODY_BYTES, record
        assert not RETRIEVAL.search(record.path), record.path
    text = "\n".join(
        [
            repr(observation),
            json.dumps(asdict(observation), default=str),
            repr(verdict),
            json.dumps(_row(observation, verdict).to_dict(), default=str),
        ]
    )
    assert not find_synthetic(text), find_synthetic(text)
    assert not find_synthetic(text, WEB_SYNTHETIC), find_synthetic(text, WEB_SYNTHETIC)
    assert MARKER not in text


def _assert_log_clean(*peers: WebPeer) -> None:
    for peer in peers:
        assert peer.retrievals() == [], (peer.name, peer.retrievals())
        for access in peer.log:
            assert access.method == "GET", access
            if access.user_agent is not None:
                assert access.user_agent == USER_AGENT


def ids(verdict: Verdict) -> dict[str, Severity]:
    return {f.id: f.severity for f in verdict.findings}


# --------------------------------------------------------------------------- real Orthanc


async def test_orthanc_open_rest_is_query_with_its_study_count(orthanc_default: Peer, caplog):
    caplog.set_level(logging.DEBUG)
    assert orthanc_default.http_port is not None
    observation, verdict = await scan(orthanc_default.http_port, ScanOptions())

    assert observation.status is Status.SUCCESS
    assert observation.protocol is Protocol.HTTP
    assert verdict.exposure is Exposure.QUERY
    assert observation.product == "Orthanc"
    assert observation.version is not None
    assert observation.version.startswith("1.")
    assert verdict.fingerprint is not None
    assert (verdict.fingerprint.product, verdict.fingerprint.version) == (
        "Orthanc",
        observation.version,
    )
    assert verdict.matches is not None
    assert verdict.matches.count == orthanc_default.studies == 3
    assert not verdict.matches.cap_hit
    assert ids(verdict)["web-orthanc-rest-open"] is Severity.CRITICAL
    # The DICOMweb plugin is loaded: QIDO-RS answers a stranger too.
    assert ids(verdict)["web-dicomweb-qido-open"] is Severity.CRITICAL
    assert {"orthanc-rest", "dicomweb-qido"} <= set(verdict.services)
    paths = [r.path for r in observation.requests]
    assert "/statistics" in paths
    assert "/dicom-web/studies?limit=1" in paths
    assert not find_synthetic(caplog.text)


async def test_orthanc_with_auth_is_protected(orthanc_guarded: Peer):
    assert orthanc_guarded.http_port is not None
    observation, verdict = await scan(orthanc_guarded.http_port, ScanOptions())

    assert observation.status is Status.SUCCESS
    assert verdict.exposure is Exposure.PROTECTED
    assert observation.auth_wall
    assert observation.product == "Orthanc"  # from the WWW-Authenticate realm
    assert "Basic" in observation.auth_schemes
    assert set(ids(verdict)) == {"web-auth-required"}
    assert verdict.matches is None
    assert all(r.status == 401 for r in observation.requests)
    assert not any(r.with_credentials for r in observation.requests)  # off by default


async def test_orthanc_default_credentials_refused_and_tried_once_per_host(
    orthanc_guarded: Peer,
):
    assert orthanc_guarded.http_port is not None
    options = ScanOptions(try_default_credentials=True)
    ledger = CredentialLedger()  # the engine keeps one per scan
    first, verdict = await scan(orthanc_guarded.http_port, options, ledger=ledger)
    again, _ = await scan(orthanc_guarded.http_port, options, ledger=ledger)

    assert [r.path for r in first.requests if r.with_credentials] == ["/system"]
    assert first.credentials is not None
    assert first.credentials.outcome == "refused"
    assert verdict.exposure is Exposure.PROTECTED
    assert "default credentials for Orthanc refused" in verdict.findings[0].evidence
    # Same host, same scan: never a second try with the same pair.
    assert not any(r.with_credentials for r in again.requests)
    assert again.credentials is not None
    assert again.credentials.outcome == "already-tried"


# --------------------------------------------------------------------------- imitations


async def test_dcm4chee_qido_listing_is_query(web_peers):
    peer = await web_peers.start("dcm4chee", wp.dcm4chee_arc)
    observation, verdict = await scan(peer.port)

    assert verdict.exposure is Exposure.QUERY
    assert observation.product == "dcm4chee-arc"
    assert ids(verdict)["web-dicomweb-qido-open"] is Severity.CRITICAL
    assert verdict.matches is not None
    assert (verdict.matches.count, verdict.matches.cap_hit) == (1, True)  # limit=1
    assert {"dcm4chee-arc", "dicomweb-qido", "dcm4chee-ui"} <= set(verdict.services)
    qido = [a for a in peer.log if "/rs/" in a.path]
    assert [a.path for a in qido] == ["/dcm4chee-arc/aets/DCM4CHEE/rs/studies?limit=1"]
    assert qido[0].accept is not None
    assert "application/dicom+json" in qido[0].accept
    _assert_log_clean(peer)


async def test_ohif_shell_answering_every_path_is_a_viewer_not_a_query(web_peers):
    peer = await web_peers.start("ohif", wp.ohif_shell)
    observation, verdict = await scan(peer.port)

    assert observation.catch_all
    assert observation.viewers == ("ohif",)
    assert observation.viewer_api_elsewhere  # app-config.js names another origin
    assert verdict.exposure is Exposure.NONE
    assert observation.checks == ()  # no 200 from the shell was taken for an API
    assert ids(verdict) == {"web-viewer-no-login": Severity.LOW}
    assert verdict.services == ("ohif",)
    assert "/app-config.js" in peer.paths()
    _assert_log_clean(peer)


async def test_json_catch_all_is_not_a_qido_service(web_peers):
    peer = await web_peers.start("json-everywhere", wp.dicomweb_json_everywhere)
    observation, verdict = await scan(peer.port)

    assert observation.catch_all
    assert observation.checks == ()
    assert verdict.exposure is Exposure.NONE
    _assert_log_clean(peer)


async def test_login_redirect_is_protected_and_its_query_is_dropped(web_peers):
    peer = await web_peers.start("login", wp.login_redirect)
    observation, verdict = await scan(peer.port)

    assert verdict.exposure is Exposure.PROTECTED
    assert observation.auth_wall
    # Facts, not the target: its path and query are the peer's text (issue 10, class 4).
    assert observation.login_redirect == LoginRedirect(status=302, same_origin=True)
    assert "/auth/realms" not in repr(observation)
    assert observation.product == "dcm4chee-arc"  # the Keycloak realm named it
    assert set(ids(verdict)) == {"web-auth-required"}
    assert wp.LOGIN_STATE not in repr(observation)
    # Never followed: the login page itself was not requested.
    assert not any(p.startswith("/auth/") for p in peer.paths())
    _assert_log_clean(peer)


async def test_endless_body_is_read_up_to_the_cap_only(web_peers):
    peer = await web_peers.start("endless", wp.endless_body)
    started = time.monotonic()
    observation, verdict = await scan(peer.port)
    elapsed = time.monotonic() - started

    assert observation.status is Status.SUCCESS
    assert observation.requests
    for record in observation.requests:
        assert record.status == 200
        assert record.truncated
        assert record.bytes_read == MAX_BODY_BYTES
    assert observation.bytes_read <= MAX_REQUESTS * MAX_BODY_BYTES
    assert elapsed < QUICK.timeouts.endpoint
    assert verdict.exposure is Exposure.NONE
    _assert_log_clean(peer)


async def test_server_that_never_answers_costs_one_read_timeout(web_peers):
    peer = await web_peers.silent()
    started = time.monotonic()
    observation, verdict = await scan(peer.port)
    elapsed = time.monotonic() - started

    assert observation.status is Status.IO_TIMEOUT
    assert verdict.exposure is Exposure.NONE
    assert len(observation.requests) == 1  # no point asking a silent peer again
    assert elapsed < QUICK.timeouts.read + 1.0
    assert peer.connections == 1
    _assert_log_clean(peer)


async def test_server_that_never_answers_is_bounded_by_the_endpoint_deadline(web_peers):
    peer = await web_peers.silent()
    options = ScanOptions(timeouts=Timeouts(connect=1, read=30, endpoint=0.5))
    started = time.monotonic()
    observation, verdict = await scan(peer.port, options)
    elapsed = time.monotonic() - started

    assert observation.status is Status.IO_TIMEOUT
    assert observation.detail == "endpoint deadline reached"
    assert verdict.exposure is Exposure.NONE
    assert elapsed < 0.5 + 0.5
    assert observation.requests[-1].error is Status.IO_TIMEOUT


async def test_https_self_signed_after_plain_http_fails(web_peers, web_tls):
    peer = await web_peers.start("tls", wp.dicomweb_plain, tls=web_tls.server_context())
    observation, verdict = await scan(peer.port)

    assert observation.protocol is Protocol.HTTPS
    assert observation.scheme_fallback  # HTTP first (not 443/8443), then HTTPS
    assert observation.requests[0].error is Status.CONNECTION_CLOSED
    tls = observation.tls
    assert tls is not None
    assert tls.self_signed is True
    assert tls.subject == tls.issuer == web_tls.subject
    assert tls.version in ("TLSv1.2", "TLSv1.3")
    assert tls.key_bits == 256
    assert verdict.exposure is Exposure.QUERY
    assert "tls-certificate-self-signed" in ids(verdict)
    assert _row(observation, verdict).to_dict()["protocol"] == "https"
    _assert_log_clean(peer)


async def test_default_credentials_accepted_is_critical(web_peers):
    peer = await web_peers.start("orthanc-default", wp.orthanc_default_password)
    _, off_verdict = await scan(peer.port)
    assert off_verdict.exposure is Exposure.PROTECTED
    assert not any(a.authorization for a in peer.log)  # nothing tried unless asked

    options = ScanOptions(timeouts=QUICK.timeouts, try_default_credentials=True)
    observation, verdict = await scan(peer.port, options)
    assert observation.credentials is not None
    assert observation.credentials.outcome == "accepted"
    assert ids(verdict)["web-default-credentials"] is Severity.CRITICAL
    assert verdict.exposure is Exposure.QUERY
    assert verdict.matches is not None
    assert verdict.matches.count == 5
    assert observation.version == "1.12.4"
    with_auth = [a.path for a in peer.log if a.authorization]
    assert with_auth == ["/system", "/statistics"]  # one try; then one count
    _assert_log_clean(peer)


async def test_wado_uri_presence_is_checked_without_parameters(web_peers):
    peer = await web_peers.start("wado", wp.wado_uri_only)
    _, verdict = await scan(peer.port)

    assert verdict.exposure is Exposure.ECHO
    assert ids(verdict) == {"web-wado-uri-present": Severity.MEDIUM}
    assert "wado-uri" in verdict.services
    assert [a.path for a in peer.log if a.path.startswith("/wado")] == ["/wado"]
    _assert_log_clean(peer)


async def test_connection_refused_is_quick_and_none():
    started = time.monotonic()
    observation, verdict = await scan(free_port(HOST))
    assert observation.status is Status.CONNECTION_REFUSED
    assert verdict.exposure is Exposure.NONE
    assert len(observation.requests) == 1
    assert time.monotonic() - started < 1


async def test_permit_is_awaited_before_every_request(web_peers):
    peer = await web_peers.start("dcm4chee", wp.dcm4chee_arc)
    granted = 0

    async def permit() -> None:
        nonlocal granted
        granted += 1

    observation, _ = await scan(peer.port, permit=permit)
    assert granted == len(observation.requests) == len(peer.log)


# --------------------------------------------------------------------------- units


async def test_session_is_configured_for_strangers():
    options = ScanOptions(limits=Limits(concurrency=7, per_host_concurrency=2))
    async with make_web_session(options) as session:
        assert isinstance(session.cookie_jar, aiohttp.DummyCookieJar)
        assert session.trust_env is False
        assert session.headers["User-Agent"] == USER_AGENT
        # One deadline per request that a trickling answer cannot move (test_deadlines.py).
        assert session.timeout.total == options.timeouts.connect + options.timeouts.read
        assert session.timeout.sock_connect == options.timeouts.connect
        assert session.timeout.sock_read == options.timeouts.read
        connector = session.connector
        assert isinstance(connector, aiohttp.TCPConnector)
        assert (connector.limit, connector.limit_per_host) == (7, 2)
        assert connector.force_close is True


def test_scheme_order():
    assert schemes_for(443) == schemes_for(8443) == ("https", "http")
    assert schemes_for(8042) == schemes_for(80) == ("http", "https")


@pytest.mark.parametrize(
    "path",
    [
        "/wado?requestType=WADO&studyUID=1&seriesUID=2&objectUID=3",
        "/wado/",
        "/dicom-web/studies/1.2.3",
        "/dicom-web/studies/1.2.3/series/4/instances/5/frames/1",
        "/dicom-web/studies/1.2.3/rendered",
        "/instances/abc/file",
        "/studies/abc/archive",
        "/studies/abc/media",
        "/instances/abc/preview",
        "/dcm4chee-arc/aets/DCM4CHEE/rs/studies/1.2/thumbnail",
        "/series?limit=1",
        "http://elsewhere/",
        "//elsewhere/studies",
    ],
)
def test_retrieval_paths_are_refused_before_sending(path):
    with pytest.raises(UnsafePathError):
        check_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "/system",
        "/statistics",
        "/studies?limit=100",
        "/dicom-web/studies?limit=1",
        "/dcm4chee-arc/aets/DCM4CHEE/rs/studies?limit=1",
        "/wado",
        "/app-config.js",
        "/exposcan-0123456789abcdef",
        # Common AE titles are not download words when they are not the last segment.
        "/dcm4chee-arc/aets/ARCHIVE/rs/studies?limit=1",
        "/dcm4chee-arc/aets/MEDIA/rs/studies?limit=1",
    ],
)
def test_probe_paths_are_allowed(path):
    assert check_path(path) == path
    assert not RETRIEVAL.search(path)


async def test_permit_waits_count_against_the_endpoint_deadline(web_peers):
    peer = await web_peers.start("dcm4chee", wp.dcm4chee_arc)

    async def slow_permit() -> None:
        await asyncio.sleep(0.3)

    options = ScanOptions(timeouts=Timeouts(connect=1, read=1, endpoint=0.5))
    started = time.monotonic()
    observation, verdict = await scan(peer.port, options, permit=slow_permit)
    elapsed = time.monotonic() - started

    # The first permit comes before the clock starts; then 0.5 s buys one more request.
    assert len(observation.requests) == 2
    assert observation.status is Status.SUCCESS
    assert observation.detail == "endpoint deadline reached after 2 request(s)"
    assert elapsed < 0.3 + 0.5 + 0.3
    assert verdict.exposure is Exposure.NONE
    _assert_log_clean(peer)


async def test_https_first_port_falls_back_to_plain_http(web_peers, monkeypatch):
    peer = await web_peers.start("plain-on-https-port", wp.dcm4chee_arc)
    monkeypatch.setattr("exposcan.probes.web.scheme.HTTPS_FIRST_PORTS", frozenset({peer.port}))
    observation, verdict = await scan(peer.port)

    assert observation.protocol is Protocol.HTTP
    assert observation.scheme_fallback
    assert observation.requests[0].error is Status.TLS_ERROR  # a ClientHello to HTTP
    assert observation.tls is None
    assert verdict.exposure is Exposure.QUERY
    _assert_log_clean(peer)


async def test_tls_client_certificate_required_is_protected(tls_client_cert_server, web_tls):
    observation, verdict = await scan(tls_client_cert_server.port)

    assert observation.protocol is Protocol.HTTPS
    assert observation.status is Status.TLS_ERROR
    assert observation.detail == "TLSV13_ALERT_CERTIFICATE_REQUIRED"
    assert observation.tls is not None
    assert observation.tls.client_certificate_required is True
    assert observation.tls.subject == web_tls.subject  # read during the handshake
    assert verdict.exposure is Exposure.PROTECTED
    assert "web-tls-client-certificate-required" in ids(verdict)
    # Plain HTTP, then HTTPS, then one bare handshake: nothing more.
    assert [r.method for r in observation.requests] == ["GET", "GET", "TLS"]


def _observation(**kw) -> WebObservation:
    base = {
        "host": HOST,
        "port": 8080,
        "protocol": Protocol.HTTP,
        "status": Status.SUCCESS,
        "detail": None,
        "requests": (),
    }
    return WebObservation(**{**base, **kw})


def test_classify_levels_from_checks():
    empty_qido = ServiceCheck(
        service="dicomweb-qido", path="/dicom-web/studies?limit=1", outcome="empty", studies=0
    )
    verdict = classify_web(_observation(checks=(empty_qido,)))
    assert verdict.exposure is Exposure.ECHO
    assert ids(verdict) == {"web-dicomweb-qido-open-none-listed": Severity.HIGH}
    assert verdict.matches is not None
    assert verdict.matches.count == 0

    # A product's AE listing names it; it proves no data API.
    aets = ServiceCheck(service="dcm4chee-arc", path="/dcm4chee-arc/aets", outcome="present")
    verdict = classify_web(_observation(checks=(aets,), product="dcm4chee-arc"))
    assert verdict.exposure is Exposure.NONE
    assert verdict.services == ("dcm4chee-arc",)
    assert verdict.fingerprint is not None
    assert verdict.fingerprint.product == "dcm4chee-arc"

    # Nothing answered: none, no findings, no fingerprint.
    verdict = classify_web(_observation(status=Status.CONNECTION_REFUSED))
    assert (verdict.exposure, verdict.findings, verdict.fingerprint) == (Exposure.NONE, (), None)


def test_classify_exact_count_is_not_capped():
    statistics = ServiceCheck(
        service="orthanc-rest",
        path="/statistics",
        outcome="listed",
        studies=5000,
        exact=True,
        cap=100,
    )
    verdict = classify_web(_observation(checks=(statistics,), product="Orthanc"))
    assert verdict.exposure is Exposure.QUERY
    assert verdict.matches is not None
    assert (verdict.matches.count, verdict.matches.cap_hit) == (5000, False)
    assert "CountStudies = 5000" in verdict.findings[0].evidence


# --------------------------------------------------------------------------- audit gaps


async def test_idle_connections_never_outlive_a_request(connection_counter):
    """Two web ports on one host, one endpoint at a time per host: never two connections
    open at once, not even an idle keep-alive one left by the port probed before."""
    first, second = connection_counter.ports
    scope = parse_scope(
        "[authorisation]\nowner = 'tests'\nreference = 'T-1'\nexpires = 2999-12-31\n"
        f"[scope]\ninclude = ['{HOST}']\nports = []\nweb_ports = [{first}, {second}]\n"
    )
    options = ScanOptions(
        limits=Limits(rate=1000, per_host_rate=1000, per_host_concurrency=1),
        timeouts=QUICK.timeouts,
    )
    report = await exposcan.scan(scope, options=options)

    assert sorted(r.port for r in report.results) == sorted([first, second])
    assert all(r.status is Status.SUCCESS for r in report.results)
    ports_asked = {port for port, _ in connection_counter.requests}
    assert ports_asked == {first, second}
    assert connection_counter.max_open == 1
    # One connection per request (a permit is taken per request anyway).
    assert connection_counter.accepted == len(connection_counter.requests)
    assert sum(r.attempts for r in report.results) == len(connection_counter.requests)


async def test_kheops_token_wall_on_its_api_is_protected(web_peers):
    peer = await web_peers.start("kheops", wp.kheops)
    observation, verdict = await scan(peer.port)

    assert observation.viewers == ("kheops-ui",)
    assert observation.product == "Kheops"
    assert "Bearer" in observation.auth_schemes
    assert [c.outcome for c in observation.checks if c.service == "dicomweb-qido"] == ["refused"]
    assert "/api/studies?limit=1" in peer.paths()
    assert verdict.exposure is Exposure.PROTECTED
    assert ids(verdict) == {"web-auth-required": Severity.INFO}
    assert {"kheops-ui", "dicomweb-qido"} <= set(verdict.services)
    _assert_log_clean(peer)


async def test_dicoogle_ui_is_a_viewer_with_its_version_and_its_login_is_never_posted(web_peers):
    peer = await web_peers.start("dicoogle", wp.dicoogle)
    options = ScanOptions(timeouts=QUICK.timeouts, try_default_credentials=True)
    observation, verdict = await scan(peer.port, options)

    assert observation.viewers == ("dicoogle-ui",)
    assert (observation.product, observation.version) == ("Dicoogle", "3.4.0")
    assert verdict.exposure is Exposure.NONE
    assert ids(verdict) == {"web-viewer-present": Severity.INFO}
    assert {"dicoogle", "dicoogle-ui"} <= set(verdict.services)
    assert observation.credentials is None  # its login is a form POST: not tried
    assert "/login" not in peer.paths()
    assert "/ext/version" in peer.paths()
    _assert_log_clean(peer)


async def test_orthanc_behind_a_reverse_proxy_prefix_is_found(web_peers):
    peer = await web_peers.start("orthanc-nginx", wp.orthanc_behind_proxy)
    observation, verdict = await scan(peer.port)

    assert (observation.product, observation.version) == ("Orthanc", "1.12.1")
    assert verdict.exposure is Exposure.QUERY
    assert verdict.matches is not None
    assert verdict.matches.count == 4
    assert ids(verdict)["web-orthanc-rest-open"] is Severity.CRITICAL
    assert ids(verdict)["web-orthanc-dicomweb-plugin"] is Severity.INFO
    plugin = next(c for c in observation.checks if c.service == "orthanc-dicomweb-plugin")
    assert (plugin.path, plugin.version) == ("/orthanc/plugins/dicom-web", "1.13")
    paths = peer.paths()
    assert "/system" in paths
    assert paths.index("/system") < paths.index("/orthanc/system")
    assert "/pacs/system" not in paths  # found at the first prefix: no more tried
    assert "/orthanc/statistics" in paths
    assert "/orthanc/dicom-web/studies?limit=1" in paths
    assert len(observation.requests) <= MAX_REQUESTS
    _assert_log_clean(peer)


async def test_proxy_prefixes_are_bounded_on_a_server_with_nothing(web_peers):
    peer = await web_peers.start("nothing", wp.wado_uri_only)  # 404 but /wado
    observation, _ = await scan(peer.port)

    systems = [p for p in peer.paths() if p.endswith("/system")]
    assert systems == ["/system", "/orthanc/system", "/pacs/system", "/dicomweb/system"]
    qido = [p for p in peer.paths() if p.endswith("/studies?limit=1")]
    assert qido == [
        "/dicom-web/studies?limit=1",
        "/dicomweb/studies?limit=1",
        "/orthanc/dicom-web/studies?limit=1",
        "/pacs/dicom-web/studies?limit=1",
        "/dicomweb/dicom-web/studies?limit=1",
    ]
    assert len(observation.requests) == len(peer.log) < MAX_REQUESTS
    assert observation.detail is None  # the plan ended; the budget was not what stopped it


async def test_router_basic_auth_is_not_protected_dicom(web_peers):
    peer = await web_peers.start("router", wp.router_basic_auth)
    observation, verdict = await scan(peer.port)

    assert observation.auth_wall
    assert observation.product is None
    assert verdict.exposure is Exposure.NONE
    assert ids(verdict) == {"web-auth-required-unidentified": Severity.INFO}
    assert "no DICOM product" in verdict.findings[0].evidence
    assert verdict.services == ()
    _assert_log_clean(peer)


async def test_a_refused_wado_alone_is_not_protected(web_peers):
    peer = await web_peers.start("wado-403", wp.wado_forbidden)
    observation, verdict = await scan(peer.port)

    assert not observation.auth_wall
    assert [r.status for r in observation.requests if r.path == "/wado"] == [403]
    assert verdict.exposure is Exposure.NONE
    assert ids(verdict) == {"web-auth-required-unidentified": Severity.INFO}
    assert verdict.services == ()
    _assert_log_clean(peer)


async def test_a_refused_dicomweb_search_alone_is_protected(web_peers):
    peer = await web_peers.start("dicomweb-401", wp.dicomweb_guarded)
    observation, verdict = await scan(peer.port)

    assert not observation.auth_wall
    assert observation.product is None
    assert verdict.exposure is Exposure.PROTECTED
    assert ids(verdict) == {"web-auth-required": Severity.INFO}
    assert verdict.services == ("dicomweb-qido",)
    _assert_log_clean(peer)


def test_vocabularies_are_str_valued():
    check = ServiceCheck(service=WebService.ORTHANC_REST, path="/system", outcome=Outcome.PRESENT)
    row = json.loads(json.dumps(asdict(check)))
    assert row["service"] == "orthanc-rest"
    assert row["outcome"] == "present"


async def test_engine_tries_a_default_pair_once_per_host_across_ports(web_peers):
    first = await web_peers.start("orthanc-a", wp.orthanc_default_password)
    second = await web_peers.start("orthanc-b", wp.orthanc_default_password)
    scope = parse_scope(
        "[authorisation]\nowner = 'tests'\nreference = 'T-1'\nexpires = 2999-12-31\n"
        f"[scope]\ninclude = ['{HOST}']\nports = []\nweb_ports = [{first.port}, {second.port}]\n"
    )
    options = ScanOptions(
        limits=Limits(rate=1000, per_host_rate=1000),
        timeouts=QUICK.timeouts,
        try_default_credentials=True,
    )
    report = await exposcan.scan(scope, options=options)

    by_port = {r.port: r for r in report.results}
    assert by_port[first.port].exposure is Exposure.QUERY
    assert "web-default-credentials" in {f.id for f in by_port[first.port].findings}
    assert by_port[second.port].exposure is Exposure.PROTECTED  # not tried again
    with_auth = [a.path for peer in (first, second) for a in peer.log if a.authorization]
    assert with_auth == ["/system", "/statistics"]
    _assert_log_clean(first, second)
