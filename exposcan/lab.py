"""The embedded demo lab: small DICOM services and a web API on 127.0.0.1, in this process.

``exposcan demo`` starts it, scans it with the real engine and stops it. The
lab is also what the test-suite and benchmarks use when they need a known set
of behaviours without installing a PACS. It listens on loopback only. One service
per exposure level:

- ``closed``: a port with nothing listening (``none``);
- ``guarded``: checks the called AE title and rejects strangers (PS3.8 reason 7);
  it holds a few synthetic studies behind Study Root C-FIND, which only a caller
  that knows its title reaches (``protected``);
- ``open``: accepts any called AE title, Verification only (``echo``);
- ``store``: accepts any called AE title and storage SOP classes in its
  A-ASSOCIATE-AC (``store``; exposcan never sends C-STORE, and the lab refuses and
  counts one if it came);
- ``query``: accepts any called AE title and answers a Study Root C-FIND with
  synthetic matches (``query``; only their count reaches a report);
- ``web``: DICOMweb QIDO-RS listing synthetic studies without authentication
  (``query`` over HTTP: :mod:`exposcan.lab_web`).

Every synthetic value carries ``EXPOSCAN-DEMO`` or ``DEMO^``: tests look for them in
every output, where they must never appear.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from pynetdicom import AE, evt

from exposcan.dicom.uids import VERIFICATION
from exposcan.lab_web import LabWeb

if TYPE_CHECKING:
    from exposcan.options import ScanOptions

LOOPBACK = "127.0.0.1"

__all__ = [
    "LOOPBACK",
    "STUDY_ROOT_FIND",
    "SYNTHETIC_STUDIES",
    "Lab",
    "LabService",
    "free_port",
    "running_lab",
]


@dataclass(frozen=True, slots=True)
class LabService:
    name: str
    port: int
    ae_title: str
    expected: str  # the exposure a correct scanner reports
    protocol: str = "dimse"  # "http" for the web API


@dataclass
class Forbidden:
    """Requests exposcan must never send, as the lab's services received them."""

    dimse: int = 0  # C-STORE, C-MOVE or C-GET requests
    web: LabWeb | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self) -> None:
        with self._lock:
            self.dimse += 1

    @property
    def total(self) -> int:
        return self.dimse + (self.web.retrievals if self.web is not None else 0)


@dataclass(frozen=True, slots=True)
class Lab:
    host: str
    services: tuple[LabService, ...]
    forbidden: Forbidden = field(default_factory=Forbidden, compare=False)

    @property
    def ports(self) -> tuple[int, ...]:
        """The DICOM ports (the scope's ``ports``)."""
        return tuple(s.port for s in self.services if s.protocol == "dimse")

    @property
    def web_ports(self) -> tuple[int, ...]:
        return tuple(s.port for s in self.services if s.protocol != "dimse")

    @staticmethod
    def scan_options() -> ScanOptions:
        """Options for scanning the lab in a second or two. The per-host limits protect a
        clinical PACS from a scanner; the lab is ours, on loopback, and all its services
        share one address, so the defaults (2 connections a second) would only make the
        demo slow."""
        from exposcan.options import Limits, ScanOptions

        return ScanOptions(limits=Limits(rate=100, per_host_rate=50, per_host_concurrency=4))

    def scope_toml(self, *, days: int = 30) -> str:
        # a month: an authorisation that ends within 14 days draws a warning
        expires = (datetime.now(UTC) + timedelta(days=days)).date().isoformat()
        ports = ", ".join(str(p) for p in self.ports)
        web_ports = ", ".join(str(p) for p in self.web_ports)
        return (
            "[authorisation]\n"
            'owner = "exposcan demo lab"\n'
            'reference = "DEMO-LOOPBACK"\n'
            f"expires = {expires}\n\n"
            "[scope]\n"
            'site = "demo lab"\n'
            f'include = ["{self.host}"]\n'
            f"ports = [{ports}]\n"
            f"web_ports = [{web_ports}]\n"
        )


def free_port(host: str = LOOPBACK) -> int:
    """A port nothing listens on right now (the kernel's choice, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
#: Storage SOP classes the ``store`` service accepts: CT, MR, Secondary Capture.
STORAGE_CLASSES: Final = (
    "1.2.840.10008.5.1.4.1.1.2",
    "1.2.840.10008.5.1.4.1.1.4",
    "1.2.840.10008.5.1.4.1.1.7",
)
#: Invented studies (no person behind them), marked so that tests can look for leaks.
SYNTHETIC_STUDIES = 3
_NAMES: Final = ("DEMO^ALPHA", "DEMO^BRAVO", "DEMO^CHARLIE")


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
        match.PatientName = _NAMES[index % len(_NAMES)]
        match.PatientID = f"EXPOSCAN-DEMO-{index}"
        match.StudyInstanceUID = generate_uid()
        yield 0xFF00, match


def _refuse(forbidden: Forbidden) -> Any:
    def handler(event: Any) -> int:
        forbidden.count()
        return 0xA700  # Out of resources: nothing is ever kept

    return handler


def _start_scp(
    ae_title: str,
    forbidden: Forbidden,
    *,
    check_called_ae: bool,
    studies: bool = False,
    storage: bool = False,
) -> Any:
    ae = AE(ae_title=ae_title)
    ae.require_called_aet = check_called_ae
    ae.add_supported_context(VERIFICATION)
    handlers: list[Any] = [
        (evt.EVT_C_ECHO, _handle_echo),
        (evt.EVT_C_STORE, _refuse(forbidden)),
    ]
    if studies:
        ae.add_supported_context(STUDY_ROOT_FIND)
        handlers.append((evt.EVT_C_FIND, _handle_find))
    if storage:
        for uid in STORAGE_CLASSES:
            ae.add_supported_context(uid)
    # Short timeouts so that a scan that misbehaves cannot hold the lab.
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    ae.maximum_associations = 4
    return ae.start_server((LOOPBACK, 0), block=False, evt_handlers=handlers)


@contextlib.contextmanager
def running_lab() -> Iterator[Lab]:
    """Start the lab's services; stop them however the block ends."""
    servers: list[Any] = []
    forbidden = Forbidden()
    web: LabWeb | None = None
    try:
        specs = (
            ("guarded", "GUARDED-PACS", "protected", {"check_called_ae": True, "studies": True}),
            ("open", "OPEN-PACS", "echo", {"check_called_ae": False}),
            ("store", "STORE-SCP", "store", {"check_called_ae": False, "storage": True}),
            ("query", "QUERY-PACS", "query", {"check_called_ae": False, "studies": True}),
        )
        services: list[LabService] = []
        for name, title, expected, flags in specs:
            server = _start_scp(title, forbidden, **flags)
            servers.append(server)
            services.append(LabService(name, server.server_address[1], title, expected))
        services.append(LabService("closed", free_port(), "-", "none"))
        web = forbidden.web = LabWeb(LOOPBACK)
        services.append(LabService("web", web.port, "-", "query", protocol="http"))
        yield Lab(LOOPBACK, tuple(services), forbidden)
    finally:
        for server in servers:
            server.shutdown()
        if web is not None:
            web.stop()
