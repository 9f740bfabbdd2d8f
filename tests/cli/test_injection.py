"""Issue 10, class 3: nothing a peer chose reaches a report raw.

A hostile DICOM peer answers with an A-ASSOCIATE-AC whose implementation class UID and
version name carry terminal escapes (ESC, BEL, CR, C1 bytes), a formula start and UTF-8
bidi overrides; a hostile web peer (raw bytes: no HTTP library would send them) puts the
same into its ``Server`` header, its page ``<title>``, an Orthanc-like ``/system`` (Name,
Version, DicomAet) and its DICOMweb plugin's version, over HTTP and over TLS with a
certificate whose subject carries them too. Scanned through the command line in every
format, and rendered by the terminal view: no raw control, bidi or invisible format
character appears anywhere, no CSV cell starts a formula, versions that are not versions
are dropped, and what is kept is the cleaned text.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import exposcan
from exposcan.report import read_jsonl, render_summary
from exposcan.report.csv_ import FORMULA_STARTS
from tests.support.cli_child import FAST, FORMATS, run_cli
from tests.support.hostile import dicom_script, hostile_peers
from tests.support.pdu import (
    associate_ac,
    echo_rsp,
)
from tests.support.raw_http import Reply, raw_http_peer
from tests.support.scope_files import scope_file

#: Characters that must never reach a report raw (a line break is the format's own).
FORBIDDEN = (
    {chr(c) for c in range(0x20) if c != 0x0A}
    | {chr(c) for c in range(0x7F, 0xA0)}
    | {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), *range(0x200B, 0x2010))}
    | {"\u2028", "\u2029", "\ufeff"}
    | {chr(c) for c in range(0xD800, 0xE000)}
)
#: The hostile payload: a window-title escape with BEL, a screen clear, a bare CR, a C1
#: CSI (raw byte and UTF-8), right-to-left override and isolate, a zero-width space.
ESCAPES = "\x1b]0;owned\x07\x1b[2J\r\x9b2J\u202eevil\u2066\u200b"
HOSTILE_UTF8 = ESCAPES.encode("utf-8") + b"\x9b"  # and one byte that is not UTF-8
FORMULA = '=HYPERLINK("http://x.invalid","y")'


def hostile_ac(*, uid: bytes, name: bytes) -> bytes:
    """A-ASSOCIATE-AC (PS3.8 Table 9-17) accepting context 1 (Verification), with the
    user information sub-items 0x51 (maximum length), 0x52 (implementation class UID) and
    0x55 (implementation version name, PS3.7 D.3.3.2) carrying ``uid`` and ``name``."""
    return associate_ac(implementation_uid=uid, version_name=name)


HOSTILE_NAME = FORMULA.encode()[:10] + HOSTILE_UTF8  # "=HYPERLINK" then the escapes
HOSTILE_UID = b"1.2.826.0.1.3680043.9.3811\x1b[2J" + "\u202e".encode()


def self_signed(tmp_path: Path, common_name: str) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "hostile-cert.pem", tmp_path / "hostile-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


def orthanc_routes(dicom_port: int) -> dict[str, Reply]:
    hostile = FORMULA + ESCAPES
    return {
        "/": Reply(200, b"<title>Orthanc Explorer 2 " + HOSTILE_UTF8 + b"</title>"),
        "/system": Reply.json(
            {
                "Name": hostile,
                "Version": "1.12" + ESCAPES,  # not a version: dropped
                "ApiVersion": 22,
                "DicomAet": hostile,
                "DicomPort": dicom_port,
            }
        ),
        "/statistics": Reply.json({"CountStudies": 3}),
        "/plugins/dicom-web": Reply.json({"ID": "dicom-web", "Version": "=1+1" + ESCAPES}),
    }


#: Server header: Orthanc's own banner, then a formula and the escapes as raw bytes (but
#: the bare CR: no HTTP parser takes one in a header, so the answer would not be HTTP).
SERVER = b"Orthanc/1.12.1 " + FORMULA.encode() + HOSTILE_UTF8.replace(b"\r", b"")


def assert_no_raw(text: str, what: str) -> None:
    raw = FORBIDDEN & set(text)
    assert not raw, (what, sorted(hex(ord(c)) for c in raw))


def strings(value: object) -> list[str]:
    """Every string in a JSON-ready value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings(k), *strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings(v)]
    return []


