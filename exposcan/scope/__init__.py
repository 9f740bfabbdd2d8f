"""The scope: what exposcan is authorised to touch, and for how long.

A scope file (TOML) names who authorised the scan, the ticket or contract that
authorises it and the instant the authorisation expires
(:mod:`exposcan.scope.authorisation`), then the addresses, networks and hostnames to
include, those to exclude, and the DICOM and web ports that may be probed
(DESIGN.md, principle 1 and "Scope file").

Security rules enforced here:

* every decision is made on the address a connection reaches, not on the text
  as written (:mod:`exposcan.scope.entries` and :mod:`exposcan.scope.reach` list
  each special form and what is done with it: ``0.0.0.0``, ``::``, multicast,
  broadcast, IPv4-mapped, NAT64, 6to4, zone ids, inet_aton shorthand, CIDRs with
  host bits, ``/0``);
* hostnames (in the scope and on the command line) are resolved once, first,
  and every address they resolve to is checked; the scan then connects to those
  addresses, never to the name (so an answer that changes later cannot widen it);
* excludes always win, against the reached address;
* a command-line target must lie wholly inside the scope's includes;
* a scope must list at least one port (DICOM or web);
* an expired authorisation refuses before any name is resolved.

Target expansion is interval arithmetic (:mod:`exposcan.scope.targets`). Every error
is a :class:`~exposcan.errors.UserError` whose message is one line naming the
problem, the offending value and the scope file.

The package's modules, in the order a scan uses them: :mod:`~exposcan.scope.file`
(the TOML, with :mod:`~exposcan.scope.authorisation` and :mod:`~exposcan.scope.ports`),
:mod:`~exposcan.scope.entries` and :mod:`~exposcan.scope.reach` (what an entry means
and reaches), :mod:`~exposcan.scope.resolve` (names, includes, excludes and targets
into a :class:`TargetSet`), :mod:`~exposcan.scope.targets` and
:mod:`~exposcan.scope.shards` (walking and splitting it).
"""

from __future__ import annotations

from exposcan.scope.authorisation import Authorisation
from exposcan.scope.file import DEFAULT_PORTS, DEFAULT_WEB_PORTS, Scope, load_scope, parse_scope
from exposcan.scope.ports import parse_port_list, select_ports
from exposcan.scope.resolve import Resolver, default_resolver, resolve_targets
from exposcan.scope.targets import Host, TargetSet

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
