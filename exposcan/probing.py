"""Probing one endpoint: within its host's slot, behind its permits, judged, one row.

The engine (:mod:`exposcan.engine`) schedules; this is what one of its workers does
with an endpoint: hold the host's slot of the :class:`~exposcan.limits.Gate`, let the
registered probe observe the endpoint (each new connection behind a permit, the first
grant being its start), judge the observation with what other endpoints of the host
said about it, and build the report row, the same for every probe.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from exposcan.connecting import connect_policy
from exposcan.limits import Gate
from exposcan.pacing import Ticket
from exposcan.probe import Endpoint, HostEvidence, Observation, Permit, ProbeRun
from exposcan.probes.registry import Registration
from exposcan.reach import Reachability
from exposcan.results import EndpointResult, Verdict
from exposcan.vocabulary import Exposure, Status

__all__ = ["NotStarted", "Probed", "endpoint_result", "probe_endpoint", "unprobed"]


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


def _permit(
    gate: Gate, host: str, admit: Callable[[], bool] | None, ticket: Ticket | None
) -> Permit:
    """The endpoint's permits (its ticket's, when it has one); its first grant is its
    start, so ``admit`` is asked again then (a grant can wait long behind the global
    rate) and False raises :class:`NotStarted` before any packet."""
    started = False
    grant: Callable[[], Awaitable[None]] = (
        ticket.permit if ticket is not None else functools.partial(gate.permit, host)
    )

    async def permit() -> None:
        nonlocal started
        await grant()
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
    ticket: Ticket | None = None,
) -> Probed:
    """Run the endpoint's probe within its host slot; judge what it saw.

    ``evidence``: what other endpoints of the scan said about this one, handed to the
    probe as it starts (the DICOM probe's title order) and read again once it is done,
    for the verdict (the host's web ports held its slot before it). ``admit``: asked
    once the slot is held and again when the first connection is granted, before any
    packet; False raises :class:`NotStarted`. ``ticket``: the endpoint's slot in the
    scan's :class:`~exposcan.pacing.Pacing` (its permits, its connect policy, and the
    host's record of answers: a host written off is reported ``host-silent`` here,
    without a packet)."""
    probe = registration.probe()
    async with gate.host(endpoint.host):
        if admit is not None and not admit():
            raise NotStarted
        reach = ticket.reach if ticket is not None else None
        if reach is not None and reach.written_off(endpoint.host):
            return Probed(_written_off(endpoint, reach.silent_after))
        probed_at = now_iso()
        token = connect_policy.set(ticket)
        try:
            permit = _permit(gate, endpoint.host, admit, ticket)
            observation = await run.observe(endpoint, permit, evidence())
        finally:
            connect_policy.reset(token)
        # Judged inside the slot: the next endpoint of this host must find its answer
        # (or its silence) recorded when it gets the slot.
        verdict = probe.verdict(observation, evidence())
        if reach is not None:
            _note(reach, endpoint.host, verdict.status)
    result = endpoint_result(
        endpoint, observation, verdict, attempts=probe.attempts(observation), probed_at=probed_at
    )
    return Probed(result, tuple(probe.learn(observation)))


#: Statuses that say nothing about whether the host answered (an unreachable network is a
#: router's answer, not the host's).
_NO_WORD = frozenset({Status.CONNECTION_TIMEOUT, Status.ERROR, Status.OUT_OF_SCOPE})


def _note(reach: Reachability, host: str, status: Status) -> None:
    """What the endpoint's end says about its host (the connect seam has already noted
    every SYN-ACK and RST; this also covers probes whose connects bypass it)."""
    if status is Status.CONNECTION_TIMEOUT:
        reach.silent(host)
    elif status not in _NO_WORD:
        reach.answered(host)


def _written_off(endpoint: Endpoint, silent_after: int) -> EndpointResult:
    detail = f"not probed: the host was silent on its first {silent_after} endpoints"
    return unprobed(endpoint, Status.HOST_SILENT, detail)


def unprobed(endpoint: Endpoint, status: Status, detail: str) -> EndpointResult:
    """The row of an endpoint no packet was sent to (out of scope, written off, a bug)."""
    return EndpointResult(
        host=endpoint.host,
        port=endpoint.port,
        protocol=endpoint.protocol,
        hostname=endpoint.hostname,
        status=status,
        exposure=Exposure.NONE,
        detail=detail,
    )
