"""Targets from other tools: a target list (``-iL``), and the open ports of an nmap XML
(``-oX``) or masscan JSON (``-oJ``) sweep as the endpoints to probe.

These files are input someone else's tool wrote, possibly edited, possibly hostile:
each is read bounded in size, as a regular file (or stdin for a target list), and
anything wrong is one :class:`TargetFileError` line naming the file (and the line, for
a target list). Nothing read here is trusted with a decision: a target list's entries
and an import's addresses go through the scope exactly as command-line targets do
(:func:`~exposcan.scope.resolve.resolve_targets`,
:func:`~exposcan.scope.endpoints.plan_endpoints`).

nmap XML is parsed with :mod:`xml.etree.ElementTree` only after the text has been
checked to hold no DTD beyond nmap's own bare ``<!DOCTYPE nmaprun>``: no internal
subset, so no entity (the "billion laughs" expansion) and no external reference, and
nothing is ever fetched or resolved (expat, as Python configures it, fetches nothing;
the processing instruction naming nmap's stylesheet is ignored).
"""

from __future__ import annotations

import json
import os
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, Final

from exposcan.errors import UserError
from exposcan.files import FileProblem, read_regular, show_path
from exposcan.scope.entries import EntryError, parse_entry
from exposcan.scope.messages import show

__all__ = [
    "MAX_IMPORT_BYTES",
    "MAX_TARGET_LIST_BYTES",
    "ImportedEndpoints",
    "TargetFileError",
    "read_masscan_json",
    "read_nmap_xml",
    "read_target_list",
]

#: A target list larger than this is refused (a /8 is one line: lists are short).
MAX_TARGET_LIST_BYTES: Final = 4 * 1024 * 1024
#: An nmap or masscan file larger than this is refused rather than read into memory
#: (a full-port nmap sweep of a /16 with a few open ports a host stays well below).
MAX_IMPORT_BYTES: Final = 64 * 1024 * 1024

NMAP_XML: Final = "nmap-xml"
MASSCAN_JSON: Final = "masscan-json"


class TargetFileError(UserError):
    """A target list, nmap XML or masscan JSON file that cannot be read or is malformed."""


@dataclass(frozen=True, slots=True)
class ImportedEndpoints:
    """The open TCP ports another tool's file lists: ``pairs`` of (address, port), with the
    service name the tool guessed where it gave one (for messages only: which probe takes
    a port is the scan's port selection's decision, :mod:`exposcan.scope.endpoints`)."""

    origin: str
    source: str
    pairs: tuple[tuple[str, int], ...]
    services: tuple[str | None, ...] = ()

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)


def _read(path: str | os.PathLike[str], what: str, limit: int, stdin: IO[bytes] | None) -> bytes:
    name = os.fspath(path)
    if name == "-" and stdin is not None:
        data = stdin.read(limit + 1)
        if len(data) > limit:
            raise TargetFileError(f"{what} on stdin is larger than {limit} bytes")
        return data
    try:
        return read_regular(name, limit=limit)
    except FileProblem as exc:
        raise TargetFileError(f"cannot read {what} {show_path(name)}: {exc}") from None


