"""The accepted-risk file: findings a team has decided to live with, for a while.

Like trivy's ``.trivyignore``, but an accepted finding is never hidden: it is still
reported, in every format, carrying :class:`~exposcan.results.AcceptedRisk` (the
reason and the expiry); what acceptance changes is the gate (``--fail-on``,
:func:`exposcan.gating.failing`) and the diff's "new", which leave it out while the
acceptance holds.

The file is TOML, one ``[[accept]]`` table per decision::

    [[accept]]
    finding = "dicom-echo-unauthenticated"   # a catalogue id (exposcan.findings)
    host = "10.20.0.5"                       # an address or a CIDR; omitted: every host
    port = 104                               # omitted: every port
    reason = "Worklist bridge behind a firewall, ticket CHG-1234"
    expires = 2027-03-31                     # a date: the end of that day, UTC

``finding``, ``reason`` and ``expires`` are required. An acceptance that never expires
is how a risk is forgotten, so there is none: write the date you will look again.
``host`` must be an address or CIDR, not a name: results name endpoints by address,
and a name's addresses change.

An entry whose date has passed still marks the findings it covers (the report says
"accepted until 2026-01-31" and a reader compares; :func:`lapsed` lists them), but
the acceptance no longer holds (:func:`exposcan.gating.acceptance_holds`), so they
fail the gate again: a lapsed decision shows up in the report and the exit code, not
as a finding that silently became new.

Anything in the file that is not exactly this (an unknown key or finding id, a host
name, a quoted date, a file larger than :data:`MAX_ACCEPTED_FILE_BYTES`) is one
:class:`AcceptedRiskError` line naming the file, the entry (and its line) and why.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import ipaddress
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from exposcan.errors import UserError
from exposcan.files import FileProblem, read_regular, show_path
from exposcan.findings import CATALOGUE
from exposcan.gating import acceptance_holds
from exposcan.results import AcceptedRisk, EndpointResult, Finding
from exposcan.scope.entries import EntryError, parse_entry
from exposcan.scope.messages import show, type_name
from exposcan.summary import ScanReport

__all__ = [
    "MAX_ACCEPTED_ENTRIES",
    "MAX_ACCEPTED_FILE_BYTES",
    "AcceptedEntry",
    "AcceptedRiskError",
    "AcceptedRisks",
    "lapsed",
    "lapsed_message",
    "load_accepted",
    "parse_accepted",
]

#: A larger file is refused rather than read (DESIGN.md, principle 5).
MAX_ACCEPTED_FILE_BYTES: Final = 1024 * 1024
#: More decisions than anyone reviews; past this the file is a mistake or an attack.
MAX_ACCEPTED_ENTRIES: Final = 10_000
#: As :class:`~exposcan.results.AcceptedRisk` keeps it.
MAX_REASON_CHARS: Final = 512

_TOP_KEYS: Final = ("accept",)
_ENTRY_KEYS: Final = ("finding", "host", "port", "reason", "expires")
_HEADER_RE: Final = re.compile(r"^[ \t]*\[\[[ \t]*accept[ \t]*\]\]", re.MULTILINE)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AcceptedRiskError(UserError):
    """The accepted-risk file is missing, unreadable or holds something it must not."""


@dataclass(frozen=True, slots=True)
class AcceptedEntry:
    """One ``[[accept]]`` table: which findings it covers, why, and until when."""

    finding: str
    reason: str
    expires: datetime.date
    #: the address or CIDR as normalised (``None``: every host)
    host: str | None = None
    port: int | None = None
    #: which ``[[accept]]`` of the file, from 1, and the line it starts on if known
    number: int = 0
    line: int | None = None

    @property
    def network(self) -> Network | None:
        return None if self.host is None else _network(self.host)

    def covers(self, result: EndpointResult, finding: Finding) -> bool:
        if finding.id != self.finding:
            return False
        if self.port is not None and result.port != self.port:
            return False
        network = self.network
        if network is None:
            return True
        try:
            address = ipaddress.ip_address(result.host)
        except ValueError:
            return False
        return address.version == network.version and address in network

    def holds(self, now: datetime.datetime | None = None) -> bool:
        """Whether this acceptance holds at ``now`` (to the end of ``expires``, UTC, as
        :func:`exposcan.gating.acceptance_holds` reads the mark)."""
        until = datetime.datetime.combine(self.expires, datetime.time.max, tzinfo=datetime.UTC)
        return (now or datetime.datetime.now(datetime.UTC)) <= until

    def mark(self) -> AcceptedRisk:
        return AcceptedRisk(reason=self.reason, expires=self.expires.isoformat())

    def describe(self) -> str:
        where = self.host or "every host"
        if self.port is not None:
            where += f" port {self.port}"
        return f"{self.finding} on {where}"


@dataclass(frozen=True, slots=True)
class AcceptedRisks:
    """A parsed accepted-risk file. Build one with :func:`load_accepted` or
    :func:`parse_accepted`; apply it to results or a whole report."""

    entries: tuple[AcceptedEntry, ...] = ()
    source: str = "<string>"
    _index: Mapping[str, Sequence[AcceptedEntry]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        index: dict[str, list[AcceptedEntry]] = {}
        for entry in self.entries:
            index.setdefault(entry.finding, []).append(entry)
        object.__setattr__(self, "_index", index)  # frozen: built once, here

    def entry_for(
        self, result: EndpointResult, finding: Finding, now: datetime.datetime | None = None
    ) -> AcceptedEntry | None:
        """The entry that decides this finding: of those that cover it, one that holds
        at ``now`` before one that lapsed, then the latest expiry, then the first in the
        file."""
        best: AcceptedEntry | None = None
        best_key: tuple[bool, datetime.date] | None = None
        for entry in self._index.get(finding.id, ()):
            if not entry.covers(result, finding):
                continue
            key = (entry.holds(now), entry.expires)
            if best_key is None or key > best_key:
                best, best_key = entry, key
        return best

    def apply(
        self, results: Iterable[EndpointResult], now: datetime.datetime | None = None
    ) -> tuple[EndpointResult, ...]:
        """The results with each finding's acceptance set from this file: a covered
        finding carries its entry's reason and expiry, any other none. The file given
        now decides: an acceptance an earlier ``--accept`` wrote into a report is
        replaced, so deleting an entry takes its acceptance away."""
        out: list[EndpointResult] = []
        for result in results:
            findings = tuple(self._decide(result, finding, now) for finding in result.findings)
            if any(a is not b for a, b in zip(findings, result.findings, strict=True)):
                result = replace(result, findings=findings)
            out.append(result)
        return tuple(out)

    def apply_report(self, report: ScanReport, now: datetime.datetime | None = None) -> ScanReport:
        """The report with :meth:`apply` done to its results; header, summary and
        evidence unchanged (the summary counts findings, accepted or not)."""
        return replace(report, results=self.apply(report.results, now))

    def unmatched(self, results: Iterable[EndpointResult]) -> tuple[AcceptedEntry, ...]:
        """Entries that cover no finding of ``results``: fixed, or written wrong."""
        used: set[int] = set()
        for result in results:
            for finding in result.findings:
                for entry in self._index.get(finding.id, ()):
                    if entry.covers(result, finding):
                        used.add(entry.number)
        return tuple(e for e in self.entries if e.number not in used)

    def _decide(
        self, result: EndpointResult, finding: Finding, now: datetime.datetime | None
    ) -> Finding:
        entry = self.entry_for(result, finding, now)
        mark = entry.mark() if entry is not None else None
        if mark == finding.accepted:
            return finding
        return replace(finding, accepted=mark)


@functools.lru_cache(maxsize=1024)
def _network(text: str) -> Network:
    return ipaddress.ip_network(text)


def lapsed(
    results: Iterable[EndpointResult], now: datetime.datetime | None = None
) -> list[tuple[EndpointResult, Finding]]:
    """Findings marked accepted whose acceptance no longer holds (its date has passed):
    what a user should hear about, since they count toward ``--fail-on`` again."""
    return [
        (result, finding)
        for result in results
        for finding in result.findings
        if finding.accepted is not None and not acceptance_holds(finding, now)
    ]


def lapsed_message(pairs: Sequence[tuple[EndpointResult, Finding]]) -> str:
    """One line about what :func:`lapsed` found, for a warning: how many, the first."""
    result, finding = pairs[0]
    until = finding.accepted.expires if finding.accepted is not None else None
    first = f"{finding.id} on {result.host} port {result.port}, accepted until {until}"
    more = f" and {len(pairs) - 1} more" if len(pairs) > 1 else ""
    noun = "finding's acceptance has" if len(pairs) == 1 else "findings' acceptances have"
    return f"{len(pairs)} {noun} expired ({first}{more}); they count for --fail-on again"


def load_accepted(path: str | os.PathLike[str]) -> AcceptedRisks:
    """Read and parse an accepted-risk file; :class:`AcceptedRiskError` (one line) if it
    cannot be read or does not parse."""
    source = show_path(path)
    try:  # a regular file only: a FIFO would block open() and ignore SIGINT
        data = read_regular(path, limit=MAX_ACCEPTED_FILE_BYTES)
    except FileProblem as exc:
        raise AcceptedRiskError(f"cannot read accepted-risk file {source}: {exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AcceptedRiskError(
            f"accepted-risk file {source} is not UTF-8 text (bad byte at offset {exc.start})"
        ) from None
    return parse_accepted(text, source=source)


def parse_accepted(text: str, *, source: str = "<string>") -> AcceptedRisks:
    """Parse the text of an accepted-risk file (see the module's documentation)."""
    source = show_path(source)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        detail = " ".join(str(exc).split())
        raise AcceptedRiskError(
            f"accepted-risk file {source} is not valid TOML: {detail}"
        ) from None
    except RecursionError:
        raise AcceptedRiskError(f"accepted-risk file {source} is nested too deeply") from None
    unknown = sorted(key for key in document if key not in _TOP_KEYS)
    if unknown:
        raise AcceptedRiskError(
            f"accepted-risk file {source} holds {_unknown(unknown, _TOP_KEYS)} at top level "
            "(each decision is an [[accept]] table)"
        )
    tables = document.get("accept", [])
    if not isinstance(tables, list):
        raise AcceptedRiskError(
            f"accept in accepted-risk file {source} must be [[accept]] tables, "
            f"not {type_name(tables)}"
        )
    if len(tables) > MAX_ACCEPTED_ENTRIES:
        raise AcceptedRiskError(
            f"accepted-risk file {source} holds {len(tables)} entries (at most "
            f"{MAX_ACCEPTED_ENTRIES})"
        )
    headers = [text.count("\n", 0, m.start()) + 1 for m in _HEADER_RE.finditer(text)]
    lines: list[int | None] = list(headers) if len(headers) == len(tables) else [None] * len(tables)
    entries = tuple(
        _Entry(source, number, line).parse(table)
        for number, (table, line) in enumerate(zip(tables, lines, strict=True), start=1)
    )
    return AcceptedRisks(entries=entries, source=source)


def _unknown(keys: Sequence[str], known: Sequence[str]) -> str:
    names = ", ".join(repr(key) for key in keys)
    plural = "s" if len(keys) > 1 else ""
    hint = ""
    suggestion = difflib.get_close_matches(keys[0], known, n=1, cutoff=0.6)
    if suggestion:
        hint = f"; did you mean {suggestion[0]!r}?"
    return f"unknown key{plural} {names} (expected: {', '.join(known)}{hint})"


@dataclass(frozen=True, slots=True)
class _Entry:
    """Parses one ``[[accept]]`` table; every message names the file, entry and line."""

    source: str
    number: int
    line: int | None

    def fail(self, reason: str) -> AcceptedRiskError:
        at = f" (line {self.line})" if self.line is not None else ""
        return AcceptedRiskError(
            f"accepted-risk file {self.source} entry {self.number}{at}: {reason}"
        )

    def parse(self, table: object) -> AcceptedEntry:
        if not isinstance(table, dict):
            raise self.fail(f"must be an [[accept]] table, not {type_name(table)}")
        unknown = sorted(key for key in table if key not in _ENTRY_KEYS)
        if unknown:
            raise self.fail(_unknown(unknown, _ENTRY_KEYS))
        for key in ("finding", "reason", "expires"):
            if key not in table:
                raise self.fail(f"no {key}: {_REQUIRED[key]}")
        return AcceptedEntry(
            finding=self._finding(table["finding"]),
            reason=self._reason(table["reason"]),
            expires=self._expires(table["expires"]),
            host=self._host(table.get("host")),
            port=self._port(table.get("port")),
            number=self.number,
            line=self.line,
        )

    def _finding(self, value: object) -> str:
        if not isinstance(value, str):
            raise self.fail(f"finding must be a finding id (a string), not {type_name(value)}")
        if value not in CATALOGUE:
            close = difflib.get_close_matches(value, list(CATALOGUE), n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else " (docs/findings.md lists them)"
            raise self.fail(f"finding {show(value)} is no finding id of exposcan{hint}")
        return value

    def _reason(self, value: object) -> str:
        if not isinstance(value, str):
            raise self.fail(f"reason must be a string, not {type_name(value)}")
        text = " ".join(value.split())
        if not text:
            raise self.fail("reason is empty: say why the risk is accepted (and the ticket)")
        if not text.isprintable() or len(text) > MAX_REASON_CHARS:
            raise self.fail(
                f"reason must be printable text of at most {MAX_REASON_CHARS} characters"
            )
        return text

    def _expires(self, value: object) -> datetime.date:
        if isinstance(value, datetime.datetime):
            raise self.fail(
                f"expires must be a date ({_EXAMPLE}), not a date-time: an acceptance ends "
                "at the end of its day, UTC"
            )
        if isinstance(value, datetime.date):
            return value
        quoted = " without quotes" if isinstance(value, str) else ""
        raise self.fail(f"expires must be a date{quoted} ({_EXAMPLE}), not {type_name(value)}")

    def _host(self, value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(f"host must be an address or CIDR (a string), not {type_name(value)}")
        try:
            entry = parse_entry(value)
        except EntryError as exc:
            why = f": it {exc.why}" if exc.why else ""
            raise self.fail(f"host {show(value)} is a {exc.kind}{why}") from None
        if entry.is_hostname:
            raise self.fail(
                f"host {show(value)} is a name; write the address or CIDR "
                "(reports name endpoints by address)"
            )
        return entry.text

    def _port(self, value: object) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"port must be a port number, not {type_name(value)} {show(value)}")
        if not 1 <= value <= 65535:
            raise self.fail(f"port {value} is no port number (1-65535)")
        return value


_EXAMPLE: Final = "expires = 2027-03-31"
_REQUIRED: Final[dict[str, Any]] = {
    "finding": 'name the finding id it accepts (finding = "dicom-echo-unauthenticated")',
    "reason": 'say why the risk is accepted (reason = "... ticket CHG-1234")',
    "expires": f"every acceptance ends; write the date you will look again ({_EXAMPLE})",
}
