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
from pathlib import Path

import pytest

import exposcan
from tests.support.orthanc_imitation import orthanc_naming
from tests.support.title_claims import (
    OPTIONS,
    CountedScp,
    budget_ends_first,
    counted_scp,
    port_result,
    scope_file,
    serve_web,
)

#: A loopback address of this test's own (binding 11112 on 127.0.0.1 could meet
#: another test's server); the port is the one the web side names.
HOST = "127.0.14.1"
DICOM_PORT = 11112
DCMTK = ("1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367")


@pytest.fixture
def scp() -> Iterator[CountedScp]:
    with counted_scp(HOST, DICOM_PORT, "ORTHANC", DCMTK) as counted:
        yield counted


@pytest.fixture
async def web_port() -> AsyncIterator[int]:
    async with serve_web(orthanc_naming(DICOM_PORT), HOST) as port:
        yield port


def scope(tmp_path: Path, web_ports: list[int]) -> Path:
    return scope_file(tmp_path, HOST, DICOM_PORT, web_ports, "TEST-TITLE-CLAIMS")


async def test_without_the_web_side_the_budget_ends_before_the_title(
    scp: CountedScp, tmp_path: Path
) -> None:
    await budget_ends_first(scope(tmp_path, []), scp, DICOM_PORT)


async def test_the_web_side_names_the_product_and_its_title_comes_first(
    scp: CountedScp, web_port: int, tmp_path: Path
) -> None:
    report = await exposcan.scan(scope(tmp_path, [web_port]), options=OPTIONS)
    result = port_result(report, DICOM_PORT)
    # A random title refused, then ORTHANC straight away: two associations at the SCP.
    assert result.attempts == scp.requests == 2
    assert result.exposure is exposcan.Exposure.ECHO
    assert result.ae_title == "ORTHANC"
    assert "dicom-stock-ae-title" in {f.id for f in result.findings}
    assert result.fingerprint is not None
    assert result.fingerprint.product == "Orthanc"  # the verdict reads the same claim
