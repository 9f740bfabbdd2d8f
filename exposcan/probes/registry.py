"""Which probes a scan runs: one registration each, in the scan's order.

Like sslyze's scan-command table or zgrab2's ``RegisterModule``: a probe is a package
(its observation, its verdict, an object satisfying
:class:`~exposcan.probe.EndpointProbe`) plus one :func:`register` line in
:data:`PROBES` below. The engine plans, dispatches, keys resumes and counts endpoints
through the registry and names no probe.

A registration is light: the probe's implementation is named by ``"module:attribute"``
and imported when a scan first has endpoints for it, so a DICOM-only scan (or reading a
report) never loads aiohttp.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exposcan.vocabulary import Protocol

if TYPE_CHECKING:
    from exposcan.probe import EndpointProbe

__all__ = [
    "PROBES",
    "Registration",
    "Registry",
    "SkipKey",
    "endpoint_total",
    "register",
    "skip_key",
]


@dataclass(frozen=True, slots=True)
class Registration:
    #: the resume key's kind, unique: a port listed both as a DICOM and a web port is two
    #: endpoints, one of each kind
    kind: str
    #: the plan's port list (and the report header's key) whose endpoints it probes
    ports: str
    #: the protocol its endpoints are planned with
    planned: Protocol
    #: every protocol its results may name (the one found: ``https`` for planned ``http``)
    found: frozenset[Protocol]
    #: ``"module:attribute"``, imported on first use, or the probe itself
    load: str | EndpointProbe[Any]

    def probe(self) -> EndpointProbe[Any]:
        if not isinstance(self.load, str):
            return self.load
        module, _, name = self.load.partition(":")
        probe: EndpointProbe[Any] = getattr(importlib.import_module(module), name)
        return probe


class Registry:
    """Registrations in the order a scan probes them (every host on one port, then the
    next port; one registration's ports, then the next's)."""

    def __init__(self, *registrations: Registration) -> None:
        self._all: list[Registration] = []
        for registration in registrations:
            self.register(registration)

    def register(self, registration: Registration) -> Registration:
        if registration.planned not in registration.found:
            raise ValueError(f"probe {registration.kind!r}: found must include planned")
        for other in self._all:
            if other.kind == registration.kind:
                raise ValueError(f"probe {registration.kind!r} is already registered")
            if other.ports == registration.ports:
                raise ValueError(f"port list {registration.ports!r} already has a probe")
            if other.found & registration.found:
                raise ValueError(f"probe {registration.kind!r}: a protocol of {other.kind!r}")
        self._all.append(registration)
        return registration

    def __iter__(self) -> Iterator[Registration]:
        return iter(tuple(self._all))

    def for_protocol(self, protocol: Protocol | str) -> Registration:
        """The probe whose endpoints are planned with, or whose results name, ``protocol``."""
        for registration in self._all:
            if protocol in registration.found:
                return registration
        raise KeyError(f"no probe registered for protocol {str(protocol)!r}")

    def kind_of(self, protocol: Protocol | str) -> str:
        return self.for_protocol(protocol).kind

    def ports_of(self, kind: str) -> str:
        """The port list (report header key) of the probe of this kind."""
        for registration in self._all:
            if registration.kind == kind:
                return registration.ports
        raise KeyError(f"no probe registered of kind {kind!r}")


def endpoint_total(
    hosts: int, port_lists: Mapping[str, tuple[int, ...]], probes: Registry | None = None
) -> int:
    """How many endpoints a plan covers: every host on every port of every probe. The one
    count the plan, its header, the size checks and the engine's progress all use."""
    registry = PROBES if probes is None else probes
    return hosts * sum(len(port_lists.get(r.ports, ())) for r in registry)


PROBES = Registry()
register = PROBES.register

# The scan's order is this table's. Web first: a product's web API may name the product
# behind one of its host's DICOM ports (Orthanc's /system gives its DicomPort), which the
# DICOM port's own identity hides.
register(
    Registration(
        "web",
        ports="web_ports",
        planned=Protocol.HTTP,
        found=frozenset({Protocol.HTTP, Protocol.HTTPS}),
        load="exposcan.probes.web.seam:PROBE",
    )
)
register(
    Registration(
        "dicom",
        ports="ports",
        planned=Protocol.DIMSE,
        found=frozenset({Protocol.DIMSE, Protocol.DIMSE_TLS}),
        load="exposcan.probes.dimse:PROBE",
    )
)


SkipKey = tuple[str, int, str]


def skip_key(host: str, port: int, protocol: Protocol | str) -> SkipKey:
    """How a finished endpoint is recognised on resume: host, port and the kind of the
    probe whose results name ``protocol`` (``dicom``, ``web``: the registry's), so a port
    listed both as a DICOM and as a web port is two endpoints, not one. Here, not in the
    engine: ``--resume`` and :func:`exposcan.read_report` read reports without loading it."""
    return (host, port, PROBES.kind_of(protocol))
