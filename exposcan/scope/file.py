"""The scope file: its TOML read into a :class:`Scope`, every value checked.

A scope file names who authorised the scan, the ticket or contract that
authorises it and the instant the authorisation expires
(:mod:`exposcan.scope.authorisation`), then the addresses, networks and hostnames
to include, those to exclude, and the DICOM and web ports that may be probed
(DESIGN.md, principle 1 and "Scope file"): ``ports``, ``web_ports``, and a key for each
port list a registered probe of its own takes (``echo_ports``: the registration's
``ports``), none of them probed unless the file lists them. Parsing resolves no name and does not
check expiry: :func:`exposcan.scope.resolve.resolve_targets` does both.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from exposcan.errors import ScopeError
from exposcan.files import show_path
from exposcan.scope.authorisation import Authorisation, parse_authorisation
from exposcan.scope.entries import Entry, EntryError, parse_entry
from exposcan.scope.messages import reject_unknown, show, type_name
from exposcan.scope.ports import PortTokenError, add_ports, parse_port_token
from exposcan.scope.reach import reach_literal

if TYPE_CHECKING:
    from exposcan.probes.registry import Registry

__all__ = [
    "DEFAULT_PORTS",
    "DEFAULT_WEB_PORTS",
    "MAX_SCOPE_FILE_BYTES",
    "Scope",
    "entry_message",
    "load_scope",
    "parse_scope",
]

DEFAULT_PORTS: Final[tuple[int, ...]] = (104, 11112, 4242, 2761, 2762)
DEFAULT_WEB_PORTS: Final[tuple[int, ...]] = ()

#: A scope file larger than this is refused rather than read (DESIGN.md, principle 5).
MAX_SCOPE_FILE_BYTES: Final = 4 * 1024 * 1024

_SCOPE_KEYS: Final = ("include", "exclude", "ports", "web_ports", "site")
#: A site or client label (an MSP's client, a hospital's campus) is a name, not a document.
MAX_SITE_CHARS: Final = 64
_TOP_KEYS: Final = ("authorisation", "scope")


@dataclass(frozen=True, kw_only=True)
class Scope:
    """A parsed scope file. Build one with :func:`load_scope` or :func:`parse_scope`.

    ``digest`` is computed from the content (authorisation, include, exclude,
    ports, web_ports, any other port list it holds), so comments and formatting do not
    change it.
    """

    authorisation: Authorisation
    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    ports: tuple[int, ...] = DEFAULT_PORTS
    web_ports: tuple[int, ...] = DEFAULT_WEB_PORTS
    #: the port lists of registered probes beyond the built-ins', by the registration's
    #: name (``[scope] echo_ports``); a list not named here holds no port
    more_ports: Mapping[str, tuple[int, ...]] = field(default_factory=dict, hash=False)
    #: ``[scope] site``: the site or client label every record and report carries
    site: str | None = None
    source: str = "<string>"
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", show_path(self.source))
        for name in ("include", "exclude", "ports", "web_ports"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        object.__setattr__(
            self, "more_ports", {name: tuple(ports) for name, ports in self.more_ports.items()}
        )
        canonical = json.dumps(
            self._content(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        object.__setattr__(self, "digest", f"sha256:{digest}")

    def _content(self) -> dict[str, Any]:
        content: dict[str, Any] = {
            "authorisation": self.authorisation.to_dict(),
            "include": list(self.include),
            "exclude": list(self.exclude),
            "ports": list(self.ports),
            "web_ports": list(self.web_ports),
        }
        for name, ports in sorted(self.more_ports.items()):
            if ports:  # an empty list holds what an absent one does: the digest stays
                content[name] = list(ports)
        if self.site is not None:  # a scope without one keeps the digest it always had
            content["site"] = self.site
        return content

    def port_list(self, name: str) -> tuple[int, ...]:
        """The ports the scope lets the port list ``name`` probe (``ports``, ``web_ports``
        or a registered probe's own; none for a list the file does not name)."""
        if name in ("ports", "web_ports"):
            ports: tuple[int, ...] = getattr(self, name)
            return ports
        return self.more_ports.get(name, ())

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


def parse_scope(text: str, *, source: str = "<string>", probes: Registry | None = None) -> Scope:
    """Parse the text of a scope file. Does not check expiry (see :func:`resolve_targets`).

    ``probes``: the registry whose probes' port lists the file may name
    (:data:`~exposcan.probes.registry.PROBES` unless given)."""
    from exposcan.probes.registry import PROBES

    more = [name for name in (probes or PROBES).port_lists() if name not in _SCOPE_KEYS]
    source = show_path(source)  # every message names it: one line, whatever the path holds
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        detail = " ".join(str(exc).split())
        raise ScopeError(f"scope file {source} is not valid TOML: {detail}") from None
    except RecursionError:  # tomllib recurses per nested array or inline table
        raise ScopeError(f"scope file {source} is nested too deeply to be a scope") from None

    reject_unknown(document, _TOP_KEYS, "at top level", source)
    authorisation = parse_authorisation(document.get("authorisation"), source)

    section = document.get("scope")
    if section is None:
        raise ScopeError(
            f"scope file {source} has no [scope] section: list what may be scanned in "
            "[scope] include"
        )
    if not isinstance(section, dict):
        raise ScopeError(
            f"[scope] of scope file {source} must be a table, not {type_name(section)}"
        )
    reject_unknown(section, (*_SCOPE_KEYS, *more), "in [scope]", source)

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
    for entry in include:  # a literal that reaches no scannable host fails here, early
        if not entry.is_hostname:
            reach_literal(entry, f"{entry.text} in include of scope file {source}", ScopeError)
    exclude = _parse_entries(section.get("exclude", []), "exclude", source)
    ports = _parse_ports(section.get("ports", list(DEFAULT_PORTS)), "ports", source)
    web_ports = _parse_ports(section.get("web_ports", list(DEFAULT_WEB_PORTS)), "web_ports", source)
    more_ports = {name: _parse_ports(section.get(name, []), name, source) for name in more}
    if not ports and not web_ports and not any(more_ports.values()):
        lists = f", web_ports and {', '.join(more)} are all" if more else " and web_ports are both"
        raise ScopeError(
            f"scope file {source} lists no port: [scope] ports (DICOM){lists} "
            "empty, so a scan would touch nothing"
        )

    return Scope(
        authorisation=authorisation,
        include=tuple(entry.text for entry in include),
        exclude=tuple(entry.text for entry in exclude),
        ports=ports,
        web_ports=web_ports,
        more_ports=more_ports,
        site=_parse_site(section.get("site"), source),
        source=source,
    )


def _parse_site(value: object, source: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ScopeError(
            f"[scope] site of scope file {source} must be a string, not {type_name(value)}"
        )
    text = " ".join(value.split())
    if not text or not text.isprintable() or len(text) > MAX_SITE_CHARS:
        raise ScopeError(
            f"[scope] site of scope file {source} must be a printable label of 1 to "
            f"{MAX_SITE_CHARS} characters"
        )
    return text


def _parse_ports(value: object, key: str, source: str) -> tuple[int, ...]:
    """Port numbers, or strings as ``--ports`` takes them (``"11112"``, ``"4242-4250"``, a
    comma list): bounded by the port space like ``--ports``, in the file's order."""
    if not isinstance(value, list):
        raise ScopeError(
            f"[scope] {key} of scope file {source} must be a list of port numbers or ranges, "
            f"not {type_name(value)}"
        )
    ports: dict[int, None] = {}
    for item in value:
        if isinstance(item, str):
            try:
                for token in item.split(","):
                    add_ports(ports, parse_port_token(token))
            except PortTokenError as exc:
                raise ScopeError(
                    f"bad port {show(item)} in {key} of scope file {source} ({exc})"
                ) from None
            continue
        if isinstance(item, bool) or not isinstance(item, int):
            raise ScopeError(
                f"bad port {show(item)} in {key} of scope file {source} "
                f'({type_name(item)}, not a port number or a range like "4242-4250")'
            )
        if not 1 <= item <= 65535:
            raise ScopeError(f"bad port {item} in {key} of scope file {source} (ports are 1-65535)")
        ports[item] = None  # keeps the file's order, drops repeats
    return tuple(ports)


def entry_message(exc: EntryError, text: object, key: str, source: str) -> str:
    base = f"{exc.kind} {show(text)} in {key} of scope file {source}"
    return f"{base}: it {exc.why}" if exc.why else base


def _parse_entries(value: object, key: str, source: str) -> list[Entry]:
    if not isinstance(value, list):
        raise ScopeError(
            f"[scope] {key} of scope file {source} must be a list of strings, "
            f"not {type_name(value)}"
        )
    entries = []
    for item in value:
        if not isinstance(item, str):
            raise ScopeError(
                f"bad entry {show(item)} in {key} of scope file {source} "
                f"({type_name(item)}, not a string)"
            )
        try:
            entries.append(parse_entry(item))
        except EntryError as exc:
            raise ScopeError(entry_message(exc, item, key, source)) from None
    return entries
