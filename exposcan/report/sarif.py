"""SARIF 2.1.0: finding ids as rules, one result per finding on an endpoint.

For code-scanning dashboards (GitHub code scanning, DefectDojo's SARIF parser, any SARIF
viewer). ``docs/formats.md`` says how each field maps; in short:

- a **rule** per finding id, described by the catalogue (:mod:`exposcan.findings`), never
  by whichever endpoint reported it first: fixed title, remediation as its help, its
  severity as ``security-severity`` (a CVSS-like score, :data:`SECURITY_SEVERITY`) and the
  default level, ``helpUri`` the first reference that names a page (DICOM parts, CWE and
  RFC numbers are turned into their public pages);
- a **result** per (endpoint, finding): the fixed title in the message, the peer's evidence
  only in ``properties``; the endpoint as the location (``dicom://host:port``, a URI, and
  a logical location ``host:port``); ``partialFingerprints`` from :func:`finding_key`,
  the same on every scan of that finding on that endpoint;
- an accepted finding carries an external **suppression** (the reason as justification),
  ``accepted`` while the acceptance held when the endpoint was probed, ``rejected`` once
  it had lapsed: the same report always renders the same;
- the **run**: ``automationDetails.id`` is ``exposcan/<site>/<scan id>`` (a dashboard's
  category, then this scan), the invocation's start and end times are the summary's.

Schema: https://docs.oasis-open.org/sarif/sarif/v2.1.0/ (OASIS standard); the tests
validate real reports against it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any, Final

from exposcan import findings as catalogue
from exposcan._version import __version__
from exposcan.gating import acceptance_holds
from exposcan.identity import scan_id_of
from exposcan.report.resume import endpoint_key
from exposcan.report.safe_json import dumps
from exposcan.results import EndpointResult, Finding
from exposcan.summary import Summary
from exposcan.vocabulary import Protocol, Severity

__all__ = [
    "FINGERPRINT_NAME",
    "SCHEMES",
    "SECURITY_SEVERITY",
    "SarifWriter",
    "acceptance_held",
    "endpoint_uri",
    "finding_key",
    "reference_url",
]

SCHEMA_URI: Final = "https://json.schemastore.org/sarif-2.1.0.json"

_LEVEL: Final = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
    Severity.NONE: "none",
}
#: The URI scheme that names an endpoint of each protocol.
SCHEMES: Final = {
    Protocol.DIMSE: "dicom",
    Protocol.DIMSE_TLS: "dicom-tls",
    Protocol.HTTP: "http",
    Protocol.HTTPS: "https",
}
#: SARIF's ``security-severity`` (0.0-10.0, as a string) ranks results on dashboards;
#: GitHub reads 9.0+ as critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low.
SECURITY_SEVERITY: Final = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "7.5",
    Severity.MEDIUM: "5.0",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
    Severity.NONE: "0.0",
}
#: The ``partialFingerprints`` key; the version changes only if :func:`finding_key` does.
FINGERPRINT_NAME: Final = "exposcanEndpointFinding/v1"

#: Catalogue references as text ("DICOM PS3.8 §9.3 ...", "CWE-306: ...", "RFC 8446 ...")
#: and the public page each names.
_REFERENCE_PAGES: Final = (
    (re.compile(r"^(https://\S+)"), "{0}"),
    (
        re.compile(r"^DICOM PS3\.(\d+)\b"),
        "https://dicom.nema.org/medical/dicom/current/output/html/part{0:0>2}.html",
    ),
    (re.compile(r"^CWE-(\d+)\b"), "https://cwe.mitre.org/data/definitions/{0}.html"),
    (re.compile(r"^RFC (\d+)\b"), "https://www.rfc-editor.org/rfc/rfc{0}"),
)


def reference_url(reference: str) -> str | None:
    """The public page a catalogue reference names, or ``None`` (a vendor's prose)."""
    for pattern, page in _REFERENCE_PAGES:
        match = pattern.match(reference)
        if match is not None:
            return page.format(match.group(1))
    return None


def finding_key(result: EndpointResult, finding: Finding) -> str:
    """The identity of one finding on one endpoint, the same on every scan that sees it.

    A SHA-256 of the endpoint as the diff matches it (the host as the engine names it,
    the port, the probe kind: ``dicom`` or ``web``, so a port that moved to TLS keeps
    its findings) and the finding id; no time, no scan id. SARIF's
    ``partialFingerprints`` and DefectDojo's ``unique_id_from_tool`` are this value.
    """
    host, port, kind = endpoint_key(result.host, result.port, result.protocol)
    text = "\n".join(("exposcan/v1", host, str(port), kind, finding.id))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def endpoint_uri(result: EndpointResult) -> str:
    """``dicom://192.0.2.7:104``, ``https://[2001:db8::7]:443``."""
    host = f"[{result.host}]" if ":" in result.host else result.host
    return f"{SCHEMES.get(result.protocol, result.protocol)}://{host}:{result.port}"


def _instant(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def acceptance_held(
    result: EndpointResult, finding: Finding, header: Mapping[str, Any]
) -> bool | None:
    """Whether the finding's acceptance held when its endpoint was probed (else when the
    scan started); ``None`` if it carries none. Judged as of the scan, not of the
    rendering, so a report renders the same however late (the gate judges now)."""
    if finding.accepted is None:
        return None
    when = _instant(result.probed_at) or _instant(header.get("started_at"))
    return acceptance_holds(finding, when)


def _utc(text: str) -> str | None:
    """SARIF's times: UTC, ``Z`` (§3.9); ``None`` for a text that is not a time."""
    moment = _instant(text)
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _name(finding_id: str) -> str:
    # SARIF's rule names read as identifiers: dicom-stock-ae-title -> DicomStockAeTitle.
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", finding_id))


def _tags(finding_id: str) -> list[str]:
    area = finding_id.split("-", 1)[0]
    extra = {"dicom": ["dicom", "pacs"], "web": ["web", "pacs"], "tls": ["tls"]}
    return ["security", *extra.get(area, [])]


def _rule(finding: Finding) -> dict[str, Any]:
    """A rule as the catalogue describes it, not as the first endpoint reported it.

    An id the catalogue does not know (a report from another version) is described by
    the finding itself.
    """
    entry = catalogue.rule(finding.id)
    severity = entry.severity if entry is not None else finding.severity
    title = entry.title if entry is not None else finding.title
    remediation = entry.remediation if entry is not None else finding.remediation
    references = list(entry.references) if entry is not None else []
    help_text = remediation or "Informational: no remediation needed."
    markdown = help_text
    if references:
        markdown += "\n\nReferences:\n\n" + "\n".join(f"- {r}" for r in references)
    rule: dict[str, Any] = {
        "id": finding.id,
        "name": _name(finding.id),
        "shortDescription": {"text": title},
        "fullDescription": {"text": f"{title} (exposcan finding {finding.id}, {severity})."},
        "help": {"text": help_text, "markdown": markdown},
        "defaultConfiguration": {"level": _LEVEL[severity]},
        "properties": {
            "security-severity": SECURITY_SEVERITY[severity],
            "severity": str(severity),
            "tags": _tags(finding.id),
        },
    }
    urls = [url for url in map(reference_url, references) if url is not None]
    if urls:
        rule["helpUri"] = urls[0]
    if references:
        rule["properties"]["references"] = references
    return rule


def _rank(rule_id: str) -> tuple[int, str]:
    # Catalogue order (docs/findings.md's), then ids it does not know, by name.
    position = _CATALOGUE_ORDER.get(rule_id)
    return (position, "") if position is not None else (len(_CATALOGUE_ORDER), rule_id)


_CATALOGUE_ORDER: Final = {rule_id: i for i, rule_id in enumerate(catalogue.CATALOGUE)}


class SarifWriter:
    """Collects the results as the scan streams them; writes the document at ``finish``."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._rules: dict[str, dict[str, Any]] = {}
        self._results: list[dict[str, Any]] = []
        self._header: dict[str, Any] = {}

    def start(self, header: dict[str, Any]) -> None:
        self._header = header

    def endpoint(self, result: EndpointResult) -> None:
        uri = endpoint_uri(result)
        for finding in result.findings:
            if finding.id not in self._rules:
                self._rules[finding.id] = _rule(finding)
            self._results.append(self._result(result, finding, uri))

    def _result(self, result: EndpointResult, finding: Finding, uri: str) -> dict[str, Any]:
        entry = catalogue.rule(finding.id)
        title = entry.title if entry is not None else finding.title
        properties: dict[str, Any] = {
            "evidence": finding.evidence,
            "severity": str(finding.severity),
            "exposure": str(result.exposure),
            "protocol": str(result.protocol),
            "host": result.host,
            "port": result.port,
        }
        for name in ("hostname", "ae_title", "probed_at"):
            value = getattr(result, name)
            if value is not None:
                properties[name] = value
        sarif: dict[str, Any] = {
            "ruleId": finding.id,
            "level": _LEVEL[finding.severity],
            "message": {"text": f"{title} ({uri})"},
            "locations": [
                {
                    "physicalLocation": {"artifactLocation": {"uri": uri}},
                    "logicalLocations": [
                        {
                            "name": uri.split("://", 1)[1],
                            "fullyQualifiedName": uri,
                            "kind": "resource",
                        }
                    ],
                }
            ],
            "partialFingerprints": {FINGERPRINT_NAME: finding_key(result, finding)},
            "properties": properties,
        }
        held = acceptance_held(result, finding, self._header)
        if finding.accepted is not None:
            accepted = finding.accepted
            suppression: dict[str, Any] = {
                "kind": "external",
                "status": "accepted" if held else "rejected",
                "justification": accepted.reason,
            }
            if accepted.expires is not None:
                suppression["properties"] = {"expires": accepted.expires}
            sarif["suppressions"] = [suppression]
        return sarif

    def finish(self, summary: Summary) -> None:
        ranked = sorted(self._rules, key=_rank)
        index = {rule_id: i for i, rule_id in enumerate(ranked)}
        for result in self._results:
            result["ruleIndex"] = index[result["ruleId"]]
        invocation: dict[str, Any] = {"executionSuccessful": not summary.interrupted}
        for key, when in (
            ("startTimeUtc", summary.started_at),
            ("endTimeUtc", summary.finished_at),
        ):
            instant = _utc(when)
            if instant is not None:
                invocation[key] = instant
        run: dict[str, Any] = {
            "tool": {
                "driver": {
                    "name": "exposcan",
                    "version": __version__,
                    "semanticVersion": __version__,
                    "rules": [self._rules[rule_id] for rule_id in ranked],
                }
            },
            "automationDetails": self._automation(),
            "invocations": [invocation],
            "results": self._results,
            "properties": {
                "site": self._header.get("site"),
                "scope": self._header.get("scope", {}),
                "summary": summary.to_dict(),
            },
        }
        document = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
        self._stream.write(dumps(document, indent=2) + "\n")
        self._stream.flush()

    def _automation(self) -> dict[str, Any]:
        """``exposcan/<site>/<scan id>``: before the last slash a category, so that a
        dashboard keeps one analysis per site; then the scan (SARIF §3.17.4)."""
        site = self._header.get("site")
        category = "exposcan/"
        if isinstance(site, str) and site.strip():
            category += re.sub(r"[/\s]+", "-", site.strip()) + "/"
        scan_id = scan_id_of(self._header)
        details: dict[str, Any] = {"id": category + (scan_id or "")}
        if scan_id is not None:
            details["guid"] = scan_id
        return details
