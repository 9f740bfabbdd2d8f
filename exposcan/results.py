"""Result objects: frozen data you can compare, hash, pickle and turn into a row.

Nothing here may hold patient data. A probe keeps counts and non-identifying
facts only (DESIGN.md, principle 3).

Every text field is passed through :func:`exposcan.peertext.clean` when a result is
built (``__post_init__``): this is where text a peer chose enters a result, so no report
format can receive a terminal escape, a bidi override or an unbounded string from a
peer. Versions must look like versions (:func:`exposcan.peertext.version`) and UIDs like
UIDs, or they are dropped.

Each class reads back what its ``to_dict`` wrote: ``from_dict`` checks every field against
its declared type (:mod:`exposcan.decoding`: a :class:`~exposcan.decoding.RecordError`,
a ValueError, names the field otherwise) and builds the result through its constructor,
so text read from a report is cleaned exactly as text from a peer is, and
``from_dict(to_dict(r)) == r``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, Self

from exposcan import decoding, peertext
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


def _set(instance: object, name: str, value: object) -> None:
    # Frozen dataclasses: construction is the one moment a field may be normalised.
    object.__setattr__(instance, name, value)


def _clean_fields(instance: object, limits: dict[str, int]) -> None:
    """Clean the text fields named in ``limits`` (``None`` stays ``None``)."""
    for name, limit in limits.items():
        value = getattr(instance, name)
        if value is None:
            continue
        cleaned = peertext.clean(str(value), limit)
        if cleaned is not value:
            _set(instance, name, cleaned)


def _clean_optional(instance: object, limits: dict[str, int]) -> None:
    """Like :func:`_clean_fields`; a field with nothing left becomes ``None``."""
    for name, limit in limits.items():
        value = getattr(instance, name)
        if value is None:
            continue
        cleaned = peertext.clean_optional(value, limit)
        if cleaned is not value:
            _set(instance, name, cleaned)


class _Serialisable:
    def to_dict(self) -> dict[str, Any]:
        names = _FIELD_NAMES.get(type(self))
        if names is None:
            names = _FIELD_NAMES[type(self)] = tuple(f.name for f in fields(self))  # type: ignore[arg-type]
        return {name: _plain(getattr(self, name)) for name in names}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The result ``data`` (as :meth:`to_dict` wrote it, or a report's record) describes;
        :class:`~exposcan.decoding.RecordError` naming the field if it cannot be one."""
        return decoding.build(cls, data)


#: Bounds per text field, in code points (evidence lists SOP class names: it is longer).
_FINDING_LIMITS: Final = {"id": 64, "title": 256, "evidence": 4096, "remediation": 1024}
_ACCEPTED_LIMITS: Final = {"reason": 512, "expires": 32}
_FINGERPRINT_LIMITS: Final = {
    "implementation_class_uid": 64,
    "implementation_version_name": 64,
    "product": 64,
    "toolkit": 64,
}
_MATCHES_LIMITS: Final = {"level": 16}
_TLS_LIMITS: Final = {
    "version": 32,
    "cipher": 64,
    "subject": 512,
    "issuer": 512,
    "not_before": 64,
    "not_after": 64,
    "unreadable": 128,  # field names of ours; cleaned too, as it is read back from reports
}
_ENDPOINT_LIMITS: Final = {"host": 64}
_ENDPOINT_OPTIONAL_LIMITS: Final = {
    "hostname": 253,
    "ae_title": 64,
    "detail": 512,
    "probed_at": 40,
}


