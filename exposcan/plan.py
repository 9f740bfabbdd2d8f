"""A prepared scan: :class:`ScanPlan` (what runs, on what authority, its report header and
warnings) and where its results come from (:class:`ResultSource`: its engine, or the
shards of a broker's workers).

The authorisation is checked again while the plan runs (:mod:`exposcan.engine`):
once it has expired no new endpoint is started and those in flight finish. Then
``ScanPlan.run()`` writes the summary (``"stopped": "authorisation-expired"``) and
raises :class:`~exposcan.errors.AuthorisationExpired` (the CLI: one line, exit 2).
:func:`exposcan.scan.prepare` makes plans; :mod:`exposcan.scan` re-exports these names.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from exposcan._version import __version__
from exposcan.engine import Engine, ProgressCallback, SkipKey
from exposcan.errors import AuthorisationExpired, OptionError
from exposcan.grid import port_lists
from exposcan.identity import new_scan_id, scan_id_of
from exposcan.logs import get_logger
from exposcan.options import ScanOptions
from exposcan.probe import HostEvidence
from exposcan.probes.registry import endpoint_total
from exposcan.report.resume import ResumeState, count_previous
from exposcan.report.writer import EvidenceWriter, ReportWriter
from exposcan.results import EndpointResult
from exposcan.scope import Scope, TargetSet
from exposcan.scope.authorisation import Clock, expiry_warning, utc_now
from exposcan.scope.endpoints import EndpointList
from exposcan.summary import Summary, SummaryBuilder

log = get_logger("exposcan")  # silent until structlog is configured


def iso_now() -> str:
    """Now, UTC, to the second (the report's ``started_at``, ``finished_at``)."""
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
    #: the port lists of registered probes beyond the built-ins', by the registration's
    #: name (``{"echo_ports": (7,)}``): planned, counted and written to the header as
    #: ``ports`` and ``web_ports`` are
    more_ports: Mapping[str, tuple[int, ...]] = field(default_factory=dict, hash=False)
    #: the endpoints to probe instead of every host on every port (``prepare(endpoints=)``)
    endpoints: EndpointList | None = None
    #: what "now" is for the authorisation's expiry (the wall clock, UTC)
    clock: Clock = field(default=utc_now, compare=False, repr=False)
    #: where results come from, if not this process's engine (``scan(..., broker=)``)
    source: SourceFactory | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # A broker's shard jobs carry ports and web_ports only (exposcan.managed): refused
        # here, when the plan is given its source, rather than leaving a list unprobed.
        listed = [name for name, ports in self.more_ports.items() if ports]
        if self.source is not None and listed:
            raise OptionError(
                f"a scan run by a broker's workers (--broker) probes ports and web_ports only, "
                f"not {', '.join(listed)}: run it without --broker"
            )

    @property
    def total(self) -> int:
        """Every host on every port of every registered probe, or every listed endpoint
        (the engine's count too)."""
        if self.endpoints is not None:
            return self.endpoints.total()
        return endpoint_total(self.targets.count, self.port_lists)

    @property
    def port_lists(self) -> dict[str, tuple[int, ...]]:
        """Every port list of the plan by name: ``ports``, ``web_ports``, then the others."""
        return {**port_lists(self.ports, self.web_ports), **self.more_ports}

    def header(
        self, *, started_at: str | None = None, scan_id: str | None = None
    ) -> dict[str, Any]:
        """The report's first record: what ran, on what authority, with which options.

        ``scan_id`` (a UUID, new unless given) names the scan in every record and output;
        a resumed scan keeps its first run's. A listed scan's ``endpoints_from`` names its
        list (format, digest, counts): ``--resume`` compares it like the ports. A
        registered probe's own port list is a key of its name beside ``ports``."""
        listed = {} if self.endpoints is None else {"endpoints_from": self.endpoints.header()}
        return {
            "record": "scan",
            "scan_id": scan_id or new_scan_id(),
            "tool": "exposcan",
            "version": __version__,
            "started_at": started_at or iso_now(),
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
            **{name: list(ports) for name, ports in self.more_ports.items()},
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
            more_ports=self.more_ports,
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
        started, clock = iso_now(), time.monotonic()
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
                finished_at=iso_now(),
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
