"""The HTML report's findings and appendix, worked out from the endpoints kept.

Findings are grouped by id, one card per id, most severe first; a finding whose
acceptance holds now (:func:`exposcan.gating.acceptance_holds`) goes to the accepted
group of its id, kept apart from the active ones; one whose acceptance has expired is
active again and says so. The fixed parts of a card (title, severity, remediation,
references) come from the catalogue (:mod:`exposcan.findings`) when it knows the id;
a report from another version may carry ids it does not know: then the finding's own.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from exposcan import findings as catalogue
from exposcan.gating import acceptance_holds
from exposcan.report.html import text
from exposcan.results import AcceptedRisk, EndpointResult, Finding
from exposcan.vocabulary import Severity

#: How many endpoints a finding's card lists; the appendix holds every one.
AFFECTED_SHOWN: Final = 30


@dataclass(frozen=True, slots=True)
class Affected:
    """One endpoint a finding was found on."""

    endpoint: str
    hostname: str | None
    protocol: str
    exposure: str
    accepted: AcceptedRisk | None
    #: the acceptance no longer holds (its expiry has passed, or cannot be read)
    lapsed: bool


@dataclass(slots=True)
class Group:
    """Every endpoint one finding id was found on, active or accepted."""

    id: str
    severity: Severity
    title: str
    remediation: str
    references: tuple[str, ...]
    accepted: bool
    affected: list[Affected] = field(default_factory=list)
    total: int = 0

    @property
    def more(self) -> int:
        return self.total - len(self.affected)

    @property
    def lapsed(self) -> int:
        return sum(1 for a in self.affected if a.lapsed)


@dataclass(frozen=True, slots=True)
class Noted:
    """One finding of an endpoint in the appendix, and where it stands."""

    finding: Finding
    #: "active", "accepted", or "lapsed" (an acceptance that no longer holds)
    state: str


@dataclass(frozen=True, slots=True)
class EndpointView:
    """One endpoint of the appendix: its verdict, its facts, its findings' evidence."""

    name: str
    hostname: str | None
    protocol: str
    status: str
    exposure: str
    facts: tuple[tuple[str, str], ...]
    findings: tuple[Noted, ...]


def _state(finding: Finding, now: datetime | None) -> str:
    if finding.accepted is None:
        return "active"
    return "accepted" if acceptance_holds(finding, now) else "lapsed"


def group_findings(
    results: Iterable[EndpointResult], now: datetime | None
) -> tuple[list[Group], list[Group]]:
    """(active groups, accepted groups), each most severe first, then widest spread."""
    groups: dict[tuple[bool, str], Group] = {}
    for result in results:
        for finding in result.findings:
            state = _state(finding, now)
            key = (state == "accepted", finding.id)
            group = groups.get(key)
            if group is None:
                group = groups[key] = _new_group(finding, accepted=key[0])
            group.total += 1
            if len(group.affected) < AFFECTED_SHOWN:
                group.affected.append(
                    Affected(
                        endpoint=text.endpoint_name(result.host, result.port),
                        hostname=result.hostname,
                        protocol=str(result.protocol),
                        exposure=str(result.exposure),
                        accepted=finding.accepted,
                        lapsed=state == "lapsed",
                    )
                )
    ordered = sorted(groups.values(), key=lambda g: (-g.severity.rank, -g.total, g.id))
    return [g for g in ordered if not g.accepted], [g for g in ordered if g.accepted]


def _new_group(finding: Finding, *, accepted: bool) -> Group:
    rule = catalogue.rule(finding.id)
    if rule is None:
        return Group(
            id=finding.id,
            severity=finding.severity,
            title=finding.title,
            remediation=finding.remediation,
            references=(),
            accepted=accepted,
        )
    return Group(
        id=rule.id,
        severity=rule.severity,
        title=rule.title,
        remediation=rule.remediation or finding.remediation,
        references=rule.references,
        accepted=accepted,
    )


def _host_order(host: str) -> tuple[int, int, str]:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return (2, 0, host)
    return (address.version, int(address), host)


def appendix_order(result: EndpointResult) -> tuple[object, ...]:
    worst = max((f.severity.rank for f in result.findings), default=0)
    return (-result.exposure.rank, -worst, _host_order(result.host), result.port)


def endpoint_view(result: EndpointResult, now: datetime | None) -> EndpointView:
    noted = sorted(
        (Noted(f, _state(f, now)) for f in result.findings),
        key=lambda n: (-n.finding.severity.rank, n.finding.id),
    )
    return EndpointView(
        name=text.endpoint_name(result.host, result.port),
        hostname=result.hostname,
        protocol=str(result.protocol),
        status=str(result.status),
        exposure=str(result.exposure),
        facts=tuple(_facts(result)),
        findings=tuple(noted),
    )


def _facts(result: EndpointResult) -> Iterable[tuple[str, str]]:
    if result.ae_title:
        yield "AE title accepted", result.ae_title
    fingerprint = result.fingerprint
    if fingerprint is not None:
        product = " ".join(
            x for x in (fingerprint.product or fingerprint.toolkit, fingerprint.version) if x
        )
        if product:
            yield "Product", product
        implementation = " ".join(
            x
            for x in (
                fingerprint.implementation_version_name,
                fingerprint.implementation_class_uid,
            )
            if x
        )
        if implementation:
            yield "Implementation", implementation
    if result.services:
        yield "Services offered", ", ".join(result.services)
    if result.matches is not None:
        m = result.matches
        found = f"{text.count(m.count, 'match', 'matches')} at {m.level.lower()} level"
        if m.cap_hit:
            found += f" (the query stopped at its cap of {m.cap:,}: more may exist)"
        yield "Query answered", found + "; only the count was kept"
    if result.tls is not None:
        yield "TLS", _tls(result)
    if result.detail:
        yield "Detail", result.detail
    probed = text.when(result.probed_at)
    timing = text.duration(result.duration_s)
    if result.attempts:
        timing += f", {text.count(result.attempts, 'attempt')}"
    yield "Probed", f"{probed}, {timing}" if probed else timing


def _tls(result: EndpointResult) -> str:
    tls = result.tls
    assert tls is not None
    parts = [x for x in (tls.version, tls.cipher) if x]
    if tls.key_bits:
        parts.append(f"{tls.key_bits}-bit key")
    if tls.self_signed:
        parts.append("self-signed")
    if tls.client_certificate_required:
        parts.append("client certificate required")
    if tls.subject:
        parts.append(f"subject {tls.subject}")
    if tls.issuer and tls.issuer != tls.subject:
        parts.append(f"issuer {tls.issuer}")
    if tls.not_before or tls.not_after:
        parts.append(f"valid {tls.not_before or '?'} to {tls.not_after or '?'}")
    if tls.unreadable:
        parts.append(f"unreadable fields: {tls.unreadable}")
    return "; ".join(parts) or "negotiated"
