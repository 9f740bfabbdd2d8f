"""The scheduler: lazy endpoints in, results out as they finish.

One dispatcher walks the endpoints lazily (port-major, so consecutive probes
go to different hosts) and starts a worker per endpoint while a concurrency
slot is free. A slot is returned only when the consumer has taken the result,
so a slow consumer slows the scan instead of piling results up in memory.
Workers ask a :class:`~exposcan.limits.Gate` for their host's slot and before every
new connection (a :class:`~exposcan.limits.LocalGate` unless one is injected).
Cancelling the consumer cancels everything and aborts politely.

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
from collections.abc import AsyncIterator, Awaitable, Callable, Container, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from exposcan.classify import classify_dimse
from exposcan.limits import Gate, LocalGate
from exposcan.logs import get_logger
from exposcan.options import ScanOptions
from exposcan.probes.dimse import DimseObservation, probe_dimse
from exposcan.results import EndpointResult, Verdict
from exposcan.scope import Host, TargetSet
from exposcan.scope.authorisation import Clock, utc_now
from exposcan.vocabulary import Exposure, Protocol, Status

if TYPE_CHECKING:  # the web probe (and aiohttp) load only for a scan with web ports
    import aiohttp

    from exposcan.probes.web import CredentialLedger, WebObservation

log = get_logger("exposcan.engine")  # silent until structlog is configured


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    protocol: Protocol
    hostname: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Progress:
    """A snapshot after each finished endpoint."""

    total: int
    done: int
    in_flight: int
    elapsed_s: float
    by_exposure: dict[str, int] = field(default_factory=dict, hash=False)


ProgressCallback = Callable[[Progress], None]


def iter_endpoints(
    targets: TargetSet, ports: tuple[int, ...], web_ports: tuple[int, ...] = ()
) -> Iterator[Endpoint]:
    """Web ports first, then DICOM ports; every host on one port before the next.

    Web first because a product's web API may name the product behind one of its
    host's DICOM ports (Orthanc's ``/system`` gives its DicomPort), which the
    DICOM port's own identity hides. The protocol is the one planned (``dimse``
    or ``http``); the probe reports the one it found (``dimse-tls``, ``https``).
    """
    for port, protocol in [(p, Protocol.HTTP) for p in web_ports] + [
        (p, Protocol.DIMSE) for p in ports
    ]:
        host: Host
        for host in targets:
            yield Endpoint(host.address, port, protocol, host.hostname)


SkipKey = tuple[str, int, str]

#: Why a scan stopped before its last endpoint (the summary's ``stopped``).
STOPPED_EXPIRED = "authorisation-expired"


class NotStarted(Exception):
    """An endpoint that was scheduled but never sent a packet (its start was refused)."""


def skip_key(host: str, port: int, protocol: Protocol | str) -> SkipKey:
    """How a finished endpoint is recognised on resume: host, port and the probe's kind
    (``dicom`` or ``web``), so a port listed both as a DICOM and as a web port is two
    endpoints, not one."""
    kind = "web" if str(protocol) in (Protocol.HTTP, Protocol.HTTPS) else "dicom"
    return (host, port, kind)


def endpoint_result(
    endpoint: Endpoint,
    observation: DimseObservation | WebObservation,
    verdict: Verdict,
) -> EndpointResult:
    """The report row of one probed endpoint: the same builder for DICOM and the web."""
    attempts = (
        len(observation.attempts)
        if isinstance(observation, DimseObservation)
        else len(observation.requests)
    )
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
    )


def _permit(
    gate: Gate, host: str, admit: Callable[[], bool] | None
) -> Callable[[], Awaitable[None]]:
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


async def probe_endpoint(
    endpoint: Endpoint,
    options: ScanOptions,
    gate: Gate,
    *,
    stock_titles: tuple[str, ...] = (),
    hints: Mapping[tuple[str, int], Mapping[str, str]] | None = None,
    admit: Callable[[], bool] | None = None,
) -> EndpointResult:
    """Run the endpoint's probe within its host slot; classify what it saw.

    ``hints``: what web probes of the scan said about DICOM ports, read once this
    probe is done (the host's web ports held its slot before it). ``admit``: asked
    once the slot is held and again when the first connection is granted, before any
    packet; False raises :class:`NotStarted`."""
    async with gate.host(endpoint.host):
        if admit is not None and not admit():
            raise NotStarted
        observation = await probe_dimse(
            endpoint.host,
            endpoint.port,
            options,
            permit=_permit(gate, endpoint.host, admit),
            stock_titles=stock_titles,
        )
    hint = hints.get((endpoint.host, endpoint.port)) if hints else None
    return endpoint_result(endpoint, observation, classify_dimse(observation, hints=hint))


async def probe_web_endpoint(
    endpoint: Endpoint,
    options: ScanOptions,
    gate: Gate,
    session: aiohttp.ClientSession,
    ledger: CredentialLedger | None = None,
    admit: Callable[[], bool] | None = None,
) -> tuple[EndpointResult, WebObservation]:
    """The web probe (HTTP or HTTPS) within the host slot; classified like DICOM.
    Returns the observation too: it may name the product behind a DICOM port.

    ``ledger`` is the scan's record of default credentials tried (one per scan);
    ``admit`` as for :func:`probe_endpoint`."""
    from exposcan.classify_web import classify_web
    from exposcan.probes.web import probe_web

    async with gate.host(endpoint.host):
        if admit is not None and not admit():
            raise NotStarted
        observation = await probe_web(
            endpoint.host,
            endpoint.port,
            options,
            session=session,
            permit=_permit(gate, endpoint.host, admit),
            ledger=ledger,
        )
    return endpoint_result(endpoint, observation, classify_web(observation)), observation


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
    ) -> None:
        self.targets = targets
        self._skip = skip
        self.ports = ports
        self.web_ports = web_ports
        self.options = options
        self.total = targets.count * (len(ports) + len(web_ports))
        self._on_progress = on_progress
        self._slots = asyncio.Semaphore(options.limits.concurrency)
        self._results: asyncio.Queue[EndpointResult | object] = asyncio.Queue()
        self._workers: set[asyncio.Task[None]] = set()
        self._done = 0
        self._by_exposure: Counter[str] = Counter()
        self._started = time.monotonic()
        from exposcan.aetitles import stock_titles

        self._stock_titles = tuple(t.value for t in stock_titles())
        self._web: aiohttp.ClientSession | None = None
        #: default credentials tried in this scan: one try per pair and host, ever
        self._ledger: CredentialLedger | None = None
        self._hints: dict[tuple[str, int], dict[str, str]] = {}
        self._expires_at = expires_at
        self._clock = clock
        #: the politeness limits: a LocalGate of ``options.limits`` unless one is given
        #: (a gate shared with other scans or processes, owned by its caller)
        self.gate: Gate = gate if gate is not None else LocalGate(options.limits)
        #: None, or why the scan stopped before its last endpoint (STOPPED_EXPIRED)
        self.stopped: str | None = None
        #: endpoints whose start was refused after they had been scheduled
        self.refused_at_start = 0

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
            if self.web_ports:
                from exposcan.probes.web import CredentialLedger, make_web_session

                # One session for the scan: its connector enforces the same limits.
                self._web = await stack.enter_async_context(make_web_session(self.options))
                self._ledger = CredentialLedger()
            dispatcher = asyncio.create_task(self._dispatch(gate), name="exposcan-dispatch")
            try:
                while True:
                    item = await self._results.get()
                    if item is _DONE:
                        break
                    if item is _NOT_STARTED:
                        self.refused_at_start += 1
                        self._slots.release()
                        continue
                    assert isinstance(item, EndpointResult)
                    self._record(item)
                    self._slots.release()
                    yield item
                await dispatcher  # surfaces a dispatcher bug instead of hiding it
            finally:
                dispatcher.cancel()
                for worker in self._workers:
                    worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(dispatcher, *self._workers, return_exceptions=True)

    async def _dispatch(self, gate: Gate) -> None:
        try:
            for endpoint in iter_endpoints(self.targets, self.ports, self.web_ports):
                if skip_key(endpoint.host, endpoint.port, endpoint.protocol) in self._skip:
                    continue  # finished by the run being resumed
                await self._slots.acquire()
                if not self._admit():
                    self._slots.release()
                    break
                worker = asyncio.create_task(self._work(endpoint, gate))
                self._workers.add(worker)
                worker.add_done_callback(self._workers.discard)
            # Every slot back means every result has been taken.
            for _ in range(self.options.limits.concurrency):
                await self._slots.acquire()
        finally:
            self._results.put_nowait(_DONE)

    async def _work(self, endpoint: Endpoint, gate: Gate) -> None:
        # Defence in depth: never leave the scope. ``in`` judges the reached address
        # and is false for a hostname, so what is probed is exactly this literal.
        if endpoint.host not in self.targets:
            result = _unprobed(endpoint, Status.OUT_OF_SCOPE, "address not in scope")
        else:
            try:
                if endpoint.protocol is Protocol.HTTP:
                    assert self._web is not None
                    result, observation = await probe_web_endpoint(
                        endpoint, self.options, gate, self._web, self._ledger, admit=self._admit
                    )
                    self._learn(observation)
                else:
                    result = await probe_endpoint(
                        endpoint,
                        self.options,
                        gate,
                        stock_titles=self._stock_titles,
                        hints=self._hints,
                        admit=self._admit,
                    )
            except NotStarted:
                self._results.put_nowait(_NOT_STARTED)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must cost one endpoint, not the scan
                log.exception("probe_failed", host=endpoint.host, port=endpoint.port)
                result = _unprobed(endpoint, Status.ERROR, f"internal error: {type(exc).__name__}")
        self._results.put_nowait(result)

    def _learn(self, observation: WebObservation) -> None:
        """Keep what a web API said about a DICOM port of its host, for that port's
        fingerprint (web ports are probed first). Bounded: one entry per web product."""
        if observation.product is not None and observation.dicom_port is not None:
            key = (observation.host, observation.dicom_port)
            hint = {"web_product": str(observation.product)}
            if observation.version:
                hint["web_version"] = observation.version
            self._hints[key] = hint

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


def _unprobed(endpoint: Endpoint, status: Status, detail: str) -> EndpointResult:
    return EndpointResult(
        host=endpoint.host,
        port=endpoint.port,
        protocol=endpoint.protocol,
        hostname=endpoint.hostname,
        status=status,
        exposure=Exposure.NONE,
        detail=detail,
    )
