"""Scan options: frozen, keyword-only, with defaults that are safe to run unread.

The defaults are for a clinical network whose owner has not read this file:
few connections at once, a low rate, one association at a time per host, and
short deadlines so that no device is held open.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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
FIRST_CONTACT_RATE = Default(200.0)
FIRST_CONTACT_CONCURRENCY = 256


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


@dataclass(frozen=True, kw_only=True, slots=True)
class ScanOptions:
    """What to probe and how. ``ports=None`` means the scope's own port list."""

    ports: tuple[int, ...] | None = None
    #: Web ports (HTTP/HTTPS); ``None`` means the scope's ``web_ports``.
    web_ports: tuple[int, ...] | None = None
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

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ports"] = list(self.ports) if self.ports is not None else None
        data["web_ports"] = list(self.web_ports) if self.web_ports is not None else None
        data["ae_titles"] = len(self.ae_titles)  # how many, not which: titles may be private
        # Not in the report's schema (yet): the header keeps the fields it has always had.
        for name in _NOT_IN_HEADER:
            data.pop(name, None)
        for name in _LIMITS_NOT_IN_HEADER:
            data["limits"].pop(name, None)
        return data


_NOT_IN_HEADER = ("adaptive_timeouts", "silent_after")
_LIMITS_NOT_IN_HEADER = ("first_contact_rate", "first_contact_concurrency")


def _check_ae_title(name: str, value: str) -> None:
    # PS3.5 Table 6.2-1 (AE): 1-16 characters, default repertoire, no backslash
    # or control characters, not all spaces.
    if not 1 <= len(value) <= 16 or not value.strip():
        raise OptionError(f"{name.replace('_', ' ')} must be 1 to 16 characters: {value!r}")
    if any(not " " <= ch <= "~" or ch == "\\" for ch in value):
        raise OptionError(f"{name.replace('_', ' ')} has a character AE titles forbid: {value!r}")
