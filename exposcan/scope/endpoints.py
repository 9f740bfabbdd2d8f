"""Listed endpoints: the (host, port) pairs another tool's sweep found open, checked against
the scope and mapped to this scan's probes, to be probed instead of every host on every port.

A pair is probed by each probe whose port selection (the scan's ``ports`` for DICOM, its
``web_ports`` for the web probe: the scope's, narrowed by ``--ports``/``--web-ports``)
holds its port: the scope's port lists are part of the authorisation, so a port in
neither is not probed. Such pairs are counted as ``ignored`` (the header says how many,
and on which ports) rather than refused: an nmap sweep of every port lists ssh and the
like, which an exposcan scan has no business with. A port in both lists is two
endpoints, one of each kind, as in a grid scan.

Every host must be a literal address (nmap and masscan write addresses; a name would be
resolved again and could answer differently). Each host with a port to probe goes
through the scope exactly as a positional target does
(:func:`~exposcan.scope.resolve.resolve_targets`): one outside the scope, or excluded by
it, refuses the whole list before any packet. A host none of whose ports is probed is
never contacted, and not judged.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from exposcan.errors import OutOfScopeError, PortListError
from exposcan.probe import Endpoint
from exposcan.probes.registry import PROBES, Registration, Registry
from exposcan.scope.file import Scope
from exposcan.scope.imports import ImportedEndpoints
from exposcan.scope.messages import show
from exposcan.scope.reach import reached_address
from exposcan.scope.resolve import Resolver, resolve_targets
from exposcan.scope.targets import Host, TargetSet

__all__ = ["MAX_LISTED", "EndpointList", "Pair", "plan_endpoints"]

#: No list holds more endpoints than this (the scan's ``allow_large`` threshold).
MAX_LISTED: Final = 1 << 20
#: Service names (nmap's, masscan's) worth a hint when their port is not probed: DICOM's
#: (nmap calls 104 ``acr-nema``) and the web's.
_SERVICE_RE: Final = re.compile(r"dicom|acr-nema|https?|https?-alt|ssl/https?")
#: The header names at most this many of the ignored ports.
_SHOWN_PORTS: Final = 20

#: (host address, port), as a sweep found it open
Pair = tuple[str, int]


class EndpointList:
    """The endpoints of a listed scan, by probe kind then port then host (in a
    :class:`TargetSet`'s host order); walked in the registry's order, port-major, as a
    grid scan is. ``digest`` names the list (not the file it came from: a rerun of the
    same sweep that found the same ports is the same list, for ``--resume``)."""

    def __init__(
        self,
        endpoints: Mapping[str, Mapping[int, Iterable[Host]]],
        *,
        origin: str,
        source: str = "the endpoint list",
        ignored: int = 0,
        ignored_ports: Iterable[int] = (),
        named: Mapping[int, str] | None = None,
        lists: Sequence[str] = ("ports", "web_ports"),
    ) -> None:
        """``named``: ignored ports the sweep named a DICOM or web service (a hint only);
        ``lists``: the names of the scan's port lists (an ignored port is in none)."""

        def order(host: Host) -> tuple[int, int]:
            reached = reached_address(host.address)
            assert reached is not None  # plan_endpoints admits literal addresses only
            return reached

        self._by_kind: dict[str, dict[int, tuple[Host, ...]]] = {
            kind: {port: tuple(sorted(set(hosts), key=order)) for port, hosts in by_port.items()}
            for kind, by_port in endpoints.items()
            if by_port
        }
        self.origin = origin
        self.lists = tuple(lists)
        #: what the list is, for messages (``nmap-xml sweep.xml``)
        self.source = source
        self.ignored = ignored
        self.ignored_ports = tuple(sorted(set(ignored_ports)))
        self.named = {p: n for p, n in sorted((named or {}).items()) if p in self.ignored_ports}
        self.count = sum(len(h) for by_port in self._by_kind.values() for h in by_port.values())
        canonical = sorted(
            [host.address, port, kind]
            for kind, by_port in self._by_kind.items()
            for port, hosts in by_port.items()
            for host in hosts
        )
        text = json.dumps(canonical, separators=(",", ":"))
        self.digest = "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()

    def uses(self, registration: Registration) -> bool:
        return bool(self._by_kind.get(registration.kind))

    def total(self, probes: Registry | None = None) -> int:
        registry = PROBES if probes is None else probes
        return sum(
            len(hosts)
            for registration in registry
            for hosts in self._by_kind.get(registration.kind, {}).values()
        )

    def walk(self, probes: Registry | None = None) -> Iterator[tuple[Registration, Endpoint]]:
        for registration in PROBES if probes is None else probes:
            by_port = self._by_kind.get(registration.kind, {})
            for port in sorted(by_port):
                for host in by_port[port]:
                    yield (
                        registration,
                        Endpoint(host.address, port, registration.planned, host.hostname),
                    )

    def header(self) -> dict[str, Any]:
        """The report header's ``endpoints_from``: where the list came from and which."""
        return {
            "format": self.origin,
            "digest": self.digest,
            "endpoints": self.count,
            "ignored": self.ignored,
            "ignored_ports": list(self.ignored_ports[:_SHOWN_PORTS]),
        }

    def ignored_warning(self) -> str | None:
        """One line saying which listed endpoints are not probed, if any are not."""
        if not self.ignored:
            return None
        ports = ", ".join(map(str, self.ignored_ports[:_SHOWN_PORTS]))
        if len(self.ignored_ports) > _SHOWN_PORTS:
            ports += f" and {len(self.ignored_ports) - _SHOWN_PORTS} more"
        noun = "endpoint" if self.ignored == 1 else "endpoints"
        which = "port" if len(self.ignored_ports) == 1 else "ports"
        verb = "is" if len(self.ignored_ports) == 1 else "are"
        lists = "neither the scan's DICOM ports nor its web ports"
        if set(self.lists) - {"ports", "web_ports"}:  # a registered probe's own list too
            lists = f"none of the scan's port lists ({', '.join(self.lists)})"
        return (
            f"{self.ignored} open {noun} in {self.source} not probed: {which} {ports} {verb} in "
            f"{lists}{self._hint()}"
        )

    def _hint(self) -> str:
        if not self.named:
            return ""
        shown = ", ".join(f"{port} {name}" for port, name in list(self.named.items())[:5])
        return f" (the sweep names {shown}: list them in the scope file to probe them)"

    def __repr__(self) -> str:
        return f"<EndpointList {self.origin} count={self.count} ignored={self.ignored}>"


async def plan_endpoints(
    scope: Scope,
    pairs: Iterable[Pair] | ImportedEndpoints,
    port_lists: Mapping[str, tuple[int, ...]],
    *,
    resolver: Resolver | None = None,
    now: datetime.datetime | None = None,
    probes: Registry | None = None,
) -> tuple[TargetSet, EndpointList]:
    """Check every pair's host against the scope and map its port to the scan's probes.

    ``port_lists``: the plan's port selections by name (``ports``, ``web_ports``, a
    registered probe's own: a port goes to every probe whose list holds it).
    Raises :class:`~exposcan.errors.OutOfScopeError` for a host that is not a literal
    address or is outside the scope, :class:`~exposcan.errors.PortListError` when no pair
    is left to probe; sends nothing."""
    registry = PROBES if probes is None else probes
    origin, source = "list", "the endpoint list"
    named: dict[int, str] = {}
    if isinstance(pairs, ImportedEndpoints):
        origin, source = pairs.origin, f"{pairs.origin} {pairs.source}"
        named = {
            port: service
            for (_, port), service in zip(pairs.pairs, pairs.services, strict=False)
            if service is not None and _SERVICE_RE.fullmatch(service)
        }
    listed: dict[tuple[str, int], None] = {}  # a banner record repeats its port
    canonical: dict[object, str] = {}  # a host's every port: its address parsed once
    for number, pair in enumerate(pairs, 1):
        if number > MAX_LISTED:
            raise PortListError(f"{source} lists more than {MAX_LISTED:,} endpoints")
        address, port = _pair(pair, source, canonical)
        listed[address, port] = None
    if not listed:
        raise PortListError(f"nothing to scan: {source} lists no open TCP port")
    kinds_of = {
        port: [r.kind for r in registry if port in port_lists.get(r.ports, ())]
        for port in {port for _, port in listed}
    }
    ignored = [port for _, port in listed if not kinds_of[port]]
    # Only hosts something is sent to are judged: a sweep's ssh-only host is not probed.
    hosts = list(dict.fromkeys(address for address, port in listed if kinds_of[port]))
    targets = await resolve_targets(scope, hosts, resolver=resolver, now=now) if hosts else None
    endpoints: dict[str, dict[int, list[Host]]] = {}
    labelled = {address: Host(address, targets.hostname(address)) for address in hosts if targets}
    for address, port in listed:
        for kind in kinds_of[port]:
            endpoints.setdefault(kind, {}).setdefault(port, []).append(labelled[address])
    result = EndpointList(
        endpoints,
        origin=origin,
        source=source,
        ignored=len(ignored),
        ignored_ports=ignored,
        named=named,
        lists=tuple(port_lists),
    )
    if not result.count:
        chosen = ", ".join(
            f"{name} {','.join(map(str, ports)) or 'none'}" for name, ports in port_lists.items()
        )
        shown = ", ".join(map(str, result.ignored_ports[:10]))
        raise PortListError(
            f"nothing to scan: no open port in {source} ({shown}) is one this scan probes "
            f"({chosen}); add it to the scope file's {_lists(port_lists)} to probe it"
        )
    assert targets is not None  # some endpoint is probed, so some host was judged
    return targets, result


def _lists(port_lists: Mapping[str, tuple[int, ...]]) -> str:
    """``ports or web_ports``, with a registered probe's own lists: ``ports, web_ports or
    echo_ports``."""
    names = list(port_lists) or ["ports", "web_ports"]
    return " or ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} or {names[-1]}"


def _pair(pair: object, source: str, canonical: dict[object, str]) -> Pair:
    if not isinstance(pair, tuple | list) or len(pair) != 2:
        raise OutOfScopeError(f"endpoint {show(pair)} in {source} is not a (host, port) pair")
    address, port = pair
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise PortListError(f"endpoint {show(pair)} in {source}: {show(port)} is not a port")
    known = canonical.get(address) if isinstance(address, str) else None
    if known is not None:
        return known, port
    reached = reached_address(address) if isinstance(address, str) else None
    if reached is None:
        raise OutOfScopeError(
            f"endpoint {show(pair)} in {source}: {show(address)} is not an address a scan may "
            "connect to (listed endpoints are addresses: a name could resolve differently later)"
        )
    version, value = reached
    text = str(ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value))
    canonical[address] = text
    return text, port
