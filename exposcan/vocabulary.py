"""The closed vocabularies of exposcan's results (see DESIGN.md, "Vocabulary").

Every enum is ``str``-valued so that a result serialises as itself in JSON,
CSV and SARIF without a translation table.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Status(StrEnum):
    """How the conversation with one endpoint ended."""

    SUCCESS = "success"
    CONNECTION_REFUSED = "connection-refused"
    CONNECTION_TIMEOUT = "connection-timeout"
    IO_TIMEOUT = "io-timeout"
    CONNECTION_CLOSED = "connection-closed"
    PROTOCOL_ERROR = "protocol-error"
    TLS_ERROR = "tls-error"
    OUT_OF_SCOPE = "out-of-scope"
    ERROR = "error"
    #: Not probed: its host never answered and was silent on its first endpoints
    #: (exposcan.reach).
    HOST_SILENT = "host-silent"


class _Ranked(StrEnum):
    """A str enum ordered by declaration, and only against its own members.

    ``StrEnum`` inherits str's ordering, alphabetical (``"high" < "medium"``), and a
    comparison with a plain str falls back to it (``Exposure.STORE >= "query"`` was
    True). A level is compared with a level: anything else raises ``TypeError`` at once
    rather than returning an answer that reads right and is wrong.
    """

    @property
    def rank(self) -> int:
        return type(self)._member_names_.index(self._name_)

    def _rank_against(self, other: object, op: str) -> int:
        if type(other) is not type(self):
            raise TypeError(
                f"'{op}' not supported between {type(self).__name__} and {type(other).__name__}"
            )
        assert isinstance(other, _Ranked)
        return other.rank

    def __lt__(self, other: object) -> bool:
        return self.rank < self._rank_against(other, "<")

    def __le__(self, other: object) -> bool:
        return self.rank <= self._rank_against(other, "<=")

    def __gt__(self, other: object) -> bool:
        return self.rank > self._rank_against(other, ">")

    def __ge__(self, other: object) -> bool:
        return self.rank >= self._rank_against(other, ">=")


class Severity(_Ranked):
    """How much a finding matters, lowest first."""

    NONE = "none"
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Exposure(_Ranked):
    """How far a stranger got. Ordered: an endpoint's level is the highest reached."""

    NONE = "none"
    PROTECTED = "protected"
    ECHO = "echo"
    STORE = "store"
    QUERY = "query"

    @property
    def severity(self) -> Severity:
        return _EXPOSURE_SEVERITY[self]


_EXPOSURE_SEVERITY = {
    Exposure.NONE: Severity.NONE,
    Exposure.PROTECTED: Severity.INFO,
    Exposure.ECHO: Severity.MEDIUM,
    Exposure.STORE: Severity.HIGH,
    Exposure.QUERY: Severity.CRITICAL,
}


class Protocol(StrEnum):
    """What an endpoint's result speaks: the built-in probes' protocols below, and those a
    registered probe brings (:meth:`declare`, run by its
    :class:`~exposcan.probes.registry.Registration`).

    The vocabulary stays closed: ``Protocol(text)`` is a built-in or a declared protocol,
    anything else a ValueError, so a report naming an unknown protocol does not read
    back. A declared protocol is a member in all but iteration: ``Protocol("echo-line")``
    is the same object each time, and compares, hashes, pickles and serialises as its
    text. Iterating the class gives the built-ins (an enum's member list is fixed when the
    class is made); :meth:`known` gives every protocol.
    """

    DIMSE = "dimse"
    DIMSE_TLS = "dimse-tls"
    HTTP = "http"
    HTTPS = "https"

    @classmethod
    def _missing_(cls, value: object) -> Protocol | None:
        return _DECLARED.get(value) if isinstance(value, str) else None

    @classmethod
    def declare(cls, name: str) -> Protocol:
        """The protocol named ``name``, made known to the whole process if it is new.
        Names are the report's: lower-case words joined by hyphens (``echo-line``)."""
        try:
            return cls(name)
        except ValueError:
            pass
        if not isinstance(name, str) or len(name) > 32 or not _PROTOCOL_NAME.fullmatch(name):
            raise ValueError(f"{name!r} cannot name a protocol (lower-case words and hyphens)")
        # A pseudo-member, as enum.Flag makes for its combinations: an instance of the
        # class that lookups (_missing_) return, so isinstance and every consumer of a
        # result's protocol hold for it as for a built-in.
        member = str.__new__(cls, name)
        member._name_ = name.upper().replace("-", "_")
        member._value_ = name
        _DECLARED[name] = member
        return member

    @classmethod
    def known(cls) -> tuple[Protocol, ...]:
        """Every protocol a result may name now: the built-ins, then the declared ones."""
        return (*cls, *_DECLARED.values())


#: Protocols declared by registered probes, by name (:meth:`Protocol.declare`).
_DECLARED: dict[str, Protocol] = {}
_PROTOCOL_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


class AttemptPurpose(StrEnum):
    """Why the DICOM probe opened one association (``Attempt.purpose``)."""

    #: The configured called AE title, with the whole service map.
    FIRST = "first"
    #: A random 16-character called title: tells "no AE check" from "title configured".
    RANDOM = "random"
    #: A stock title from vendors' documentation, after the first was refused (reason 7).
    STOCK = "stock"
    #: A title the user gave (``--ae-titles``), tried before the stock ones: the site's
    #: own, never called a shipped default.
    USER = "user"
    #: The storage half of a map proposed in two halves.
    STORAGE = "storage"
    #: The whole map the peer refused in one request (kept as evidence; the halves follow).
    WHOLE_MAP = "whole-map"
    #: A plaintext try on a port that then answered in TLS.
    PLAINTEXT = "plaintext"
    #: Modality Worklist asked on a fresh association (the worklist model only), the
    #: C-ECHO or the Q/R query having ended the one that accepted it.
    WORKLIST = "worklist"
    #: The Q/R query (and the worklist) asked on a fresh association (the FIND models
    #: only, no Verification), the C-ECHO having ended the one that accepted them.
    QUERY = "query"


class FindEnd(StrEnum):
    """How one metadata-only C-FIND ended (``FindOutcome.outcome``)."""

    MATCHES = "matches"
    EMPTY = "empty"
    REFUSED = "refused"
    ABORTED = "aborted"
    CLOSED = "closed"
    TIMEOUT = "timeout"
    IGNORED_CANCEL = "ignored-cancel"


class Confidence(StrEnum):
    """How sure a fingerprint's product guess is (``ProductGuess.confidence``)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
