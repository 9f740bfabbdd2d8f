"""The gate: does a report hold a finding at or above a severity (``--fail-on``)?

A cron job or a CI step fails on findings through the exit code (trivy's
``--exit-code``, nuclei's severity filters): 1 when a finding at or above the threshold
is present (``scan``, ``report``) or new (``diff``). A finding covered by an accepted-risk
entry (:attr:`~exposcan.results.Finding.accepted`) does not fail the gate until that
acceptance expires; it is still reported, marked accepted, in every format.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time

from exposcan.errors import OptionError
from exposcan.results import EndpointResult, Finding
from exposcan.vocabulary import Severity

__all__ = ["GATE_SEVERITIES", "acceptance_holds", "failing", "parse_severity"]

#: What ``--fail-on`` takes, lowest first ("none" is no finding's severity).
GATE_SEVERITIES = tuple(str(s) for s in Severity if s is not Severity.NONE)


def parse_severity(text: str, *, option: str = "--fail-on") -> Severity:
    """The severity a user named, or one :class:`~exposcan.errors.OptionError` line."""
    word = text.strip().lower()
    if word not in GATE_SEVERITIES:
        raise OptionError(f"{option} takes one of {', '.join(GATE_SEVERITIES)}, not {text[:40]!r}")
    return Severity(word)


def acceptance_holds(finding: Finding, now: datetime | None = None) -> bool:
    """Whether the finding is accepted now: an acceptance without an expiry holds; one
    with an expiry holds to the end of that day, UTC (as a scope's ``expires`` does)."""
    accepted = finding.accepted
    if accepted is None:
        return False
    if accepted.expires is None:
        return True
    try:
        until = datetime.combine(date.fromisoformat(accepted.expires), time.max, tzinfo=UTC)
    except ValueError:  # not a date: an acceptance that cannot be read does not hold
        return False
    return (now or datetime.now(UTC)) <= until


def failing(
    results: Iterable[EndpointResult], threshold: Severity, *, now: datetime | None = None
) -> list[tuple[EndpointResult, Finding]]:
    """Every (endpoint, finding) at or above ``threshold`` that no acceptance covers now."""
    return [
        (result, finding)
        for result in results
        for finding in result.findings
        if finding.severity >= threshold and not acceptance_holds(finding, now)
    ]
