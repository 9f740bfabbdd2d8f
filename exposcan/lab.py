"""The embedded demo lab: small DICOM services on 127.0.0.1, in this process.

``exposcan demo`` starts it, scans it with the real engine and stops it. The
lab is also what the test-suite and benchmarks use when they need a known set
of behaviours without installing a PACS. It listens on loopback only.

- ``open``: accepts any called AE title (like a PACS left at its defaults);
- ``guarded``: checks the called AE title and rejects strangers (PS3.8 reason 7);
  it holds a few synthetic studies behind Study Root C-FIND, which only a caller
  that knows its title reaches;
- ``closed``: a port with nothing listening.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from pynetdicom import AE, evt

from exposcan.dicom.uids import VERIFICATION

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class LabService:
    name: str
    port: int
    ae_title: str
    expected: str  # the exposure a correct scanner reports


@dataclass(frozen=True, slots=True)
class Lab:
    host: str
    services: tuple[LabService, ...]

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(s.port for s in self.services)

    def scope_toml(self, *, days: int = 1) -> str:
        expires = (datetime.now(UTC) + timedelta(days=days)).date().isoformat()
        ports = ", ".join(str(p) for p in self.ports)
        return (
            "[authorisation]\n"
            'owner = "exposcan demo lab"\n'
            'reference = "DEMO-LOOPBACK"\n'
            f"expires = {expires}\n\n"
            "[scope]\n"
            f'include = ["{self.host}"]\n'
            f"ports = [{ports}]\n"
            "web_ports = []\n"
        )


def free_port(host: str = LOOPBACK) -> int:
    """A port nothing listens on right now (the kernel's choice, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
#: Invented studies (no person behind them), marked so that tests can look for leaks.
SYNTHETIC_STUDIES = 3


def _handle_echo(event: Any) -> int:
    return 0x0000


def _handle_find(event: Any) -> Iterator[tuple[int, Any]]:
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    for index in range(SYNTHETIC_STUDIES):
        if event.is_cancelled:
            yield 0xFE00, None
            return
        match = Dataset()
        match.QueryRetrieveLevel = "STUDY"
        match.PatientName = f"EXPOSCAN-DEMO^SYNTHETIC{index}"
        match.PatientID = f"EXPOSCAN-DEMO-{index}"
        match.StudyInstanceUID = generate_uid()
        yield 0xFF00, match


def _start_scp(ae_title: str, *, check_called_ae: bool, studies: bool = False) -> Any:
    ae = AE(ae_title=ae_title)
    ae.require_called_aet = check_called_ae
    ae.add_supported_context(VERIFICATION)
    handlers: list[Any] = [(evt.EVT_C_ECHO, _handle_echo)]
    if studies:
        ae.add_supported_context(STUDY_ROOT_FIND)
        handlers.append((evt.EVT_C_FIND, _handle_find))
    # Short timeouts so that a scan that misbehaves cannot hold the lab.
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    return ae.start_server((LOOPBACK, 0), block=False, evt_handlers=handlers)


@contextlib.contextmanager
def running_lab() -> Iterator[Lab]:
    """Start the lab's services; stop them however the block ends."""
    servers: list[Any] = []
    try:
        open_scp = _start_scp("OPEN-PACS", check_called_ae=False)
        servers.append(open_scp)
        guarded = _start_scp("GUARDED-PACS", check_called_ae=True, studies=True)
        servers.append(guarded)
        services = (
            LabService("open", open_scp.server_address[1], "OPEN-PACS", "echo"),
            LabService("guarded", guarded.server_address[1], "GUARDED-PACS", "protected"),
            LabService("closed", free_port(), "-", "none"),
        )
        yield Lab(LOOPBACK, services)
    finally:
        for server in servers:
            server.shutdown()


async def run_demo(out: IO[str], *, colour: bool = False) -> int:
    """Start the lab, scan it with the real engine, print the summary, stop the lab."""
    from exposcan.options import ScanOptions
    from exposcan.report import make_writer, render_summary
    from exposcan.results import EndpointResult
    from exposcan.scan import prepare

    with running_lab() as lab:
        workdir = Path(tempfile.mkdtemp(prefix="exposcan-demo-"))
        scope_path = workdir / "scope.toml"
        scope_path.write_text(lab.scope_toml(), encoding="utf-8")
        report_path = workdir / "report.jsonl"
        out.write(f"exposcan demo: lab on {lab.host}, ports {', '.join(map(str, lab.ports))}\n")
        for service in lab.services:
            out.write(f"  {service.name:<8} port {service.port:<5} expect {service.expected}\n")
        out.write("\n")
        plan = await prepare(scope_path, options=ScanOptions())
        results: list[EndpointResult] = []
        with report_path.open("w", encoding="utf-8") as stream:
            # The lab's servers run in threads; give them the loop's attention.
            summary = await plan.run(make_writer("jsonl", stream), keep=results)
        await asyncio.sleep(0)
    out.write(render_summary(results, summary, show_none=True, colour=colour) + "\n")
    out.write(f"\nJSONL report: {report_path}\nscope file:   {scope_path}\n")
    out.flush()
    return 0
