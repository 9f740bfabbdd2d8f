"""Which probes a scan runs: one registration each, in the scan's order.

Like sslyze's scan-command table or zgrab2's ``RegisterModule``: a probe is a package
(its observation, its verdict, an object satisfying
:class:`~exposcan.probe.EndpointProbe`, its finding entries) plus one :func:`register`
line in :data:`PROBES` below. The engine plans, dispatches, keys resumes and counts
endpoints through the registry and names no probe.

A registration carries what its probe adds to the closed vocabularies, so no central file
is edited for it: the protocols its results name (declared in
:class:`~exposcan.vocabulary.Protocol` as the registration is made: ``Protocol(name)``,
``EndpointResult.from_dict`` and :func:`exposcan.schema.load_schema` know them from
then on) and its catalogue entries (:class:`~exposcan.rules.Rule`: id, severity, fixed
title, remediation, references), which join the registry's :attr:`Registry.catalogue`
(``exposcan.findings.CATALOGUE`` is :data:`PROBES`'s: SARIF rules, ``docs/findings.md``).
Its port list's name is the list's everywhere a user gives ports (the scope file's key,
``ScanOptions.more_ports``, ``--ports-for NAME=LIST``) and the report header's key, which
``--resume`` compares: none of those files is edited for a new probe either.

A registration is light: the probe's implementation is named by ``"module:attribute"``
and imported when a scan first has endpoints for it, so a DICOM-only scan (or reading a
report) never loads aiohttp.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from exposcan import findings
from exposcan.rules import Rule
from exposcan.vocabulary import Protocol

if TYPE_CHECKING:
    from exposcan.probe import EndpointProbe

__all__ = [
    "PORT_LIST_NAME",
    "PROBES",
    "Registration",
    "Registry",
    "SkipKey",
    "endpoint_total",
    "register",
    "skip_key",
]


@dataclass(frozen=True, slots=True, init=False)
class Registration:
    """One probe's line in the table: what it probes, how it is loaded, and what it adds
    to the vocabularies (its protocols, its finding entries)."""

    #: the resume key's kind, unique: a port listed both as a DICOM and a web port is two
    #: endpoints, one of each kind
    kind: str
    #: the name of the plan's port list whose endpoints it probes: the scope file's key,
    #: ``--ports-for NAME=``, ``ScanOptions.more_ports``' key and the report header's
    #: (``ports`` and ``web_ports`` are the built-in probes'; a new one ends ``_ports``)
    ports: str
    #: the protocol its endpoints are planned with
    planned: Protocol
    #: every protocol its results may name (the one found: ``https`` for planned ``http``)
    found: frozenset[Protocol]
    #: ``"module:attribute"``, imported on first use, or the probe itself
    load: str | EndpointProbe[Any]
    #: the catalogue entries of every finding its verdicts make
    findings: tuple[Rule, ...]

    def __init__(
        self,
        kind: str,
        ports: str,
        planned: str,
        found: Iterable[str],
        load: str | EndpointProbe[Any],
        findings: Iterable[Rule] = (),
    ) -> None:
        """``planned`` and ``found``: built-in protocols or new names, declared here
        (:meth:`~exposcan.vocabulary.Protocol.declare`), so the probe's observations
        and its results read back name them as the built-ins' do."""
        if isinstance(found, str):  # a str is an iterable of one-letter names
            raise TypeError(f"probe {kind!r}: found is a set of protocol names, not one")
        if not isinstance(ports, str) or not PORT_LIST_NAME.fullmatch(ports):
            # a header key beside "targets" and "hosts": the suffix keeps it off theirs
            raise ValueError(
                f"probe {kind!r}: {ports!r} cannot name a port list (a name ending in _ports)"
            )
        set_ = object.__setattr__  # frozen: construction is the one moment to set fields
        set_(self, "kind", kind)
        set_(self, "ports", ports)
        set_(self, "planned", Protocol.declare(planned))
        set_(self, "found", frozenset(Protocol.declare(p) for p in found))
        set_(self, "load", load)
        set_(self, "findings", tuple(findings))

    def probe(self) -> EndpointProbe[Any]:
        if not isinstance(self.load, str):
            return self.load
        module, _, name = self.load.partition(":")
        probe: EndpointProbe[Any] = getattr(importlib.import_module(module), name)
        return probe


