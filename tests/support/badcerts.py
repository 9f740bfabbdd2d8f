"""Certificates with the odd encodings scanned devices present, crafted as DER.

cryptography builds a well-formed certificate; :func:`resign` patches its
TBSCertificate (RFC 5280 §4.1) and signs it again, so OpenSSL still serves it and a
client can still verify the signature if it wants to. Each variant in :func:`variants`
but those in :data:`NOT_SERVED` is one that OpenSSL loads and serves, and each is one
that a whole-certificate parser (cryptography's) rejects or warns about.
"""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: What the builder writes for the common name of every variant (then patched).
MARKER = "ZZZZZZZZ"
_MARKER_TLV = b"\x0c\x08" + MARKER.encode()  # UTF8String, 8 octets


def tlv(tag: int, body: bytes) -> bytes:
    """One DER element (X.690 §8.1): identifier, definite length, contents."""
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + body


def split(der: bytes, offset: int = 0) -> tuple[int, int, int]:
    """(tag, content start, content end) of the element at ``offset``."""
    tag, first = der[offset], der[offset + 1]
    start = offset + 2
    length = first
    if first & 0x80:
        count = first & 0x7F
        length = int.from_bytes(der[start : start + count], "big")
        start += count
    return tag, start, start + length


def children(der: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, element start, content start, content end) of each element in a range."""
    found = []
    while start < end:
        tag, body, stop = split(der, start)
        found.append((tag, start, body, stop))
        start = stop
    return found


@dataclass(frozen=True)
class Crafted:
    der: bytes
    key: ec.EllipticCurvePrivateKey

    def pem_files(self, directory: Path) -> tuple[Path, Path]:
        cert = directory / "cert.pem"
        key = directory / "key.pem"
        cert.write_bytes(ssl.DER_cert_to_PEM_cert(self.der).encode())
        key.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert, key

    def server_context(self, directory: Path) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self.pem_files(directory))
        return context


def build(
    key: ec.EllipticCurvePrivateKey,
    *,
    subject: str = MARKER,
    issuer: str = MARKER,
    extensions: bool = False,
) -> bytes:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(4242)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    if extensions:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("exposcan.invalid")]), critical=False
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def resign(der: bytes, key: ec.EllipticCurvePrivateKey, patch: Callable[[bytes], bytes]) -> bytes:
    """``der`` with its TBSCertificate patched, signed again with ``key``."""
    _, start, end = split(der)
    (_, tbs_at, _, tbs_end), (_, alg_at, _, alg_end), _ = children(der, start, end)
    tbs = patch(der[tbs_at:tbs_end])
    signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return tlv(0x30, tbs + der[alg_at:alg_end] + tlv(0x03, b"\x00" + signature))


def _replace_element(tbs: bytes, index: int, element: bytes) -> bytes:
    """The TBSCertificate with its ``index``-th element (0: version) replaced."""
    _, start, end = split(tbs)
    parts = [tbs[at:stop] for _, at, _, stop in children(tbs, start, end)]
    parts[index] = element
    return tlv(0x30, b"".join(parts))


def _value(replacement: bytes, *, count: int = -1) -> Callable[[bytes], bytes]:
    """Patch the common name's UTF8String (in subject and issuer, or the first ``count``)."""
    return lambda tbs: tbs.replace(_MARKER_TLV, replacement, count)


def _validity(not_before: bytes) -> Callable[[bytes], bytes]:
    def patch(tbs: bytes) -> bytes:
        at = tbs.index(b"\x17\x0d")  # the UTCTime notBefore
        return tbs[:at] + not_before + tbs[at + 15 :]

    return patch


def _extension_value(tbs: bytes) -> bytes:
    """The SubjectAltName's extnValue OCTET STRING holds a truncated SEQUENCE."""
    name = b"exposcan.invalid"
    at = tbs.index(name)
    # extnValue = OCTET STRING { SEQUENCE { [2] "exposcan.invalid" } }: claim 0x7f inside.
    return tbs[: at - 4] + b"\x30\x7f" + tbs[at - 2 :]


