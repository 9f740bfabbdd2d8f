"""What a product's web side claims moves its stock titles first: the pieces of those tests.

:class:`CountedScp` is a pynetdicom Verification SCP that answers to one called AE title
only (``require_called_aet``), with the implementation identity the imitated product
sends, and counts the A-ASSOCIATE-RQs it was sent. :func:`serve_web` runs an aiohttp
imitation of the product's web side on the same loopback address. :func:`scope_file`
writes a scope of that one host with the DICOM port and the given web ports;
:func:`budget_ends_first` checks the scan without the web side.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

import exposcan
from exposcan.lab import free_port
from exposcan.options import Limits, ScanOptions, Timeouts
from tests.support.synthetic import find_synthetic

#: One connection at a time and a per-host rate that fits the whole budget in the
#: endpoint deadline: only the order decides whether the title is reached.
OPTIONS = ScanOptions(
    limits=Limits(concurrency=1, per_host_rate=20),
    timeouts=Timeouts(connect=1, read=2, release=1, endpoint=8),
)


class CountedScp:
    """A Verification SCP answering to ``title`` only, at ``host``:``port``."""

    def __init__(self, host: str, port: int, title: str, identity: tuple[str, str]) -> None:
        from pynetdicom import AE, evt

        from exposcan.dicom.uids import VERIFICATION

        self.requests = 0
        ae = AE(ae_title=title)
        ae.require_called_aet = True
        ae.implementation_class_uid, ae.implementation_version_name = identity
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
        ae.add_supported_context(VERIFICATION)
        self.server: Any = ae.start_server(
            (host, port),
            block=False,
            evt_handlers=[
                (evt.EVT_C_ECHO, lambda event: 0x0000),
                (evt.EVT_REQUESTED, self._requested),
            ],
        )

    def _requested(self, event: Any) -> None:
        self.requests += 1

    def stop(self) -> None:
        self.server.shutdown()


@contextmanager
def counted_scp(
    host: str, port: int, title: str, identity: tuple[str, str]
) -> Iterator[CountedScp]:
    """A :class:`CountedScp` for the ``with`` block, shut down after it."""
    scp = CountedScp(host, port, title, identity)
    try:
        yield scp
    finally:
        scp.stop()


@asynccontextmanager
async def serve_web(app: web.Application, host: str) -> AsyncIterator[int]:
    """``app`` on ``host`` at a port the kernel chooses; yields the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


def scope_file(
    tmp_path: Path, host: str, dicom_port: int, web_ports: list[int], reference: str
) -> Path:
    path = tmp_path / "scope.toml"
    path.write_text(
        "[authorisation]\n"
        'owner = "exposcan tests"\n'
        f'reference = "{reference}"\n'
        f"expires = {(date.today() + timedelta(days=30)).isoformat()}\n"
        "[scope]\n"
        f'include = ["{host}"]\n'
        f"ports = [{dicom_port}]\n"
        f"web_ports = {web_ports}\n",
        encoding="utf-8",
    )
    return path


async def web_result(app: web.Application, host: str, tmp_path: Path) -> exposcan.EndpointResult:
    """``app`` alone on ``host`` (its DICOM port closed) scanned with :data:`OPTIONS`: the
    web endpoint's result, which holds no synthetic value (counted, never kept)."""
    async with serve_web(app, host) as web_port:
        scope = scope_file(tmp_path, host, free_port(), [web_port], "TEST-WEB-SIDE")
        report = await exposcan.scan(scope, options=OPTIONS)
    result = port_result(report, web_port)
    assert not find_synthetic(json.dumps(result.to_dict()))
    return result


def port_result(report: exposcan.ScanReport, port: int) -> exposcan.EndpointResult:
    (result,) = [r for r in report.results if r.port == port]
    return result


async def budget_ends_first(scope: Path, scp: CountedScp, port: int) -> None:
    """Scanned without its web side, the title is never reached: the attempt budget,
    spent at the SCP, ends the search, and the report says so."""
    options = OPTIONS
    result = port_result(await exposcan.scan(scope, options=options), port)
    assert result.exposure is exposcan.Exposure.PROTECTED
    assert result.attempts == scp.requests == options.ae_attempts
    (checked,) = [f for f in result.findings if f.id == "dicom-called-ae-checked"]
    assert "not the peer, ended the search" in checked.evidence
