"""A peer's certificate, read field by field (RFC 5280 §4.1).

Scanned devices present certificates no CA would sign: a T61String subject in Latin-1,
an IA5String with bytes above 127, a SEQUENCE where a string belongs, a negative serial
number, month 13. A whole-certificate parser rejects (or warns about) each of them, and
one odd byte would cost every fact, or, raised at the wrong moment, the endpoint. So
nothing here parses the certificate as a whole: a small bounded DER reader (X.690
§8.1, definite lengths only) finds the fields of the TBSCertificate, and each is read
on its own. Names become RFC 4514 strings as ``cryptography``'s ``Name.rfc4514_string``
writes them, times are read as RFC 5280 §4.1.2.5 lays them out, and only the subject
public key is handed to ``cryptography`` (the serial number and extensions are never
read). A field that cannot be read is absent and named in ``unreadable``; nothing here
raises or warns for a peer's bytes.
"""

from __future__ import annotations

import binascii
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

__all__ = ["FIELDS", "MAX_NAME_CHARS", "CertificateFacts", "read_certificate"]

#: The facts read, in the order ``unreadable`` names them.
FIELDS: Final = ("subject", "issuer", "not_before", "not_after", "self_signed", "key_bits")
#: A rendered name longer than this is cut (a peer may send a 100 KiB subject).
MAX_NAME_CHARS: Final = 1024

# X.690 §8.1.2 universal tags, as the identifier octet reads.
_INTEGER, _OID, _SEQUENCE, _SET = 0x02, 0x06, 0x30, 0x31
_UTC_TIME, _GENERALIZED_TIME = 0x17, 0x18
_VERSION = 0xA0  # [0] EXPLICIT Version, RFC 5280 §4.1.2.1

#: String types and how their octets read. The ASCII types are read as UTF-8, as
#: cryptography reads them (builders write UTF-8 into IA5String), without checking
#: PrintableString's narrower alphabet (devices put '@', '*' or '_' in it); a
#: TeletexString that is not UTF-8 is read as Latin-1, as OpenSSL reads it.
_STRINGS: Final = {
    0x0C: "utf-8",  # UTF8String
    0x12: "utf-8",  # NumericString
    0x13: "utf-8",  # PrintableString
    0x14: "utf-8",  # TeletexString (T61String), else Latin-1
    0x16: "utf-8",  # IA5String
    0x1A: "utf-8",  # VisibleString
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString
}
_TELETEX = 0x14

#: cryptography's short names (``x509.name._NAMEOID_TO_NAME``); others print dotted.
_SHORT_NAMES: Final = {
    "2.5.4.3": "CN",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.6": "C",
    "2.5.4.9": "STREET",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class CertificateFacts:
    subject: str | None = None
    issuer: str | None = None
    not_before: str | None = None
    not_after: str | None = None
    self_signed: bool | None = None
    key_bits: int | None = None
    #: Fields of :data:`FIELDS` the certificate holds but that could not be read.
    unreadable: tuple[str, ...] = ()


class _Malformed(Exception):
    """Internal: these bytes are not what the structure says belongs here."""


@dataclass(frozen=True, slots=True)
class _Tlv:
    tag: int
    start: int  # the identifier octet
    body: int  # the first content octet
    end: int  # one past the last content octet


def _tlv(data: bytes, offset: int, end: int) -> _Tlv:
    """The element at ``offset`` (X.690 §8.1.2-8.1.3), inside ``data[:end]``."""
    if offset + 2 > end:
        raise _Malformed
    tag, first = data[offset], data[offset + 1]
    if tag & 0x1F == 0x1F:
        raise _Malformed  # high tag numbers: none belong in these structures
    body = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or body + count > end:
            raise _Malformed  # indefinite length (not DER) or absurd
        length = int.from_bytes(data[body : body + count], "big")
        body += count
    if body + length > end:
        raise _Malformed
    return _Tlv(tag, offset, body, body + length)


def _children(data: bytes, parent: _Tlv) -> Iterator[_Tlv]:
    offset = parent.body
    while offset < parent.end:
        child = _tlv(data, offset, parent.end)
        yield child
        offset = child.end


def _expect(data: bytes, element: _Tlv | None, tag: int) -> _Tlv:
    if element is None or element.tag != tag:
        raise _Malformed
    return element


def _oid(content: bytes) -> str:
    """X.690 §8.19: the first octets encode two arcs, then base-128 arcs."""
    if not content or content[-1] & 0x80:
        raise _Malformed
    arcs: list[int] = []
    value = 0
    for octet in content:
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in (first, arcs[0] - 40 * first, *arcs[1:]))


def _escape(value: str) -> str:
    """RFC 4514 §2.4, as cryptography's ``_escape_dn_value`` escapes."""
    if not value:
        return ""
    for special in ("\\", '"', "+", ",", ";", "<", ">"):
        value = value.replace(special, "\\" + special)
    value = value.replace("\0", "\\00")
    if value[0] == "#" or (value[0] == " " and len(value) > 1):
        value = "\\" + value
    if value[-1] == " ":
        value = value[:-1] + "\\ "
    return value


