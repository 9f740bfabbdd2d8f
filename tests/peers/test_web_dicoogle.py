"""Dicoogle's web side names its DICOM ports, and its stock title comes first there
(exposcan/probes/aetitle_order.py, group 2), through the engine.

Dicoogle 3.4 serves the status of its DICOM services without authentication
(bioinformatics-ua/dicoogle c55f72c, DicoogleWeb.java and ServicesServlet.java:
``GET /management/dicom/query`` answers ``{"isRunning": true, "port": N, ...}``); an
imitation written from that source (tests/support/web_products.py) says its
query/retrieve service runs on 11112 and its storage service is stopped. Behind 11112 a
called-AE-checking SCP answers to ``DICOOGLE-STORAGE`` only (Dicoogle's one title for
both services: DicomServicesImpl.java), with dcm4che 2's identity as Dicoogle has.
11112 is known for dcm4che, DCMTK and Horos, whose titles fill the default budget:
scanned alone the title is never tried; with the web port it is the first stock title.
The SCP counts the associations it was asked for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import exposcan
from tests.support.title_claims import (
    OPTIONS,
    CountedScp,
    budget_ends_first,
    counted_scp,
    port_result,
    scope_file,
    serve_web,
)
from tests.support.web_products import ASKED, dicoogle_services

#: A loopback address of this test's own (11112 on 127.0.0.1 could meet another test).
HOST = "127.0.14.2"
DICOM_PORT = 11112
#: Dicoogle serves DICOM with dcm4che 2 and sets no identity of its own
#: (exposcan/data/fingerprints.toml, the dcm4che entry's note).
DCM4CHE_2 = ("1.2.40.0.13.1.1", "dcm4che-2.0")
TITLE = "DICOOGLE-STORAGE"


@pytest.fixture
def scp() -> Iterator[CountedScp]:
    with counted_scp(HOST, DICOM_PORT, TITLE, DCM4CHE_2) as counted:
        yield counted


@pytest.fixture
async def web_side() -> AsyncIterator[tuple[int, list[str]]]:
    app = dicoogle_services(query_port=DICOM_PORT)
    async with serve_web(app, HOST) as port:
        yield port, app[ASKED]


def scope(tmp_path: Path, web_ports: list[int]) -> Path:
    return scope_file(tmp_path, HOST, DICOM_PORT, web_ports, "TEST-DICOOGLE-CLAIMS")


async def test_without_the_web_side_the_budget_ends_before_dicoogles_title(
    scp: CountedScp, tmp_path: Path
) -> None:
    await budget_ends_first(scope(tmp_path, []), scp, DICOM_PORT)


async def test_dicoogles_web_side_names_its_query_port_and_its_title_comes_first(
    scp: CountedScp, web_side: tuple[int, list[str]], tmp_path: Path
) -> None:
    web_port, asked = web_side
    report = await exposcan.scan(scope(tmp_path, [web_port]), options=OPTIONS)
    # The web side's word, one record for the running service only (storage is stopped).
    assert [(e.port, e.source, e.source_port, e.product) for e in report.evidence] == [
        (DICOM_PORT, "web", web_port, "Dicoogle")
    ]
    assert "GET /management/dicom/query" in asked
    assert all(line.startswith("GET ") for line in asked)  # status read, never written
    result = port_result(report, DICOM_PORT)
    # A random title refused, then DICOOGLE-STORAGE straight away.
    assert result.attempts == scp.requests == 2
    assert result.exposure is exposcan.Exposure.ECHO
    assert result.ae_title == TITLE
    assert "dicom-stock-ae-title" in {f.id for f in result.findings}
    # dcm4che 2 is Dicoogle's own identity: no contradiction, no decoy sign.
    assert "dicom-suspected-honeypot" not in {f.id for f in result.findings}
    # The verdict reads the same claim: dcm4che 2 on the wire, Dicoogle by its web side.
    assert result.fingerprint is not None
    assert (result.fingerprint.product, result.fingerprint.toolkit) == ("Dicoogle", "dcm4che")
    assert result.fingerprint.version == "3.4.1"


def test_dicoogles_default_query_port_puts_its_title_first_without_a_web_side() -> None:
    """1045, Dicoogle's default query/retrieve port (exposcan/data/ae_titles.toml)."""
    from exposcan.aetitles import stock_ports, stock_titles
    from exposcan.probes.aetitle_order import order_titles

    assert stock_ports()[1045] == ("Dicoogle",)
    order = order_titles(stock_titles(), port=1045, port_products=stock_ports())
    assert order[0] == TITLE
