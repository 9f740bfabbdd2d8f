"""The scope: what exposcan is authorised to touch, and for how long.

A scope file (TOML) names who authorised the scan, the ticket or contract that
authorises it and the instant the authorisation expires
(:mod:`exposcan.authorisation`), then the addresses, networks and hostnames to
include, those to exclude, and the DICOM and web ports that may be probed
(DESIGN.md, principle 1 and "Scope file").

Security rules enforced here:

* every decision is made on the address a connection reaches, not on the text
  as written (:mod:`exposcan.addresses` lists each special form and what is done
  with it: ``0.0.0.0``, ``::``, multicast, broadcast, IPv4-mapped, NAT64, 6to4,
  zone ids, inet_aton shorthand, CIDRs with host bits, ``/0``);
* hostnames (in the scope and on the command line) are resolved once, first,
  and every address they resolve to is checked; the scan then connects to those
  addresses, never to the name (so an answer that changes later cannot widen it);
* excludes always win, against the reached address;
* a command-line target must lie wholly inside the scope's includes;
* a scope must list at least one port (DICOM or web);
* an expired authorisation refuses before any name is resolved.

Target expansion is interval arithmetic (:mod:`exposcan.targets`). Every error
is a :class:`~exposcan.errors.UserError` whose message is one line naming the
problem, the offending value and the scope file.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import ipaddress
import json
import os
import socket
import tomllib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from exposcan.addresses import (
    Address,
    Entry,
    EntryError,
    Piece,
    Unreachable,
    address_text,
    exclude_pieces,
    parse_answer,
    parse_entry,
    reach,
)
from exposcan.authorisation import Authorisation, parse_authorisation
from exposcan.errors import OutOfScopeError, ScopeError, UserError
from exposcan.files import show_path
from exposcan.messages import reject_unknown, show, type_name
from exposcan.ports import parse_port_list, select_ports
from exposcan.targets import Host, Interval, TargetSet, first_outside, merge, subtract

__all__ = [
    "DEFAULT_PORTS",
    "DEFAULT_WEB_PORTS",
    "Authorisation",
    "Host",
    "Resolver",
    "Scope",
    "TargetSet",
    "default_resolver",
    "load_scope",
    "parse_port_list",
    "parse_scope",
    "resolve_targets",
    "select_ports",
]

DEFAULT_PORTS: Final[tuple[int, ...]] = (104, 11112, 4242, 2761, 2762)
DEFAULT_WEB_PORTS: Final[tuple[int, ...]] = ()

#: A scope file larger than this is refused rather than read (DESIGN.md, principle 5).
MAX_SCOPE_FILE_BYTES: Final = 4 * 1024 * 1024
#: How many hostnames are resolved at the same time.
_RESOLVE_CONCURRENCY: Final = 16

_SCOPE_KEYS: Final = ("include", "exclude", "ports", "web_ports")
_TOP_KEYS: Final = ("authorisation", "scope")

Resolver = Callable[[str], Awaitable[Sequence[str]]]
"""Turns a hostname into address strings (IPv4 or IPv6, any order)."""

_IP_OBJECTS: Final = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
)


# --------------------------------------------------------------------------- scope


@dataclass(frozen=True, kw_only=True)
class Scope:
    """A parsed scope file. Build one with :func:`load_scope` or :func:`parse_scope`.

    ``digest`` is computed from the content (authorisation, include, exclude,
    ports, web_ports), so comments and formatting do not change it.
    """

    authorisation: Authorisation
    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    ports: tuple[int, ...] = DEFAULT_PORTS
    web_ports: tuple[int, ...] = DEFAULT_WEB_PORTS
    source: str = "<string>"
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", show_path(self.source))
        for name in ("include", "exclude", "ports", "web_ports"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        canonical = json.dumps(
            self._content(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        object.__setattr__(self, "digest", f"sha256:{digest}")

    def _content(self) -> dict[str, Any]:
        return {
            "authorisation": self.authorisation.to_dict(),
            "include": list(self.include),
            "exclude": list(self.exclude),
            "ports": list(self.ports),
            "web_ports": list(self.web_ports),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: dates as ISO strings, tuples as lists."""
        return {"source": self.source, "digest": self.digest, **self._content()}


def load_scope(path: str | os.PathLike[str]) -> Scope:
    """Read and parse a scope file. Does not check expiry (see :func:`resolve_targets`)."""
    source = os.fspath(path)
    from exposcan.files import FileProblem, read_regular, show_path

    try:  # a regular file only: a FIFO would block open() and ignore SIGINT
        data = read_regular(source, limit=MAX_SCOPE_FILE_BYTES)
    except FileProblem as exc:
        raise ScopeError(f"cannot read scope file {show_path(source)}: {exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScopeError(
            f"scope file {source} is not UTF-8 text (bad byte at offset {exc.start})"
        ) from None
    return parse_scope(text, source=source)


