"""The command line with web ports: rows in the same JSONL report as DICOM, every format
free of patient data, web-port errors as one line, and resume keyed by the probe's kind.

The imitation web peers run in the test's event loop while ``python -m exposcan`` runs as
a child process (asyncio subprocess, bounded by a timeout, killed if it overruns).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from exposcan.lab import free_port
from exposcan.report import read_jsonl
from tests.support import web_peers as wp
from tests.support.cli_child import run_cli as exposcan
from tests.support.synthetic import MARKER, find_synthetic
from tests.support.web_peers import RETRIEVAL, WEB_SYNTHETIC, WebPeer

HOST = "127.0.0.1"
FAST = ("--rate", "1000", "--per-host-rate", "1000", "--timeout", "5")
FORMATS = ("jsonl", "json", "csv", "sarif", "html")


def scope_file(tmp_path: Path, ports: list[int], web_ports: list[int]) -> Path:
    path = tmp_path / "scope.toml"
    path.write_text(
        "[authorisation]\n"
        'owner = "exposcan tests"\n'
        'reference = "TEST-WEB"\n'
        f"expires = {(date.today() + timedelta(days=30)).isoformat()}\n"
        "[scope]\n"
        f'include = ["{HOST}"]\n'
        f"ports = {ports}\n"
        f"web_ports = {web_ports}\n",
        encoding="utf-8",
    )
    return path


def assert_clean(text: str, what: str) -> None:
    assert MARKER not in text, what
    assert not find_synthetic(text), (what, find_synthetic(text))
    assert not find_synthetic(text, WEB_SYNTHETIC), (what, find_synthetic(text, WEB_SYNTHETIC))


def assert_no_retrieval(*peers: WebPeer) -> None:
    for peer in peers:
        assert peer.retrievals() == [], (peer.name, peer.retrievals())
        assert {a.method for a in peer.log} <= {"GET"}, peer.name


async def test_web_endpoints_in_every_report_format(web_peers, web_tls, scp_factory, tmp_path):
    dicom = scp_factory("OPEN")
    dcm4chee = await web_peers.start("dcm4chee", wp.dcm4chee_arc)
    ohif = await web_peers.start("ohif", wp.ohif_shell)
    login = await web_peers.start("login", wp.login_redirect)
    router = await web_peers.start("router", wp.router_basic_auth)
    tls = await web_peers.start("tls", wp.dicomweb_plain, tls=web_tls.server_context())
    refused = free_port(HOST)
    peers = (dcm4chee, ohif, login, router, tls)
    web_ports = [p.port for p in peers] + [refused]
    scope = scope_file(tmp_path, [dicom], web_ports)

    outputs: dict[str, str] = {}
    for fmt in FORMATS:
        out = tmp_path / f"report.{fmt}"
        code, stdout, stderr = await exposcan(
            "scan", "--scope", str(scope), "--format", fmt, "--output", str(out), *FAST
        )
        assert code == 0, stderr
        assert "Traceback" not in stderr
        outputs[fmt] = out.read_text("utf-8")
        assert_clean(outputs[fmt] + stdout + stderr, fmt)
    assert_no_retrieval(*peers)

    records = list(read_jsonl(tmp_path / "report.jsonl"))
    assert [r["record"] for r in records] == ["scan"] + ["endpoint"] * 7 + ["summary"]
    header, *rows, summary = records
    assert header["ports"] == [dicom]
    assert header["web_ports"] == web_ports
    by_port = {r["port"]: r for r in rows}
    assert len(by_port) == 7

    def row(port: int) -> tuple[str, str, str, set[str]]:
        r = by_port[port]
        return r["protocol"], r["status"], r["exposure"], {f["id"] for f in r["findings"]}

    assert row(dicom)[:3] == ("dimse", "success", "echo")
    protocol, status, exposure, found = row(dcm4chee.port)
    assert (protocol, status, exposure) == ("http", "success", "query")
    assert "web-dicomweb-qido-open" in found
    assert by_port[dcm4chee.port]["matches"]["count"] == 1
    assert by_port[dcm4chee.port]["severity"] == "critical"
    assert by_port[dcm4chee.port]["fingerprint"]["product"] == "dcm4chee-arc"
    assert row(ohif.port) == ("http", "success", "none", {"web-viewer-no-login"})
    assert row(login.port) == ("http", "success", "protected", {"web-auth-required"})
    assert row(router.port) == ("http", "success", "none", {"web-auth-required-unidentified"})
    protocol, status, exposure, found = row(tls.port)
    assert (protocol, status, exposure) == ("https", "success", "query")
    assert {"web-dicomweb-qido-open", "tls-certificate-self-signed"} <= found
    assert by_port[tls.port]["tls"]["self_signed"] is True
    assert row(refused) == ("http", "connection-refused", "none", set())
    assert summary["endpoints_done"] == 7
    assert summary["exposure"]["query"] == 2

    # The other formats hold the same endpoints.
    document = json.loads(outputs["json"])
    assert sorted(e["port"] for e in document["endpoints"]) == sorted(by_port)
    table = list(csv.DictReader(io.StringIO(outputs["csv"])))
    assert {int(r["port"]): r["protocol"] for r in table} == {
        p: r["protocol"] for p, r in by_port.items()
    }
    sarif = json.loads(outputs["sarif"])
    rules = {r["ruleId"] for run in sarif["runs"] for r in run["results"]}
    assert {"web-dicomweb-qido-open", "web-auth-required-unidentified"} <= rules
    assert "https" in outputs["html"]
    assert "DICOMweb QIDO-RS search answers without authentication" in outputs["html"]


async def test_web_port_not_in_scope_is_one_line_and_sends_nothing(web_peers, tmp_path):
    peer = await web_peers.start("dcm4chee", wp.dcm4chee_arc)
    other = free_port(HOST)
    scope = scope_file(tmp_path, [], [peer.port])
    code, stdout, stderr = await exposcan(
        "scan", "--scope", str(scope), "--web-ports", f"{peer.port},{other}", *FAST
    )
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("exposcan: error: --web-ports names port ")
    assert str(other) in lines[0]
    assert stdout == ""
    assert peer.log == []


async def test_port_in_both_lists_is_two_endpoints_and_resume_keeps_them_apart(web_peers, tmp_path):
    peer = await web_peers.start("dcm4chee", wp.dcm4chee_arc)
    scope = scope_file(tmp_path, [peer.port], [peer.port])
    out = tmp_path / "report.jsonl"
    args = ("scan", "--scope", str(scope), "--output", str(out), *FAST)
    code, _, stderr = await exposcan(*args)
    assert code == 0, stderr
    rows = [r for r in read_jsonl(out) if r["record"] == "endpoint"]
    assert sorted(r["protocol"] for r in rows) == ["dimse", "http"]
    assert {r["port"] for r in rows} == {peer.port}

    # Keep the header and the DICOM row only: the web endpoint is unfinished.
    lines = out.read_text("utf-8").splitlines(keepends=True)
    kept = [
        line
        for line in lines
        if json.loads(line)["record"] == "scan" or json.loads(line).get("protocol") == "dimse"
    ]
    out.write_text("".join(kept), encoding="utf-8")
    web_requests_before = len(peer.log)
    code, _, stderr = await exposcan(*args, "--resume")
    assert code == 0, stderr
    rows = [r for r in read_jsonl(out) if r["record"] == "endpoint"]
    assert sorted(r["protocol"] for r in rows) == ["dimse", "http"]  # each once
    assert len(peer.log) > web_requests_before  # the web endpoint was probed again
    assert not [a.path for a in peer.log if RETRIEVAL.search(a.path)]

    # A resume must be the same scan: --try-default-credentials changes what "finished" means.
    code, _, stderr = await exposcan(*args, "--resume", "--try-default-credentials")
    assert code == 2
    assert stderr.strip().splitlines() == [
        f"exposcan: error: cannot resume {out}: option try_default_credentials differs "
        "from this scan's"
    ]


@pytest.fixture(autouse=True)
def _no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The child process must talk to 127.0.0.1 directly (exposcan ignores proxies anyway).
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
