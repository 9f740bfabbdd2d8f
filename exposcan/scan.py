"""The public entry points: ``prepare()``, ``scan()`` and ``scan_iter()``.

``prepare()`` does everything that can fail because of what the user asked
(scope file, authorisation, targets, ports) and sends nothing; a plan that
exists is a plan that is allowed to run, until its authorisation expires.

The authorisation is checked again while the plan runs (:mod:`exposcan.engine`):
once it has expired no new endpoint is started and those in flight finish. Then
``ScanPlan.run()`` writes the summary (``"stopped": "authorisation-expired"``) and
raises :class:`~exposcan.errors.AuthorisationExpired` (the CLI: one line, exit 2);
``scan()`` and ``scan_iter()`` raise it after the last result (``scan()``'s
carries the partial report). The clock is injectable (``clock=``) for tests.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Container, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from exposcan._version import __version__
from exposcan.engine import Engine, ProgressCallback, SkipKey, port_lists
from exposcan.errors import AuthorisationExpired, OptionError
from exposcan.identity import new_scan_id, scan_id_of
from exposcan.logs import get_logger
from exposcan.options import ScanOptions
from exposcan.probe import HostEvidence
from exposcan.probes.registry import endpoint_total
from exposcan.report.resume import ResumeState, count_previous
from exposcan.report.writer import EvidenceWriter, ReportWriter
from exposcan.results import EndpointResult
from exposcan.scope import Resolver, Scope, TargetSet, load_scope, resolve_targets, select_ports
from exposcan.scope.authorisation import Clock, expiry_warning, utc_now
from exposcan.scope.endpoints import EndpointList, Pair, plan_endpoints
from exposcan.scope.imports import ImportedEndpoints
from exposcan.scope.ports import require_some
from exposcan.sizes import LARGE_SCAN as LARGE_SCAN  # re-exported; prepare() reads it here
from exposcan.sizes import MAX_SCAN as MAX_SCAN
from exposcan.summary import ScanReport, Summary, SummaryBuilder

log = get_logger("exposcan")  # silent until structlog is configured


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ResultSource(Protocol):
    """What a plan runs from: its :class:`~exposcan.engine.Engine`, or shards run by the
    workers of a broker (:func:`exposcan.managed.distribute`). Results as they finish,
    the evidence learnt so far, and why the scan stopped early (None if it did not)."""

    total: int
    learnt: list[HostEvidence]
    stopped: str | None

    def run(self) -> AsyncIterator[EndpointResult]: ...


#: ``source(plan, on_progress, skip, evidence)``: the plan's results source instead of its engine
SourceFactory = Callable[
    ["ScanPlan", ProgressCallback | None, Container[SkipKey], Iterable[HostEvidence]],
    ResultSource,
]


@dataclass(frozen=True, kw_only=True)
class ScanPlan:
    """An authorised, fully resolved scan that has not sent anything yet."""

    scope: Scope
    targets: TargetSet
    requested: tuple[str, ...]
    ports: tuple[int, ...]
    options: ScanOptions
    web_ports: tuple[int, ...] = ()
    #: the endpoints to probe instead of every host on every port (``prepare(endpoints=)``)
    endpoints: EndpointList | None = None
    #: what "now" is for the authorisation's expiry (the wall clock, UTC)
    clock: Clock = field(default=utc_now, compare=False, repr=False)
    #: where results come from, if not this process's engine (``scan(..., broker=)``)
    source: SourceFactory | None = field(default=None, compare=False, repr=False)

    @property
    def total(self) -> int:
        """Every host on every port of every registered probe, or every listed endpoint
        (the engine's count too)."""
        if self.endpoints is not None:
            return self.endpoints.total()
        return endpoint_total(self.targets.count, port_lists(self.ports, self.web_ports))

    def header(
        self, *, started_at: str | None = None, scan_id: str | None = None
    ) -> dict[str, Any]:
        """The report's first record: what ran, on what authority, with which options.

        ``scan_id`` (a UUID, new unless given) names the scan in every record and output;
        a resumed scan keeps its first run's. A listed scan's ``endpoints_from`` names its
        list (format, digest, counts): ``--resume`` compares it like the ports."""
        listed = {} if self.endpoints is None else {"endpoints_from": self.endpoints.header()}
        return {
            "record": "scan",
            "scan_id": scan_id or new_scan_id(),
            "tool": "exposcan",
            "version": __version__,
            "started_at": started_at or _now(),
            "site": self.scope.site,
            "scope": {
                "source": self.scope.source,
                "digest": self.scope.digest,
                "owner": self.scope.authorisation.owner,
                "reference": self.scope.authorisation.reference,
                # The full instant: a date in the scope file is the end of that day, UTC.
                "expires": self.scope.authorisation.expires_at.isoformat(),
                "include": list(self.scope.include),
                "exclude": list(self.scope.exclude),
            },
            "targets": list(self.requested),
            "hosts": self.targets.count,
            "ports": list(self.ports),
            "web_ports": list(self.web_ports),
            "endpoints": self.total,
            **listed,
            "options": self.options.to_dict(),
        }

    def expiry_warning(self, days: float = 14) -> str | None:
        """The one line when the authorisation expires within ``days`` of now (the plan's
        clock), else None."""
        return expiry_warning(self.scope.authorisation, self.clock(), days=days)

    def warnings(self) -> list[str]:
        """What the user should hear before the scan runs, a line each: an authorisation
        about to expire, listed endpoints that are not probed. :func:`scan` and
        :func:`scan_iter` log them (structlog warnings); :func:`prepare` says nothing, so
        a caller showing them itself (the CLI) shows each once."""
        ignored = self.endpoints.ignored_warning() if self.endpoints is not None else None
        return [line for line in (self.expiry_warning(), ignored) if line is not None]

    def log_warnings(self) -> None:
        authorisation = self.scope.authorisation
        if (expiring := self.expiry_warning()) is not None:
            log.warning(
                "authorisation_expires_soon",
                reference=authorisation.reference,
                expires_at=authorisation.expires_at.isoformat(),
                message=expiring,
            )
        if self.endpoints is not None and (ignored := self.endpoints.ignored_warning()):
            log.warning("endpoints_ignored", ignored=self.endpoints.ignored, message=ignored)

    def engine(
        self,
        *,
        on_progress: ProgressCallback | None = None,
        skip: Container[SkipKey] = (),
        evidence: Iterable[HostEvidence] = (),
    ) -> Engine:
        """The engine that runs this plan, its expiry checked on the plan's clock;
        ``evidence``: what a resumed report's probes learnt about other endpoints."""
        return Engine(
            self.targets,
            self.ports,
            self.options,
            web_ports=self.web_ports,
            on_progress=on_progress,
            skip=skip,
            expires_at=self.scope.authorisation.expires_at,
            clock=self.clock,
            evidence=evidence,
            endpoints=self.endpoints,
        )

    def runner(
        self,
        *,
        on_progress: ProgressCallback | None = None,
        skip: Container[SkipKey] = (),
        evidence: Iterable[HostEvidence] = (),
    ) -> ResultSource:
        """What this plan runs from: :meth:`engine`, unless the plan has a ``source``."""
        if self.source is None:
            return self.engine(on_progress=on_progress, skip=skip, evidence=evidence)
        return self.source(self, on_progress, skip, evidence)

    def expired_error(
        self, not_started: int, *, summary: Summary | None = None, report: Any = None
    ) -> AuthorisationExpired:
        """The one line for a scan stopped by its authorisation's expiry."""
        authorisation = self.scope.authorisation
        return AuthorisationExpired(
            f"authorisation {authorisation.reference} expired at {authorisation.describe()} "
            f"during the scan: {not_started:,} of {self.total:,} endpoints not started; the "
            f"report is complete up to then (scope file {self.scope.source})",
            summary=summary,
            report=report,
        )

    async def results(
        self,
        *,
        on_progress: ProgressCallback | None = None,
        skip: Container[SkipKey] = (),
    ) -> AsyncIterator[EndpointResult]:
        """Each result as it is known; :class:`AuthorisationExpired` after the last one
        if the authorisation expired during the scan."""
        engine = self.runner(on_progress=on_progress, skip=skip)
        done = 0
        async for result in engine.run():
            done += 1
            yield result
        if engine.stopped is not None:
            raise self.expired_error(max(0, self.total - done))

    async def run(
        self,
        writer: ReportWriter,
        *,
        on_progress: ProgressCallback | None = None,
        keep: list[EndpointResult] | None = None,
        resume: ResumeState | None = None,
    ) -> Summary:
        """Run into a report writer. However the run ends (finished, cancelled,
        interrupted), the summary record is written; it is then re-raised. A run
        stopped by the authorisation's expiry raises :class:`AuthorisationExpired`
        (holding the summary) once the summary is written."""
        started, clock = _now(), time.monotonic()
        builder = SummaryBuilder(started_at=started, total=self.total)
        if resume is None:
            writer.start(self.header(started_at=started))
        else:
            count_previous(builder, resume)
            writer.start(
                {
                    "record": "resume",
                    # a report written before scan ids had none: this run names it
                    "scan_id": scan_id_of(resume.header) or new_scan_id(),
                    "site": self.scope.site,
                    "started_at": started,
                    "finished": len(resume.finished),
                }
            )
        log.info("scan_started", endpoints=self.total, resumed=resume is not None)
        interrupted = True
        engine = self.runner(
            on_progress=on_progress,
            skip=resume.finished if resume is not None else (),
            evidence=resume.evidence if resume is not None else (),
        )
        keeps = writer if isinstance(writer, EvidenceWriter) else None
        written = 0  # of engine.learnt
        try:
            async for result in engine.run():
                builder.add(result)
                if keeps is not None:
                    # Before the endpoint that learnt it: a report cut after that
                    # endpoint's record still holds what it said about others.
                    for record in engine.learnt[written:]:
                        keeps.evidence(record)
                    written = len(engine.learnt)
                writer.endpoint(result)
                # Facts of the conversation only: never a value the peer returned.
                log.debug(
                    "endpoint_finished",
                    host=result.host,
                    port=result.port,
                    protocol=str(result.protocol),
                    status=str(result.status),
                    exposure=str(result.exposure),
                    attempts=result.attempts,
                    duration_s=round(result.duration_s, 3),
                )
                if keep is not None:
                    keep.append(result)
            interrupted = False
        finally:
            summary = builder.build(
                finished_at=_now(),
                duration_s=time.monotonic() - clock,
                interrupted=interrupted,
                stopped=engine.stopped,
            )
            writer.finish(summary)
            log.info(
                "scan_finished",
                endpoints=summary.endpoints_done,
                exposed=summary.exposed,
                interrupted=interrupted,
                stopped=summary.stopped,
                duration_s=summary.duration_s,
            )
        if summary.stopped is not None:
            raise self.expired_error(summary.endpoints_not_started, summary=summary)
        return summary


ScopeLike = Scope | str | os.PathLike[str]


async def prepare(
    scope: ScopeLike,
    targets: Sequence[str] | None = None,
    *,
    options: ScanOptions | None = None,
    resolver: Resolver | None = None,
    clock: Clock | None = None,
    allow_large: bool = False,
    endpoints: Iterable[Pair] | ImportedEndpoints | None = None,
) -> ScanPlan:
    """Check the authorisation, resolve and check every target, pick the ports.

    ``endpoints``: probe only these (address, port) pairs (an nmap or masscan sweep's
    open ports, :mod:`exposcan.scope.imports`) instead of every target on every port;
    each host is checked against the scope as a target is, and each port goes to the
    probes whose selected ports hold it (others are ignored and counted:
    :mod:`exposcan.scope.endpoints`). Not with ``targets``.

    Raises a :class:`~exposcan.errors.UserError` for anything the user can fix
    (a selection with no port at all is one); sends no packet in any case.
    ``clock`` says what "now" is for the authorisation, here and while the plan runs.
    """
    options = options or ScanOptions()
    clock = clock or utc_now
    if not isinstance(scope, Scope):
        scope = load_scope(scope)
    scope.authorisation.check(clock())
    ports = select_ports(options.ports, scope.ports, option="--ports")
    web_ports = select_ports(options.web_ports, scope.web_ports, option="--web-ports")
    require_some(ports, web_ports, requested=options.ports, requested_web=options.web_ports)
    listed: EndpointList | None = None
    if endpoints is None:
        target_set = await resolve_targets(
            scope, list(targets or ()), resolver=resolver, now=clock()
        )
    else:
        if targets:
            raise OptionError(
                "give targets or a list of endpoints (--from-nmap, --from-masscan), not both"
            )
        target_set, listed = await plan_endpoints(
            scope, endpoints, port_lists(ports, web_ports), resolver=resolver, now=clock()
        )
    plan = ScanPlan(
        scope=scope,
        targets=target_set,
        requested=tuple(targets or ()),
        ports=ports,
        web_ports=web_ports,
        endpoints=listed,
        options=options,
        clock=clock,
    )
    total = plan.total
    if total > LARGE_SCAN and not allow_large:
        raise OptionError(
            f"this scan covers {total:,} endpoints, more than {LARGE_SCAN:,}: "
            "check the scope and targets, then pass --allow-large (allow_large=True)"
        )
    if total > MAX_SCAN:
        raise OptionError(f"this scan covers {total:,} endpoints; exposcan stops at {MAX_SCAN:,}")
    return plan


async def _planned(
    scope: ScopeLike,
    targets: Sequence[str] | None,
    options: ScanOptions | None,
    resolver: Resolver | None,
    clock: Clock | None,
    allow_large: bool,
    endpoints: Iterable[Pair] | ImportedEndpoints | None,
    broker: str | None,
) -> ScanPlan:
    """What :func:`scan` and :func:`scan_iter` run: the prepared plan, on the broker's
    workers if one is named, its warnings logged (``prepare`` itself stays silent)."""
    plan = await prepare(
        scope,
        targets,
        options=options,
        resolver=resolver,
        clock=clock,
        allow_large=allow_large,
        endpoints=endpoints,
    )
    plan = _distributed(plan, broker)
    plan.log_warnings()
    return plan


async def scan_iter(
    scope: ScopeLike,
    targets: Sequence[str] | None = None,
    *,
    options: ScanOptions | None = None,
    on_progress: ProgressCallback | None = None,
    resolver: Resolver | None = None,
    clock: Clock | None = None,
    allow_large: bool = False,
    endpoints: Iterable[Pair] | ImportedEndpoints | None = None,
    broker: str | None = None,
) -> AsyncIterator[EndpointResult]:
    """Yield each endpoint's result as soon as it is known; raise
    :class:`~exposcan.errors.AuthorisationExpired` after the last one if the
    authorisation expired during the scan.

    Example (in a notebook)::

        async for result in exposcan.scan_iter("scope.toml"):
            if result.exposure >= exposcan.Exposure.ECHO:
                print(result.host, result.port, result.exposure)
    """
    plan = await _planned(scope, targets, options, resolver, clock, allow_large, endpoints, broker)
    async for result in plan.results(on_progress=on_progress):
        yield result


async def scan(
    scope: ScopeLike,
    targets: Sequence[str] | None = None,
    *,
    options: ScanOptions | None = None,
    on_progress: ProgressCallback | None = None,
    resolver: Resolver | None = None,
    clock: Clock | None = None,
    allow_large: bool = False,
    endpoints: Iterable[Pair] | ImportedEndpoints | None = None,
    broker: str | None = None,
) -> ScanReport:
    """Scan the scope (or the given targets inside it) and return every result.

    If the authorisation expires during the scan, no endpoint is started after it
    and :class:`~exposcan.errors.AuthorisationExpired` is raised once those in
    flight have finished; its ``report`` holds what was scanned until then.
    ``allow_large``: allow more than :data:`LARGE_SCAN` endpoints (a typo guard);
    ``endpoints``: probe only these (address, port) pairs (see :func:`prepare`);
    ``broker``: run the scan's shards on the workers of this broker (``redis://HOST:PORT/DB``;
    ``memory://`` runs them here), see :mod:`exposcan.managed`.

    Example::

        report = await exposcan.scan("scope.toml", ["10.20.0.0/24"])
        for result in report.exposed():
            print(result.to_dict())
    """
    plan = await _planned(scope, targets, options, resolver, clock, allow_large, endpoints, broker)
    started, since = _now(), time.monotonic()
    builder = SummaryBuilder(started_at=started, total=plan.total)
    results: list[EndpointResult] = []
    engine = plan.runner(on_progress=on_progress)
    async for result in engine.run():
        builder.add(result)
        results.append(result)
    summary = builder.build(
        finished_at=_now(),
        duration_s=time.monotonic() - since,
        interrupted=False,
        stopped=engine.stopped,
    )
    report = ScanReport(
        header=plan.header(started_at=started),
        results=tuple(results),
        summary=summary,
        evidence=tuple(engine.learnt),
    )
    if summary.stopped is not None:
        raise plan.expired_error(summary.endpoints_not_started, summary=summary, report=report)
    return report


def _distributed(plan: ScanPlan, broker: str | None) -> ScanPlan:
    if broker is None:
        return plan
    from exposcan.managed import distribute  # taskiq and redis only when asked for

    return distribute(plan, broker)
