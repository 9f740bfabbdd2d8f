"""CSV: one row per endpoint, flat columns a spreadsheet can sort, written as produced.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula
(``=HYPERLINK(...)``, ``=cmd|...``), and a leading tab or carriage return can hide such a
start. Every text cell that begins with one of them (or with its full-width form, which
some spreadsheets fold) gets a leading single quote, as the OWASP "CSV Injection" page
advises; the csv module quotes separators, quotes and line breaks. Numbers (port, match
count, duration) and booleans are written as they are: they are ours, never negative, and
a quote would make them text. Text is cleaned once more (:mod:`exposcan.peertext`) so the
file is safe in a terminal too.
"""

from __future__ import annotations

import csv
from typing import IO, Any, Final

from exposcan import peertext
from exposcan.gating import acceptance_holds
from exposcan.identity import scan_id_of
from exposcan.results import EndpointResult
from exposcan.summary import Summary

#: Leading characters a spreadsheet reads as the start of a formula (OWASP), and their
#: full-width forms (U+FF1D, U+FF0B, U+FF0D, U+FF20).
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def cell(value: object) -> object:
    """One CSV cell: text cleaned and neutralised; numbers and booleans as they are."""
    if isinstance(value, bool | int | float) or value is None:
        return value
    text = peertext.clean(str(value), 4096)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


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
    # Later columns, after the first ones a sheet may already index by position:
    "accepted_finding_ids",
    "probed_at",
    "site",
    "scan_id",
)


class CsvWriter:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._csv = csv.writer(stream, lineterminator="\n")
        self._site = ""
        self._scan_id = ""

    def start(self, header: dict[str, Any]) -> None:
        site = header.get("site")
        self._site = site if isinstance(site, str) else ""
        self._scan_id = scan_id_of(header) or ""
        self._csv.writerow([cell(c) for c in COLUMNS])
        self._stream.flush()

    def endpoint(self, result: EndpointResult) -> None:
        fp, tls, matches = result.fingerprint, result.tls, result.matches
        row = (
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
            # accepted when the file is written (as the HTML page judges it); a lapsed
            # acceptance counts again, so it is not listed
            " ".join(f.id for f in result.findings if acceptance_holds(f)),
            result.probed_at or "",
            self._site,
            self._scan_id,
        )
        self._csv.writerow([cell(value) for value in row])
        self._stream.flush()

    def finish(self, summary: Summary) -> None:
        self._stream.flush()
