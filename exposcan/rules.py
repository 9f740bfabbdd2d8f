"""A finding catalogue's entries (:class:`Rule`), a table of them, and the page they make.

The entries themselves are the probes': the built-in probes' in :mod:`exposcan.findings`,
a new probe's in its own package, handed to the registry with its registration
(:class:`~exposcan.probes.registry.Registration` ``findings``). This module holds what
every catalogue shares, so a probe's package needs nothing else to write its entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from exposcan.decoding import is_finding_id
from exposcan.results import Finding
from exposcan.vocabulary import Severity

__all__ = ["Rule", "Table", "markdown"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One catalogue entry: what a finding with this ``id`` means, whatever the peer.

    What the peer said goes in the evidence, and only there (:meth:`found`); reports,
    SARIF rules and users' filters key on the ``id``, which has one severity.
    """

    id: str
    severity: Severity
    title: str
    remediation: str = ""
    #: Where the reader can check the claim: DICOM parts, RFCs, vendors' manuals, CWE.
    references: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not is_finding_id(self.id):
            raise ValueError(f"{self.id!r} cannot be a finding id (lower-case words, dots)")
        if not isinstance(self.severity, Severity) or not self.title:
            raise ValueError(f"finding {self.id!r}: a severity and a title are required")

    def found(self, evidence: str) -> Finding:
        """The finding for one endpoint: this entry's fixed fields, the peer's evidence."""
        return Finding(
            id=self.id,
            severity=self.severity,
            title=self.title,
            evidence=evidence,
            remediation=self.remediation,
        )


class Table:
    """Entries in the order they are written, each id once: the way a probe's package
    writes its catalogue (``ECHO_SILENT = table.entry("echo-silent", ...)``)."""

    def __init__(self) -> None:
        self.entries: dict[str, Rule] = {}

    def entry(
        self,
        id: str,
        severity: Severity,
        title: str,
        remediation: str = "",
        references: tuple[str, ...] = (),
    ) -> Rule:
        if id in self.entries:
            raise ValueError(f"finding id {id!r} is catalogued twice")
        rule = self.entries[id] = Rule(id, severity, title, remediation, references)
        return rule

    def rules(self) -> tuple[Rule, ...]:
        return tuple(self.entries.values())


def markdown(entries: Iterable[Rule] | Mapping[str, Rule]) -> str:
    """``docs/findings.md``: a catalogue as a page (a test keeps the file equal to the
    registry's catalogue, :func:`exposcan.findings.markdown`)."""
    rules = list(entries.values() if isinstance(entries, Mapping) else entries)
    lines = [
        "# Findings",
        "",
        "<!-- Generated from exposcan/findings.py by `python -m exposcan.findings > "
        "docs/findings.md`; tests/unit/test_findings_catalogue.py checks it is current. -->",
        "",
        "Every finding exposcan reports has one entry here: a stable id, one severity and a",
        "fixed title. What a peer said is in the finding's evidence, never in its title.",
        "",
        "| id | severity | title |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{e.id}` | {e.severity} | {e.title} |" for e in rules]
    for entry in rules:
        lines += ["", f"## `{entry.id}`", "", f"**{entry.severity}**: {entry.title}.", ""]
        lines.append(f"Remediation: {entry.remediation or 'none needed (informational).'}")
        if entry.references:
            lines += ["", "References:", ""]
            lines += [f"- {reference}" for reference in entry.references]
    return "\n".join(lines) + "\n"
