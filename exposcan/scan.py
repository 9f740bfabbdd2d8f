"""The public entry points: ``prepare()``, ``scan()`` and ``scan_iter()``.

``prepare()`` does everything that can fail because of what the user asked
(scope file, authorisation, targets, ports) and sends nothing; a plan that
exists is a plan that is allowed to run.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Container, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import structlog

from exposcan._version import __version__
from exposcan.engine import Engine, ProgressCallback, SkipKey
from exposcan.errors import OptionError
from exposcan.options import ScanOptions
from exposcan.report.resume import ResumeState, count_previous
from exposcan.report.writer import ReportWriter
from exposcan.results import EndpointResult
from exposcan.scope import Resolver, Scope, TargetSet, load_scope, resolve_targets, select_ports
from exposcan.summary import Summary, SummaryBuilder

log = structlog.get_logger("exposcan")


#: Above this many endpoints a scan needs ``allow_large``: a /14 times four
#: ports, or a /12 on one port, is bigger than any one hospital's DICOM estate
#: and more often a typo (a /8 for a /24) than a plan.
LARGE_SCAN = 1 << 20
#: No scan goes beyond this (an IPv6 /64 would never finish).
MAX_SCAN = 1 << 32


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, kw_only=True)
class ScanPlan:
    """An authorised, fully resolved scan that has not sent anything yet."""

    scope: Scope
    targets: TargetSet
    requested: tuple[str, ...]
    ports: tuple[int, ...]
    options: ScanOptions
    web_ports: tuple[int, ...] = ()

    @property
    def total(self) -> int:
        return self.targets.count * (len(self.ports) + len(self.web_ports))

    def header(self, *, started_at: str | None = None) -> dict[str, Any]:
        """The report's first record: what ran, on what authority, with which options."""
        return {
            "record": "scan",
            "tool": "exposcan",
            "version": __version__,
            "started_at": started_at or _now(),
            "scope": {
                "source": self.scope.source,
                "digest": self.scope.digest,
                "owner": self.scope.authorisation.owner,
                "reference": self.scope.authorisation.reference,
                "expires": self.scope.authorisation.expires.isoformat(),
            },
            "targets": list(self.requested),
            "hosts": self.targets.count,
            "ports": list(self.ports),
            "web_ports": list(self.web_ports),
            "endpoints": self.total,
            "options": self.options.to_dict(),
        }

    async def results(
        self,
        *,
        on_progress: ProgressCallback | None = None,
        skip: Container[SkipKey] = (),
    ) -> AsyncIterator[EndpointResult]:
        engine = Engine(
            self.targets,
            self.ports,
            self.options,
            web_ports=self.web_ports,
            on_progress=on_progress,
            skip=skip,
        )
        async for result in engine.run():
            yield result

    async def run(
        self,
        writer: ReportWriter,
        *,
        on_progress: ProgressCallback | None = None,
        keep: list[EndpointResult] | None = None,
        resume: ResumeState | None = None,
    ) -> Summary:
        """Run into a report writer. However the run ends (finished, cancelled,
        interrupted), the summary record is written; it is then re-raised."""
        started, clock = _now(), time.monotonic()
        builder = SummaryBuilder(started_at=started, total=self.total)
        if resume is None:
            writer.start(self.header(started_at=started))
        else:
            count_previous(builder, resume)
            writer.start(
                {"record": "resume", "started_at": started, "finished": len(resume.finished)}
            )
        log.info("scan_started", endpoints=self.total, resumed=resume is not None)
        interrupted = True
        try:
            skip = resume.finished if resume is not None else ()
            async for result in self.results(on_progress=on_progress, skip=skip):
                builder.add(result)
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
                finished_at=_now(), duration_s=time.monotonic() - clock, interrupted=interrupted
            )
            writer.finish(summary)
            log.info(
                "scan_finished",
                endpoints=summary.endpoints_done,
                exposed=summary.exposed,
                interrupted=interrupted,
                duration_s=summary.duration_s,
            )
        return summary


