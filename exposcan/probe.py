"""The probe seam: what the engine asks of every probe, and nothing more.

A probe is registered once (:mod:`exposcan.probes.registry`) and the engine reaches it
only through this protocol, so it names no probe itself:

* **which endpoints**: its registration names the plan's port list it takes (``ports``,
  ``web_ports``) and the protocol its endpoints are planned with;
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

from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

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

    def hints(self) -> dict[str, str]:
        """As fingerprint rules read it (``web_product``, ``web_version``:
        ``exposcan/data/fingerprints.toml``)."""
        hints = {f"{self.source}_product": self.product}
        if self.version:
            hints[f"{self.source}_version"] = self.version
        return hints


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

    async def observe(self, endpoint: Endpoint, permit: Permit) -> ObservationT_co:
        """Probe one endpoint; ``permit`` before each connection (the first one too)."""
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
