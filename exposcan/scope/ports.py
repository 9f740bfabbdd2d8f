"""Port lists: ``104,4242,11000-11010`` on the command line, and the selection a scan probes.

A scan has one port list per registered probe, by the name its registration gives
(:attr:`~exposcan.probes.registry.Registration.ports`): ``ports`` (DICOM) and
``web_ports`` built in, any other a registered probe's own (``echo_ports``). Each is
the scope file's key of that name, narrowed by ``--ports``, ``--web-ports`` or
``--ports-for NAME=LIST`` (``ScanOptions.ports``, ``web_ports``, ``more_ports``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from exposcan.errors import OptionError, PortListError
from exposcan.scope.messages import show

__all__ = [
    "BUILT_IN_LISTS",
    "PortTokenError",
    "add_ports",
    "check_list_names",
    "option_for",
    "parse_port_list",
    "parse_port_token",
    "require_some",
    "select_lists",
    "select_ports",
]

#: The built-in probes' port lists and the options that narrow them; any other list is
#: narrowed by ``--ports-for NAME=LIST``.
BUILT_IN_LISTS: Final = {"ports": "--ports", "web_ports": "--web-ports"}

_PORT_RE: Final = re.compile(r"[0-9]{1,5}")
_RANGE_RE: Final = re.compile(r"([0-9]{1,5})\s*-\s*([0-9]{1,5})")


class PortTokenError(ValueError):
    """Why one entry of a port list is not a port or a range (the reason only)."""


def parse_port_token(token: str) -> range:
    """One entry, ``104`` or ``11000-11010``, as the ports it names; :class:`PortTokenError`
    (with the reason) otherwise. A range is bounded by the port space (1-65535), so no
    entry names more than 65,535 ports."""
    token = token.strip()
    if not token:
        raise PortTokenError("empty entry")
    if _PORT_RE.fullmatch(token):
        low = high = int(token)
    elif match := _RANGE_RE.fullmatch(token):
        low, high = int(match.group(1)), int(match.group(2))
        if low > high:
            raise PortTokenError(f"range {token} is reversed")
    else:
        raise PortTokenError(f"{show(token, 40)} is not a port or a range")
    for port in (low, high):
        if not 1 <= port <= 65535:
            raise PortTokenError(f"port {port} is not in 1-65535")
    return range(low, high + 1)


def add_ports(ports: dict[int, None], named: range) -> None:
    """Add ``named`` to ``ports`` in order, without repeats; once every port is in, adding is
    free (a list of many wide ranges costs no more than one)."""
    if len(ports) < 65535:
        ports.update(dict.fromkeys(named))


def parse_port_list(text: str, *, option: str = "--ports") -> tuple[int, ...]:
    """Parse ``104,4242,11000-11010``: sorted, without repeats; ``""`` means no ports."""
    if not text.strip():
        return ()
    ports: dict[int, None] = {}
    for raw in text.split(","):
        try:
            add_ports(ports, parse_port_token(raw))
        except PortTokenError as exc:
            raise PortListError(f"bad port list for {option}: {show(text)} ({exc})") from None
    return tuple(sorted(ports))


def option_for(name: str) -> str:
    """The command-line option that narrows the port list ``name``."""
    return BUILT_IN_LISTS.get(name, f"--ports-for {name}")


def check_list_names(given: Iterable[str], known: Sequence[str], *, option: str) -> None:
    """Refuse a port list no registered probe takes (one line: ``option`` and the names
    the scan's probes do take)."""
    for name in given:
        if name not in known:
            raise OptionError(
                f"{option}: no registered probe takes a port list named {show(name, 40)} "
                f"(port lists: {', '.join(known)})"
            )


def select_ports(
    requested: tuple[int, ...] | None,
    allowed: tuple[int, ...],
    *,
    option: str,
    key: str | None = None,
) -> tuple[int, ...]:
    """The ports to probe: ``allowed`` if none were requested, else ``requested``
    after checking that the scope lists every one of them (the scope file's ``key``)."""
    if requested is None:
        return tuple(allowed)
    permitted = set(allowed)
    missing = [port for port in requested if port not in permitted]
    if missing:
        key = key or ("web_ports" if "web" in option else "ports")
        listed = ", ".join(str(port) for port in allowed) or "none"
        shown = ", ".join(str(port) for port in missing[:10])
        if len(missing) > 10:
            shown += f" and {len(missing) - 10} more"
        noun = "port" if len(missing) == 1 else "ports"
        raise PortListError(
            f"{option} names {noun} {shown} which the scope does not list (scope {key}: {listed})"
        )
    return tuple(requested)


def select_lists(
    names: Sequence[str],
    requested: Mapping[str, tuple[int, ...] | None],
    allowed: Mapping[str, tuple[int, ...]],
) -> dict[str, tuple[int, ...]]:
    """Every port list of a scan, by name in ``names``' order (:func:`select_ports` on
    each: ``requested`` missing or None means the scope's); refused when all are empty."""
    selected = {
        name: select_ports(
            requested.get(name), allowed.get(name, ()), option=option_for(name), key=name
        )
        for name in names
    }
    require_some(selected, requested)
    return selected


def require_some(
    selected: Mapping[str, tuple[int, ...]], requested: Mapping[str, tuple[int, ...] | None]
) -> None:
    """Refuse a selection with no port at all: it would be a scan that touches nothing
    and exits 0, which reads as "nothing exposed"."""
    if any(selected.values()):
        return
    chosen = [
        f"{option_for(name)} selects none" for name in selected if requested.get(name) is not None
    ]
    more = [name for name in selected if name not in BUILT_IN_LISTS]
    if more:
        lists = ", ".join(selected)
        how = "; ".join(chosen) or f"the scope lists none of {lists}"
        what = f"no DICOM port, no web port and none in {', '.join(more)}"
    else:
        how = "; ".join(chosen) or "the scope lists neither ports nor web_ports"
        what = "no DICOM port and no web port"
    raise PortListError(f"nothing to scan: {what} ({how})")
