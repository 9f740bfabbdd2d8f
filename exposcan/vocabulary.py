"""The closed vocabularies of exposcan's results (see DESIGN.md, "Vocabulary").

Every enum is ``str``-valued so that a result serialises as itself in JSON,
CSV and SARIF without a translation table.
"""

from __future__ import annotations

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


class Severity(StrEnum):
    NONE = "none"
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)


_SEVERITY_ORDER = list(Severity)


class Exposure(StrEnum):
    """How far a stranger got. Ordered: an endpoint's level is the highest reached."""

    NONE = "none"
    PROTECTED = "protected"
    ECHO = "echo"
    STORE = "store"
    QUERY = "query"

    @property
    def rank(self) -> int:
        return _EXPOSURE_ORDER.index(self)

    @property
    def severity(self) -> Severity:
        return _EXPOSURE_SEVERITY[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Exposure):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Exposure):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Exposure):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Exposure):
            return NotImplemented
        return self.rank >= other.rank


_EXPOSURE_ORDER = list(Exposure)
_EXPOSURE_SEVERITY = {
    Exposure.NONE: Severity.NONE,
    Exposure.PROTECTED: Severity.INFO,
    Exposure.ECHO: Severity.MEDIUM,
    Exposure.STORE: Severity.HIGH,
    Exposure.QUERY: Severity.CRITICAL,
}


class Protocol(StrEnum):
    DIMSE = "dimse"
    DIMSE_TLS = "dimse-tls"
    HTTP = "http"
    HTTPS = "https"
