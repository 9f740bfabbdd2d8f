"""Result objects: frozen data you can compare, hash, pickle and turn into a row.

Nothing here may hold patient data. A probe keeps counts and non-identifying
facts only (DESIGN.md, principle 3).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from exposcan.vocabulary import Exposure, Protocol, Severity, Status

#: JSON-ready as they are (str-valued enums are str; bool is int).
_PRIMITIVE = (str, int, float, type(None))


def _plain(value: Any) -> Any:
    """Turn nested dataclasses, enums and tuples into JSON-ready values."""
    if isinstance(value, _PRIMITIVE):
        return value
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


#: Field names per result class: ``fields()`` rebuilds its tuple on every call.
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


class _Serialisable:
    def to_dict(self) -> dict[str, Any]:
        names = _FIELD_NAMES.get(type(self))
        if names is None:
            names = _FIELD_NAMES[type(self)] = tuple(f.name for f in fields(self))  # type: ignore[arg-type]
        return {name: _plain(getattr(self, name)) for name in names}


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding(_Serialisable):
    """One fact worth reporting, with a stable ``id`` that tools can key on."""

    id: str
    severity: Severity
    title: str
    evidence: str
    remediation: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Fingerprint(_Serialisable):
    implementation_class_uid: str | None = None
    implementation_version_name: str | None = None
    product: str | None = None
    toolkit: str | None = None
    version: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Matches(_Serialisable):
    """How many matches a metadata-only query returned, never what they were."""

    count: int
    cap: int
    cap_hit: bool
    level: str = "STUDY"


@dataclass(frozen=True, kw_only=True, slots=True)
class TlsFacts(_Serialisable):
    version: str | None = None
    cipher: str | None = None
    subject: str | None = None
    issuer: str | None = None
    not_before: str | None = None
    not_after: str | None = None
    self_signed: bool | None = None
    key_bits: int | None = None
    client_certificate_required: bool | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a classifier concluded from one observation (DICOM or web); pure data."""

    exposure: Exposure
    status: Status
    detail: str | None
    findings: tuple[Finding, ...]
    fingerprint: Fingerprint | None
    services: tuple[str, ...]
    ae_title: str | None
    matches: Matches | None


@dataclass(frozen=True, kw_only=True, slots=True)
class EndpointResult(_Serialisable):
    """What exposcan learnt about one host and port."""

    host: str
    port: int
    protocol: Protocol
    status: Status
    exposure: Exposure
    hostname: str | None = None
    ae_title: str | None = None
    findings: tuple[Finding, ...] = ()
    fingerprint: Fingerprint | None = None
    services: tuple[str, ...] = ()
    matches: Matches | None = None
    tls: TlsFacts | None = None
    duration_s: float = 0.0
    detail: str | None = None
    attempts: int = 0

    @property
    def severity(self) -> Severity:
        return self.exposure.severity

    @property
    def endpoint(self) -> tuple[str, int, Protocol]:
        return (self.host, self.port, self.protocol)

    def to_dict(self) -> dict[str, Any]:
        data = _Serialisable.to_dict(self)
        data["severity"] = str(self.severity)
        data["duration_s"] = round(self.duration_s, 4)
        return data
