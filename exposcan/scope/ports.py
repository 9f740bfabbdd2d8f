"""Port lists: ``104,4242,11000-11010`` on the command line, and the selection a scan probes."""

from __future__ import annotations

import re
from typing import Final

from exposcan.errors import PortListError
from exposcan.scope.messages import show

__all__ = [
    "PortTokenError",
    "add_ports",
    "parse_port_list",
    "parse_port_token",
    "require_some",
    "select_ports",
]

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


def require_some(
    ports: tuple[int, ...],
    web_ports: tuple[int, ...],
    *,
    requested: tuple[int, ...] | None,
    requested_web: tuple[int, ...] | None,
) -> None:
    """Refuse a selection with no port at all: it would be a scan that touches nothing
    and exits 0, which reads as "nothing exposed"."""
    if ports or web_ports:
        return
    chosen = []
    if requested is not None:
        chosen.append("--ports selects none")
    if requested_web is not None:
        chosen.append("--web-ports selects none")
    how = "; ".join(chosen) or "the scope lists neither ports nor web_ports"
    raise PortListError(f"nothing to scan: no DICOM port and no web port ({how})")
