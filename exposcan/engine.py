"""The scheduler: lazy endpoints in, results out as they finish.

One dispatcher walks the endpoints lazily (port-major, so consecutive probes
go to different hosts) and starts a worker per endpoint while a concurrency
slot is free; a host that answers has its later ports pulled forward and probed
one after another (:mod:`exposcan.follow`), so the walk's later passes are spent
only on hosts that never answered. A slot is returned only when the consumer has
taken the result, so a slow consumer slows the scan instead of piling results up
in memory.
An endpoint's slot comes from the scan's :class:`~exposcan.pacing.Pacing`: the load
budget for a host that has answered, the first-contact budget for one that never has.
Workers ask a :class:`~exposcan.limits.Gate` for their host's slot and before every
new connection (a :class:`~exposcan.limits.LocalGate` unless one is injected).
Cancelling the consumer cancels everything and aborts politely.

The engine names no probe: the registry (:mod:`exposcan.probes.registry`) says which
probe takes which of the plan's port lists, in what order, and how its finished
endpoints are keyed on resume; each probe is reached through
:class:`~exposcan.probe.EndpointProbe` (start for the scan, observe, verdict, learn).
What one endpoint's probe learns about another of its host
(:class:`~exposcan.probe.HostEvidence`) is kept here, by the endpoint it is about, and
handed to that endpoint's verdict.

Two checks stand between an endpoint and its first packet, both made again here
whatever the caller checked before (defence in depth):

* scope: the address must be in the :class:`~exposcan.scope.targets.TargetSet`, judged
  on the address a connection reaches (``0.0.0.0`` never is). Endpoints carry
  literal addresses resolved once by the scope, so no name is looked up again
  between that check and the connection (DNS rebinding cannot widen a scan);
* time: the authorisation's expiry (``expires_at``, read from an injectable
  ``clock``) is checked before each endpoint is started, again when it gets its
  host's slot, and once more when its first connection is granted (behind the
  global rate that grant can come minutes later: ``--rate 0.01``). An endpoint is
  in flight from that grant on. Once the expiry has passed no new endpoint
  starts, the ones in flight finish, and :attr:`Engine.stopped` says
  ``"authorisation-expired"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import time
from collections import Counter
from collections.abc import (
    AsyncIterator,
    Callable,
    Container,
    Coroutine,
    Iterable,
    Iterator,
)
from typing import Any

from exposcan.follow import Followers
from exposcan.grid import EndpointSource, Grid, PortLists, iter_endpoints, port_lists
from exposcan.limits import Gate, LocalGate
from exposcan.logs import get_logger
from exposcan.options import ScanOptions
from exposcan.pacing import Pacing, Ticket
from exposcan.probe import Endpoint, HostEvidence, ProbeRun
from exposcan.probes.registry import (
    PROBES,
    Registration,
    Registry,
    SkipKey,
    skip_key,
)
from exposcan.probing import NotStarted, endpoint_result, probe_endpoint, unprobed
from exposcan.results import EndpointResult
from exposcan.scope import TargetSet
from exposcan.scope.authorisation import Clock, utc_now
from exposcan.summary import Progress
from exposcan.vocabulary import Status

__all__ = [
    "STOPPED_EXPIRED",
    "Endpoint",
    "EndpointSource",
    "Engine",
    "Grid",
    "NotStarted",
    "Progress",
    "ProgressCallback",
    "SkipKey",
    "endpoint_result",
    "iter_endpoints",
    "probe_endpoint",
    "skip_key",
]

log = get_logger("exposcan.engine")  # silent until structlog is configured


ProgressCallback = Callable[[Progress], None]
#: Why a scan stopped before its last endpoint (the summary's ``stopped``).
STOPPED_EXPIRED = "authorisation-expired"


_DONE = object()
_NOT_STARTED = object()


class Engine:
    def __init__(
        self,
        targets: TargetSet,
        ports: tuple[int, ...],
        options: ScanOptions,
        *,
        web_ports: tuple[int, ...] = (),
        on_progress: ProgressCallback | None = None,
        skip: Container[SkipKey] = (),
        expires_at: datetime.datetime | None = None,
        clock: Clock = utc_now,
        gate: Gate | None = None,
        probes: Registry | None = None,
        more_ports: PortLists | None = None,
        evidence: Iterable[HostEvidence] = (),
        endpoints: EndpointSource | None = None,
    ) -> None:
        """``endpoints``: what to probe instead of every host of ``targets`` on every port
        (a listed scan; ``targets`` still holds its hosts, checked again before each one);
        ``probes``: the registry to dispatch through (:data:`PROBES` unless given);
        ``more_ports``: port lists beyond ``ports`` and ``web_ports``, by the name a
        registration gives (``{"hl7_ports": (2575,)}``); ``evidence``: what an earlier
        run's probes learnt about other endpoints (``--resume``)."""
        self.targets = targets
        self._skip = skip
        self.ports = ports
        self.web_ports = web_ports
        self.options = options
        #: the probes this engine dispatches to (the registry's, unless given)
        self.probes: Registry = probes if probes is not None else PROBES
        self._port_lists = {**port_lists(ports, web_ports), **(more_ports or {})}
        self._source: EndpointSource = (
            endpoints if endpoints is not None else Grid(targets, self._port_lists)
        )
        self.total = self._source.total(self.probes)
        self._on_progress = on_progress
        self._results: asyncio.Queue[tuple[EndpointResult | object, Ticket | None]] = (
            asyncio.Queue()
        )
        self._workers: set[asyncio.Task[None]] = set()
        self._done = 0
        self._by_exposure: Counter[str] = Counter()
        self._started = time.monotonic()
        #: each probe's run for this scan, opened when the scan has its endpoints
        self._runs: dict[str, ProbeRun[Any]] = {}
        #: what endpoints said about other endpoints of their host, by the endpoint it is
        #: about, then by the endpoint that said it (seeded from a resumed report)
        self._evidence: dict[tuple[str, int], dict[tuple[str, int], HostEvidence]] = {}
        #: evidence learnt by this run, in the order it was learnt
        self.learnt: list[HostEvidence] = []
        for record in evidence:
            self._keep(record)
        self._expires_at = expires_at
        self._clock = clock
        #: the politeness limits: a LocalGate of ``options.limits`` unless one is given
        #: (a gate shared with other scans or processes, owned by its caller)
        self.gate: Gate = gate if gate is not None else LocalGate(options.limits)
        #: the scan's budgets, connect timeouts and record of which hosts answered
        self.pacing = Pacing(options, self.gate)
        #: None, or why the scan stopped before its last endpoint (STOPPED_EXPIRED)
        self.stopped: str | None = None
        #: endpoints whose start was refused after they had been scheduled
        self.refused_at_start = 0
        #: an answering host's later endpoints, pulled forward (a grid's walk only)
        self._followers: Followers | None = (
            Followers(self._source, self.probes, skip) if isinstance(self._source, Grid) else None
        )

    def _admit(self) -> bool:
        """May a new endpoint start now? False once the authorisation has expired."""
        if self.stopped is not None:
            return False
        if self._expires_at is not None and self._clock() > self._expires_at:
            self.stopped = STOPPED_EXPIRED
            log.info("authorisation_expired", expires_at=self._expires_at.isoformat())
            return False
        return True

    async def run(self) -> AsyncIterator[EndpointResult]:
        async with contextlib.AsyncExitStack() as stack:
            gate = self.gate
            for registration in self.probes:
                if self._source.uses(registration):
                    # What the probe holds for the scan (the web probe: one session, whose
                    # connector enforces the same limits; one credential ledger).
                    start = registration.probe().start(self.options)
                    self._runs[registration.kind] = await stack.enter_async_context(start)
            dispatcher = asyncio.create_task(self._dispatch(gate), name="exposcan-dispatch")
            follow = (
                None
                if self._followers is None
                else asyncio.create_task(
                    self._followers.run(lambda chain: self._start_chain(chain, gate)),
                    name="exposcan-follow",
                )
            )
            try:
                while True:
                    item, ticket = await self._results.get()
                    if item is _DONE:
                        break
                    assert ticket is not None
                    ticket.release()
                    if item is _NOT_STARTED:
                        self.refused_at_start += 1
                        continue
                    assert isinstance(item, EndpointResult)
                    self._record(item)
                    yield item
                await dispatcher  # surfaces a dispatcher bug instead of hiding it
            finally:
                dispatcher.cancel()
                others = [*self._workers, *([] if follow is None else [follow])]
                for worker in others:
                    worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(dispatcher, *others, return_exceptions=True)

    async def _dispatch(self, gate: Gate) -> None:
        try:
            for registration, endpoint in self._plan():
                ticket = await self.pacing.admit(endpoint.host)
                if not self._admit():
                    ticket.release()
                    break
                self._track(self._work(endpoint, registration, gate, ticket))
            # Every slot back, and no chain left to run, means every result has been taken.
            followers = self._followers
            while True:
                await self.pacing.drained()
                if followers is None or followers.is_idle():
                    break
                await followers.idle()
        finally:
            self._results.put_nowait((_DONE, None))

    def _track(self, work: Coroutine[Any, Any, None]) -> None:
        worker = asyncio.create_task(work)
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)

    def _plan(self) -> Iterator[tuple[Registration, Endpoint]]:
        """The endpoints still to probe, lazily, in the source's order."""
        followers = self._followers
        for registration, endpoint in self._source.walk(self.probes):
            if (endpoint.host, endpoint.port, registration.kind) in self._skip:
                continue  # finished by the run being resumed
            if followers is not None and followers.passed(registration, endpoint):
                continue  # probed already, or queued, after its host answered
            yield registration, endpoint

    async def _start_chain(self, chain: list[tuple[Registration, Endpoint]], gate: Gate) -> None:
        """A host's pulled endpoints, one after another, each under a ticket of its own."""
        assert self._followers is not None
        ticket = await self.pacing.admit(chain[0][1].host)
        if not self._admit():
            ticket.release()
            self._followers.chain_done()
            return
        self._track(self._chain(chain, gate, ticket))

    async def _chain(
        self, chain: list[tuple[Registration, Endpoint]], gate: Gate, ticket: Ticket
    ) -> None:
        assert self._followers is not None
        try:
            for index, (registration, endpoint) in enumerate(chain):
                if index:
                    ticket = await self.pacing.admit(endpoint.host)
                    if not self._admit():
                        ticket.release()
                        break
                await self._work(endpoint, registration, gate, ticket)
        finally:
            self._followers.chain_done()

    async def _work(
        self, endpoint: Endpoint, registration: Registration, gate: Gate, ticket: Ticket
    ) -> None:
        # Defence in depth: never leave the scope. ``in`` judges the reached address
        # and is false for a hostname, so what is probed is exactly this literal.
        if endpoint.host not in self.targets:
            result = unprobed(endpoint, Status.OUT_OF_SCOPE, "address not in scope")
        else:
            try:
                # A global of this module, looked up per endpoint: tests replace it here.
                probed = await probe_endpoint(
                    endpoint,
                    registration,
                    self._runs[registration.kind],
                    gate,
                    evidence=lambda: self.evidence_about(endpoint.host, endpoint.port),
                    admit=self._admit,
                    ticket=ticket,
                )
            except NotStarted:
                self._results.put_nowait((_NOT_STARTED, ticket))
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must cost one endpoint, not the scan
                log.exception("probe_failed", host=endpoint.host, port=endpoint.port)
                result = unprobed(endpoint, Status.ERROR, f"internal error: {type(exc).__name__}")
            else:
                result = probed.result
                for record in probed.learnt:
                    self._keep(record)
                    self.learnt.append(record)
        if self._followers is not None and self.pacing.reach.has_answered(endpoint.host):
            self._followers.answered(registration, endpoint)
        self._results.put_nowait((result, ticket))

    def evidence_about(self, host: str, port: int) -> tuple[HostEvidence, ...]:
        """What other endpoints of the scan said about this one, oldest source first."""
        return tuple(self._evidence.get((host, port), {}).values())

    def _keep(self, record: HostEvidence) -> None:
        """Bounded: one record per endpoint that said something, about one endpoint."""
        said = self._evidence.setdefault((record.host, record.port), {})
        said.pop((record.source, record.source_port), None)  # the latest source last
        said[(record.source, record.source_port)] = record

    def _record(self, result: EndpointResult) -> None:
        self._done += 1
        self._by_exposure[result.exposure] += 1
        if self._on_progress is not None:
            self._on_progress(
                Progress(
                    total=self.total,
                    done=self._done,
                    in_flight=len(self._workers),
                    elapsed_s=time.monotonic() - self._started,
                    by_exposure=dict(self._by_exposure),
                )
            )
