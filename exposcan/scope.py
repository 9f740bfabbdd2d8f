"""The scope: what exposcan is authorised to touch, and for how long.

A scope file (TOML) names who authorised the scan, the ticket or contract that
authorises it and the day the authorisation expires, then the addresses,
networks and hostnames to include, those to exclude, and the DICOM and web
ports that may be probed (DESIGN.md, principle 1 and "Scope file").

Target expansion is arithmetic on sorted, disjoint integer intervals, one list
per address family: a ``/8`` or an IPv6 ``/64`` costs one interval, not a list
of addresses, and :class:`TargetSet` yields hosts lazily.

Security rules enforced here:

* hostnames (in the scope and on the command line) are resolved first and
  every address they resolve to is checked;
* excludes always win (an exclude of an IPv4 address also excludes its
  IPv4-mapped IPv6 form ``::ffff:a.b.c.d`` and vice versa);
* a command-line target must lie wholly inside the scope's includes;
* an expired authorisation refuses before any name is resolved.

Every error is a :class:`~exposcan.errors.UserError` whose message is one line
naming the problem, the offending value and the scope file.
"""

from __future__ import annotations

import asyncio
import bisect
import datetime
import difflib
import hashlib
import ipaddress
import json
import os
import re
import socket
import tomllib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from exposcan.errors import (
    AuthorisationError,
    OutOfScopeError,
    PortListError,
    ScopeError,
    UserError,
)

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

_AUTH_KEYS: Final = ("owner", "reference", "expires")
_SCOPE_KEYS: Final = ("include", "exclude", "ports", "web_ports")
_TOP_KEYS: Final = ("authorisation", "scope")

_LABEL_RE: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_NUMERIC_DOTTED_RE: Final = re.compile(r"[0-9.]+")
_PORT_RE: Final = re.compile(r"[0-9]{1,5}")
_RANGE_RE: Final = re.compile(r"([0-9]{1,5})\s*-\s*([0-9]{1,5})")
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f]")

_V4_SIZE: Final = 1 << 32
_MAPPED_BASE: Final = 0xFFFF << 32  # ::ffff:0.0.0.0

Resolver = Callable[[str], Awaitable[Sequence[str]]]
"""Turns a hostname into address strings (IPv4 or IPv6, any order)."""

_Interval = tuple[int, int]  # half-open [start, stop)
_IP_OBJECTS: Final = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
)


