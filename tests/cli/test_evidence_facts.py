"""Issue 10, class 4: evidence keeps facts, never a peer's free text.

Every place where a peer's own words could reach a result gets the synthetic patient
marker (tests/support/synthetic.py): a login redirect's path and query, on this origin and on
another; an AE title an archive lists (and the QIDO-RS path built from it); a viewer's
configured QIDO root; a ``WWW-Authenticate`` scheme and realm; Orthanc's ``/system``
(Name, Version, DicomAet), its plugin's version and the ``Server`` header's version; a
page title; and on the DICOM side the AE titles an A-ASSOCIATE-AC echoes, its
implementation class UID, and a C-ECHO-RSP Error Comment (0000,0902). Scanned through the
CLI in every format, with ``-vv`` logs, through the library and the terminal view: the
marker appears nowhere, and the facts (status, same origin or not, placeholders, counts)
are there instead.

The implementation version name is not on this list: it is the peer's identity string
(PS3.7 D.3.3.2, at most 16 characters, fixed per build), reported cleaned like a
certificate's subject (tests/cli/test_injection.py), not free text a request can fill.
"""

from __future__ import annotations

import contextlib
import json
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import exposcan
from exposcan.probes.web.redirects import same_origin
from exposcan.report import read_jsonl, render_summary
from tests.support.cli_child import FAST, FORMATS, run_cli
from tests.support.hostile import dicom_script, hostile_peers
from tests.support.pdu import APP_CONTEXT, IMPLICIT, echo_rsp, item, pdu
from tests.support.raw_http import Reply, raw_http_peer
from tests.support.scope_files import scope_file
from tests.support.synthetic import MARKER

PATIENT = f"{MARKER}^PATIENT001"
#: A login URL as portals write them: the page the user wanted, in the path and the query.
LOGIN_PATH = f"/login/next=/viewer/{PATIENT}/?PatientName={PATIENT}&state={MARKER}-4711"
LOGIN_ELSEWHERE = f"https://{MARKER.lower()}-portal.invalid/sso/{MARKER}?patient={PATIENT}"
QIDO_ROOT = f"/{MARKER}-PATIENT001/dicom-web"
STUDY = {
    "0020000D": {"vr": "UI", "Value": ["1.2.3.4"]},
    "00100010": {"vr": "PN", "Value": [{"Alphabetic": PATIENT}]},
}


def dicom_json(value: object) -> Reply:
    return Reply(200, json.dumps(value).encode(), b"application/dicom+json")


def redirect(location: str) -> Reply:
    return Reply(302, b"", headers=((b"Location", location.encode()),))


WEB_PEERS: dict[str, tuple[dict[str, Reply], Reply | None, bytes]] = {
    # name: (routes, default reply or None for the plain 404, Server header)
    "login-here": ({}, redirect(LOGIN_PATH), b"nginx"),
    "login-elsewhere": ({}, redirect(LOGIN_ELSEWHERE), b"nginx"),
    "dcm4chee": (
        {
            "/dcm4chee-arc/aets": Reply.json([{"dicomAETitle": MARKER}]),
            f"/dcm4chee-arc/aets/{MARKER}/rs/studies?limit=1": dicom_json([STUDY]),
        },
        None,
        b"WildFly",
    ),
    "token-wall": (
        {
            "/dicom-web/studies?limit=1": Reply(
                401,
                b"",
                headers=((b"WWW-Authenticate", f'{MARKER} realm="{PATIENT}"'.encode()),),
            )
        },
        None,
        b"nginx",
    ),
    "ohif": (
        {
            "/": Reply(200, b"<title>OHIF Viewer</title>"),
            "/app-config.js": Reply(
                200,
                b"window.config = {dataSources: [{configuration: {qidoRoot: '"
                + QIDO_ROOT.encode()
                + b"'}}]};",
                b"application/javascript",
            ),
            f"{QIDO_ROOT}/studies?limit=1": dicom_json([]),
        },
        None,
        b"nginx",
    ),
    "orthanc": (
        {
            "/": Reply(200, f"<title>Orthanc Explorer 2 {PATIENT}</title>".encode()),
            "/system": Reply.json(
                {"Name": PATIENT, "Version": MARKER, "ApiVersion": 22, "DicomAet": MARKER}
            ),
            "/statistics": Reply.json({"CountStudies": 0}),
            "/plugins/dicom-web": Reply.json({"ID": "dicom-web", "Version": MARKER}),
        },
        None,
        f"Orthanc/{MARKER}".encode(),
    ),
}


def marker_ac() -> bytes:
    """A-ASSOCIATE-AC (PS3.8 Table 9-17) that echoes the marker as both AE titles and
    names it in its implementation class UID; Verification accepted."""
    title = MARKER.encode().ljust(16)
    fixed = struct.pack(">HH", 1, 0) + title + title + bytes(32)
    items = item(0x10, APP_CONTEXT) + item(0x21, bytes([1, 0, 0, 0]) + item(0x40, IMPLICIT))
    sub = (
        item(0x51, struct.pack(">L", 16382))
        + item(0x52, f"1.2.3.{MARKER}".encode())
        + item(0x55, b"EVIL_SCP_1")
    )
    return pdu(0x02, fixed + items + item(0x50, sub))