@dataclass(frozen=True, kw_only=True)
class ScanReport:
    """A finished scan: its header, every endpoint result, and the summary."""

    header: dict[str, Any]
    results: tuple[EndpointResult, ...]
    summary: Summary

    def exposed(self) -> tuple[EndpointResult, ...]:
        """Endpoints where a stranger got at least as far as C-ECHO."""
        return tuple(r for r in self.results if r.exposure.rank >= 2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scan": self.header,
            "endpoints": [r.to_dict() for r in self.results],
            "summary": self.summary.to_dict(),
        }


ScopeLike = Scope | str | os.PathLike[str]


async def prepare(
    scope: ScopeLike,
    targets: Sequence[str] | None = None,
    *,
    options: ScanOptions | None = None,
    resolver: Resolver | None = None,
    today: date | None = None,
    allow_large: bool = False,
) -> ScanPlan:
    """Check the authorisation, resolve and check every target, pick the ports.

    Raises a :class:`~exposcan.errors.UserError` for anything the user can fix;
    sends no packet in any case.
    """
    options = options or ScanOptions()
    if not isinstance(scope, Scope):
        scope = load_scope(scope)
    scope.authorisation.check(today)
    ports = select_ports(options.ports, scope.ports, option="--ports")
    web_ports = select_ports(options.web_ports, scope.web_ports, option="--web-ports")
    target_set = await resolve_targets(scope, list(targets or ()), resolver=resolver, today=today)
    total = target_set.count * (len(ports) + len(web_ports))
    if total > LARGE_SCAN and not allow_large:
        raise OptionError(
            f"this scan covers {total:,} endpoints, more than {LARGE_SCAN:,}: "
            "check the scope and targets, then pass --allow-large (allow_large=True)"
        )
    if total > MAX_SCAN:
        raise OptionError(f"this scan covers {total:,} endpoints; exposcan stops at {MAX_SCAN:,}")
    return ScanPlan(
        scope=scope,
        targets=target_set,
        requested=tuple(targets or ()),
        ports=ports,
        web_ports=web_ports,
        options=options,
    )


async def scan_iter(
    scope: ScopeLike,
    targets: Sequence[str] | None = None,
    *,
    options: ScanOptions | None = None,
    on_progress: ProgressCallback | None = None,
    resolver: Resolver | None = None,
) -> AsyncIterator[EndpointResult]:
    """Yield each endpoint's result as soon as it is known.

    Example (in a notebook)::

        async for result in exposcan.scan_iter("scope.toml"):
            if result.exposure >= exposcan.Exposure.ECHO:
                print(result.host, result.port, result.exposure)
    """
    plan = await prepare(scope, targets, options=options, resolver=resolver)
    async for result in plan.results(on_progress=on_progress):
        yield result


async def scan(
    scope: ScopeLike,
    targets: Sequence[str] | None = None,
    *,
    options: ScanOptions | None = None,
    on_progress: ProgressCallback | None = None,
    resolver: Resolver | None = None,
) -> ScanReport:
    """Scan the scope (or the given targets inside it) and return every result.

    Example::

        report = await exposcan.scan("scope.toml", ["10.20.0.0/24"])
        for result in report.exposed():
            print(result.to_dict())
    """
    plan = await prepare(scope, targets, options=options, resolver=resolver)
    started, clock = _now(), time.monotonic()
    summary = SummaryBuilder(started_at=started, total=plan.total)
    results: list[EndpointResult] = []
    async for result in plan.results(on_progress=on_progress):
        summary.add(result)
        results.append(result)
    return ScanReport(
        header=plan.header(started_at=started),
        results=tuple(results),
        summary=summary.build(
            finished_at=_now(), duration_s=time.monotonic() - clock, interrupted=False
        ),
    )