@pytest.fixture
async def hostile(tmp_path: Path) -> AsyncIterator[dict[str, int]]:
    """The hostile DICOM peer and the hostile web peer over HTTP and over HTTPS."""
    tls = self_signed(tmp_path, "=HYPERLINK(1)" + ESCAPES)  # a CN is 64 bytes at most
    scripts = {"dicom": dicom_script(hostile_ac(uid=HOSTILE_UID, name=HOSTILE_NAME), echo_rsp())}
    async with hostile_peers(scripts) as dicom:
        routes = orthanc_routes(dicom["dicom"])
        async with (
            raw_http_peer(routes, server_header=SERVER) as http,
            raw_http_peer(routes, server_header=SERVER, tls=tls) as https,
        ):
            yield {"dicom": dicom["dicom"], "http": http.port, "https": https.port}


async def test_hostile_strings_reach_no_format_raw(hostile: dict[str, int], tmp_path: Path):
    scope = scope_file(tmp_path, [hostile["dicom"]], [hostile["http"], hostile["https"]])
    outputs: dict[str, str] = {}
    for fmt in FORMATS:
        out = tmp_path / f"report.{fmt}"
        code, stdout, stderr = await run_cli(
            "scan", "--scope", str(scope), "--format", fmt, "--output", str(out), *FAST
        )
        assert code == 0, stderr
        assert "Traceback" not in stderr
        outputs[fmt] = out.read_text("utf-8")
        assert_no_raw(outputs[fmt], fmt)
        assert_no_raw(stdout + stderr, f"{fmt}: stdout/stderr")

    rows = {
        r["port"]: r for r in read_jsonl(tmp_path / "report.jsonl") if r["record"] == "endpoint"
    }
    dicom, http, https = rows[hostile["dicom"]], rows[hostile["http"]], rows[hostile["https"]]
    # The peers were read, not lost: the association and both web endpoints answered.
    assert dicom["exposure"] == "echo"
    assert (http["exposure"], https["exposure"], https["protocol"]) == ("query", "query", "https")
    # Identity kept as cleaned text; a UID that is not one is dropped.
    assert dicom["fingerprint"]["implementation_version_name"] == "=HYPERLINK]0;owned[2J2Jevil"
    assert dicom["fingerprint"]["implementation_class_uid"] is None
    # Orthanc's banner names its version; /system's and the plugin's are not versions.
    assert http["fingerprint"] == {
        "implementation_class_uid": None,
        "implementation_version_name": None,
        "product": "Orthanc",
        "toolkit": None,
        "version": "1.12.1",
    }
    plugin = next(f for f in http["findings"] if f["id"] == "web-orthanc-dicomweb-plugin")
    assert "named plugin dicom-web;" in plugin["evidence"]
    # The certificate's subject: cleaned, with the words kept.
    assert https["tls"]["subject"] == https["tls"]["issuer"]
    assert https["tls"]["subject"] == "CN==HYPERLINK(1)]0\\;owned[2J 2Jevil"

    # JSON documents read back whole (the escapes are valid JSON).
    for fmt in ("json", "sarif"):
        json.loads(outputs[fmt])
    # CSV: no text cell starts a formula; the version name's formula start is quoted.
    table = list(csv.reader(io.StringIO(outputs["csv"])))
    for line in table:
        for value in line:
            assert not value.startswith(FORMULA_STARTS), value
    header, *body = table
    names = [r[header.index("implementation_version_name")] for r in body]
    assert "'=HYPERLINK]0;owned[2J2Jevil" in names
    # HTML: the formula's quotes are escaped; no tag from the peer.
    assert "<title>exposcan report</title>" in outputs["html"]
    assert outputs["html"].count("<title>") == 1


async def test_terminal_summary_strips_what_a_peer_sent(hostile: dict[str, int], tmp_path: Path):
    scope = scope_file(tmp_path, [hostile["dicom"]], [hostile["http"], hostile["https"]])
    options = exposcan.ScanOptions(
        limits=exposcan.Limits(rate=1000, per_host_rate=1000),
        timeouts=exposcan.Timeouts(endpoint=5),
    )
    report = await exposcan.scan(scope, options=options)
    assert {r.exposure for r in report.results} == {
        exposcan.Exposure.ECHO,
        exposcan.Exposure.QUERY,
    }
    for colour in (False, True):
        table = render_summary(report.results, report.summary, show_none=True, colour=colour)
        if colour:
            table = table.replace("\x1b[0m", "")
            for code in ("\x1b[1;31m", "\x1b[31m", "\x1b[33m", "\x1b[32m", "\x1b[2m"):
                table = table.replace(code, "")  # the view's own colours, nothing else
        assert_no_raw(table, f"terminal colour={colour}")
    # The results themselves hold no raw character either (cleaned on construction).
    for text in strings([r.to_dict() for r in report.results]):
        assert_no_raw(text, "results")
