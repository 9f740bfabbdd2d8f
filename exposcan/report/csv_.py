"""CSV: one row per endpoint, flat columns a spreadsheet can sort, written as produced."""

from __future__ import annotations

import csv
from typing import IO, Any

from exposcan.results import EndpointResult
from exposcan.summary import Summary

COLUMNS = (
    "host",
    "hostname",
    "port",
    "protocol",
    "status",
    "exposure",
    "severity",
    "ae_title",
    "services",
    "matches",
    "matches_cap_hit",
    "product",
    "toolkit",
    "version",
    "implementation_class_uid",
    "implementation_version_name",
    "tls_version",
    "tls_subject",
    "finding_ids",
    "top_finding",
    "duration_s",
)


class CsvWriter:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._csv = csv.writer(stream, lineterminator="\n")

    def start(self, header: dict[str, Any]) -> None:
        self._csv.writerow(COLUMNS)
        self._stream.flush()

    def endpoint(self, result: EndpointResult) -> None:
        fp, tls, matches = result.fingerprint, result.tls, result.matches
        self._csv.writerow(
            (
                result.host,
                result.hostname or "",
                result.port,
                result.protocol.value,
                result.status.value,
                result.exposure.value,
                result.severity.value,
                result.ae_title or "",
                " ".join(result.services),
                matches.count if matches else "",
                matches.cap_hit if matches else "",
                (fp.product or "") if fp else "",
                (fp.toolkit or "") if fp else "",
                (fp.version or "") if fp else "",
                (fp.implementation_class_uid or "") if fp else "",
                (fp.implementation_version_name or "") if fp else "",
                (tls.version or "") if tls else "",
                (tls.subject or "") if tls else "",
                " ".join(f.id for f in result.findings),
                result.findings[0].title if result.findings else "",
                round(result.duration_s, 3),
            )
        )
        self._stream.flush()

    def finish(self, summary: Summary) -> None:
        self._stream.flush()
