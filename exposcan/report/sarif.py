"""SARIF 2.1.0: findings as results, finding ids as rules, for code-scanning dashboards.

Each finding becomes a result whose location is the endpoint as a URI
(``dicom://host:port``, ``https://host:port``); levels follow severity. Rules come from
the finding catalogue (:mod:`exposcan.findings`): one description, remediation and
severity per id, whichever endpoint reported it first.
Schema: https://docs.oasis-open.org/sarif/sarif/v2.1.0/ (OASIS standard).
"""

from __future__ import annotations

from typing import IO, Any

from exposcan import findings as catalogue
from exposcan._version import __version__
from exposcan.report.safe_json import dumps
from exposcan.results import EndpointResult, Finding
from exposcan.summary import Summary
from exposcan.vocabulary import Protocol, Severity

_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
    Severity.NONE: "none",
}
_SCHEME = {
    Protocol.DIMSE: "dicom",
    Protocol.DIMSE_TLS: "dicom-tls",
    Protocol.HTTP: "http",
    Protocol.HTTPS: "https",
}
# SARIF's security-severity property (0.0-10.0) lets dashboards rank results.
_SCORE = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "7.5",
    Severity.MEDIUM: "5.0",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
    Severity.NONE: "0.0",
}


def _rule(finding: Finding) -> dict[str, Any]:
    """A rule as the catalogue describes it, not as the first endpoint reported it.

    An id the catalogue does not know (a report from another version) is described by
    the finding itself.
    """
    entry = catalogue.rule(finding.id)
    severity = entry.severity if entry is not None else finding.severity
    title = entry.title if entry is not None else finding.title
    remediation = entry.remediation if entry is not None else finding.remediation
    rule: dict[str, Any] = {
        "id": finding.id,
        "name": finding.id.replace("-", " "),
        "shortDescription": {"text": title},
        "help": {"text": remediation or title},
        "defaultConfiguration": {"level": _LEVEL[severity]},
        "properties": {"security-severity": _SCORE[severity]},
    }
    urls = [r for r in entry.references if r.startswith("https://")] if entry else []
    if urls:
        rule["helpUri"] = urls[0]
    if entry is not None and entry.references:
        rule["properties"]["references"] = list(entry.references)
    return rule


class SarifWriter:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._rules: dict[str, dict[str, Any]] = {}
        self._results: list[dict[str, Any]] = []
        self._header: dict[str, Any] = {}

    def start(self, header: dict[str, Any]) -> None:
        self._header = header

    def endpoint(self, result: EndpointResult) -> None:
        host = f"[{result.host}]" if ":" in result.host else result.host
        uri = f"{_SCHEME[result.protocol]}://{host}:{result.port}"
        for finding in result.findings:
            if finding.id not in self._rules:
                self._rules[finding.id] = _rule(finding)
            self._results.append(
                {
                    "ruleId": finding.id,
                    "level": _LEVEL[finding.severity],
                    "message": {"text": f"{finding.title}: {finding.evidence}"},
                    "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri}}}],
                    "properties": {
                        "exposure": result.exposure.value,
                        "severity": finding.severity.value,
                    },
                }
            )

    def finish(self, summary: Summary) -> None:
        document = {
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {
                        "driver": {
                            "name": "exposcan",
                            "version": __version__,
                            "rules": list(self._rules.values()),
                        }
                    },
                    "results": self._results,
                    "invocations": [
                        {
                            "executionSuccessful": not summary.interrupted,
                            "startTimeUtc": summary.started_at,
                            "endTimeUtc": summary.finished_at,
                        }
                    ],
                    "properties": {
                        "scope": self._header.get("scope", {}),
                        "summary": summary.to_dict(),
                    },
                }
            ],
        }
        self._stream.write(dumps(document, indent=2) + "\n")
        self._stream.flush()
