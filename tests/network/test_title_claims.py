"""What the host's web side says moves its product's stock titles first
(exposcan/probes/aetitle_order.py, group 2), through the engine.

An Orthanc imitation's ``/system`` names the DICOM port of its host (as Orthanc does:
``DicomPort``); behind that port a called-AE-checking SCP answers to ``ORTHANC`` only,
with DCMTK's identity, as Debian's Orthanc does. The port is 11112, known for dcm4che,
DCMTK and Horos, whose titles fill the default budget before ``ORTHANC`` comes: scanned
alone the title is never tried; scanned with the web port, the web side's claim reaches
the DICOM probe before it starts and ``ORTHANC`` is the first stock title tried. The SCP
counts the associations it was asked for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import exposcan
from exposcan.options import Limits, ScanOptions, Timeouts
from tests.support.orthanc_imitation import orthanc_naming

#: A loopback address of this test's own (binding 11112 on 127.0.0.1 could meet
#: another test's server); the port is the one the web side names.
HOST = "127.0.14.1"
DICOM_PORT = 11112
DCMTK = ("1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367")
OPTIONS = ScanOptions(
    limits=Limits(concurrency=1, per_host_rate=20),
    timeouts=Timeouts(connect=1, read=2, release=1, endpoint=8),
)


class Counted:
    """A pynetdicom Verification SCP answering to ORTHANC only; counts A-ASSOCIATE-RQs."""

    def __init__(self) -> None:
        from pynetdicom import AE, evt

        from exposcan.dicom.uids import VERIFICATION

        self.requests = 0
        ae = AE(ae_title="ORTHANC")
        ae.require_called_aet = True
        ae.implementation_class_uid, ae.implementation_version_name = DCMTK
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
        ae.add_supported_context(VERIFICATION)
        self.server: Any = ae.start_server(
            (HOST, DICOM_PORT),
            block=False,
            evt_handlers=[
                (evt.EVT_C_ECHO, lambda event: 0x0000),
                (evt.EVT_REQUESTED, self._requested),
            ],
        )

    def _requested(self, event: Any) -> None:
        self.requests += 1


@pytest.fixture
def scp() -> Iterator[Counted]:
    counted = Counted()
    try:
        yield counted
    finally:
        counted.server.shutdown()


@pytest.fixture
async def web_port() -> AsyncIterator[int]:
    runner = web.AppRunner(orthanc_naming(DICOM_PORT), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    try:
        yield int(runner.addresses[0][1])  # the port the kernel chose
    finally:
        await runner.cleanup()


def scope(tmp_path: Path, web_ports: list[int]) -> Path:
    path = tmp_path / "scope.toml"
    path.write_text(
        "[authorisation]\n"
        'owner = "exposcan tests"\n'
        'reference = "TEST-TITLE-CLAIMS"\n'
        f"expires = {(date.today() + timedelta(days=30)).isoformat()}\n"
        "[scope]\n"
        f'include = ["{HOST}"]\n'
        f"ports = [{DICOM_PORT}]\n"
        f"web_ports = {web_ports}\n",
        encoding="utf-8",
    )
    return path


def dicom_result(report: exposcan.ScanReport) -> exposcan.EndpointResult:
    (result,) = [r for r in report.results if r.port == DICOM_PORT]
    return result


async def test_without_the_web_side_the_budget_ends_before_the_title(
    scp: Counted, tmp_path: Path
) -> None:
    result = dicom_result(await exposcan.scan(scope(tmp_path, []), options=OPTIONS))
    assert result.exposure is exposcan.Exposure.PROTECTED
    assert result.attempts == scp.requests == OPTIONS.ae_attempts
    (checked,) = [f for f in result.findings if f.id == "dicom-called-ae-checked"]
    assert "not the peer, ended the search" in checked.evidence


async def test_the_web_side_names_the_product_and_its_title_comes_first(
    scp: Counted, web_port: int, tmp_path: Path
) -> None:
    report = await exposcan.scan(scope(tmp_path, [web_port]), options=OPTIONS)
    result = dicom_result(report)
    # A random title refused, then ORTHANC straight away: two associations at the SCP.
    assert result.attempts == scp.requests == 2
    assert result.exposure is exposcan.Exposure.ECHO
    assert result.ae_title == "ORTHANC"
    assert "dicom-stock-ae-title" in {f.id for f in result.findings}
    assert result.fingerprint is not None
    assert result.fingerprint.product == "Orthanc"  # the verdict reads the same claim
