"""Written entries: what an address, CIDR or hostname in a scope or on the command line means.

A scope is about hosts, so every decision is made on the address the kernel will
connect to, not on the text as written (:mod:`exposcan.scope.reach`). This module
reads the text: it parses an include, exclude or target into a network (an interval
of one address family) or a hostname, and refuses the forms that say something other
than what they seem to.

Refused as written (one line naming the value, and what to write instead):

* a CIDR with host bits set (``10.20.5.77/16``): it was silently widened before;
  the message suggests ``10.20.0.0/16`` or the one address;
* a ``/0``: every address of a family, never an authorised scope (``--allow-large``
  does not change this);
* a zone id (``fe80::1%eth0``): it names an interface of this machine, not a host;
* inet_aton shorthand that the system resolver reads as an IPv4 address (``127.1``,
  ``0x7f.0.0.1``, ``0177.0.0.1``, ``010.1.1.1`` = 8.1.1.1, ``2130706433``), an IPv4
  address with a trailing dot (the resolver would look it up as a name), and a
  bracketed IPv6 address: each is refused naming the address it stands for.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final

__all__ = [
    "V4_SIZE",
    "Entry",
    "EntryError",
    "address_text",
    "inet_aton",
    "parse_entry",
]

V4_SIZE: Final = 1 << 32

_LABEL_RE: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
#: A label glibc's inet_aton reads as a number: decimal, octal (0...) or hex (0x...).
_NUMBER_RE: Final = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
_HOST_PORT_RE: Final = re.compile(r"([^:\[\]]+|\[[^\]]*\]):([0-9]{1,5})")


class EntryError(ValueError):
    """A written entry refused: ``kind`` says what it is not, ``why`` (a predicate,
    e.g. "has host bits set; write 10.20.0.0/16") what is wrong with it."""

    def __init__(self, kind: str, why: str = "") -> None:
        super().__init__(f"{kind}: {why}" if why else kind)
        self.kind = kind
        self.why = why


@dataclass(frozen=True, slots=True)
class Entry:
    """One include/exclude entry or target: a network (interval) or a hostname."""

    text: str  # normalised
    version: int = 0  # 4 or 6 for a network; 0 for a hostname
    start: int = 0
    stop: int = 0

    @property
    def is_hostname(self) -> bool:
        return self.version == 0

    @property
    def is_single(self) -> bool:
        return self.stop - self.start == 1


def parse_entry(raw: str) -> Entry:
    """Parse an address, a CIDR or a hostname as written. Raises :class:`EntryError`."""
    text = raw.strip()
    if not text:
        raise EntryError("empty entry")
    if "%" in text:
        raise EntryError(
            "bad address or CIDR",
            f"has a zone id ({text[text.index('%') :]!r}), which names an interface of this "
            "machine, not a host",
        )
    if "/" in text:
        return _parse_network(text)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        value = int(address)
        return Entry(address_text(address.version, value), address.version, value, value + 1)
    if text.startswith("[") and text.endswith("]"):
        inner = _literal(text[1:-1])
        if inner is not None:
            raise EntryError("bad address or CIDR", f"is in brackets; write {inner}")
        raise EntryError("bad address or CIDR")
    if ":" in text:
        match = _HOST_PORT_RE.fullmatch(text)
        if match:
            raise EntryError(
                "bad address or CIDR",
                f"names a port ({match.group(2)}); ports belong in the scope's ports or --ports",
            )
        raise EntryError("bad address or CIDR")
    labels = text[:-1].split(".") if text.endswith(".") else text.split(".")
    if all(_NUMBER_RE.fullmatch(label) for label in labels):
        _refuse_numeric(text)
    return Entry(_normalise_hostname(text))


def _literal(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _parse_network(text: str) -> Entry:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise EntryError("bad address or CIDR") from None
    written = ipaddress.ip_address(text.split("/", 1)[0])
    if network.prefixlen == 0:
        raise EntryError(
            "bad CIDR", "is every address (/0); name the networks you are authorised to scan"
        )
    if int(written) != int(network.network_address):
        raise EntryError(
            "bad CIDR",
            f"has host bits set; write {network} for the network, or {written} for one address",
        )
    start = int(network.network_address)
    shown = f"{address_text(network.version, start)}/{network.prefixlen}"
    return Entry(shown, network.version, start, start + network.num_addresses)


def inet_aton(text: str) -> int | None:
    """What glibc's inet_aton (and so getaddrinfo) reads ``text`` as, or None.

    One to four parts, each decimal, octal (leading 0) or hex (0x); the last part
    fills the bytes the others leave (``127.1`` is 127.0.0.1).
    """
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        try:
            if part[:2] in ("0x", "0X"):
                values.append(int(part[2:], 16))
            elif len(part) > 1 and part.startswith("0"):
                values.append(int(part, 8))
            else:
                values.append(int(part, 10))
        except ValueError:
            return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    value = 0
    for v in head:
        value = value << 8 | v
    return value << (8 * (4 - len(head))) | last


def _refuse_numeric(text: str) -> None:
    dotted = text.endswith(".")
    value = inet_aton(text[:-1] if dotted else text)
    if value is None:
        raise EntryError("bad address or CIDR")
    address = str(ipaddress.IPv4Address(value))
    if dotted and address == text[:-1]:
        raise EntryError(
            "bad address or CIDR",
            f"has a trailing dot, so the system resolver would look it up as a name; "
            f"write {address}",
        )
    raise EntryError(
        "bad address or CIDR",
        f"is IPv4 shorthand that the system resolver reads as {address}; write {address}",
    )


def _normalise_hostname(text: str) -> str:
    name = text[:-1] if text.endswith(".") else text
    labels = name.split(".")
    if (
        not name
        or len(name) > 253
        or not all(_LABEL_RE.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise EntryError("bad hostname")
    return name.lower()


def address_text(version: int, value: int) -> str:
    """An address as text; IPv4-mapped in dotted form (``::ffff:192.0.2.1``) whatever
    the Python version (3.13 changed ``str()`` of these), so digests stay put."""
    if version == 4:
        return str(ipaddress.IPv4Address(value))
    if value >> 32 == 0xFFFF:
        return f"::ffff:{ipaddress.IPv4Address(value & (V4_SIZE - 1))}"
    return str(ipaddress.IPv6Address(value))
