"""Host evidence: what one endpoint's probe learns about another is the scan's, on disk.

An Orthanc imitation's ``/system`` names its DicomPort; the DICOM port behind it answers
with DCMTK's identity, as Debian's Orthanc does, so only that evidence names Orthanc
(``exposcan/data/fingerprints.toml``). A scan cut after its web port and resumed must
fingerprint the DICOM port as the uninterrupted scan does: the evidence is written to the
JSONL before the web endpoint's record and read back by ``--resume``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from exposcan.errors import OutputError
from exposcan.probe import HostEvidence
from exposcan.report import read_jsonl
from exposcan.report.resume import load_resume
from tests.support.orthanc_imitation import orthanc_naming
from tests.support.peers import Peer
from tests.support.scope_files import scope_text
from tests.support.scps import ScpLauncher
from tests.support.web_peers import HOST, WebPeers

DCMTK_UID = "1.2.276.0.7230010.3.0.3.6.7"
DCMTK_NAME = "OFFIS_DCMTK_367"


@pytest.fixture
def dcmtk_identity_scp(scp_launcher: ScpLauncher) -> int:
    """A Verification SCP answering with DCMTK's identity (Orthanc's, seen from DICOM)."""
    server = scp_launcher.start(
        "ORTHANC",
        contexts=(Verification,),
        handlers=[(evt.EVT_C_ECHO, lambda event: 0x0000)],
        implementation=(DCMTK_UID, DCMTK_NAME),
    )
    return int(server.server_address[1])


def scope_file(tmp_path: Path, ports: list[int], web_ports: list[int]) -> Path:
    path = tmp_path / "scope.toml"
    path.write_text(
        "[authorisation]\n"
        'owner = "exposcan tests"\n'
        'reference = "TEST-EVIDENCE"\n'
        f"expires = {(date.today() + timedelta(days=30)).isoformat()}\n"
        "[scope]\n"
        f'include = ["{HOST}"]\n'
        f"ports = {ports}\n"
        f"web_ports = {web_ports}\n",
        encoding="utf-8",
    )
    return path


async def exposcan(*args: str) -> None:
    """The CLI, without blocking the loop that serves the imitation."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "exposcan",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode()


def records(path: Path) -> list[dict[str, Any]]:
    return list(read_jsonl(path))


def dicom_row(path: Path, port: int) -> dict[str, Any]:
    rows = [r for r in records(path) if r["record"] == "endpoint" and r["port"] == port]
    assert len(rows) == 1, rows
    return rows[0]


async def cut_and_resume(
    scope: Path, web_port: int, dicom_port: int, tmp_path: Path
) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """The DICOM row of an uninterrupted scan, and of the same scan cut right after its
    web endpoint's record (as a kill then leaves the JSONL, the source of truth) and
    resumed; and the resumed report."""
    whole = tmp_path / "whole.jsonl"
    cmd = ["scan", "--scope", str(scope), "--rate", "50", "--per-host-rate", "50"]
    await exposcan(*cmd, "-o", str(whole))
    lines = whole.read_text(encoding="utf-8").splitlines(keepends=True)
    parsed = [json.loads(line) for line in lines]
    web_at = next(
        i for i, r in enumerate(parsed) if r["record"] == "endpoint" and r["port"] == web_port
    )
    # Written before the endpoint that learnt it.
    assert "evidence" in [r["record"] for r in parsed[:web_at]], parsed
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[: web_at + 1]), encoding="utf-8")
    await exposcan(*cmd, "-o", str(cut), "--resume")
    return dicom_row(whole, dicom_port), dicom_row(cut, dicom_port), cut


async def test_a_scan_cut_after_its_web_port_and_resumed_fingerprints_dicom_the_same(
    dcmtk_identity_scp: int, tmp_path: Path
) -> None:
    dicom = dcmtk_identity_scp
    peers = WebPeers()
    try:
        orthanc = await peers.start("orthanc", orthanc_naming, dicom)
        scope = scope_file(tmp_path, [dicom], [orthanc.port])
        uninterrupted, resumed, cut = await cut_and_resume(scope, orthanc.port, dicom, tmp_path)
    finally:
        await peers.close()
    assert uninterrupted["fingerprint"]["product"] == "Orthanc", uninterrupted
    assert uninterrupted["fingerprint"]["version"] == "1.12.4", uninterrupted
    assert resumed["fingerprint"] == uninterrupted["fingerprint"]
    assert resumed["exposure"] == uninterrupted["exposure"]
    assert [r["record"] for r in records(cut)].count("endpoint") == 2  # each once


async def test_real_orthanc_cut_after_its_web_port_and_resumed(
    orthanc_web_open: Peer, tmp_path: Path
) -> None:
    """Orthanc itself (its /system names DicomPort; A-ASSOCIATE says DCMTK)."""
    peer = orthanc_web_open
    assert peer.http_port is not None
    scope = tmp_path / "scope.toml"
    text = scope_text([peer.host], [peer.port]) + f"web_ports = [{peer.http_port}]\n"
    scope.write_text(text, encoding="utf-8")
    uninterrupted, resumed, _ = await cut_and_resume(scope, peer.http_port, peer.port, tmp_path)
    assert uninterrupted["fingerprint"]["product"] == "Orthanc", uninterrupted
    assert resumed["fingerprint"] == uninterrupted["fingerprint"]
    assert resumed["exposure"] == uninterrupted["exposure"]


def test_evidence_reads_back_as_it_was_written() -> None:
    record = HostEvidence("127.0.0.1", 4242, "web", 8042, "orthanc", "1.12.4")
    assert HostEvidence.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    assert record.hints() == {"web_product": "orthanc", "web_version": "1.12.4"}


def _report(tmp_path: Path, evidence: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    header = {
        "record": "scan",
        "scope": {"digest": "d"},
        "targets": [],
        "ports": [4242],
        "web_ports": [8042],
        "options": {},
    }
    path = tmp_path / "report.jsonl"
    path.write_text(json.dumps(header) + "\n" + json.dumps(evidence) + "\n", encoding="utf-8")
    return path, header


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"port": 0}, "port"),
        ({"host": "orthanc.example"}, "not an address"),
        ({"product": ["orthanc"]}, "product"),
        ({"source": "Web Probe"}, "not a HostEvidence"),
        ({"host": "127.0.0.9"}, "not in this scan"),
    ],
)
def test_resume_refuses_evidence_it_cannot_hold_in_one_line(
    tmp_path: Path, change: dict[str, Any], words: str
) -> None:
    good = HostEvidence("127.0.0.1", 4242, "web", 8042, "orthanc").to_dict()
    path, header = _report(tmp_path, {**good, **change})
    with pytest.raises(OutputError, match=words) as raised:
        load_resume(path, header, targets={"127.0.0.1"})
    assert "\n" not in str(raised.value)
    assert "line 2" in str(raised.value)


def test_resume_hands_the_evidence_back_by_the_address_the_scan_names(tmp_path: Path) -> None:
    spelled = HostEvidence("::ffff:127.0.0.1", 4242, "web", 8042, "orthanc").to_dict()
    path, header = _report(tmp_path, spelled)
    state = load_resume(path, header, targets={"127.0.0.1"})
    assert state.evidence == [HostEvidence("127.0.0.1", 4242, "web", 8042, "orthanc")]
