"""ScanReport.evidence: the host evidence a scan's probes learnt (an Orthanc imitation's
/system naming its DICOM port and product) is on the report ``scan()`` returns, and
``exposcan.read_report`` reads it back from the JSONL's evidence records, with the checks
``--resume`` makes (every field, the host as the engine names it) and one more: the
endpoint that said it was planned by the scan."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import exposcan
from exposcan.errors import ReportError
from exposcan.lab import free_port
from exposcan.options import Limits, ScanOptions
from exposcan.probe import HostEvidence
from exposcan.report.jsonl import JsonlWriter
from tests.support.orthanc_imitation import orthanc_naming

HOST = "127.0.0.1"


@pytest.fixture
async def scope(tmp_path: Path) -> AsyncIterator[tuple[Path, int, int]]:
    """A scope of one loopback host: an Orthanc imitation's web port, and the closed
    DICOM port its /system names; (scope file, web port, DICOM port)."""
    dicom = free_port(HOST)
    runner = web.AppRunner(orthanc_naming(dicom))
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    try:
        web_port = int(runner.addresses[0][1])
        path = tmp_path / "scope.toml"
        path.write_text(
            "[authorisation]\n"
            'owner = "exposcan tests"\n'
            'reference = "TEST-REPORT-EVIDENCE"\n'
            f"expires = {(date.today() + timedelta(days=30)).isoformat()}\n"
            "[scope]\n"
            f'include = ["{HOST}"]\n'
            f"ports = [{dicom}]\n"
            f"web_ports = [{web_port}]\n",
            encoding="utf-8",
        )
        yield path, web_port, dicom
    finally:
        await runner.cleanup()


async def test_scan_reports_its_evidence_and_read_report_reads_it_back(
    scope: tuple[Path, int, int], tmp_path: Path
) -> None:
    path, web_port, dicom = scope
    options = ScanOptions(limits=Limits(rate=50, per_host_rate=50))  # a dozen requests to one host
    scanned = await exposcan.scan(path, options=options)
    assert scanned.evidence == (HostEvidence(HOST, dicom, "web", web_port, "Orthanc", "1.12.4"),)
    assert scanned.to_dict()["evidence"] == [scanned.evidence[0].to_dict()]

    out = tmp_path / "scan.jsonl"
    plan = await exposcan.prepare(path, options=options)
    with out.open("w", encoding="utf-8") as stream:
        await plan.run(JsonlWriter(stream))
    assert exposcan.read_report(out).evidence == scanned.evidence


def _header() -> dict[str, Any]:
    return {"record": "scan", "ports": [4242], "web_ports": [8042], "endpoints": 2}


def _evidence(**changes: Any) -> dict[str, Any]:
    record = HostEvidence("127.0.0.1", 4242, "web", 8042, "orthanc", "1.12.4").to_dict()
    return {**record, **changes}


def _write(tmp_path: Path, *records: dict[str, Any]) -> Path:
    path = tmp_path / "report.jsonl"
    text = "".join(json.dumps(r) + "\n" for r in (_header(), *records))
    path.write_text(text, encoding="utf-8")
    return path


def test_evidence_written_twice_reads_once_in_the_order_written(tmp_path: Path) -> None:
    """A web endpoint re-probed on resume writes its evidence again."""
    other = _evidence(port=104, product="dcm4chee", version=None)
    path = _write(tmp_path, _evidence(), other, _evidence())
    report = exposcan.read_report(path)
    assert [(e.port, e.product) for e in report.evidence] == [(4242, "orthanc"), (104, "dcm4chee")]
    assert report.results == ()


def test_evidence_about_a_host_reads_as_the_engine_names_it(tmp_path: Path) -> None:
    (evidence,) = exposcan.read_report(
        _write(tmp_path, _evidence(host="::ffff:127.0.0.1"))
    ).evidence
    assert evidence.host == "127.0.0.1"


def test_a_report_without_evidence_reads_back_none(tmp_path: Path) -> None:
    assert exposcan.read_report(_write(tmp_path)).evidence == ()


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"host": "orthanc.example"}, "host"),
        ({"port": 0}, "port"),
        ({"source_port": "8042"}, "source_port"),
        ({"product": ""}, "evidence"),
        ({"source": "Web Probe!"}, "evidence"),
        ({"source_port": 8043}, "not from this scan"),  # a port the scan never planned
        ({"source": "hl7"}, "not from this scan"),  # no probe of that kind
        ({"source_port": 4242}, "not from this scan"),  # a DICOM port, not a web one
    ],
)
def test_bad_evidence_is_one_report_error_naming_the_line(
    tmp_path: Path, changes: dict[str, Any], says: str
) -> None:
    path = _write(tmp_path, _evidence(**changes))
    with pytest.raises(ReportError, match="line 2") as caught:
        exposcan.read_report(path)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)