def _attribute(data: bytes, element: _Tlv) -> str:
    """One AttributeTypeAndValue (RFC 5280 §4.1.2.4) as ``type=value``."""
    parts = list(_children(data, _expect(data, element, _SEQUENCE)))
    if len(parts) != 2:
        raise _Malformed
    kind, value = parts
    oid = _oid(data[_expect(data, kind, _OID).body : kind.end])
    name = _SHORT_NAMES.get(oid, oid)
    encoding = _STRINGS.get(value.tag)
    if encoding is None:
        # No string representation: RFC 4514 §2.4's '#' and the BER encoding in hex.
        return f"{name}=#{binascii.hexlify(data[value.start : value.end]).decode()}"
    octets = data[value.body : value.end]
    try:
        text = octets.decode(encoding)
    except UnicodeDecodeError:
        if value.tag != _TELETEX:
            raise _Malformed from None
        text = octets.decode("latin-1")
    return f"{name}={_escape(text)}"


def _name(data: bytes, element: _Tlv) -> str:
    """RFC 4514 §2.1: the RDNs last first, joined by ','; an RDN's attributes by '+'."""
    rdns: list[str] = []
    for rdn in _children(data, _expect(data, element, _SEQUENCE)):
        attributes = [_attribute(data, a) for a in _children(data, _expect(data, rdn, _SET))]
        if not attributes:
            raise _Malformed  # SET SIZE (1..MAX)
        rdns.append("+".join(attributes))
    return ",".join(reversed(rdns))


def _cut(text: str) -> str:
    return text if len(text) <= MAX_NAME_CHARS else text[: MAX_NAME_CHARS - 3] + "..."


def _time(data: bytes, element: _Tlv) -> str:
    """RFC 5280 §4.1.2.5: UTCTime YYMMDDHHMMSSZ (YY < 50 is 20YY) or GeneralizedTime
    YYYYMMDDHHMMSSZ, in UTC and with seconds; anything else is unreadable."""
    text = data[element.body : element.end]
    if element.tag == _UTC_TIME and len(text) == 13:
        year = int(text[:2]) if text[:2].isdigit() else -1
        year += 2000 if 0 <= year < 50 else 1900
        rest = text[2:]
    elif element.tag == _GENERALIZED_TIME and len(text) == 15:
        year = int(text[:4]) if text[:4].isdigit() else -1
        rest = text[4:]
    else:
        raise _Malformed
    if year < 0 or not rest.endswith(b"Z") or not rest[:-1].isdigit():
        raise _Malformed
    month, day, hour, minute, second = (int(rest[i : i + 2]) for i in range(0, 10, 2))
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise _Malformed from None
    return moment.isoformat()


def _key_bits(spki: bytes) -> int | None:
    """The size of an RSA, DSA or EC key; ``None`` for keys without one (Ed25519)."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        key = load_der_public_key(spki)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise _Malformed from None
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey | ec.EllipticCurvePublicKey):
        return key.key_size
    return None


def read_certificate(der: bytes) -> CertificateFacts:
    """What can be read of ``der`` (a Certificate, RFC 5280 §4.1).

    No peer's bytes make this raise: what cannot be read is named in ``unreadable``.
    (Only a bug here could; :func:`exposcan.net.tls.facts_of` contains even that.)
    """
    facts: dict[str, object] = {}
    unreadable: list[str] = []

    def read(field: str, reader: Callable[[], object]) -> None:
        try:
            facts[field] = reader()
        except (_Malformed, IndexError):
            unreadable.append(field)

    fields = _tbs_fields(der)
    issuer, subject, spki = fields.get("issuer"), fields.get("subject"), fields.get("spki")
    times: list[_Tlv] = []
    with contextlib.suppress(_Malformed):
        times = list(_children(der, _expect(der, fields.get("validity"), _SEQUENCE)))
    names: dict[str, str] = {}

    def name(field: str, element: _Tlv | None) -> str:
        names[field] = _name(der, _expect(der, element, _SEQUENCE))
        return _cut(names[field])

    def self_signed() -> bool:
        # The same octets, or the same name in other string types (cryptography's Name
        # equality); when a name cannot be read, different octets say nothing.
        if _raw(der, subject) == _raw(der, issuer):
            return True
        if len(names) < 2:
            raise _Malformed
        return names["subject"] == names["issuer"]

    read("subject", lambda: name("subject", subject))
    read("issuer", lambda: name("issuer", issuer))
    read("not_before", lambda: _time(der, times[0]))
    read("not_after", lambda: _time(der, times[1]))
    read("self_signed", self_signed)
    read("key_bits", lambda: _key_bits(_raw(der, _expect(der, spki, _SEQUENCE))))
    return CertificateFacts(**facts, unreadable=tuple(unreadable))  # type: ignore[arg-type]


def _raw(data: bytes, element: _Tlv | None) -> bytes:
    if element is None:
        raise _Malformed
    return data[element.start : element.end]


def _tbs_fields(der: bytes) -> dict[str, _Tlv]:
    """The TBSCertificate's elements by name, as far as they could be found (§4.1.1.1)."""
    found: dict[str, _Tlv] = {}
    try:
        certificate = _expect(der, _tlv(der, 0, len(der)), _SEQUENCE)
        tbs = _expect(der, next(_children(der, certificate), None), _SEQUENCE)
        elements = _children(der, tbs)
        element = next(elements, None)
        if element is not None and element.tag == _VERSION:
            element = next(elements, None)
        _expect(der, element, _INTEGER)  # serialNumber: framed, never read
        _expect(der, next(elements, None), _SEQUENCE)  # signature AlgorithmIdentifier
        for name in ("issuer", "validity", "subject", "spki"):
            element = next(elements, None)
            if element is None:
                break
            found[name] = element
    except _Malformed:
        pass  # the fields found before the damage stand
    return found
