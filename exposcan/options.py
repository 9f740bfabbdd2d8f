"""Scan options: frozen, keyword-only, with defaults that are safe to run unread.

The defaults are for a clinical network whose owner has not read this file:
few connections at once, a low rate, one association at a time per host, and
short deadlines so that no device is held open.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from exposcan.dicom import uids
from exposcan.errors import OptionError
from exposcan.reach import SILENT_AFTER


@dataclass(frozen=True, kw_only=True, slots=True)
class Timeouts:
    """Deadlines in seconds. ``endpoint`` bounds one endpoint from connect to close."""

    connect: float = 3.0
    read: float = 5.0
    release: float = 2.0
    endpoint: float = 10.0

    def __post_init__(self) -> None:
        for name in ("connect", "read", "release", "endpoint"):
            value = getattr(self, name)
            if not 0 < value <= 600:
                raise OptionError(f"timeout {name} must be between 0 and 600 seconds, not {value}")


class Default(float):
    """A default value, not one a user chose: :attr:`Limits.rate_explicit` tells them apart.

    A float like any other (``Limits().rate == 20``), so a command line whose option
    defaults to ``Limits().rate`` passes it on unchanged when the option is not given,
    and a value typed or passed in (``--rate 20``, ``Limits(rate=20)``) is explicit."""

    __slots__ = ()

    def __repr__(self) -> str:
        return float.__repr__(self)


class DefaultCount(int):
    """:class:`Default` for a count (``concurrency``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return int.__repr__(self)


#: The defaults of the limits a user may set (see docs/timing.md for why these numbers).
RATE = Default(20.0)
CONCURRENCY = DefaultCount(32)
FIRST_CONTACT_RATE = Default(400.0)
FIRST_CONTACT_CONCURRENCY = 512
#: The limits whose default and a value the user chose behave apart (:meth:`Limits.chosen`).
CHOSEN = ("concurrency", "rate", "first_contact_rate")


@dataclass(frozen=True, kw_only=True, slots=True)
class Limits:
    """How hard exposcan may push. Rates count *new connections* per second.

    ``rate`` and ``concurrency`` bound the load: connections to hosts that have answered,
    and every conversation (a first contact that is answered waits for one of the
    ``concurrency`` slots and a grant of ``rate`` before its first byte). SYNs to
    addresses that have never answered take a separate budget, ``first_contact_rate``
    and ``first_contact_concurrency``, unless the user set ``rate`` or ``concurrency``:
    a value the user chose is the rate of every new connection (``rate``: the
    first-contact budget then no longer applies, unless ``first_contact_rate`` was
    chosen too) and a hard ceiling on every endpoint in flight (``concurrency``). The
    per-host limits hold for all of them.
    """

    concurrency: int = CONCURRENCY
    rate: float = RATE
    per_host_rate: float = 2.0
    per_host_concurrency: int = 1
    first_contact_rate: float = FIRST_CONTACT_RATE
    first_contact_concurrency: int = FIRST_CONTACT_CONCURRENCY

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= 10_000:
            raise OptionError(f"concurrency must be 1 to 10000, not {self.concurrency}")
        if not 1 <= self.first_contact_concurrency <= 10_000:
            value = self.first_contact_concurrency
            raise OptionError(f"first-contact concurrency must be 1 to 10000, not {value}")
        if not 1 <= self.per_host_concurrency <= 16:
            raise OptionError(
                f"per-host concurrency must be 1 to 16, not {self.per_host_concurrency}"
            )
        for name in ("rate", "per_host_rate", "first_contact_rate"):
            value = getattr(self, name)
            if not 0.01 <= value <= 100_000:
                raise OptionError(f"{name.replace('_', '-')} must be 0.01 to 100000, not {value}")

    @property
    def rate_explicit(self) -> bool:
        """The user chose ``rate``: it caps first contacts too."""
        return not isinstance(self.rate, Default)

    @property
    def first_contact_rate_explicit(self) -> bool:
        """The user chose ``first_contact_rate`` too: with a chosen ``rate``, both hold."""
        return not isinstance(self.first_contact_rate, Default)

    @property
    def concurrency_explicit(self) -> bool:
        """The user chose ``concurrency``: it caps every endpoint in flight."""
        return not isinstance(self.concurrency, DefaultCount)

    def chosen(self) -> tuple[str, ...]:
        """The limits among :data:`CHOSEN` the user set (the others are defaults): what
        decides whether the first-contact budget applied (see the class's docstring), so
        the report header says it (``limits.chosen``)."""
        explicit = (self.concurrency_explicit, self.rate_explicit, self.first_contact_rate_explicit)
        return tuple(name for name, chose in zip(CHOSEN, explicit, strict=True) if chose)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Limits:
        """Limits read back from a report header's ``options.limits``: the limits named
        in ``chosen`` as set by the user, the others as defaults (:class:`Default`). A
        header without ``chosen`` (written before issue 13) names none: each limit it
        holds is read as the user's, a limit it lacks as its default."""
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        for name, value in values.items():
            counted = name in ("concurrency", "per_host_concurrency", "first_contact_concurrency")
            if isinstance(value, bool) or not isinstance(value, int if counted else int | float):
                raise TypeError(f"limit {name} must be a number, not {type(value).__name__}")
        chosen = data.get("chosen", ())
        if not isinstance(chosen, list | tuple) or not all(n in CHOSEN for n in chosen):
            raise ValueError(f"limits.chosen names limits among {', '.join(CHOSEN)} only")
        if "chosen" in data:
            for name in set(CHOSEN) - set(chosen):
                if name in values:
                    default = DefaultCount if name == "concurrency" else Default
                    values[name] = default(values[name])
        return cls(**values)


@dataclass(frozen=True, kw_only=True, slots=True)
class ScanOptions:
    """What to probe and how. ``ports=None`` means the scope's own port list."""

    ports: tuple[int, ...] | None = None
    #: Web ports (HTTP/HTTPS); ``None`` means the scope's ``web_ports``.
    web_ports: tuple[int, ...] | None = None
    #: The port lists of registered probes beyond the built-ins, by the registration's
    #: name (``{"echo_ports": (7,)}``, ``--ports-for echo_ports=7``); a list not named
    #: here is the scope's. Checked against the registry by ``prepare()``.
    more_ports: Mapping[str, tuple[int, ...]] = field(default_factory=dict, hash=False)
    limits: Limits = field(default_factory=Limits)
    timeouts: Timeouts = field(default_factory=Timeouts)
    called_ae_title: str = uids.DEFAULT_CALLED_AE_TITLE
    calling_ae_title: str = uids.CALLING_AE_TITLE
    #: Associations one endpoint may cost: the first, then either a random
    #: called title (is the AE checked at all?) or stock titles when it is.
    ae_attempts: int = 6
    #: Called titles to try before the built-in stock list (``--ae-titles FILE``).
    ae_titles: tuple[str, ...] = ()
    #: Run the metadata-only C-FIND when a FIND context is accepted (``--no-find``).
    find: bool = True
    #: Stop counting matches here: C-CANCEL, then release.
    max_matches: int = 100
    #: Ports where DICOM starts with TLS (PS3.15 Annex B.1: 2762 is "dicom-tls").
    tls_ports: tuple[int, ...] = (2762,)
    #: Try each web product's documented default credentials once (off by default).
    try_default_credentials: bool = False
    #: Connect timeouts that follow the round trips the scan measures (exposcan.rtt),
    #: never above ``timeouts.connect``; False waits ``timeouts.connect`` every time.
    adaptive_timeouts: bool = True
    #: Write a host off after this many silent endpoints if it never answered anything
    #: (exposcan.reach); 0 tries every endpoint.
    silent_after: int = SILENT_AFTER

    def __post_init__(self) -> None:
        object.__setattr__(self, "more_ports", _more_ports(self.more_ports))
        for name in ("called_ae_title", "calling_ae_title"):
            _check_ae_title(name, getattr(self, name))
        for title in self.ae_titles:
            _check_ae_title("AE title", title)
        if not 1 <= self.ae_attempts <= 32:
            raise OptionError(f"AE title attempts must be 1 to 32, not {self.ae_attempts}")
        if not 0 <= self.silent_after <= 1000:
            raise OptionError(f"silent-after must be 0 to 1000, not {self.silent_after}")
        if not 1 <= self.max_matches <= 100_000:
            raise OptionError(f"--max-matches must be 1 to 100000, not {self.max_matches}")

    def requested_ports(self, name: str) -> tuple[int, ...] | None:
        """The ports asked for the port list ``name`` (None: the scope's)."""
        if name in ("ports", "web_ports"):
            requested: tuple[int, ...] | None = getattr(self, name)
            return requested
        return self.more_ports.get(name)

    def to_dict(self) -> dict[str, Any]:
        """The report header's ``options`` (every option; the extra AE titles counted,
        not named; ``limits.chosen``: which limits the user set, see :meth:`Limits.chosen`)."""
        data = asdict(self)
        data["ports"] = list(self.ports) if self.ports is not None else None
        data["web_ports"] = list(self.web_ports) if self.web_ports is not None else None
        # Written when given: a header of built-in probes only stays as it always was.
        data.pop("more_ports")
        if self.more_ports:
            data["more_ports"] = {name: list(ports) for name, ports in self.more_ports.items()}
        data["ae_titles"] = len(self.ae_titles)  # how many, not which: titles may be private
        data["limits"]["chosen"] = list(self.limits.chosen())
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScanOptions:
        """Options read back from a report header's ``options`` (:meth:`to_dict`).

        The extra AE titles were counted, not kept: they read back as none. A header
        written before an option was recorded (``adaptive_timeouts``, ``silent_after``,
        the first-contact limits, ``limits.chosen``: added with issue 13) reads back
        with that option's default; ``"first_contact_rate" in options["limits"]`` tells
        the two apart. A value out of range is an :class:`~exposcan.errors.OptionError`,
        a field of the wrong type a ``TypeError`` or ``ValueError``."""
        known = {f.name for f in fields(cls)} - {"limits", "timeouts", "ae_titles"}
        values: dict[str, Any] = {}
        for name in known & set(data):
            value = data[name]
            values[name] = tuple(value) if isinstance(value, list) else value
        return cls(
            limits=Limits.from_dict(data.get("limits") or {}),
            timeouts=Timeouts(**dict(data.get("timeouts") or {})),
            **values,
        )


def _more_ports(value: object) -> dict[str, tuple[int, ...]]:
    """``more_ports`` as a dict of port tuples, each name a port list's and each port one
    (what a header read back or a worker's wire form holds: lists)."""
    if not isinstance(value, Mapping):
        raise OptionError("more_ports maps port list names to ports")
    lists: dict[str, tuple[int, ...]] = {}
    for name, ports in value.items():
        if not isinstance(name, str) or name in ("ports", "web_ports"):
            raise OptionError(f"more_ports: {name!r} is not a probe's own port list")
        if isinstance(ports, str) or not isinstance(ports, list | tuple):
            raise OptionError(f"more_ports: {name} is not a list of ports")
        for port in ports:
            if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                raise OptionError(f"more_ports: {port!r} in {name} is not a port (1-65535)")
        lists[name] = tuple(ports)
    return lists


def _check_ae_title(name: str, value: str) -> None:
    # PS3.5 Table 6.2-1 (AE): 1-16 characters, default repertoire, no backslash
    # or control characters, not all spaces.
    if not 1 <= len(value) <= 16 or not value.strip():
        raise OptionError(f"{name.replace('_', ' ')} must be 1 to 16 characters: {value!r}")
    if any(not " " <= ch <= "~" or ch == "\\" for ch in value):
        raise OptionError(f"{name.replace('_', ' ')} has a character AE titles forbid: {value!r}")
