"""DefectDojo's Generic Findings Import (JSON): one finding per finding on an endpoint.

Import it with scan type "Generic Findings Import"; reimport the next scan into the same
test and DefectDojo closes what is no longer found. ``docs/formats.md`` tells the whole
mapping; what shapes it:

- **Only the parser's keys.** DefectDojo rejects a file with any other key in a finding
  (``dojo/tools/generic/json_parser.py``); the tests check every key written here against
  that list.
- **Reimport matches on a hash** of title, CWE, line, file path and description (the
  parser's default, ``hash_code``). So the description names the endpoint and the finding
  and nothing that changes from scan to scan: no time, no scan id, and not the evidence
  either (a match count moves every week, and a moved hash would close the finding and
  open a new one, losing its history). The evidence goes in ``steps_to_reproduce``, which
  is not hashed. ``unique_id_from_tool`` is :func:`exposcan.report.sarif.finding_key` for
  an instance that keys on it instead.
- **The same report writes the same bytes**: findings sorted by endpoint and id, and an
  acceptance judged as of the probe (:func:`~exposcan.report.sarif.acceptance_held`).
"""

from __future__ import annotations

import ipaddress
import re
from typing import IO, Any, Final

from exposcan import findings as catalogue
from exposcan._version import __version__
from exposcan.report.resume import endpoint_key
from exposcan.report.safe_json import dumps
from exposcan.report.sarif import SCHEMES, acceptance_held, endpoint_uri, finding_key
from exposcan.results import EndpointResult, Finding
from exposcan.summary import Summary
from exposcan.vocabulary import Severity

__all__ = ["SEVERITY", "DefectDojoWriter"]

#: DefectDojo's severities (the parser takes these words only).
SEVERITY: Final = {
    Severity.CRITICAL: "Critical",
    Severity.HIGH: "High",
    Severity.MEDIUM: "Medium",
    Severity.LOW: "Low",
    Severity.INFO: "Info",
    Severity.NONE: "Info",
}
_KIND: Final = {"dicom": "DICOM", "web": "web"}
_CWE: Final = re.compile(r"^CWE-(\d+)\b")
#: The test's name and type: DefectDojo names the test type "exposcan Scan (Generic
#: Findings Import)", so an instance can set its dedupe per tool.
_TOOL: Final = "exposcan"


def _date(text: object) -> str | None:
    """The date part of an ISO instant (``2026-12-02T15:03:06.123Z`` -> ``2026-12-02``)."""
    if isinstance(text, str) and re.match(r"^\d{4}-\d{2}-\d{2}", text):
        return text[:10]
    return None


def _sort_key(pair: tuple[EndpointResult, Finding]) -> tuple[int, int, str, int, str, str]:
    result, finding = pair
    try:
        address = ipaddress.ip_address(result.host)
        host: tuple[int, int, str] = (address.version, int(address), "")
    except ValueError:
        host = (9, 0, result.host)
    return (*host, result.port, str(result.protocol), finding.id)


class DefectDojoWriter:
    """Collects the findings as the scan streams them; writes the document at ``finish``."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._header: dict[str, Any] = {}
        self._pairs: list[tuple[EndpointResult, Finding]] = []

    def start(self, header: dict[str, Any]) -> None:
        self._header = header

    def endpoint(self, result: EndpointResult) -> None:
        self._pairs.extend((result, finding) for finding in result.findings)

    def finish(self, summary: Summary) -> None:
        started = _date(self._header.get("started_at")) or _date(summary.started_at)
        findings = [
            self._finding(result, finding, started)
            for result, finding in sorted(self._pairs, key=_sort_key)
        ]
        document: dict[str, Any] = {
            "name": _TOOL,
            "type": _TOOL,
            "version": __version__,
            "dynamic_tool": True,
            "static_tool": False,
            "findings": findings,
        }
        description = self._description()
        if description:
            document["description"] = description
        self._stream.write(dumps(document, indent=2) + "\n")
        self._stream.flush()

    def _description(self) -> str:
        """The test's description: whose scope, on what authority (no time, no scan id)."""
        scope = self._header.get("scope")
        scope = scope if isinstance(scope, dict) else {}
        facts = [
            ("Site", self._header.get("site")),
            ("Owner", scope.get("owner")),
            ("Authorisation", scope.get("reference")),
        ]
        return "\n".join(f"{name}: {value}" for name, value in facts if isinstance(value, str))

    def _finding(
        self, result: EndpointResult, finding: Finding, started: str | None
    ) -> dict[str, Any]:
        entry = catalogue.rule(finding.id)
        title = entry.title if entry is not None else finding.title
        remediation = entry.remediation if entry is not None else finding.remediation
        references = entry.references if entry is not None else ()
        # Hashed by DefectDojo's dedupe: the endpoint as the diff matches it (a port that
        # moved to TLS is the same endpoint) and the finding, nothing that moves.
        host, port, kind = endpoint_key(result.host, result.port, result.protocol)
        item: dict[str, Any] = {
            "title": title,
            "severity": SEVERITY[finding.severity],
            "description": (
                f"{title}.\n\nEndpoint: {host} port {port} ({_KIND.get(kind, kind)}).\n"
                f"exposcan finding: {finding.id}."
            ),
        }
        if remediation:
            item["mitigation"] = remediation
        if references:
            item["references"] = "\n".join(references)
        item["steps_to_reproduce"] = (
            f"exposcan probed {endpoint_uri(result)} and observed: {finding.evidence}"
        )
        cwe = next((m for m in map(_CWE.match, references) if m is not None), None)
        if cwe is not None:
            item["cwe"] = int(cwe.group(1))
        item["vuln_id_from_tool"] = finding.id
        item["unique_id_from_tool"] = finding_key(result, finding)
        item["endpoints"] = [
            {
                "protocol": SCHEMES.get(result.protocol, result.protocol),
                "host": result.host,
                "port": result.port,
            }
        ]
        item["tags"] = ["exposcan", str(result.protocol)]
        item["static_finding"] = False
        item["dynamic_finding"] = True
        when = _date(result.probed_at) or started
        if when is not None:
            item["date"] = when
        self._accepted(item, result, finding)
        return item

    def _accepted(self, item: dict[str, Any], result: EndpointResult, finding: Finding) -> None:
        """An acceptance that held when the endpoint was probed: DefectDojo's own flags
        (risk accepted, inactive); one that had lapsed: an active finding saying so."""
        accepted = finding.accepted
        if accepted is None:
            return
        until = f" (until {accepted.expires})" if accepted.expires else ""
        if acceptance_held(result, finding, self._header):
            item["risk_accepted"] = True
            item["active"] = False
            item["severity_justification"] = f"Risk accepted{until}: {accepted.reason}"
        else:
            item["severity_justification"] = f"Acceptance lapsed{until}: {accepted.reason}"