def parse_scope(text: str, *, source: str = "<string>") -> Scope:
    """Parse the text of a scope file. Does not check expiry (see :func:`resolve_targets`)."""
    source = show_path(source)  # every message names it: one line, whatever the path holds
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        detail = " ".join(str(exc).split())
        raise ScopeError(f"scope file {source} is not valid TOML: {detail}") from None
    except RecursionError:  # tomllib recurses per nested array or inline table
        raise ScopeError(f"scope file {source} is nested too deeply to be a scope") from None

    reject_unknown(document, _TOP_KEYS, "at top level", source)
    authorisation = parse_authorisation(document.get("authorisation"), source)

    section = document.get("scope")
    if section is None:
        raise ScopeError(
            f"scope file {source} has no [scope] section: list what may be scanned in "
            "[scope] include"
        )
    if not isinstance(section, dict):
        raise ScopeError(
            f"[scope] of scope file {source} must be a table, not {type_name(section)}"
        )
    reject_unknown(section, _SCOPE_KEYS, "in [scope]", source)

    if "include" not in section:
        raise ScopeError(
            f"scope file {source} has no [scope] include: list the addresses, networks or "
            "hostnames you are authorised to scan"
        )
    include = _parse_entries(section["include"], "include", source)
    if not include:
        raise ScopeError(
            f"[scope] include of scope file {source} is empty: list the addresses, networks "
            "or hostnames you are authorised to scan"
        )
    for entry in include:  # a literal that reaches no scannable host fails here, early
        if not entry.is_hostname:
            _reach_literal(entry, f"{entry.text} in include of scope file {source}", ScopeError)
    exclude = _parse_entries(section.get("exclude", []), "exclude", source)
    ports = _parse_ports(section.get("ports", list(DEFAULT_PORTS)), "ports", source)
    web_ports = _parse_ports(section.get("web_ports", list(DEFAULT_WEB_PORTS)), "web_ports", source)
    if not ports and not web_ports:
        raise ScopeError(
            f"scope file {source} lists no port: [scope] ports (DICOM) and web_ports are both "
            "empty, so a scan would touch nothing"
        )

    return Scope(
        authorisation=authorisation,
        include=tuple(entry.text for entry in include),
        exclude=tuple(entry.text for entry in exclude),
        ports=ports,
        web_ports=web_ports,
        source=source,
    )


def _parse_ports(value: object, key: str, source: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise ScopeError(
            f"[scope] {key} of scope file {source} must be a list of port numbers, "
            f"not {type_name(value)}"
        )
    ports: dict[int, None] = {}
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int):
            raise ScopeError(
                f"bad port {show(item)} in {key} of scope file {source} "
                f"({type_name(item)}, not a port number)"
            )
        if not 1 <= item <= 65535:
            raise ScopeError(f"bad port {item} in {key} of scope file {source} (ports are 1-65535)")
        ports[item] = None  # keeps the file's order, drops repeats
    return tuple(ports)


def _entry_message(exc: EntryError, text: object, key: str, source: str) -> str:
    base = f"{exc.kind} {show(text)} in {key} of scope file {source}"
    return f"{base}: it {exc.why}" if exc.why else base


def _parse_entries(value: object, key: str, source: str) -> list[Entry]:
    if not isinstance(value, list):
        raise ScopeError(
            f"[scope] {key} of scope file {source} must be a list of strings, "
            f"not {type_name(value)}"
        )
    entries = []
    for item in value:
        if not isinstance(item, str):
            raise ScopeError(
                f"bad entry {show(item)} in {key} of scope file {source} "
                f"({type_name(item)}, not a string)"
            )
        try:
            entries.append(parse_entry(item))
        except EntryError as exc:
            raise ScopeError(_entry_message(exc, item, key, source)) from None
    return entries


# --------------------------------------------------------------------------- reached addresses


_SINKHOLE_HINT: Final = " (a DNS sinkhole answers a blocked name so)"


def _reach_literal(entry: Entry, subject: str, error: type[UserError]) -> list[Piece]:
    """The pieces a written address or CIDR reaches, or ``error`` naming why not."""
    try:
        return reach(entry.version, entry.start, entry.stop)
    except Unreachable as exc:
        if entry.is_single and exc.address == entry.text:
            raise error(f"{subject} is {exc.reason}") from None
        raise error(f"{subject} reaches {exc.address}, {exc.reason}") from None