class Registry:
    """Registrations in the order a scan probes them (every host on one port, then the
    next port; one registration's ports, then the next's)."""

    def __init__(self, *registrations: Registration, catalogue: Iterable[Rule] = ()) -> None:
        """``catalogue``: entries held before any registration's, in the order the
        catalogue lists them (:data:`PROBES`: the built-in table's, the order of
        ``docs/findings.md`` and of SARIF's rules)."""
        self._all: list[Registration] = []
        self._catalogue: dict[str, Rule] = {}
        self._add_rules(catalogue, "the catalogue")
        for registration in registrations:
            self.register(registration)

    def register(self, registration: Registration) -> Registration:
        """Add a probe, its protocols and its finding entries, or raise ValueError (and
        add nothing) if any of them is another probe's."""
        if registration.planned not in registration.found:
            raise ValueError(f"probe {registration.kind!r}: found must include planned")
        for other in self._all:
            if other.kind == registration.kind:
                raise ValueError(f"probe {registration.kind!r} is already registered")
            if other.ports == registration.ports:
                raise ValueError(f"port list {registration.ports!r} already has a probe")
            if other.found & registration.found:
                raise ValueError(f"probe {registration.kind!r}: a protocol of {other.kind!r}")
        self._add_rules(registration.findings, f"probe {registration.kind!r}")
        self._all.append(registration)
        return registration

    def _add_rules(self, rules: Iterable[Rule], whose: str) -> None:
        # One rule per id: an id two probes share (TLS's) is the one entry object, never
        # a second severity or remediation; checked in full before anything is added.
        added: dict[str, Rule] = {}
        for rule in rules:
            held = self._catalogue.get(rule.id, added.get(rule.id))
            if held is not None and held != rule:
                raise ValueError(f"{whose}: finding {rule.id!r} is catalogued otherwise")
            added[rule.id] = rule
        for rule_id, rule in added.items():
            self._catalogue.setdefault(rule_id, rule)

    @property
    def catalogue(self) -> Mapping[str, Rule]:
        """Every finding entry of the registry, by id, in the order they were added."""
        return MappingProxyType(self._catalogue)

    def protocols(self) -> tuple[Protocol, ...]:
        """Every protocol its probes' results may name, in the vocabulary's order."""
        found = {p for r in self._all for p in r.found}
        return tuple(p for p in Protocol.known() if p in found)

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

    def port_lists(self) -> tuple[str, ...]:
        """The names of its probes' port lists, in the scan's order."""
        return tuple(r.ports for r in self._all)

    def ports_of(self, kind: str) -> str:
        """The port list (report header key) of the probe of this kind."""
        for registration in self._all:
            if registration.kind == kind:
                return registration.ports
        raise KeyError(f"no probe registered of kind {kind!r}")


#: What a port list may be called: ``ports``, or lower-case words ending in ``_ports``.
PORT_LIST_NAME = re.compile(r"(?:[a-z][a-z0-9_-]{0,30}_)?ports")


def endpoint_total(
    hosts: int, port_lists: Mapping[str, tuple[int, ...]], probes: Registry | None = None
) -> int:
    """How many endpoints a plan covers: every host on every port of every probe. The one
    count the plan, its header, the size checks and the engine's progress all use."""
    registry = PROBES if probes is None else probes
    return hosts * sum(len(port_lists.get(r.ports, ())) for r in registry)


def _catalogued(*prefixes: str) -> tuple[Rule, ...]:
    """The built-in table's entries a built-in probe brings (the TLS ones: both)."""
    return tuple(e for e in findings.BUILT_IN if e.id.startswith(prefixes))


PROBES = Registry(catalogue=findings.BUILT_IN)
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
        findings=_catalogued("web-", "tls-"),
    )
)
register(
    Registration(
        "dicom",
        ports="ports",
        planned=Protocol.DIMSE,
        found=frozenset({Protocol.DIMSE, Protocol.DIMSE_TLS}),
        load="exposcan.probes.dimse:PROBE",
        findings=_catalogued("dicom-", "tls-"),
    )
)


SkipKey = tuple[str, int, str]


def skip_key(host: str, port: int, protocol: Protocol | str) -> SkipKey:
    """How a finished endpoint is recognised on resume: host, port and the kind of the
    probe whose results name ``protocol`` (``dicom``, ``web``: the registry's), so a port
    listed both as a DICOM and as a web port is two endpoints, not one. Here, not in the
    engine: ``--resume`` and :func:`exposcan.read_report` read reports without loading it."""
    return (host, port, PROBES.kind_of(protocol))
