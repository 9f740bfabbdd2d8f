"""The web probe as the engine sees it (:class:`exposcan.probe.EndpointProbe`).

Registered in :mod:`exposcan.probes.registry`; imported only for a scan with web ports.
One scan holds one aiohttp session (its connector enforces the scan's limits) and one
credential ledger (one try per default credential pair and host, ever).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp

from exposcan.options import ScanOptions
from exposcan.probe import Endpoint, HostEvidence, Permit
from exposcan.probes.web.credentials import CredentialLedger
from exposcan.probes.web.observation import WebObservation
from exposcan.probes.web.probe import probe_web
from exposcan.probes.web.session import make_web_session

if TYPE_CHECKING:
    from exposcan.results import Verdict

__all__ = ["PROBE", "WebProbe"]


@dataclass(frozen=True, slots=True)
class _WebRun:
    options: ScanOptions
    session: aiohttp.ClientSession
    ledger: CredentialLedger

    async def observe(
        self, endpoint: Endpoint, permit: Permit, evidence: Sequence[HostEvidence] = ()
    ) -> WebObservation:
        return await probe_web(
            endpoint.host,
            endpoint.port,
            self.options,
            session=self.session,
            permit=permit,
            ledger=self.ledger,
        )


class WebProbe:
    @asynccontextmanager
    async def start(self, options: ScanOptions) -> AsyncIterator[_WebRun]:
        async with make_web_session(options) as session:
            yield _WebRun(options, session, CredentialLedger())

    def verdict(self, observation: WebObservation, evidence: Sequence[HostEvidence]) -> Verdict:
        from exposcan.classify_web import classify_web

        return classify_web(observation)

    def attempts(self, observation: WebObservation) -> int:
        return len(observation.requests)

    def learn(self, observation: WebObservation) -> Iterable[HostEvidence]:
        """A product's web API naming the DICOM ports of its host (Orthanc's
        ``/system``, Dicoogle's service status): one record per port named."""
        if observation.product is None:
            return
        for port in observation.dicom_ports:
            yield HostEvidence(
                host=observation.host,
                port=port,
                source="web",
                source_port=observation.port,
                product=str(observation.product),
                version=observation.version or None,
            )


PROBE = WebProbe()