@dataclass(frozen=True, kw_only=True, slots=True)
class AcceptedRisk(_Serialisable):
    """Why a finding is accepted, from the accepted-risk file, and until when.

    An accepted finding is still reported, in every format, marked as accepted; gates
    (``--fail-on``) and the diff's "new" count leave it out until ``expires`` (an ISO
    date, the end of that day in UTC) has passed."""

    reason: str
    expires: str | None = None

    def __post_init__(self) -> None:
        _clean_fields(self, {"reason": _ACCEPTED_LIMITS["reason"]})
        _clean_optional(self, {"expires": _ACCEPTED_LIMITS["expires"]})


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding(_Serialisable):
    """One fact worth reporting, with a stable ``id`` that tools can key on."""

    id: str
    severity: Severity
    title: str
    evidence: str
    remediation: str = ""
    #: set when an accepted-risk entry covers this finding on this endpoint
    accepted: AcceptedRisk | None = None

    def __post_init__(self) -> None:
        _clean_fields(self, _FINDING_LIMITS)

    def __repr__(self) -> str:
        # Short for a notebook cell; to_dict() has every field (eq and hash stay the
        # dataclass's: a class that defines __repr__ keeps dataclass' other methods).
        accepted = " accepted" if self.accepted is not None else ""
        return f"<Finding {self.id} {self.severity}{accepted}: {self.title}>"

    @staticmethod
    def _check_record(data: Mapping[str, Any], where: str) -> None:
        # Tools key on the id: one from a file must look like one of ours.
        if "id" in data and not decoding.is_finding_id(data["id"]):
            name = f"{where}.id" if where else "id"
            raise decoding.RecordError(name, f"{decoding.show(data['id'])} is not a finding id")


@dataclass(frozen=True, kw_only=True, slots=True)
class Fingerprint(_Serialisable):
    implementation_class_uid: str | None = None
    implementation_version_name: str | None = None
    product: str | None = None
    toolkit: str | None = None
    version: str | None = None

    def __post_init__(self) -> None:
        _clean_optional(self, _FINGERPRINT_LIMITS)
        if self.implementation_class_uid is not None:
            _set(self, "implementation_class_uid", peertext.uid(self.implementation_class_uid))
        if self.version is not None:
            _set(self, "version", peertext.version(self.version))


@dataclass(frozen=True, kw_only=True, slots=True)
class Matches(_Serialisable):
    """How many matches a metadata-only query returned, never what they were."""

    count: int
    cap: int
    cap_hit: bool
    level: str = "STUDY"

    def __post_init__(self) -> None:
        _clean_fields(self, _MATCHES_LIMITS)


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
    #: Certificate fields the peer sent but that could not be read (odd encodings),
    #: comma-separated names of the fields above; those fields are ``None``.
    unreadable: str | None = None

    def __post_init__(self) -> None:
        _clean_optional(self, _TLS_LIMITS)


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
    #: when its probe started (UTC, ISO 8601 to the millisecond); ``None`` if it never did
    probed_at: str | None = None

    def __post_init__(self) -> None:
        _clean_fields(self, _ENDPOINT_LIMITS)
        _clean_optional(self, _ENDPOINT_OPTIONAL_LIMITS)
        services = tuple(peertext.clean(str(s), 64) for s in self.services)
        if services != self.services:
            _set(self, "services", services)
        # As the report writes it (0.1 ms), so that a result read back equals this one.
        duration = round(float(self.duration_s), 4)
        if duration != self.duration_s or type(self.duration_s) is not float:
            _set(self, "duration_s", duration)

    @staticmethod
    def _check_record(data: Mapping[str, Any], where: str) -> None:
        # As --resume checks them: the engine names every endpoint by address and port.
        decoding.check_address(data.get("host"), f"{where}.host" if where else "host")
        decoding.check_port(data.get("port"), f"{where}.port" if where else "port")

    def __repr__(self) -> str:
        address = f"[{self.host}]" if ":" in self.host else self.host
        count = len(self.findings)
        return (
            f"<EndpointResult {address}:{self.port} {self.protocol} {self.exposure} "
            f"({self.severity}) {count} finding{'' if count == 1 else 's'}>"
        )

    @property
    def severity(self) -> Severity:
        return self.exposure.severity

    @property
    def endpoint(self) -> tuple[str, int, Protocol]:
        return (self.host, self.port, self.protocol)

    def to_dict(self) -> dict[str, Any]:
        data = _Serialisable.to_dict(self)
        data["severity"] = str(self.severity)
        return data
