"""Web products beyond Orthanc name their DICOM port, and the product's stock title comes
first there (exposcan/probes/aetitle_order.py, group 2), through the engine.

Each web side is an imitation written from the product's source
(tests/support/web_products.py):

- **Dicoogle 3.4** serves the status of its DICOM services without authentication
  (bioinformatics-ua/dicoogle c55f72c, DicoogleWeb.java and ServicesServlet.java:
  ``GET /management/dicom/query`` answers ``{"isRunning": true, "port": N, ...}``); the
  imitation's query/retrieve service runs on 11112 and its storage service is stopped.
  Its DICOM side answers with dcm4che 2's identity (Dicoogle sets none of its own) to
  ``DICOOGLE-STORAGE``, its one title (DicomServicesImpl.java).
- **Conquest**'s CGI pages carry the server they talk to in hidden form fields
  (marcelvanherk/Conquest-DICOM-Server 019d7d5, src/dgate/src/dgate.cpp, the top page:
  ``port`` is dicom.ini's TCPPort, read in dbsql.cpp; ``address`` is WebServerFor,
  127.0.0.1 unless set). Its DICOM side answers with Conquest's identity (version.h) to
  ``CONQUESTSRV1``.

Behind 11112, known for dcm4che, DCMTK and Horos (whose titles fill the default budget),
a called-AE-checking SCP answers to the product's title only and counts the
associations: scanned alone the title is never tried; with the web port it is the first
stock title.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

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
from tests.support.web_products import ASKED, conquest_site, dicoogle_services

DICOM_PORT = 11112


@dataclass(frozen=True)
class Claim:
    host: str  # a loopback address of its own (11112 on 127.0.0.1 could meet another test)
    title: str
    identity: tuple[str, str]
    web_side: Callable[[], web.Application]
    product: str  # the product the web side names
    fingerprint: tuple[str, str | None]  # product and toolkit the DICOM verdict reports


CLAIMS = {
    "dicoogle": Claim(
        "127.0.14.2",
        "DICOOGLE-STORAGE",
        ("1.2.40.0.13.1.1", "dcm4che-2.0"),
        lambda: dicoogle_services(query_port=DICOM_PORT),
        "Dicoogle",
        ("Dicoogle", "dcm4che"),  # dcm4che 2 on the wire, Dicoogle by its web side
    ),
    "conquest": Claim(
        "127.0.14.3",
        "CONQUESTSRV1",
        ("1.2.826.0.1.3680043.2.135.1066.101", "1.5.0c/OTHER"),
        lambda: conquest_site(port=DICOM_PORT),
        "Conquest",
        ("Conquest DICOM server", None),  # its own identity names it
    ),
}


@pytest.fixture(params=sorted(CLAIMS))
def claim(request: pytest.FixtureRequest) -> Iterator[tuple[Claim, CountedScp]]:
    product = CLAIMS[request.param]
    with counted_scp(product.host, DICOM_PORT, product.title, product.identity) as scp:
        yield product, scp


def scope(tmp_path: Path, host: str, web_ports: list[int]) -> Path:
    return scope_file(tmp_path, host, DICOM_PORT, web_ports, "TEST-WEB-CLAIMS")


async def test_without_the_web_side_the_budget_ends_before_the_title(
    claim: tuple[Claim, CountedScp], tmp_path: Path
) -> None:
    product, scp = claim
    await budget_ends_first(scope(tmp_path, product.host, []), scp, DICOM_PORT)


async def scan_with_web(
    product: Claim, app: web.Application, tmp_path: Path
) -> tuple[exposcan.ScanReport, int]:
    async with serve_web(app, product.host) as web_port:
        report = await exposcan.scan(scope(tmp_path, product.host, [web_port]), options=OPTIONS)
    return report, web_port


async def test_the_web_side_names_the_port_and_the_title_comes_first(
    claim: tuple[Claim, CountedScp], tmp_path: Path
) -> None:
    product, scp = claim
    report, web_port = await scan_with_web(product, product.web_side(), tmp_path)
    # The web side's word: one record, for this DICOM port.
    assert [(e.port, e.source, e.source_port, e.product) for e in report.evidence] == [
        (DICOM_PORT, "web", web_port, product.product)
    ]
    result = port_result(report, DICOM_PORT)
    # A random title refused, then the product's title straight away.
    assert result.attempts == scp.requests == 2
    assert result.exposure is exposcan.Exposure.ECHO
    assert result.ae_title == product.title
    findings = {f.id for f in result.findings}
    assert "dicom-stock-ae-title" in findings
    assert "dicom-suspected-honeypot" not in findings  # the identity is the product's own
    assert result.fingerprint is not None
    assert (result.fingerprint.product, result.fingerprint.toolkit) == product.fingerprint


async def test_dicoogles_status_is_only_read_and_a_stopped_service_is_not_learnt(
    tmp_path: Path,
) -> None:
    product = CLAIMS["dicoogle"]
    app = dicoogle_services(query_port=DICOM_PORT, storage_port=6666, storage_running=False)
    with counted_scp(product.host, DICOM_PORT, product.title, product.identity):
        report, _ = await scan_with_web(product, app, tmp_path)
    assert [e.port for e in report.evidence] == [DICOM_PORT]  # not 6666: stopped
    asked = app[ASKED]
    assert "GET /management/dicom/storage" in asked
    assert "GET /management/dicom/query" in asked
    assert all(line.startswith("GET ") for line in asked)  # status read, never written
    fingerprint = port_result(report, DICOM_PORT).fingerprint
    assert fingerprint is not None
    assert fingerprint.version == "3.4.1"  # the web side's version (GET /ext/version)


async def test_a_conquest_page_serving_a_server_elsewhere_says_nothing_of_this_host(
    tmp_path: Path,
) -> None:
    product = CLAIMS["conquest"]
    elsewhere = conquest_site(port=DICOM_PORT, address="192.0.2.7")  # TEST-NET-1, never reached
    with counted_scp(product.host, DICOM_PORT, product.title, product.identity) as scp:
        report, _ = await scan_with_web(product, elsewhere, tmp_path)
    assert report.evidence == ()
    result = port_result(report, DICOM_PORT)
    assert result.attempts == scp.requests == OPTIONS.ae_attempts
    assert result.exposure is exposcan.Exposure.PROTECTED


def test_dicoogles_default_query_port_puts_its_title_first_without_a_web_side() -> None:
    """1045, Dicoogle's default query/retrieve port (exposcan/data/ae_titles.toml)."""
    from exposcan.aetitles import stock_ports, stock_titles
    from exposcan.probes.aetitle_order import order_titles

    assert stock_ports()[1045] == ("Dicoogle",)
    order = order_titles(stock_titles(), port=1045, port_products=stock_ports())
    assert order[0] == CLAIMS["dicoogle"].title
