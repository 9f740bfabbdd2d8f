"""Resolution: a scope's names, includes and excludes, and the targets asked for,
into the :class:`~exposcan.scope.targets.TargetSet` a scan probes.

Hostnames (in the scope and on the command line) are resolved once, first, and
every address they resolve to is checked; the scan then connects to those
addresses, never to the name, so an answer that changes later cannot widen it.
Excludes always win, against the reached address (:mod:`exposcan.scope.reach`),
and a target must lie wholly inside the includes.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Final

from exposcan.errors import OutOfScopeError, ScopeError, UserError
from exposcan.scope.entries import Entry, EntryError, address_text, parse_entry
from exposcan.scope.file import Scope, entry_message
from exposcan.scope.messages import show
from exposcan.scope.reach import (
    Address,
    Piece,
    exclude_pieces,
    parse_answer,
    reach_answer,
    reach_literal,
)
from exposcan.scope.targets import Interval, TargetSet, first_outside, merge, subtract

__all__ = ["Resolver", "default_resolver", "resolve_targets"]

#: How many hostnames are resolved at the same time.
_RESOLVE_CONCURRENCY: Final = 16

Resolver = Callable[[str], Awaitable[Sequence[str]]]
"""Turns a hostname into address strings (IPv4 or IPv6, any order)."""

_IP_OBJECTS: Final = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
)


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
    reaches (:mod:`exposcan.scope.reach`). Each target (address, CIDR or hostname)
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
                raise ScopeError(entry_message(exc, text, key, source)) from None
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
                reached = reach_answer(address, subject, ScopeError)
                included.add(reached, entry.text)
                labels.setdefault(reached[0][:2], entry.text)
        else:
            subject = f"{entry.text} in include of scope file {source}"
            included.add(reach_literal(entry, subject, ScopeError), entry.text)

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
                reached = reach_answer(address, f"target {target!r}", OutOfScopeError)
                pieces.extend(reached)
                target_labels.setdefault(reached[0][:2], entry.text)
        else:
            pieces.extend(reach_literal(entry, f"target {entry.text}", OutOfScopeError))

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