def _text(data: bytes, what: str, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TargetFileError(
            f"{what} {name} is not UTF-8 text (bad byte at offset {exc.start})"
        ) from None


# ---------------------------------------------------------------------------- -iL


def read_target_list(path: str | os.PathLike[str], *, stdin: IO[bytes] | None = None) -> list[str]:
    """The targets of a list file, one a line (an address, CIDR or hostname, as
    ``TARGET`` arguments take them); ``#`` starts a comment, blank lines are skipped.
    ``-`` reads ``stdin`` (default: the process's). Each entry is checked for form only;
    the scope decides whether it may be scanned."""
    if os.fspath(path) == "-" and stdin is None:
        stdin = sys.stdin.buffer
    name = "stdin" if os.fspath(path) == "-" else show_path(path)
    data = _read(path, "target list", MAX_TARGET_LIST_BYTES, stdin)
    text = _text(data, "target list", name)
    targets: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        try:
            parse_entry(entry)
        except EntryError as exc:
            why = exc.why or "is not an address, CIDR or hostname"
            raise TargetFileError(
                f"target list {name} line {number}: {show(entry)} {why}"
            ) from None
        targets.append(entry)
    return targets


# ---------------------------------------------------------------------------- nmap XML

_DOCTYPE_RE: Final = re.compile(r"<!DOCTYPE", re.IGNORECASE)
#: nmap's own: the root's name and nothing else (no internal subset, no SYSTEM/PUBLIC id)
_NMAP_DOCTYPE_RE: Final = re.compile(r"<!DOCTYPE\s+nmaprun\s*>")
_ENCODING_RE: Final = re.compile(r"""^\s*<\?xml[^>]*\bencoding\s*=\s*["']([^"']*)["']""")


def _check_dtd(text: str, name: str) -> None:
    if re.search(r"<!ENTITY", text, re.IGNORECASE):
        raise TargetFileError(f"nmap XML {name} declares an entity: refused (not nmap's output)")
    doctypes = _DOCTYPE_RE.findall(text)
    if len(doctypes) > 1 or (doctypes and not _NMAP_DOCTYPE_RE.search(text)):
        raise TargetFileError(
            f"nmap XML {name} has a document type other than nmap's bare <!DOCTYPE nmaprun>: "
            "refused (an internal subset or external reference is never read)"
        )
    declared = _ENCODING_RE.match(text)
    if declared and declared.group(1).lower().replace("_", "-") not in ("utf-8", "us-ascii"):
        # The checks above read the text as UTF-8; the parser must read the same text.
        raise TargetFileError(
            f"nmap XML {name} declares encoding {show(declared.group(1))}: nmap writes UTF-8"
        )


def read_nmap_xml(path: str | os.PathLike[str]) -> ImportedEndpoints:
    """The open TCP ports of an nmap ``-oX`` file, as (address, port) pairs."""
    name = show_path(path)
    data = _read(path, "nmap XML", MAX_IMPORT_BYTES, None)
    text = _text(data, "nmap XML", name)
    _check_dtd(text, name)
    try:
        # S314: no DTD but nmap's bare one was let through (_check_dtd), and expat fetches nothing
        root = ET.fromstring(data)  # noqa: S314
    except ET.ParseError as exc:
        line, column = exc.position
        raise TargetFileError(
            f"nmap XML {name} is not well-formed XML (line {line}, column {column})"
        ) from None
    if root.tag != "nmaprun":
        raise TargetFileError(
            f"nmap XML {name} is not nmap's XML output: its root is {show(root.tag, 40)}, "
            "not nmaprun (write it with nmap -oX)"
        )
    pairs: list[tuple[str, int]] = []
    services: list[str | None] = []
    for host in root.iter("host"):
        address = next(
            (
                a.get("addr")
                for a in host.findall("address")
                if a.get("addrtype") in ("ipv4", "ipv6") and a.get("addr")
            ),
            None,
        )
        for port in host.findall("ports/port"):
            state = port.find("state")
            if port.get("protocol") != "tcp" or state is None or state.get("state") != "open":
                continue
            if address is None:
                raise TargetFileError(f"nmap XML {name}: a host with an open port has no address")
            pairs.append((address, _port(port.get("portid"), f"nmap XML {name}")))
            service = port.find("service")
            services.append(service.get("name") if service is not None else None)
    return ImportedEndpoints(NMAP_XML, name, tuple(pairs), tuple(services))


def _port(value: object, where: str) -> int:
    number = int(value) if isinstance(value, str) and value.isdigit() and len(value) <= 5 else value
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 65535:
        raise TargetFileError(f"{where}: port {show(value, 40)} is not a port number")
    return number


# ---------------------------------------------------------------------------- masscan

#: masscan before 1.3 left a comma after the last record, before the closing bracket
_TRAILING_COMMA_RE: Final = re.compile(r",\s*\]\s*$")


def read_masscan_json(path: str | os.PathLike[str]) -> ImportedEndpoints:
    """The open TCP ports of a masscan ``-oJ`` file (a JSON list, with the trailing comma
    and ``{"finished": 1}`` record older versions write) or ``-oD`` (a record a line)."""
    name = show_path(path)
    where = f"masscan JSON {name}"
    data = _read(path, "masscan JSON", MAX_IMPORT_BYTES, None)
    text = _text(data, "masscan JSON", name).strip()
    try:
        if text.startswith("["):
            records = json.loads(_TRAILING_COMMA_RE.sub("]", text))
        else:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise TargetFileError(
            f"{where} is not masscan's JSON output (line {exc.lineno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise TargetFileError(f"{where} is nested too deeply to be masscan's output") from None
    pairs: list[tuple[str, int]] = []
    services: list[str | None] = []
    for index, record in enumerate(records, 1):
        if not isinstance(record, dict):
            raise TargetFileError(f"{where}: record {index} is not an object")
        if "ip" not in record and "finished" in record:
            continue  # the end marker
        address, ports = record.get("ip"), record.get("ports")
        if not isinstance(address, str) or not isinstance(ports, list):
            raise TargetFileError(f"{where}: record {index} has no ip and ports")
        for port in ports:
            if isinstance(port, dict) and _open_tcp(port):
                pairs.append((address, _port(port.get("port"), f"{where} record {index}")))
                service = port.get("service")
                services.append(_service_name(service))
    return ImportedEndpoints(MASSCAN_JSON, name, tuple(pairs), tuple(services))


def _open_tcp(port: dict[str, Any]) -> bool:
    # A banner record (--banners) has a service and no status: its port answered.
    status = port.get("status")
    return port.get("proto") == "tcp" and (
        status == "open" or (status is None and "service" in port)
    )


def _service_name(service: object) -> str | None:
    name = service.get("name") if isinstance(service, dict) else None
    return name if isinstance(name, str) else None
