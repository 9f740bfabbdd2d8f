"""The probe seam: what the engine asks of every probe, and nothing more.

A probe is registered once (:mod:`exposcan.probes.registry`) and the engine reaches it
only through this protocol, so it names no probe itself:

* **which endpoints**: its registration names the plan's port list it takes (``ports``,
  ``web_ports``, or one of its own such as ``echo_ports``: the scope file's key,
  ``ScanOptions.more_ports``' and ``--ports-for``'s name, the report header's key) and
  the protocol its endpoints are planned with;
* **probe → observation**: :meth:`EndpointProbe.start` opens what a probe holds for one
  scan (the web probe's HTTP session and credential ledger) and yields a
  :class:`ProbeRun`, whose ``observe`` turns one :class:`Endpoint` into an observation,
  whatever the network does (a probe never raises for a network condition);
* **observation → verdict**: :meth:`EndpointProbe.verdict`, pure, given what other
  endpoints of the host said about this one (:class:`HostEvidence`);
* **its resume key**: the registration's ``kind`` (``dicom``, ``web``), with every
  protocol its results may name, so a finished endpoint is recognised in a report.

This module loads no probe, no socket code and no aiohttp.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from exposcan import decoding, peertext
from exposcan.vocabulary import Protocol as WireProtocol

if TYPE_CHECKING:
    from exposcan.options import ScanOptions
    from exposcan.results import TlsFacts, Verdict

__all__ = [
    "Endpoint",
    "EndpointProbe",
    "HostEvidence",
    "Observation",
    "Permit",
    "ProbeRun",
]

#: Awaited before every new connection (the engine's gate); the first grant is the start.
Permit = Callable[[], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    protocol: WireProtocol
    hostname: str | None = None


@dataclass(frozen=True, slots=True)
class HostEvidence:
    """What one endpoint's probe learnt about another endpoint of the same host.

    Orthanc's ``/system`` names its DicomPort and product: the web probe of port 8042
    says so about port 4242, whose own A-ASSOCIATE-AC hides the product. The scan owns
    these records (the engine keeps them, the report holds them, ``--resume`` reads them
    back), so a resumed scan reaches the verdicts an uninterrupted one does.
    Non-identifying facts only: a product and a version, never a peer's free text.
    """

    #: the endpoint the evidence is about
    host: str
    port: int
    #: the probe kind and port that said it (``web``, 8042)
    source: str
    source_port: int
    product: str
    version: str | None = None

    def __post_init__(self) -> None:
        # Text a peer chose (a version) or a file held enters here: bounded and cleaned as
        # a result's is, so a record read back holds what the probe's record held.
        object.__setattr__(self, "product", peertext.clean(self.product, _PRODUCT_LIMIT))
        if self.version is not None:
            object.__setattr__(self, "version", peertext.version(self.version))
        if not _SOURCE.fullmatch(self.source) or not self.product:
            raise ValueError("not evidence: a source is a probe's kind, a product is named")

    def to_dict(self) -> dict[str, Any]:
        """The report's ``evidence`` record (JSONL), read back by :meth:`from_dict`."""
        return {
            "record": "evidence",
            "host": self.host,
            "port": self.port,
            "source": self.source,
            "source_port": self.source_port,
            "product": self.product,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "evidence") -> HostEvidence:
        """A record :meth:`to_dict` wrote, every field checked (a
        :class:`~exposcan.decoding.RecordError` names the field otherwise)."""
        return decoding.build(cls, data, where)

    @staticmethod
    def _check_record(data: Mapping[str, Any], where: str) -> None:
        decoding.check_address(data.get("host"), f"{where}.host")
        decoding.check_port(data.get("port"), f"{where}.port")
        decoding.check_port(data.get("source_port"), f"{where}.source_port")

    def hints(self) -> dict[str, str]:
        """As fingerprint rules read it (``web_product``, ``web_version``:
        ``exposcan/data/fingerprints.toml``)."""
        hints = {f"{self.source}_product": self.product}
        if self.version:
            hints[f"{self.source}_version"] = self.version
        return hints


_PRODUCT_LIMIT = 64
#: A probe's kind, as the registry names it.
_SOURCE = re.compile(r"[a-z][a-z0-9-]{0,31}")


class Observation(Protocol):
    """What every probe's observation tells the report row beside its verdict."""

    @property
    def protocol(self) -> WireProtocol: ...
    @property
    def tls(self) -> TlsFacts | None: ...
    @property
    def duration_s(self) -> float: ...


ObservationT = TypeVar("ObservationT", bound=Observation)
ObservationT_co = TypeVar("ObservationT_co", bound=Observation, covariant=True)


class ProbeRun(Protocol[ObservationT_co]):
    """One scan's use of a probe."""

    async def observe(
        self, endpoint: Endpoint, permit: Permit, evidence: Sequence[HostEvidence] = ()
    ) -> ObservationT_co:
        """Probe one endpoint; ``permit`` before each connection (the first one too).
        ``evidence``: what other endpoints of the host have said about this one so far
        (the registry probes a host's web ports before its DICOM ports, one endpoint of a
        host at a time by default, so a web API naming its DICOM port has spoken first);
        the DICOM probe tries the claimed product's stock titles early."""
        ...


class EndpointProbe(Protocol[ObservationT]):
    def start(self, options: ScanOptions) -> AbstractAsyncContextManager[ProbeRun[ObservationT]]:
        """What the probe holds for one scan, opened when the scan has its endpoints."""
        ...

    def verdict(self, observation: ObservationT, evidence: Sequence[HostEvidence]) -> Verdict:
        """The pure verdict; ``evidence``: what other endpoints said about this one."""
        ...

    def attempts(self, observation: ObservationT) -> int:
        """How many conversations the observation holds (the row's ``attempts``)."""
        ...

    def learn(self, observation: ObservationT) -> Iterable[HostEvidence]:
        """What this observation says about other endpoints of its host."""
        ...