def _reach_answer(address: Address, subject: str, error: type[UserError]) -> list[Piece]:
    """The piece a resolved address reaches, or ``error`` naming why not."""
    value = int(address)
    try:
        return reach(address.version, value, value + 1)
    except Unreachable as exc:
        shown = address_text(address.version, value)
        written = shown if exc.address == shown else f"{shown} (that is {exc.address})"
        hint = _SINKHOLE_HINT if exc.value == 0 else ""
        raise error(f"{subject} resolves to {written}, {exc.reason}{hint}") from None


# --------------------------------------------------------------------------- resolution


async def default_resolver(hostname: str) -> list[str]:
    """Resolve ``hostname`` to every IPv4 and IPv6 address, deduplicated, in order.

    A link-local answer keeps its zone id (``fe80::1%eth0``), so that the scope can
    name it when it refuses it."""
    if hostname.rstrip(".").lower().rsplit(".", 1)[-1] == "invalid":
        # RFC 6761 §6.4: never resolves; answered here, so no query leaves the machine.
        raise ScopeError(f"hostname {hostname!r} does not resolve (.invalid is reserved)")
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(hostname, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ScopeError(f"hostname {hostname!r} does not resolve ({reason})") from None
    addresses: dict[str, None] = {}
    for family, _type, _proto, _canon, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6) and isinstance(sockaddr[0], str):
            addresses[sockaddr[0]] = None
    if not addresses:
        raise ScopeError(f"hostname {hostname!r} does not resolve (no addresses)")
    return list(addresses)


class _Resolved:
    """Intervals of a group of entries, with which entry each came from."""

    def __init__(self) -> None:
        self.v4: list[tuple[int, int, str]] = []
        self.v6: list[tuple[int, int, str]] = []

    def add(self, pieces: Iterable[Piece], text: str) -> None:
        for version, start, stop in pieces:
            (self.v4 if version == 4 else self.v6).append((start, stop, text))

    def family(self, version: int) -> list[Interval]:
        return merge((s, e) for s, e, _ in (self.v4 if version == 4 else self.v6))

    def name_of(self, version: int, value: int) -> str:
        for start, stop, text in self.v4 if version == 4 else self.v6:
            if start <= value < stop:
                return text
        return "?"


async def _resolve_names(
    names: Iterable[str], resolver: Resolver
) -> dict[str, list[Address] | Exception]:
    """Resolve each distinct name once; per name, its addresses or the error it caused."""
    unique = list(dict.fromkeys(names))
    if not unique:
        return {}
    limit = asyncio.Semaphore(_RESOLVE_CONCURRENCY)

    async def one(name: str) -> list[Address]:
        async with limit:
            answers = await resolver(name)
        if isinstance(answers, str):
            answers = [answers]
        addresses = []
        for answer in answers:
            try:
                addresses.append(parse_answer(str(answer)))
            except ValueError:
                raise ScopeError(
                    f"hostname {name!r} resolved to {show(answer)}, which is not an address"
                ) from None
        if not addresses:
            raise ScopeError(f"hostname {name!r} does not resolve (no addresses)")
        return addresses

    results = await asyncio.gather(*(one(name) for name in unique), return_exceptions=True)
    resolved: dict[str, list[Address] | Exception] = {}
    for name, result in zip(unique, results, strict=True):
        if isinstance(result, Exception):
            resolved[name] = result
        elif isinstance(result, BaseException):
            raise result
        else:
            resolved[name] = result
    return resolved


def _resolution_failure(name: str, exc: Exception) -> str:
    """One line saying why ``name`` did not resolve."""
    if isinstance(exc, UserError):
        text = " ".join(str(exc).split())
        if text:
            return text
    detail = " ".join(str(exc).split())
    detail = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return f"hostname {name!r} does not resolve ({detail})"


def _target_entries(targets: Sequence[object] | str | None) -> list[tuple[str, Entry]]:
    if isinstance(targets, str):
        targets = (targets,)
    parsed: list[tuple[str, Entry]] = []
    for target in targets or ():
        if isinstance(target, _IP_OBJECTS):  # tolerated from library callers
            target = str(target)
        if not isinstance(target, str):
            raise OutOfScopeError(f"target {show(target)} is not an address, CIDR or hostname")
        try:
            parsed.append((target, parse_entry(target)))
        except EntryError as exc:
            if exc.why:
                raise OutOfScopeError(f"target {show(target)} {exc.why}") from None
            raise OutOfScopeError(
                f"target {show(target)} is not an address, CIDR or hostname"
            ) from None
    return parsed


