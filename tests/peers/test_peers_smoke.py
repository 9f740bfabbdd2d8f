"""The real peers of tests/support/peers.py behave as their ``Peer.expected`` says.

Checked with DCMTK's own clients (echoscu, findscu, storescu), a pynetdicom association that
only reads the A-ASSOCIATE-AC (which presentation contexts a stranger gets; nothing is sent),
Python's ssl module for TLS facts and urllib for Orthanc's web API. Everything goes to
127.0.0.1 only. The last tests check where the servers listen: each real peer on 0.0.0.0 of
a namespace of its own, and nothing the suite starts beyond loopback here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import (
    CTImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

from tests.support import netns
from tests.support.peers import HOST, STRANGER_AE, Peer
from tests.support.synthetic import find_synthetic, make_studies
from tests.support.web_peers import WebPeer

pytestmark = pytest.mark.peers

ECHOSCU = "/usr/bin/echoscu"
FINDSCU = "/usr/bin/findscu"
STORESCU = "/usr/bin/storescu"
CLIENT_TIMEOUT_S = 20
NET_TIMEOUTS = ("-to", "5", "-ta", "5", "-td", "5")
ANON_TLS = ("+tla", "-ic")  # TLS without a client certificate, server not verified

RESULTS = {"Rejected Permanent": 1, "Rejected Transient": 2}
SOURCES = {
    "Service User": 1,
    "Service Provider (ACSE Related Function)": 2,
    "Service Provider (Presentation Related Function)": 3,
}
REASONS = {
    "No Reason Given": 1,
    "Application Context Name Not Supported": 2,
    "Calling AE Title Not Recognized": 3,
    "Called AE Title Not Recognized": 7,
}


def dcmtk(*argv: str) -> str:
    for tool in (ECHOSCU, FINDSCU, STORESCU):
        if argv[0] == tool and not Path(tool).exists():
            pytest.fail(f"{tool} missing: apt-get install orthanc orthanc-dicomweb dcmtk")
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"timed out after {CLIENT_TIMEOUT_S} s: {' '.join(argv)}")
    # DCMTK's exit codes say little (findscu exits 0 after an A-ABORT, echoscu 0 after a
    # failed C-ECHO): the verdict comes from the verbose output.
    return f"exit={done.returncode}\n{done.stdout}{done.stderr}"


def rejection(output: str) -> dict[str, int] | None:
    match = re.search(r"Result: (.+?), Source: (.+?)\n.*?Reason: (.+?)\n", output, re.S)
    if match is None:
        return None
    return {
        "result": RESULTS[match.group(1)],
        "source": SOURCES[match.group(2)],
        "reason": REASONS[match.group(3)],
    }


def association(output: str) -> Any:
    if "Association Accepted" in output:
        return "accepted"
    return rejection(output)  # None: no answer at all (TLS failure, connection closed)


def observe(
    peer: Peer, called: str, *, calling: str | None = None, tls: Sequence[str] = ()
) -> dict[str, Any]:
    """What echoscu and findscu see with these titles: the keys of ``expected["stranger"]``."""
    common = [*NET_TIMEOUTS, *tls, "-aec", called]
    if calling is not None:
        common += ["-aet", calling]
    echo_out = dcmtk(ECHOSCU, "-d", *common, peer.host, str(peer.port))
    find_out = dcmtk(
        FINDSCU,
        "-v",
        "-S",
        *common,
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        "StudyInstanceUID",
        peer.host,
        str(peer.port),
    )
    seen: dict[str, Any] = {
        "association": association(echo_out),
        "echo": "success" if "Received Echo Response (Success)" in echo_out else None,
        "find": None,
        "matches": None,
        "echo_output": echo_out,
        "find_output": find_out,
    }
    uids = re.findall(r"Their Implementation Class UID:\s*(\S+)", echo_out)
    names = re.findall(r"Their Implementation Version Name:\s*(\S+)", echo_out)
    if uids and names:
        seen["fingerprint"] = {
            "implementation_class_uid": uids[-1],
            "implementation_version_name": names[-1],
        }
    if "No Acceptable Presentation Contexts" in find_out:
        seen["find"] = "no-context"
    elif "Received Final Find Response (Success)" in find_out:
        seen["find"] = "matches"
        seen["matches"] = len(re.findall(r"Find Response: \d+ \(Pending\)", find_out))
    elif "Sending Find Request" in find_out and "Peer Aborted Association" in find_out:
        seen["find"] = "aborted"
    if "Association Accepted" in find_out or "Association Rejected" in find_out:
        assert association(find_out) == seen["association"], find_out
    return seen


def assert_seen(seen: Mapping[str, Any], expected: Mapping[str, Any], peer: Peer) -> None:
    for key in ("association", "echo", "find", "matches"):
        if key not in expected:
            continue
        want = expected[key]
        if isinstance(want, Mapping):  # a rejection: compare the PS3.8 numbers
            want = {k: want[k] for k in ("result", "source", "reason")}
        got = seen[key]
        assert got == want, (
            f"{peer.name}: {key}: {got!r} != {want!r}\n"
            f"{seen['echo_output']}\n{seen['find_output']}\n--- server log\n{peer.log()}"
        )


def contexts(
    peer: Peer, called: str, *, ssl_context: ssl.SSLContext | None = None
) -> dict[str, Any] | None:
    """Presentation contexts a stranger gets, from the A-ASSOCIATE-AC alone (then release)."""
    ae = AE(ae_title="EXPOSCAN-TEST")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    ae.connection_timeout = 5
    names = {
        Verification: "verification",
        CTImageStorage: "storage",
        StudyRootQueryRetrieveInformationModelFind: "find",
    }
    for uid in names:
        ae.add_requested_context(uid)
    assoc = ae.associate(
        peer.host,
        peer.port,
        ae_title=called,
        tls_args=(ssl_context, None) if ssl_context is not None else None,
    )
    try:
        if not assoc.is_established:
            return None
        found: dict[str, Any] = {}
        for cx in assoc.accepted_contexts:
            found[names[cx.abstract_syntax]] = "accepted"
        for cx in assoc.rejected_contexts:
            found[names[cx.abstract_syntax]] = ("rejected", cx.result)
        return found
    finally:
        if assoc.is_established:
            assoc.release()
        ae.shutdown()


def http_get(peer: Peer, path: str, auth: tuple[str, str] | None = None) -> tuple[int, Any]:
    assert peer.http_port is not None
    request = urllib.request.Request(f"http://{HOST}:{peer.http_port}{path}")
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, None


def client_context(
    *, version: ssl.TLSVersion | None = None, cert: tuple[Path, Path] | None = None
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a self-signed test certificate: facts, not trust
    if version is not None:
        context.minimum_version = context.maximum_version = version
    if cert is not None:
        context.load_cert_chain(cert[0], cert[1])
    return context


def tls_handshake(peer: Peer, context: ssl.SSLContext) -> dict[str, Any]:
    """Handshake, read once (where TLS 1.3 reports a missing client certificate), close."""
    assert peer.tls_port is not None
    facts: dict[str, Any] = {}
    with (
        socket.create_connection((peer.host, peer.tls_port), timeout=5) as raw,
        context.wrap_socket(raw) as tls,
    ):
        facts["version"] = tls.version()
        facts["cipher"] = tls.cipher()[0] if tls.cipher() else None
        der = tls.getpeercert(binary_form=True)
        facts["sha256"] = hashlib.sha256(der).hexdigest() if der else None
        tls.settimeout(0.5)
        try:
            facts["first_read"] = tls.recv(1)
        except TimeoutError:
            facts["first_read"] = "timeout"  # the server waits for an A-ASSOCIATE-RQ
        except ssl.SSLError as error:
            facts["first_read"] = error.reason
    return facts


def check_store(peer: Peer, file: Path, tls: Sequence[str] = ()) -> None:
    out = dcmtk(
        STORESCU,
        "-v",
        *NET_TIMEOUTS,
        *tls,
        "-aec",
        STRANGER_AE,
        peer.host,
        str(peer.port),
        str(file),
    )
    assert "Received Store Response (Success)" in out, f"{out}\n{peer.log()}"


# --------------------------------------------------------------------------- Orthanc


def test_orthanc_default(orthanc_default: Peer) -> None:
    peer, expected = orthanc_default, orthanc_default.expected
    assert (expected["exposure"], peer.studies, peer.ae_title) == ("store", 3, "ORTHANC")
    stranger = expected["stranger"]
    seen = observe(peer, STRANGER_AE)
    assert_seen(seen, stranger, peer)
    assert seen["find"] == "aborted"  # FIND context accepted, C-FIND-RQ answered by A-ABORT
    assert seen["fingerprint"] == expected["fingerprint"]
    assert_seen(observe(peer, "ORTHANC"), expected["right_called_ae"], peer)
    assert contexts(peer, STRANGER_AE) == stranger["contexts"]
    # Storage from a stranger works: send back a file it already holds (no new study).
    check_store(peer, peer.files[0])
    for path in expected["http"]["listing_paths"]:
        status, body = http_get(peer, path)
        assert (status, len(body)) == (200, peer.studies), path
    assert find_synthetic(json.dumps(http_get(peer, "/dicom-web/studies")[1]))
    assert "Rejected Find request" in peer.log()


def test_orthanc_find_open(orthanc_find_open: Peer) -> None:
    peer, expected = orthanc_find_open, orthanc_find_open.expected
    assert expected["exposure"] == "query"
    assert expected["stranger"]["matches"] == peer.studies == 3
    seen = observe(peer, STRANGER_AE)
    assert_seen(seen, expected["stranger"], peer)
    assert seen["fingerprint"] == expected["fingerprint"]
    assert contexts(peer, STRANGER_AE) == expected["stranger"]["contexts"]
    status, body = http_get(peer, "/studies")
    assert (status, len(body)) == (200, 3)


def test_orthanc_guarded(orthanc_guarded: Peer) -> None:
    peer, expected = orthanc_guarded, orthanc_guarded.expected
    assert (expected["exposure"], expected["ae_title"]) == ("protected", None)
    assert_seen(observe(peer, STRANGER_AE), expected["stranger"], peer)
    right = expected["right_called_ae"]
    assert_seen(observe(peer, right["called"]), right, peer)
    assert contexts(peer, STRANGER_AE) is None
    assert contexts(peer, "ORTHANC") is None
    known = expected["known_calling_ae"]
    assert_seen(observe(peer, known["called"], calling=known["calling"]), known, peer)
    wrong = observe(peer, STRANGER_AE, calling=known["calling"])
    assert_seen(wrong, {"association": known["wrong_called_ae"]}, peer)
    web = expected["http"]
    for path in web["listing_paths"]:
        assert http_get(peer, path)[0] == web["status"], path
        status, body = http_get(peer, path, auth=(web["user"], web["password"]))
        assert (status, len(body)) == (200, peer.studies), path


# --------------------------------------------------------------------------- dcmqrscp


def test_dcmqrscp_stock(dcmqrscp_stock: Peer) -> None:
    peer, expected = dcmqrscp_stock, dcmqrscp_stock.expected
    assert (expected["exposure"], peer.ae_title, peer.studies) == ("query", "READWRITE", 3)
    assert Path(expected["config_source"]).is_file()
    assert_seen(observe(peer, STRANGER_AE), expected["stranger"], peer)
    assert contexts(peer, STRANGER_AE) is None
    for title, behaviour in expected["titles"].items():
        seen = observe(peer, title)
        assert_seen(seen, {"association": "accepted", **behaviour}, peer)
        assert seen["fingerprint"] == expected["fingerprint"]
        assert contexts(peer, title) == behaviour["contexts"], title


# --------------------------------------------------------------------------- storescp


def test_storescp_plain(storescp_plain: Peer) -> None:
    peer, expected = storescp_plain, storescp_plain.expected
    assert (expected["exposure"], peer.ae_title, peer.tls_port) == ("store", "STORESCP", None)
    for called in (STRANGER_AE, peer.ae_title):
        seen = observe(peer, called)
        assert_seen(seen, expected["stranger"], peer)
        assert seen["fingerprint"] == expected["fingerprint"]
    assert contexts(peer, STRANGER_AE) == expected["stranger"]["contexts"]
    check_store(peer, _one_file(peer))
    assert list(peer.paths["received"].iterdir())


def _one_file(peer: Peer) -> Path:
    return make_studies(1, 1, peer.paths["workdir"] / "outgoing")[0]


def test_storescp_tls(storescp_tls: Peer) -> None:
    peer, expected = storescp_tls, storescp_tls.expected
    tls = expected["tls"]
    assert expected["exposure"] == "store"
    assert peer.tls_port == peer.port
    assert tls["client_cert"] == "ignored"
    assert tls["subject"] == "CN=exposcan-test"
    seen = observe(peer, STRANGER_AE, tls=ANON_TLS)
    assert_seen(seen, expected["stranger"], peer)
    assert seen["fingerprint"] == expected["fingerprint"]
    accepted = contexts(peer, STRANGER_AE, ssl_context=client_context())
    assert accepted == expected["stranger"]["contexts"]
    check_store(peer, _one_file(peer), tls=ANON_TLS)

    facts = tls_handshake(peer, client_context())
    assert facts == {
        "version": tls["version"],
        "cipher": tls["cipher"],
        "sha256": tls["sha256"],
        "first_read": "timeout",
    }
    tls12 = tls_handshake(peer, client_context(version=ssl.TLSVersion.TLSv1_2))
    assert (tls12["version"], tls12["cipher"]) == ("TLSv1.2", tls["tls12_cipher"])
    # Verifying the server against its own certificate works as well.
    out = dcmtk(
        ECHOSCU, "-v", *NET_TIMEOUTS, "+tla", "+cf", str(peer.paths["server_cert"]),
        "-aec", STRANGER_AE, peer.host, str(peer.port),
    )  # fmt: skip
    assert "Received Echo Response (Success)" in out, out
    # Plain DICOM on the TLS port: no answer, the connection is closed.
    assert expected["plain_tcp"] == "connection-closed"
    plain = observe(peer, STRANGER_AE)
    assert (plain["association"], plain["echo"]) == (None, None), plain["echo_output"]
    assert "Peer aborted Association" in plain["echo_output"]


def test_storescp_tls_client_cert(storescp_tls_client_cert: Peer) -> None:
    peer, expected = storescp_tls_client_cert, storescp_tls_client_cert.expected
    tls = expected["tls"]
    assert (expected["exposure"], expected["ae_title"]) == ("protected", None)
    assert tls["client_cert"] == "required"
    assert peer.tls_port == peer.port
    seen = observe(peer, STRANGER_AE, tls=ANON_TLS)
    assert_seen(seen, expected["stranger"], peer)
    assert "Association Request Failed" in seen["echo_output"]
    # (No pynetdicom association here: 3.0.4 leaks its SSLSocket when TLS fails.)

    # TLS 1.3: the handshake completes for the client; its first read gets the alert.
    facts = tls_handshake(peer, client_context())
    assert facts == {
        "version": tls["version"],
        "cipher": tls["cipher"],
        "sha256": tls["sha256"],
        "first_read": "TLSV13_ALERT_CERTIFICATE_REQUIRED",
    }
    # TLS 1.2: the handshake itself fails.
    with pytest.raises(ssl.SSLError, match="HANDSHAKE_FAILURE"):
        tls_handshake(peer, client_context(version=ssl.TLSVersion.TLSv1_2))

    # With the client certificate it trusts, a stranger's title gets in.
    cert = (peer.paths["client_cert"], peer.paths["client_key"])
    with_cert = observe(peer, STRANGER_AE, tls=("+tls", str(cert[1]), str(cert[0]), "-ic"))
    assert_seen(with_cert, expected["with_client_cert"], peer)
    facts = tls_handshake(peer, client_context(cert=cert))
    assert facts["first_read"] == "timeout"
    assert "peer did not return a certificate" in peer.log()


# --------------------------------------------------------------------------- where they listen


def root_listeners(port: int) -> list[str]:
    """Local addresses listening on ``port`` in this (the root) namespace, from ``ss``."""
    out = subprocess.run(
        ["ss", "-Hltn", f"sport = :{port}"],
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_S,
        check=True,
    ).stdout
    return sorted(line.split()[3] for line in out.splitlines())


def test_every_real_peer_listens_on_all_interfaces_of_its_own_namespace_only(
    orthanc_default: Peer,
    orthanc_find_open: Peer,
    orthanc_guarded: Peer,
    dcmqrscp_stock: Peer,
    storescp_plain: Peer,
    storescp_tls: Peer,
    storescp_tls_client_cert: Peer,
) -> None:
    peers = (
        orthanc_default,
        orthanc_find_open,
        orthanc_guarded,
        dcmqrscp_stock,
        storescp_plain,
        storescp_tls,
        storescp_tls_client_cert,
    )
    own = os.stat("/proc/self/ns/net").st_ino
    for peer in peers:
        ns = os.stat(netns.RUN_DIR / peer.netns).st_ino
        assert peer.netns.startswith(f"exposcan-{os.getpid()}-"), peer.name
        assert os.stat(f"/proc/{peer.pid}/ns/net").st_ino == ns != own, peer.name
        ports = [p for p in (peer.port, peer.http_port) if p is not None]
        # Inside, the server binds every interface (it cannot be told otherwise): what the
        # namespace is for, and proof that the audit below would see such a listener.
        inside = netns.exposed_listeners(peer.pid)
        assert {w.rsplit(" on ", 1)[1] for w in inside} >= {f"0.0.0.0:{p}" for p in ports}
        for port in ports:  # here, the forwarder alone, on loopback
            assert root_listeners(port) == [f"127.0.0.1:{port}"], (peer.name, port)
    assert len({p.netns for p in peers}) == len(peers)
    assert netns.exposed_listeners() == []


async def test_in_process_servers_listen_on_loopback_only(
    scp_factory: Any,
    find_scp_factory: Any,
    counting_listener: Any,
    listener_factory: Any,
    web_peers: Any,
    tls_client_cert_server: WebPeer,
    storescp_plain: Peer,
) -> None:
    # Every kind of server the suite starts in this process or as a child of it, at once,
    # beside a real peer: none listens beyond loopback in this namespace.
    from tests.support import web_peers as wp

    ports = [
        scp_factory(),
        find_scp_factory().port,
        counting_listener().port,
        (await listener_factory()).port,
        (await web_peers.start("dcm4chee", wp.dcm4chee_arc)).port,
        tls_client_cert_server.port,
        storescp_plain.port,
    ]
    for port in ports:
        assert all(a.startswith("127.0.0.1:") for a in root_listeners(port)), port
        assert root_listeners(port), port
    assert netns.exposed_listeners() == []