#: Variants OpenSSL refuses to load (X509V3 INVALID_CERTIFICATE): read as DER only.
NOT_SERVED = frozenset({"bad-extension", "utf8-invalid", "bmp-odd-length"})

#: name -> (patch of the TBSCertificate, build keyword arguments)
_VARIANTS: dict[str, tuple[Callable[[bytes], bytes], dict[str, object]]] = {
    # TeletexString with Latin-1 octets (a "Hôpital" as older devices write it).
    "t61-latin1": (_value(b"\x14\x08H\xf4pital!"), {}),
    # IA5String (ASCII) with octets above 127: not text in any reading.
    "ia5-high-octets": (_value(b"\x16\x08\xff\xfe\xe9ZZZZZ"), {}),
    # The subject reads, the issuer does not.
    "issuer-only": (_value(b"\x16\x08\xff\xfe\xe9ZZZZZ", count=1), {"subject": "OKOKOKOK"}),
    # A SEQUENCE where a string belongs.
    "sequence-value": (_value(b"\x30\x08\x02\x01\x01\x02\x01\x01\x05\x00"), {}),
    # PrintableString with a terminal escape in it (an alphabet violation).
    "printable-escape": (_value(b"\x13\x08\x1b[31m@*!"), {}),
    # A negative serial number (RFC 5280 §4.1.2.2 wants a positive one).
    "negative-serial": (lambda tbs: _replace_element(tbs, 1, b"\x02\x02\xff\x01"), {}),
    # notBefore in month 13.
    "month-13": (_validity(b"\x17\x0d261301000000Z"), {}),
    # A SubjectAltName extension that does not parse.
    "bad-extension": (_extension_value, {"extensions": True}),
    # A UTF8String that is not UTF-8.
    "utf8-invalid": (_value(b"\x0c\x08\xff\xfe\xc3ZZZZZ"), {}),
    # A BMPString (UTF-16BE) of odd length.
    "bmp-odd-length": (
        lambda tbs: tbs.replace(b"\x0c\x07ZZZZZZZ", b"\x1e\x07\x00Z\x00Z\x00Z\x00"),
        {"subject": "OKOKOKOK", "issuer": "ZZZZZZZ"},  # 7 octets, as the patch needs
    ),
}


def variants() -> dict[str, Crafted]:
    key = ec.generate_private_key(ec.SECP256R1())
    crafted = {}
    for name, (patch, kwargs) in _VARIANTS.items():
        crafted[name] = Crafted(resign(build(key, **kwargs), key, patch), key)  # type: ignore[arg-type]
    return crafted


def well_formed() -> Crafted:
    key = ec.generate_private_key(ec.SECP256R1())
    return Crafted(build(key), key)


#: variant -> (fields that cannot be read, facts that still read)
EXPECTED: dict[str, tuple[set[str], dict[str, Any]]] = {
    "t61-latin1": (set(), {"subject": "CN=H\u00f4pital!", "self_signed": True}),
    "ia5-high-octets": ({"subject", "issuer"}, {"self_signed": True, "key_bits": 256}),
    "issuer-only": ({"issuer", "self_signed"}, {"subject": "CN=OKOKOKOK"}),
    "sequence-value": (set(), {"subject": "CN=#30080201010201010500"}),
    "printable-escape": (set(), {"subject": "CN=\x1b[31m@*!"}),
    "negative-serial": (set(), {"subject": "CN=ZZZZZZZZ", "key_bits": 256}),
    "month-13": ({"not_before"}, {"subject": "CN=ZZZZZZZZ", "not_before": None}),
    "bad-extension": (set(), {"subject": "CN=ZZZZZZZZ", "self_signed": True}),
    "utf8-invalid": ({"subject", "issuer"}, {"self_signed": True, "key_bits": 256}),
    "bmp-odd-length": ({"issuer", "self_signed"}, {"subject": "CN=OKOKOKOK"}),
}
