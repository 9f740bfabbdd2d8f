"""What a scan walks: every host of a target set on every port of the plan's lists
(:class:`Grid`), or any other :class:`EndpointSource` (a list another tool found open,
:class:`~exposcan.scope.endpoints.EndpointList`), in the order the scheduler starts them:
each registered probe's ports in the registry's order, every host on one port before the
next, so consecutive probes go to different hosts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from exposcan.probe import Endpoint
from exposcan.probes.registry import PROBES, Registration, Registry, endpoint_total
from exposcan.scope import Host, TargetSet

__all__ = ["EndpointSource", "Grid", "PortLists", "iter_endpoints", "port_lists"]

#: A plan's port lists by name (``ports``, ``web_ports``): each probe takes the one its
#: registration names.
PortLists = Mapping[str, tuple[int, ...]]


def port_lists(
    ports: tuple[int, ...], web_ports: tuple[int, ...] = ()
) -> dict[str, tuple[int, ...]]:
    return {"ports": ports, "web_ports": web_ports}


def iter_endpoints(
    targets: TargetSet,
    ports: tuple[int, ...],
    web_ports: tuple[int, ...] = (),
    *,
    probes: Registry | None = None,
) -> Iterator[Endpoint]:
    """Each registered probe's ports in the registry's order (web first); every host on
    one port before the next. The protocol is the one planned (``dimse`` or ``http``);
    the probe reports the one it found (``dimse-tls``, ``https``)."""
    for registration, port in _planned_ports(port_lists(ports, web_ports), probes or PROBES):
        host: Host
        for host in targets:
            yield Endpoint(host.address, port, registration.planned, host.hostname)


def _planned_ports(lists: PortLists, probes: Registry) -> Iterator[tuple[Registration, int]]:
    for registration in probes:
        for port in lists.get(registration.ports, ()):
            yield registration, port


class EndpointSource(Protocol):
    """What a scan probes, in order (the seam between a plan and the scheduler): every host
    on every port (:class:`Grid`), or a list another tool found open
    (:class:`~exposcan.scope.endpoints.EndpointList`)."""

    def total(self, probes: Registry) -> int: ...
    def uses(self, registration: Registration) -> bool: ...
    def walk(self, probes: Registry) -> Iterator[tuple[Registration, Endpoint]]: ...


class Grid:
    """Every host of a target set on every port of the plan's lists (:func:`iter_endpoints`'
    order)."""

    def __init__(self, targets: TargetSet, lists: PortLists) -> None:
        self.targets, self.lists = targets, lists
        self._pass = -1  # the planned port the walk is on, by its index

    def total(self, probes: Registry) -> int:
        return endpoint_total(self.targets.count, self.lists, probes)

    def uses(self, registration: Registration) -> bool:
        return bool(self.lists.get(registration.ports))

    def walk(self, probes: Registry) -> Iterator[tuple[Registration, Endpoint]]:
        for index, (registration, port) in enumerate(_planned_ports(self.lists, probes)):
            self._pass = index
            host: Host
            for host in self.targets:
                yield (
                    registration,
                    Endpoint(host.address, port, registration.planned, host.hostname),
                )

    def after(
        self, registration: Registration, endpoint: Endpoint, probes: Registry
    ) -> Iterator[tuple[Registration, Endpoint]]:
        """``endpoint``'s host on the planned ports the walk has not reached yet
        (:mod:`exposcan.follow`)."""
        for index, (later, port) in enumerate(_planned_ports(self.lists, probes)):
            if index > self._pass:
                yield later, Endpoint(endpoint.host, port, later.planned, endpoint.hostname)