async def resolve_targets(
    scope: Scope,
    targets: Sequence[str] | None = None,
    *,
    resolver: Resolver | None = None,
    now: datetime.datetime | None = None,
) -> TargetSet:
    """The hosts to probe: the whole scope, or the given targets, minus the excludes.

    Checks the authorisation's expiry (at ``now``, default the wall clock) before
    resolving any name. Every address is judged as the address a connection
    reaches (:mod:`exposcan.addresses`). Each target (address, CIDR or hostname)
    must lie wholly inside the scope's includes, or :class:`OutOfScopeError` is
    raised; excluded parts of a target are dropped, and a target that is wholly
    excluded is refused.
    """
    scope.authorisation.check(now)
    if resolver is None:
        resolver = default_resolver
    source = scope.source

    def entries(texts: Iterable[str], key: str) -> list[Entry]:
        parsed = []
        for text in texts:
            try:
                parsed.append(parse_entry(text))
            except EntryError as exc:
                raise ScopeError(_entry_message(exc, text, key, source)) from None
        return parsed

    include = entries(scope.include, "include")
    exclude = entries(scope.exclude, "exclude")
    if not include:
        raise ScopeError(f"[scope] include of scope file {source} is empty")
    target_entries = _target_entries(targets)

    names = [e.text for e in (*include, *exclude) if e.is_hostname]
    names += [e.text for _, e in target_entries if e.is_hostname]
    resolved = await _resolve_names(names, resolver)

    def addresses_of(name: str, key: str) -> list[Address]:
        result = resolved[name]
        if isinstance(result, Exception):
            reason = _resolution_failure(name, result)
            if key == "target":
                raise OutOfScopeError(f"target {name!r} cannot be checked: {reason}") from None
            raise ScopeError(f"{reason} (in {key} of scope file {source})") from None
        return result

    labels: dict[tuple[int, int], str] = {}
    included = _Resolved()
    for entry in include:
        if entry.is_hostname:
            subject = f"hostname {entry.text!r} in include of scope file {source}"
            for address in addresses_of(entry.text, "include"):
                reached = _reach_answer(address, subject, ScopeError)
                included.add(reached, entry.text)
                labels.setdefault(reached[0][:2], entry.text)
        else:
            subject = f"{entry.text} in include of scope file {source}"
            included.add(_reach_literal(entry, subject, ScopeError), entry.text)

    excluded = _Resolved()  # excludes take every form: excluding more is always safe
    for entry in exclude:
        if entry.is_hostname:
            for address in addresses_of(entry.text, "exclude"):
                value = int(address)
                excluded.add(exclude_pieces(address.version, value, value + 1), entry.text)
        else:
            excluded.add(exclude_pieces(entry.version, entry.start, entry.stop), entry.text)

    include_by_family = {4: included.family(4), 6: included.family(6)}
    exclude_by_family = {4: excluded.family(4), 6: excluded.family(6)}

    if not target_entries:
        result = TargetSet(
            subtract(include_by_family[4], exclude_by_family[4]),
            subtract(include_by_family[6], exclude_by_family[6]),
            labels,
        )
        if not result:
            raise ScopeError(f"scope file {source} leaves no address to scan after its excludes")
        return result

    wanted: dict[int, list[Interval]] = {4: [], 6: []}
    target_labels: dict[tuple[int, int], str] = {}
    for target, entry in target_entries:
        pieces: list[Piece] = []
        if entry.is_hostname:
            for address in addresses_of(entry.text, "target"):
                reached = _reach_answer(address, f"target {target!r}", OutOfScopeError)
                pieces.extend(reached)
                target_labels.setdefault(reached[0][:2], entry.text)
        else:
            pieces.extend(_reach_literal(entry, f"target {entry.text}", OutOfScopeError))

        kept = 0
        for version, start, stop in pieces:
            outside = first_outside(include_by_family[version], start, stop)
            if outside is not None:
                where = address_text(version, outside)
                if entry.is_hostname:
                    problem = f"target {target!r} resolves to {where}, which"
                elif entry.is_single and where == entry.text:
                    problem = f"target {entry.text}"
                else:
                    problem = f"target {entry.text} reaches {where}, which"
                raise OutOfScopeError(f"{problem} is outside the scope (scope file {source})")
            left = subtract([(start, stop)], exclude_by_family[version])
            wanted[version].extend(left)
            kept += sum(e - s for s, e in left)
        if kept == 0:
            version, start, _stop = pieces[0]
            by = excluded.name_of(version, start)
            shown = repr(target) if entry.is_hostname else entry.text
            raise OutOfScopeError(f"target {shown} is excluded by the scope ({by})")

    for key, name in labels.items():
        target_labels.setdefault(key, name)
    return TargetSet(wanted[4], wanted[6], target_labels)