@pytest.fixture
async def peers(tmp_path: Path) -> AsyncIterator[tuple[Path, dict[str, int]]]:
    scripts = {
        "dicom": dicom_script(marker_ac(), echo_rsp(comment=f"{PATIENT} not found".encode()))
    }
    async with hostile_peers(scripts) as dicom:
        ports = {"dicom": dicom["dicom"]}
        async with contextlib.AsyncExitStack() as stack:
            for name, (routes, default, server) in WEB_PEERS.items():
                kwargs = {"default": default} if default is not None else {}
                peer = await stack.enter_async_context(
                    raw_http_peer(routes, server_header=server, **kwargs)
                )
                ports[name] = peer.port
            web = [ports[name] for name in WEB_PEERS]
            yield scope_file(tmp_path, [ports["dicom"]], web), ports


def assert_facts(rows: dict[int, dict[str, object]], ports: dict[str, int]) -> None:
    """What is reported instead of the peer's words."""

    def evidence(name: str) -> str:
        row = rows[ports[name]]
        findings = row["findings"]
        assert isinstance(findings, list)
        return " | ".join(str(f["evidence"]) for f in findings)

    def exposure(name: str) -> object:
        return rows[ports[name]]["exposure"]

    assert "redirect (HTTP 302) to a login page on this origin" in evidence("login-here")
    assert "redirect (HTTP 302) to a login page on another origin" in evidence("login-elsewhere")
    assert exposure("dcm4chee") == "query"
    assert "GET /dcm4chee-arc/aets/{AET}/rs/studies?limit=1" in evidence("dcm4chee")
    assert exposure("token-wall") == "protected"
    assert "schemes: other" in evidence("token-wall")
    assert exposure("ohif") == "echo"
    assert "GET {viewer qidoRoot}/studies?limit=1" in evidence("ohif")
    assert exposure("orthanc") == "echo"
    orthanc = rows[ports["orthanc"]]["fingerprint"]
    assert isinstance(orthanc, dict)
    assert (orthanc["product"], orthanc["version"]) == ("Orthanc", None)
    dicom = rows[ports["dicom"]]
    assert dicom["exposure"] == "echo"
    assert isinstance(dicom["fingerprint"], dict)
    assert dicom["fingerprint"]["implementation_class_uid"] is None  # not a UID: dropped


async def test_no_peer_free_text_in_any_format_or_log(peers, tmp_path: Path):
    scope, ports = peers
    for fmt in FORMATS:
        out = tmp_path / f"report.{fmt}"
        code, stdout, stderr = await run_cli(
            "-vv", "scan", "--scope", str(scope), "--format", fmt, "--output", str(out), *FAST
        )
        assert code == 0, stderr
        assert "endpoint_finished" in stderr  # the -vv lines were written
        for what, text in (("report", out.read_text("utf-8")), ("stdout", stdout), ("log", stderr)):
            assert MARKER not in text, (fmt, what, text[text.find(MARKER) - 200 :][:400])
            assert MARKER.lower() not in text.lower(), (fmt, what)
    rows = {
        r["port"]: r for r in read_jsonl(tmp_path / "report.jsonl") if r["record"] == "endpoint"
    }
    assert len(rows) == len(ports)
    assert_facts(rows, ports)


async def test_no_peer_free_text_in_results_or_the_terminal_view(peers):
    scope, ports = peers
    options = exposcan.ScanOptions(
        limits=exposcan.Limits(rate=1000, per_host_rate=1000),
        timeouts=exposcan.Timeouts(endpoint=5),
    )
    report = await exposcan.scan(scope, options=options)
    text = "\n".join(
        [
            *(repr(r) for r in report.results),
            render_summary(report.results, report.summary, show_none=True),
        ]
    )
    assert MARKER.lower() not in text.lower()
    rows = {r.port: json.loads(json.dumps(r.to_dict())) for r in report.results}
    assert_facts(rows, ports)


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/login?next=/viewer", True),
        ("login", True),  # relative path
        ("http://127.0.0.1:8042/login", True),
        ("HTTP://127.0.0.1:8042/login", True),
        ("http://127.0.0.1/login", False),  # port 80, not 8042
        ("https://127.0.0.1:8042/login", False),  # another scheme
        ("//127.0.0.1:8042/login", True),  # network-path reference, same authority
        ("//sso.invalid/login", False),  # network-path reference: another host
        ("http://sso.invalid:8042/login", False),
        ("http://[::1", False),  # unparsable
        ("http://127.0.0.1:99999/", False),  # port out of range
    ],
)
def test_same_origin_is_decided_on_scheme_host_and_port(location: str, expected: bool) -> None:
    assert same_origin(location, "http", "127.0.0.1", 8042) is expected
