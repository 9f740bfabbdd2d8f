"""Probing one endpoint: within its host's slot, behind its permits, judged, one row.

The engine (:mod:`exposcan.engine`) schedules; this is what one of its workers does
with an endpoint: hold the host's slot of the :class:`~exposcan.limits.Gate`, let the
registered probe observe the endpoint (each new connection behind a permit, the first
grant being its start), judge the observation with what other endpoints of the host
said about it, and build the report row, the same for every probe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from exposcan.limits import Gate
from exposcan.probe import Endpoint, HostEvidence, Observation, Permit, ProbeRun
from exposcan.probes.registry import Registration
from exposcan.results import EndpointResult, Verdict

__all__ = ["NotStarted", "Probed", "endpoint_result", "probe_endpoint"]


class NotStarted(Exception):
    """An endpoint that was scheduled but never sent a packet (its start was refused)."""


def endpoint_result(
    endpoint: Endpoint,
    observation: Observation,
    verdict: Verdict,
    *,
    attempts: int = 0,
    probed_at: str | None = None,
) -> EndpointResult:
    """The report row of one probed endpoint: the same builder for every probe."""
    return EndpointResult(
        host=endpoint.host,
        port=endpoint.port,
        protocol=observation.protocol,
        hostname=endpoint.hostname,
        status=verdict.status,
        exposure=verdict.exposure,
        ae_title=verdict.ae_title,
        findings=verdict.findings,
        fingerprint=verdict.fingerprint,
        services=verdict.services,
        matches=verdict.matches,
        tls=observation.tls,
        duration_s=observation.duration_s,
        detail=verdict.detail,
        attempts=attempts,
        probed_at=probed_at,
    )


def now_iso() -> str:
    """The wall clock in UTC as reports write it (ISO 8601, to the millisecond)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _permit(gate: Gate, host: str, admit: Callable[[], bool] | None) -> Permit:
    """The endpoint's permits; its first grant is its start, so ``admit`` is asked again
    then (a grant can wait long behind the global rate) and False raises
    :class:`NotStarted` before any packet."""
    started = False

    async def permit() -> None:
        nonlocal started
        await gate.permit(host)
        if not started:
            started = True
            if admit is not None and not admit():
                raise NotStarted

    return permit


@dataclass(frozen=True, slots=True)
class Probed:
    result: EndpointResult
    #: what the observation said about other endpoints of its host
    learnt: tuple[HostEvidence, ...] = ()


async def probe_endpoint(
    endpoint: Endpoint,
    registration: Registration,
    run: ProbeRun[Any],
    gate: Gate,
    *,
    evidence: Callable[[], Sequence[HostEvidence]] = tuple,
    admit: Callable[[], bool] | None = None,
) -> Probed:
    """Run the endpoint's probe within its host slot; judge what it saw.

    ``evidence``: what other endpoints of the scan said about this one, read once this
    probe is done (the host's web ports held its slot before it). ``admit``: asked
    once the slot is held and again when the first connection is granted, before any
    packet; False raises :class:`NotStarted`."""
    probe = registration.probe()
    async with gate.host(endpoint.host):
        if admit is not None and not admit():
            raise NotStarted
        probed_at = now_iso()
        observation = await run.observe(endpoint, _permit(gate, endpoint.host, admit))
    verdict = probe.verdict(observation, evidence())
    result = endpoint_result(
        endpoint, observation, verdict, attempts=probe.attempts(observation), probed_at=probed_at
    )
    return Probed(result, tuple(probe.learn(observation)))