def _show(value: object, limit: int = 80) -> str:
    """A short, one-line repr of a user-supplied value for an error message."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def _type_name(value: object) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
        datetime.date: "a date",
        datetime.datetime: "a date-time",
        datetime.time: "a time",
    }
    return names.get(type(value), type(value).__name__)


# --------------------------------------------------------------------------- authorisation


@dataclass(frozen=True, kw_only=True, slots=True)
class Authorisation:
    """Who authorised the scan, under which reference, and until when."""

    owner: str
    reference: str
    expires: datetime.date
    #: Where this came from, for error messages; not part of equality or the digest.
    source: str = field(default="<string>", compare=False)

    def check(self, today: datetime.date | None = None) -> None:
        """Raise :class:`AuthorisationError` if the authorisation has expired.

        The authorisation is valid up to and including ``expires``.
        """
        if today is None:
            today = datetime.date.today()
        if today > self.expires:
            raise AuthorisationError(
                f"authorisation {self.reference} expired on {self.expires.isoformat()} "
                f"(scope file {self.source})"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "reference": self.reference,
            "expires": self.expires.isoformat(),
        }


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
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        detail = " ".join(str(exc).split())
        raise ScopeError(f"scope file {source} is not valid TOML: {detail}") from None

    _reject_unknown(document, _TOP_KEYS, "at top level", source)
    authorisation = _parse_authorisation(document.get("authorisation"), source)

    section = document.get("scope")
    if section is None:
        raise ScopeError(
            f"scope file {source} has no [scope] section: list what may be scanned in "
            "[scope] include"
        )
    if not isinstance(section, dict):
        raise ScopeError(
            f"[scope] of scope file {source} must be a table, not {_type_name(section)}"
        )
    _reject_unknown(section, _SCOPE_KEYS, "in [scope]", source)

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
    exclude = _parse_entries(section.get("exclude", []), "exclude", source)
    ports = _parse_ports(section.get("ports", list(DEFAULT_PORTS)), "ports", source)
    web_ports = _parse_ports(section.get("web_ports", list(DEFAULT_WEB_PORTS)), "web_ports", source)

    return Scope(
        authorisation=authorisation,
        include=tuple(entry.text for entry in include),
        exclude=tuple(entry.text for entry in exclude),
        ports=ports,
        web_ports=web_ports,
        source=source,
    )


def _reject_unknown(
    table: Mapping[str, Any], known: Sequence[str], where: str, source: str
) -> None:
    unknown = sorted(key for key in table if key not in known)
    if not unknown:
        return
    names = ", ".join(repr(key) for key in unknown)
    plural = "s" if len(unknown) > 1 else ""
    hint = ""
    suggestion = difflib.get_close_matches(unknown[0], known, n=1, cutoff=0.6)
    if suggestion:
        hint = f"; did you mean {suggestion[0]!r}?"
    expected = ", ".join(known)
    raise ScopeError(
        f"unknown key{plural} {names} {where} of scope file {source} (expected: {expected}{hint})"
    )


def _parse_authorisation(section: object, source: str) -> Authorisation:
    if section is None:
        raise AuthorisationError(
            f"scope file {source} has no [authorisation] section: say who authorised the scan "
            "(owner), under which ticket or contract (reference) and until when (expires)"
        )
    if not isinstance(section, dict):
        raise AuthorisationError(
            f"scope file {source} has no [authorisation] section: 'authorisation' is "
            f"{_type_name(section)}, not a table"
        )
    _reject_unknown(section, _AUTH_KEYS, "in [authorisation]", source)

    explain = {
        "owner": "say who authorised the scan",
        "reference": "name the ticket or contract that authorises the scan",
        "expires": "give the date after which the scan is refused, e.g. expires = 2026-12-31",
    }
    for key in _AUTH_KEYS:
        if key not in section:
            raise AuthorisationError(
                f"scope file {source} has no [authorisation] {key}: {explain[key]}"
            )

    texts: dict[str, str] = {}
    for key in ("owner", "reference"):
        value = section[key]
        if not isinstance(value, str):
            raise AuthorisationError(
                f"[authorisation] {key} of scope file {source} must be a string, "
                f"not {_type_name(value)}"
            )
        if not value.strip():
            raise AuthorisationError(
                f"scope file {source} has no [authorisation] {key}: it is empty; {explain[key]}"
            )
        if _CONTROL_RE.search(value):
            raise AuthorisationError(
                f"[authorisation] {key} of scope file {source} contains a control character: "
                f"{_show(value)}"
            )
        texts[key] = value.strip()

    expires = section["expires"]
    if isinstance(expires, datetime.datetime):
        expires = expires.date()
    elif not isinstance(expires, datetime.date):
        hint = " (write the date without quotes)" if isinstance(expires, str) else ""
        raise AuthorisationError(
            f"[authorisation] expires of scope file {source} must be a TOML date like "
            f"2026-12-31, not {_type_name(expires)} {_show(expires)}{hint}"
        )
    return Authorisation(
        owner=texts["owner"], reference=texts["reference"], expires=expires, source=source
    )


def _parse_ports(value: object, key: str, source: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise ScopeError(
            f"[scope] {key} of scope file {source} must be a list of port numbers, "
            f"not {_type_name(value)}"
        )
    ports: dict[int, None] = {}
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int):
            raise ScopeError(
                f"bad port {_show(item)} in {key} of scope file {source} "
                f"({_type_name(item)}, not a port number)"
            )
        if not 1 <= item <= 65535:
            raise ScopeError(f"bad port {item} in {key} of scope file {source} (ports are 1-65535)")
        ports[item] = None  # keeps the file's order, drops repeats
    return tuple(ports)


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True, slots=True)
class _Entry:
    """One include/exclude entry or target: a network (interval) or a hostname."""

    text: str  # normalised
    version: int = 0  # 4 or 6 for a network; 0 for a hostname
    start: int = 0
    stop: int = 0

    @property
    def is_hostname(self) -> bool:
        return self.version == 0


class _BadEntry(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _parse_entry(raw: str) -> _Entry:
    """Parse an address, a CIDR or a hostname. Raises :class:`_BadEntry`."""
    text = raw.strip()
    if not text:
        raise _BadEntry("empty entry")
    if "%" in text:  # IPv6 zone identifiers are not scope entries
        raise _BadEntry("bad address or CIDR")
    if "/" in text:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise _BadEntry("bad address or CIDR") from None
        start = int(network.network_address)
        return _Entry(str(network), network.version, start, start + network.num_addresses)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        value = int(address)
        return _Entry(str(address), address.version, value, value + 1)
    if ":" in text or _NUMERIC_DOTTED_RE.fullmatch(text):
        raise _BadEntry("bad address or CIDR")
    return _Entry(_normalise_hostname(text))


def _normalise_hostname(text: str) -> str:
    name = text[:-1] if text.endswith(".") else text
    labels = name.split(".")
    if (
        not name
        or len(name) > 253
        or not all(_LABEL_RE.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise _BadEntry("bad hostname")
    return name.lower()


def _parse_entries(value: object, key: str, source: str) -> list[_Entry]:
    if not isinstance(value, list):
        raise ScopeError(
            f"[scope] {key} of scope file {source} must be a list of strings, "
            f"not {_type_name(value)}"
        )
    entries = []
    for item in value:
        if not isinstance(item, str):
            raise ScopeError(
                f"bad entry {_show(item)} in {key} of scope file {source} "
                f"({_type_name(item)}, not a string)"
            )
        try:
            entries.append(_parse_entry(item))
        except _BadEntry as exc:
            raise ScopeError(f"{exc.kind} {_show(item)} in {key} of scope file {source}") from None
    return entries


# --------------------------------------------------------------------------- intervals


def _merge(intervals: Iterable[_Interval]) -> list[_Interval]:
    """Sort and merge overlapping or adjacent half-open intervals."""
    merged: list[_Interval] = []
    for start, stop in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if stop > merged[-1][1]:
                merged[-1] = (merged[-1][0], stop)
        else:
            merged.append((start, stop))
    return merged


def _subtract(keep: list[_Interval], drop: list[_Interval]) -> list[_Interval]:
    """``keep`` minus ``drop``; both sorted and disjoint."""
    result: list[_Interval] = []
    j = 0
    for start, stop in keep:
        while j < len(drop) and drop[j][1] <= start:
            j += 1
        k = j
        while k < len(drop) and drop[k][0] < stop:
            if drop[k][0] > start:
                result.append((start, drop[k][0]))
            start = max(start, drop[k][1])
            if start >= stop:
                break
            k += 1
        if start < stop:
            result.append((start, stop))
    return result


def _covering(starts: list[int], stops: list[int], value: int) -> int | None:
    """Index of the interval containing ``value``, if any."""
    index = bisect.bisect_right(starts, value) - 1
    if index >= 0 and value < stops[index]:
        return index
    return None


def _first_outside(intervals: list[_Interval], start: int, stop: int) -> int | None:
    """The first value of [start, stop) that no interval covers, or None if all are covered.

    ``intervals`` is merged (adjacent intervals joined), so [start, stop) is
    covered exactly when a single interval covers it.
    """
    starts = [s for s, _ in intervals]
    stops = [e for _, e in intervals]
    index = _covering(starts, stops, start)
    if index is None:
        return start
    if stop <= stops[index]:
        return None
    return stops[index]


def _address_text(version: int, value: int) -> str:
    if version == 4:
        return str(ipaddress.IPv4Address(value))
    return str(ipaddress.IPv6Address(value))


class _Family:
    """Sorted, disjoint intervals of one address family, with fast membership."""

    __slots__ = ("intervals", "starts", "stops")

    def __init__(self, intervals: Iterable[_Interval]) -> None:
        self.intervals = _merge(intervals)
        self.starts = [start for start, _ in self.intervals]
        self.stops = [stop for _, stop in self.intervals]

    def __contains__(self, value: int) -> bool:
        return _covering(self.starts, self.stops, value) is not None

    @property
    def count(self) -> int:
        return sum(stop - start for start, stop in self.intervals)


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True, slots=True)
class Host:
    """One address to probe, and the hostname it came from, if any."""

    address: str
    hostname: str | None = None


class TargetSet:
    """Lazily expandable set of hosts (never a list of every address in memory).

    Iteration yields each distinct address once: IPv4 first, then IPv6, in
    ascending order within a family. ``count`` is exact, computed by arithmetic
    (it may be far larger than ``sys.maxsize`` for IPv6, so there is no
    ``__len__``).
    """

    __slots__ = ("_labels", "_v4", "_v6", "count")

    def __init__(
        self,
        v4: Iterable[_Interval],
        v6: Iterable[_Interval],
        labels: Mapping[tuple[int, int], str] | None = None,
    ) -> None:
        self._v4 = _Family(v4)
        self._v6 = _Family(v6)
        # (version, address) -> hostname, only for addresses in the set.
        self._labels: dict[tuple[int, int], str] = {
            key: name
            for key, name in (labels or {}).items()
            if key[1] in (self._v4 if key[0] == 4 else self._v6)
        }
        self.count: int = self._v4.count + self._v6.count

    def __iter__(self) -> Iterator[Host]:
        labels = self._labels
        v4, v6 = ipaddress.IPv4Address, ipaddress.IPv6Address
        for start, stop in self._v4.intervals:
            for value in range(start, stop):
                yield Host(str(v4(value)), labels.get((4, value)))
        for start, stop in self._v6.intervals:
            for value in range(start, stop):
                yield Host(str(v6(value)), labels.get((6, value)))

    def __contains__(self, address: object) -> bool:
        if isinstance(address, str):
            if "%" in address:
                return False
            try:
                parsed: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
                    address.strip()
                )
            except ValueError:
                return False
        elif isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            parsed = address
        else:
            return False
        family = self._v4 if parsed.version == 4 else self._v6
        return int(parsed) in family

    def __bool__(self) -> bool:
        return self.count > 0

    def hostname(self, address: str) -> str | None:
        """The hostname an address in the set came from, if any."""
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return None
        return self._labels.get((parsed.version, int(parsed)))

    def intervals(self) -> Iterator[tuple[str, str]]:
        """The set as (first, last) address pairs, inclusive, in iteration order."""
        for version, family in ((4, self._v4), (6, self._v6)):
            for start, stop in family.intervals:
                yield _address_text(version, start), _address_text(version, stop - 1)

    def __repr__(self) -> str:
        return (
            f"<TargetSet count={self.count} ranges={len(self._v4.intervals)}+"
            f"{len(self._v6.intervals)}>"
        )


async def default_resolver(hostname: str) -> list[str]:
    """Resolve ``hostname`` to every IPv4 and IPv6 address, deduplicated, in order."""
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
            addresses[sockaddr[0].split("%", 1)[0]] = None
    if not addresses:
        raise ScopeError(f"hostname {hostname!r} does not resolve (no addresses)")
    return list(addresses)


class _Resolved:
    """Intervals of a group of entries, with which entry each came from."""

    def __init__(self) -> None:
        self.v4: list[tuple[int, int, str]] = []
        self.v6: list[tuple[int, int, str]] = []

    def add(self, version: int, start: int, stop: int, text: str) -> None:
        (self.v4 if version == 4 else self.v6).append((start, stop, text))

    def family(self, version: int) -> list[_Interval]:
        return _merge((s, e) for s, e, _ in (self.v4 if version == 4 else self.v6))

    def name_of(self, version: int, value: int) -> str:
        for start, stop, text in self.v4 if version == 4 else self.v6:
            if start <= value < stop:
                return text
        return "?"


def _mirror_mapped(excluded: _Resolved) -> None:
    """Make an exclude of a.b.c.d also exclude ::ffff:a.b.c.d, and the other way round."""
    for start, stop, text in list(excluded.v4):
        excluded.v6.append((_MAPPED_BASE + start, _MAPPED_BASE + stop, text))
    for start, stop, text in list(excluded.v6):
        low = max(start, _MAPPED_BASE)
        high = min(stop, _MAPPED_BASE + _V4_SIZE)
        if low < high:
            excluded.v4.append((low - _MAPPED_BASE, high - _MAPPED_BASE, text))


async def _resolve_names(
    names: Iterable[str], resolver: Resolver
) -> dict[str, list[ipaddress.IPv4Address | ipaddress.IPv6Address] | Exception]:
    """Resolve each distinct name once; per name, its addresses or the error it caused."""
    unique = list(dict.fromkeys(names))
    if not unique:
        return {}
    limit = asyncio.Semaphore(_RESOLVE_CONCURRENCY)

    async def one(name: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        async with limit:
            answers = await resolver(name)
        if isinstance(answers, str):
            answers = [answers]
        addresses = []
        for answer in answers:
            text = str(answer).split("%", 1)[0].strip()
            try:
                addresses.append(ipaddress.ip_address(text))
            except ValueError:
                raise ScopeError(
                    f"hostname {name!r} resolved to {_show(answer)}, which is not an address"
                ) from None
        if not addresses:
            raise ScopeError(f"hostname {name!r} does not resolve (no addresses)")
        return addresses

    results = await asyncio.gather(*(one(name) for name in unique), return_exceptions=True)
    resolved: dict[str, list[ipaddress.IPv4Address | ipaddress.IPv6Address] | Exception] = {}
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


async def resolve_targets(
    scope: Scope,
    targets: Sequence[str] | None = None,
    *,
    resolver: Resolver | None = None,
    today: datetime.date | None = None,
) -> TargetSet:
    """The hosts to probe: the whole scope, or the given targets, minus the excludes.

    Checks the authorisation's expiry (against ``today``, default the local
    date) before resolving any name. Each target (address, CIDR or hostname)
    must lie wholly inside the scope's includes, or :class:`OutOfScopeError`
    is raised; excluded parts of a target are dropped, and a target that is
    wholly excluded is refused.
    """
    scope.authorisation.check(today)
    if resolver is None:
        resolver = default_resolver
    source = scope.source

    def entries(texts: Iterable[str], key: str) -> list[_Entry]:
        parsed = []
        for text in texts:
            try:
                parsed.append(_parse_entry(text))
            except _BadEntry as exc:
                raise ScopeError(
                    f"{exc.kind} {_show(text)} in {key} of scope file {source}"
                ) from None
        return parsed

    include = entries(scope.include, "include")
    exclude = entries(scope.exclude, "exclude")
    if not include:
        raise ScopeError(f"[scope] include of scope file {source} is empty")

    if isinstance(targets, str):
        targets = (targets,)
    target_entries: list[tuple[str, _Entry]] = []
    for target in targets or ():
        if isinstance(target, _IP_OBJECTS):  # tolerated from library callers
            target = str(target)
        try:
            if not isinstance(target, str):
                raise _BadEntry("not a string")
            target_entries.append((target, _parse_entry(target)))
        except _BadEntry:
            raise OutOfScopeError(
                f"target {_show(target)} is not an address, CIDR or hostname"
            ) from None

    names = [e.text for e in (*include, *exclude) if e.is_hostname]
    names += [e.text for _, e in target_entries if e.is_hostname]
    resolved = await _resolve_names(names, resolver)

    def addresses_of(name: str, key: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
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
            for address in addresses_of(entry.text, "include"):
                value = int(address)
                included.add(address.version, value, value + 1, entry.text)
                labels.setdefault((address.version, value), entry.text)
        else:
            included.add(entry.version, entry.start, entry.stop, entry.text)

    excluded = _Resolved()
    for entry in exclude:
        if entry.is_hostname:
            for address in addresses_of(entry.text, "exclude"):
                value = int(address)
                excluded.add(address.version, value, value + 1, entry.text)
        else:
            excluded.add(entry.version, entry.start, entry.stop, entry.text)
    _mirror_mapped(excluded)

    include_by_family = {4: included.family(4), 6: included.family(6)}
    exclude_by_family = {4: excluded.family(4), 6: excluded.family(6)}

    if not target_entries:
        result = TargetSet(
            _subtract(include_by_family[4], exclude_by_family[4]),
            _subtract(include_by_family[6], exclude_by_family[6]),
            labels,
        )
        if not result:
            raise ScopeError(f"scope file {source} leaves no address to scan after its excludes")
        return result

    wanted: dict[int, list[_Interval]] = {4: [], 6: []}
    target_labels: dict[tuple[int, int], str] = {}
    for target, entry in target_entries:
        pieces: list[tuple[int, int, int]] = []  # (version, start, stop)
        if entry.is_hostname:
            for address in addresses_of(entry.text, "target"):
                value = int(address)
                pieces.append((address.version, value, value + 1))
                target_labels.setdefault((address.version, value), entry.text)
        else:
            pieces.append((entry.version, entry.start, entry.stop))

        kept = 0
        for version, start, stop in pieces:
            outside = _first_outside(include_by_family[version], start, stop)
            if outside is not None:
                where = _address_text(version, outside)
                if entry.is_hostname:
                    problem = f"target {target!r} resolves to {where}, which"
                elif stop - start == 1:
                    problem = f"target {entry.text}"
                else:
                    problem = f"target {entry.text} reaches {where}, which"
                raise OutOfScopeError(f"{problem} is outside the scope (scope file {source})")
            left = _subtract([(start, stop)], exclude_by_family[version])
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


# --------------------------------------------------------------------------- ports


def parse_port_list(text: str, *, option: str = "--ports") -> tuple[int, ...]:
    """Parse ``104,4242,11000-11010``: sorted, without repeats; ``""`` means no ports."""

    def bad(reason: str) -> PortListError:
        return PortListError(f"bad port list for {option}: {_show(text)} ({reason})")

    if not text.strip():
        return ()
    ports: set[int] = set()
    for raw in text.split(","):
        token = raw.strip()
        if not token:
            raise bad("empty entry")
        if _PORT_RE.fullmatch(token):
            low = high = int(token)
        elif match := _RANGE_RE.fullmatch(token):
            low, high = int(match.group(1)), int(match.group(2))
            if low > high:
                raise bad(f"range {token} is reversed")
        else:
            raise bad(f"{_show(token, 40)} is not a port or a range")
        for port in (low, high):
            if not 1 <= port <= 65535:
                raise bad(f"port {port} is not in 1-65535")
        ports.update(range(low, high + 1))
    return tuple(sorted(ports))


def select_ports(
    requested: tuple[int, ...] | None, allowed: tuple[int, ...], *, option: str
) -> tuple[int, ...]:
    """The ports to probe: ``allowed`` if none were requested, else ``requested``
    after checking that the scope lists every one of them."""
    if requested is None:
        return tuple(allowed)
    permitted = set(allowed)
    missing = [port for port in requested if port not in permitted]
    if missing:
        key = "web_ports" if "web" in option else "ports"
        listed = ", ".join(str(port) for port in allowed) or "none"
        shown = ", ".join(str(port) for port in missing[:10])
        if len(missing) > 10:
            shown += f" and {len(missing) - 10} more"
        noun = "port" if len(missing) == 1 else "ports"
        raise PortListError(
            f"{option} names {noun} {shown} which the scope does not list (scope {key}: {listed})"
        )
    return tuple(requested)
