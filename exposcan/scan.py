"""The public entry points: ``prepare()``, ``scan()`` and ``scan_iter()``.

``prepare()`` does everything that can fail because of what the user asked
(scope file, authorisation, targets, ports) and sends nothing; a plan that
exists is a plan that is allowed to run, until its authorisation expires
(:mod:`exposcan.plan`: once it has, no new endpoint is started).

``scan()`` and ``scan_iter()`` raise :class:`~exposcan.errors.AuthorisationExpired`
after the last result when the authorisation expired during the scan (``scan()``'s
carries the partial report). The clock is injectable (``clock=``) for tests.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterable, Sequence

from exposcan.engine import ProgressCallback
from exposcan.errors import OptionError
from exposcan.grid import port_lists
from exposcan.options import ScanOptions
from exposcan.plan import ResultSource as ResultSource  # re-exported: their first home
from exposcan.plan import ScanPlan as ScanPlan
from exposcan.plan import SourceFactory as SourceFactory
from exposcan.plan import iso_now
from exposcan.probes.registry import PROBES
from exposcan.results import EndpointResult
from exposcan.scope import Resolver, Scope, load_scope, resolve_targets
from exposcan.scope.authorisation import Clock, utc_now
from exposcan.scope.endpoints import EndpointList, Pair, plan_endpoints
from exposcan.scope.imports import ImportedEndpoints
from exposcan.scope.ports import check_list_names, select_lists
from exposcan.sizes import LARGE_SCAN as LARGE_SCAN  # re-exported; prepare() reads it here
from exposcan.sizes import MAX_SCAN as MAX_SCAN
from exposcan.summary import ScanReport, SummaryBuilder

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

    Each registered probe takes the port list its registration names: ``ports`` and
    ``web_ports`` (``options.ports``, ``options.web_ports``), and a probe's own by its
    name (``options.more_ports={"echo_ports": (7,)}``), each narrowed from the scope
    file's key of that name; a name no registered probe takes is an
    :class:`~exposcan.errors.OptionError`.

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
    names = PROBES.port_lists()
    check_list_names(options.more_ports, names, option="more_ports")
    lists = select_lists(
        names,
        {name: options.requested_ports(name) for name in names},
        {name: scope.port_list(name) for name in names},
    )
    ports, web_ports = lists.pop("ports", ()), lists.pop("web_ports", ())
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
            scope,
            endpoints,
            {**port_lists(ports, web_ports), **lists},
            resolver=resolver,
            now=clock(),
        )
    plan = ScanPlan(
        scope=scope,
        targets=target_set,
        requested=tuple(targets or ()),
        ports=ports,
        web_ports=web_ports,
        more_ports=lists,
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
    started, since = iso_now(), time.monotonic()
    builder = SummaryBuilder(started_at=started, total=plan.total)
    results: list[EndpointResult] = []
    engine = plan.runner(on_progress=on_progress)
    async for result in engine.run():
        builder.add(result)
        results.append(result)
    summary = builder.build(
        finished_at=iso_now(),
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
