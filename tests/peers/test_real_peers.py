"""exposcan's verdicts against real servers: Debian's Orthanc and DCMTK, plain and TLS,
and pynetdicom SCPs.

The peers (tests/support/peers.py, tests/support/scps.py) are started on free 127.0.0.1 ports with
synthetic studies loaded. Each has an expected verdict; a last test scans all of them at
once through the CLI with debug logs on, and searches every report format, the log and
any exception text for every identifying value the fixtures created.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydicom
import pynetdicom
from cryptography import x509

import exposcan
from exposcan.classify import ANY_TITLE
from exposcan.dicom import services
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.report import FORMATS, make_writer, render_summary
from exposcan.results import EndpointResult, Fingerprint, Matches, TlsFacts
from exposcan.summary import Summary
from tests.support.peers import STRANGER_AE, Peer
from tests.support.scps import MARKER, PATIENT_ROOT_FIND, SCP_MATCH_STRINGS, FindScp
from tests.support.synthetic import SYNTHETIC_STRINGS

TIMEOUTS = Timeouts(connect=2, read=4, release=2, endpoint=20)
OPTIONS = ScanOptions(limits=Limits(per_host_rate=20), timeouts=TIMEOUTS)

_KINDS = {s.name: s.kind for s in services.SERVICES}
STORAGE = frozenset(n for n, k in _KINDS.items() if k is services.ServiceKind.STORAGE)
#: What Orthanc and dcmqrscp accept from a stranger: everything proposed but worklist.
QR_ARCHIVE = frozenset(_KINDS) - {"worklist-find"}
#: storescp: Verification and storage, no query/retrieve.
STORE_ONLY = STORAGE | {"verification"}

PYNETDICOM = Fingerprint(
    implementation_class_uid=str(pynetdicom.PYNETDICOM_IMPLEMENTATION_UID),
    implementation_version_name=pynetdicom.PYNETDICOM_IMPLEMENTATION_VERSION,
    product="pynetdicom",
    toolkit="pynetdicom",
    version=pynetdicom.__version__,
)


def dcmtk_fingerprint(peer: Peer) -> Fingerprint:
    """What a DCMTK-based peer must be reported as: the toolkit, with the version its
    version name gives, and no product (Orthanc and DCMTK's tools send the same identity).
    """
    uid = peer.expected["fingerprint"]["implementation_class_uid"]
    name = peer.expected["fingerprint"]["implementation_version_name"]
    digits = re.fullmatch(r"OFFIS_DCMTK_(\d)(\d)(\d+)", name)
    # If this fails the peer names itself: the table may then name the product.
    assert digits is not None, f"{peer.name} sends a version name of its own: {name}"
    version = ".".join(digits.groups())
    assert uid == f"1.2.276.0.7230010.3.0.{version}"
    return Fingerprint(
        implementation_class_uid=uid,
        implementation_version_name=name,
        product=None,
        toolkit="DCMTK",
        version=version,
    )


# --- what the fixtures created, read after they ran -----------------------------------

_IDENTIFYING = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "AccessionNumber",
    "StudyID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "ReferringPhysicianName",
)


@dataclass(frozen=True)
class PatientData:
    """Identifying values to search every output for. Those carrying :data:`MARKER` are
    only searched one by one when the marker itself is present (it is a leak by itself)."""

    marked: tuple[str, ...]
    unmarked: tuple[str, ...]

    @classmethod
    def collect(cls, peers: Iterable[Peer] = (), scps: Iterable[FindScp] = ()) -> PatientData:
        found: set[str] = set(SYNTHETIC_STRINGS) | SCP_MATCH_STRINGS
        for peer in peers:
            for path in peer.files:
                dataset = pydicom.dcmread(path, stop_before_pixels=True)
                for keyword in _IDENTIFYING:
                    value = str(dataset.get(keyword, "") or "")
                    if value:
                        found.update({value, value.replace("^", " ")})
        for scp in scps:
            found |= scp.strings
        found = {s for s in found if len(s) >= 6}
        return cls(
            marked=tuple(sorted(s for s in found if MARKER in s)),
            unmarked=tuple(sorted(s for s in found if MARKER not in s)),
        )

    def __len__(self) -> int:
        return len(self.marked) + len(self.unmarked)

    def found_in(self, text: str) -> list[str]:
        found = [s for s in self.unmarked if s in text]
        if MARKER in text:
            found += [s for s in self.marked if s in text] or [MARKER]
        return found

    def assert_absent(self, text: str, where: str) -> None:
        leaked = self.found_in(text)
        assert not leaked, f"synthetic patient data in {where}: {leaked[:3]}"


async def scan_port(
    port: int,
    write_scope: Any,
    options: ScanOptions = OPTIONS,
    *,
    peers: Sequence[Peer] = (),
    scps: Sequence[FindScp] = (),
) -> EndpointResult:
    """Scan one port through the public API; check the deadline and the result's text."""
    scope = write_scope(["127.0.0.1"], [port])
    report = await exposcan.scan(scope, options=options)
    (result,) = report.results
    # The endpoint deadline bounds the exchange; closing may add the release grace.
    assert result.duration_s < options.timeouts.endpoint + options.timeouts.release
    PatientData.collect(peers, scps).assert_absent(json.dumps(result.to_dict()), "the result")
    return result


async def scan_peer(peer: Peer, write_scope: Any, options: ScanOptions = OPTIONS) -> EndpointResult:
    return await scan_port(peer.port, write_scope, options, peers=(peer,))


def ids(result: EndpointResult) -> set[str]:
    return {f.id for f in result.findings}


def expected_tls(peer: Peer, *, client_certificate_required: bool | None) -> TlsFacts:
    """The fixture's own certificate, as exposcan must report it."""
    facts = peer.expected["tls"]
    cert = x509.load_pem_x509_certificate(peer.paths["server_cert"].read_bytes())
    # openssl's view of the same certificate agrees with the file's.
    openssl_not_after = datetime.strptime(facts["not_after"], "%b %d %H:%M:%S %Y %Z")
    assert openssl_not_after.replace(tzinfo=UTC) == cert.not_valid_after_utc
    algorithm, bits = facts["key"].split()
    assert algorithm == "RSA"
    return TlsFacts(
        version=facts["version"],
        cipher=facts["cipher"],
        subject=facts["subject"],
        issuer=facts["issuer"],
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=cert.not_valid_after_utc.isoformat(),
        self_signed=facts["self_signed"],
        key_bits=int(bits),
        client_certificate_required=client_certificate_required,
    )


def test_the_leak_check_finds_every_kind_of_value() -> None:
    data = PatientData(
        marked=(f"{MARKER}^DOE", f"{MARKER}123"), unmarked=("1.2.3.4.5.6", "19010101")
    )
    assert data.found_in(f"x {MARKER}123 y") == [f"{MARKER}123"]
    assert data.found_in(f"only the marker {MARKER}") == [MARKER]
    assert data.found_in("born 19010101, study 1.2.3.4.5.6") == ["1.2.3.4.5.6", "19010101"]
    assert data.found_in("nothing here") == []


# --- Orthanc --------------------------------------------------------------------------


async def test_orthanc_default_is_store_not_query(orthanc_default, write_scope):
    result = await scan_peer(orthanc_default, write_scope)
    assert result.exposure is exposcan.Exposure.STORE
    # DicomCheckCalledAet false: the random title that carried the probe got in.
    assert result.ae_title == ANY_TITLE
    assert result.attempts == 1
    assert set(result.services) == QR_ARCHIVE  # FIND accepted, then refused when used
    assert {"dicom-storage-accepted", "dicom-query-refused", "dicom-ae-title-not-checked"} <= ids(
        result
    )
    assert result.matches is None
    refused = next(f for f in result.findings if f.id == "dicom-query-refused")
    assert "aborted" in refused.evidence
    # Orthanc sends DCMTK's identity unchanged: the toolkit, not a guessed product.
    assert result.fingerprint == dcmtk_fingerprint(orthanc_default)


async def test_orthanc_find_open_is_query(orthanc_find_open, write_scope):
    result = await scan_peer(orthanc_find_open, write_scope)
    assert result.exposure is exposcan.Exposure.QUERY
    assert orthanc_find_open.expected["ae_title"] == STRANGER_AE  # any title gets in
    assert result.ae_title == ANY_TITLE
    assert set(result.services) == QR_ARCHIVE
    assert result.fingerprint == dcmtk_fingerprint(orthanc_find_open)
    assert result.matches == Matches(
        count=orthanc_find_open.studies, cap=100, cap_hit=False, level="STUDY"
    )
    assert "dicom-query-matches" in ids(result)


async def test_orthanc_find_open_cap(orthanc_find_open, write_scope):
    options = ScanOptions(limits=OPTIONS.limits, timeouts=OPTIONS.timeouts, max_matches=2)
    result = await scan_peer(orthanc_find_open, write_scope, options)
    assert result.matches is not None
    assert result.matches.count == 2
    assert result.matches.cap_hit


async def test_orthanc_guarded_is_protected(orthanc_guarded, write_scope):
    result = await scan_peer(orthanc_guarded, write_scope)
    assert result.exposure is exposcan.Exposure.PROTECTED
    assert result.ae_title is None
    # A random title and ANY-SCP: reason 7; ORTHANC (the first stock title): reason 3,
    # which discloses the called title and ends the search (exposcan never pretends to
    # be a known peer).
    assert {"dicom-called-ae-checked", "dicom-called-ae-disclosed"} <= ids(result)
    assert result.attempts == 3
    assert result.fingerprint is None  # nothing was accepted


# --- dcmqrscp -------------------------------------------------------------------------


async def test_dcmqrscp_stock_title_gets_in(dcmqrscp_stock, write_scope):
    result = await scan_peer(dcmqrscp_stock, write_scope)
    assert result.exposure is exposcan.Exposure.QUERY
    assert result.ae_title == dcmqrscp_stock.ae_title
    assert "dicom-stock-ae-title" in ids(result)
    assert result.matches is not None
    assert result.matches.count == dcmqrscp_stock.studies
    assert set(result.services) == QR_ARCHIVE
    assert result.fingerprint == dcmtk_fingerprint(dcmqrscp_stock)


async def test_dcmqrscp_with_every_default_is_query(dcmqrscp_stock, write_scope):
    """The shipped defaults (6 associations, 2 a second per host) reach the sample title:
    a random title, ANY-SCP, then ORTHANC, DCM4CHEE, STORESCP are refused (reason 7),
    READWRITE gets in with the last association of the budget."""
    options = ScanOptions()
    result = await scan_peer(dcmqrscp_stock, write_scope, options)
    assert result.exposure is exposcan.Exposure.QUERY
    assert result.ae_title == "READWRITE"
    assert result.attempts == 6 == options.ae_attempts
    assert "dicom-stock-ae-title" in ids(result)
    assert result.matches is not None
    assert result.matches.count == dcmqrscp_stock.studies


# --- storescp -------------------------------------------------------------------------


async def test_storescp_plain_is_store(storescp_plain, write_scope):
    result = await scan_peer(storescp_plain, write_scope)
    assert result.exposure is exposcan.Exposure.STORE
    assert result.protocol is exposcan.Protocol.DIMSE
    assert storescp_plain.expected["ae_title"] == STRANGER_AE
    assert result.ae_title == ANY_TITLE
    assert set(result.services) == STORE_ONLY
    assert result.fingerprint == dcmtk_fingerprint(storescp_plain)
    assert result.tls is None


async def test_storescp_tls_found_by_retry(storescp_tls, write_scope):
    result = await scan_peer(storescp_tls, write_scope)
    assert result.protocol is exposcan.Protocol.DIMSE_TLS
    assert result.exposure is exposcan.Exposure.STORE
    assert result.ae_title == ANY_TITLE
    assert result.tls == expected_tls(storescp_tls, client_certificate_required=None)
    assert "tls-certificate-self-signed" in ids(result)
    assert set(result.services) == STORE_ONLY
    assert result.fingerprint == dcmtk_fingerprint(storescp_tls)
    assert result.attempts == 2  # plaintext (closed), then the random title over TLS
    # The AE-title verdict comes from the TLS attempts, not the plaintext try before them.
    assert "dicom-ae-title-not-checked" in ids(result)


async def test_storescp_tls_on_a_tls_port(storescp_tls, write_scope):
    options = ScanOptions(
        limits=OPTIONS.limits, timeouts=OPTIONS.timeouts, tls_ports=(storescp_tls.port,)
    )
    result = await scan_peer(storescp_tls, write_scope, options)
    assert result.protocol is exposcan.Protocol.DIMSE_TLS
    assert result.exposure is exposcan.Exposure.STORE
    assert result.attempts == 1  # the random title: no plaintext try on a TLS port
    assert "dicom-ae-title-not-checked" in ids(result)
    assert result.tls == expected_tls(storescp_tls, client_certificate_required=None)


async def test_storescp_tls_client_certificate_is_protected(storescp_tls_client_cert, write_scope):
    result = await scan_peer(storescp_tls_client_cert, write_scope)
    assert result.protocol is exposcan.Protocol.DIMSE_TLS
    assert result.exposure is exposcan.Exposure.PROTECTED
    assert result.tls == expected_tls(storescp_tls_client_cert, client_certificate_required=True)
    assert "dicom-tls-client-certificate-required" in ids(result)
    assert result.fingerprint is None


# --- pynetdicom -----------------------------------------------------------------------


async def test_patient_root_only_is_counted_at_patient_level(find_scp_factory, write_scope):
    scp = find_scp_factory(models=(PATIENT_ROOT_FIND,), matches=7, ae_title="PATIENT-ROOT")
    result = await scan_port(scp.port, write_scope, scps=(scp,))
    assert result.exposure is exposcan.Exposure.QUERY
    assert result.matches == Matches(count=7, cap=100, cap_hit=False, level="PATIENT")
    assert "patient-root-find" in result.services
    assert "study-root-find" not in result.services
    assert "dicom-query-matches" in ids(result)
    assert result.fingerprint == PYNETDICOM
    assert (scp.log.requests, scp.log.levels, scp.log.sent) == (1, ["PATIENT"], 7)


async def test_streaming_scp_is_capped_and_cancelled(find_scp_factory, write_scope):
    # Paced, so that the SCP is still streaming when the C-CANCEL arrives (unpaced, a
    # pynetdicom SCP can put all 2,000 in the socket buffers first and never see it).
    scp = find_scp_factory(matches=2000, ae_title="STREAMER", delay=0.002)
    result = await scan_port(scp.port, write_scope, scps=(scp,))
    assert result.exposure is exposcan.Exposure.QUERY
    assert result.matches == Matches(count=100, cap=100, cap_hit=True, level="STUDY")
    assert result.fingerprint == PYNETDICOM
    assert scp.log.cancelled
    assert scp.log.sent < scp.matches


# --- one CLI scan of everything, searched for patient data -----------------------------


def _result(record: dict[str, Any]) -> EndpointResult:
    """An endpoint record of the JSONL report, back as the result it was written from."""
    return EndpointResult.from_dict(record)


def every_format(records: list[dict[str, Any]]) -> dict[str, str]:
    """The scan rendered in every report format and as the terminal summary."""
    header, *middle, last = records
    results = [_result(r) for r in middle if r["record"] == "endpoint"]
    stamps = ("record", "exposed", "scan_id", "site")  # the JSONL line's, not the summary's
    summary = Summary(**{k: v for k, v in last.items() if k not in stamps})
    rendered = {}
    for fmt in FORMATS:
        stream = io.StringIO()
        writer = make_writer(fmt, stream)
        writer.start(header)
        for result in results:
            writer.endpoint(result)
        writer.finish(summary)
        rendered[fmt] = stream.getvalue()
    rendered["terminal"] = render_summary(results, summary, show_none=True)
    return rendered


def test_one_cli_scan_of_every_peer_leaks_no_patient_data(
    orthanc_default,
    orthanc_find_open,
    orthanc_guarded,
    dcmqrscp_stock,
    storescp_plain,
    storescp_tls,
    storescp_tls_client_cert,
    find_scp_factory,
    write_scope,
    tmp_path: Path,
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
    # pynetdicom SCPs whose matches carry patient names, IDs, birth dates and study UIDs.
    streaming = find_scp_factory(matches=2000, ae_title="STREAMER")
    patient_root = find_scp_factory(models=(PATIENT_ROOT_FIND,), matches=7, ae_title="PATROOT")
    scps = [streaming, patient_root]
    patients = PatientData.collect(peers, scps)
    # Not vacuous: the fixtures' own values are among the strings searched for.
    assert len(patients) > 5 * 2000
    for peer in (orthanc_find_open, dcmqrscp_stock):
        dataset = pydicom.dcmread(peer.files[0], stop_before_pixels=True)
        assert {str(dataset.StudyInstanceUID), dataset.PatientBirthDate} <= set(patients.unmarked)
        assert dataset.PatientID in patients.marked

    ports = [p.port for p in peers] + [s.port for s in scps]
    scope = write_scope(["127.0.0.1"], ports)
    out = tmp_path / "report.jsonl"
    timeout = 20
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
            str(timeout),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONWARNINGS": "error"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = out.read_text(encoding="utf-8")
    records = [json.loads(line) for line in report.splitlines()]
    rendered = every_format(records)
    assert rendered["jsonl"] == report  # the other formats were made from the same results

    # The log is not empty: -vv writes JSON lines, one per event, none an error.
    logs = [json.loads(line) for line in proc.stderr.splitlines() if line.strip()]
    events = [entry["event"] for entry in logs]
    assert events[0] == "scan_started", events
    assert events[-1] == "scan_finished", events
    assert logs[-1]["endpoints"] == len(ports)
    assert events.count("endpoint_finished") == len(ports)
    assert not [e for e in logs if e.get("level") in ("error", "critical")], logs
    assert "Traceback" not in proc.stderr

    for name, text in (*rendered.items(), ("stdout", proc.stdout), ("stderr", proc.stderr)):
        patients.assert_absent(text, name)

    endpoints = {r["port"]: r for r in records if r["record"] == "endpoint"}
    assert set(endpoints) == set(ports)
    for record in endpoints.values():
        assert record["duration_s"] < timeout + ScanOptions().timeouts.release
        patients.assert_absent(record["detail"] or "", "exception text")
    for peer in peers:
        assert endpoints[peer.port]["exposure"] == peer.expected["exposure"], peer.name
        # A peer that lets the stranger's ANY-SCP in lets any title in: "(any)".
        title = peer.expected["ae_title"]
        reported = ANY_TITLE if title == STRANGER_AE else title
        assert endpoints[peer.port]["ae_title"] == reported, peer.name
    for scp, level, count in ((streaming, "STUDY", 100), (patient_root, "PATIENT", 7)):
        record = endpoints[scp.port]
        assert record["exposure"] == "query"
        assert record["matches"] == {
            "count": count,
            "cap": 100,
            "cap_hit": count == 100,
            "level": level,
        }
        assert record["fingerprint"] == PYNETDICOM.to_dict()
