"""Certificates the X.509 parser cannot read: facts degrade field by field, never raise.

Unit level: :func:`exposcan.net.certificate.read_certificate` against cryptography on
well-formed names (property-tested), the crafted odd certificates of tests/support/badcerts.py,
and mutated DER (it never raises, never warns: pytest runs with warnings as errors).
The peers over real TLS are in tests/network/test_socket_hygiene.py.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID, ObjectIdentifier
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exposcan.net.certificate import FIELDS, MAX_NAME_CHARS, CertificateFacts, read_certificate
from exposcan.net.tls import facts_of
from exposcan.results import TlsFacts
from exposcan.tls_findings import tls_findings
from tests.support.badcerts import EXPECTED, NOT_SERVED, variants, well_formed

KEY = ec.generate_private_key(ec.SECP256R1())
#: What the mutation tests start from: one well-formed certificate and every variant.
_SEEDS = [well_formed().der, *(c.der for c in variants().values())]
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _certificate(subject: x509.Name, issuer: x509.Name, key: Any = KEY) -> bytes:
    now = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650 * 4))  # GeneralizedTime
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )


def _as_cryptography_reads(der: bytes) -> CertificateFacts:
    certificate = x509.load_der_x509_certificate(der)
    key = certificate.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
    return CertificateFacts(
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        not_before=certificate.not_valid_before_utc.isoformat(),
        not_after=certificate.not_valid_after_utc.isoformat(),
        self_signed=certificate.subject == certificate.issuer,
        key_bits=key.key_size,
    )


# Attribute types and the string types they may be written in (no country: its length
# rule makes cryptography warn, and warnings are errors here).
_PRINTABLE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?"
_OIDS = [
    NameOID.COMMON_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.LOCALITY_NAME,
    NameOID.STATE_OR_PROVINCE_NAME,
    NameOID.STREET_ADDRESS,
    NameOID.DOMAIN_COMPONENT,
    NameOID.USER_ID,
    NameOID.EMAIL_ADDRESS,
    ObjectIdentifier("1.3.6.1.4.1.99999.1"),
]
_SPECIAL = st.sampled_from(list('\\"+,;<># \0=')) | st.characters(codec="utf-8")


@st.composite
def _attribute(draw: st.DrawFn) -> x509.NameAttribute[str]:
    oid = draw(st.sampled_from(_OIDS))
    kind = draw(st.sampled_from(["utf8", "printable", "bmp", "ia5"]))
    if kind == "printable":
        text = draw(st.text(st.sampled_from(_PRINTABLE), min_size=1, max_size=12))
        return x509.NameAttribute(oid, text, _type=_ASN1Type.PrintableString)
    if kind == "ia5":
        text = draw(st.text(st.characters(max_codepoint=127), min_size=1, max_size=12))
        return x509.NameAttribute(oid, text, _type=_ASN1Type.IA5String)
    text = draw(st.text(_SPECIAL, min_size=1, max_size=12))
    if kind == "bmp":
        text = "".join(ch for ch in text if ord(ch) < 0x10000) or "x"
        return x509.NameAttribute(oid, text, _type=_ASN1Type.BMPString)
    return x509.NameAttribute(oid, text)


_NAMES = st.lists(
    st.lists(_attribute(), min_size=1, max_size=3, unique_by=lambda a: (a.oid, a.value)).map(
        x509.RelativeDistinguishedName
    ),
    max_size=4,
).map(x509.Name)


@PROPERTY
@given(subject=_NAMES, issuer=_NAMES)
def test_well_formed_names_read_as_cryptography_reads_them(subject, issuer):
    der = _certificate(subject, issuer)
    assert read_certificate(der) == _as_cryptography_reads(der)


def test_the_same_name_in_another_string_type_is_self_signed():
    printable = x509.NameAttribute(NameOID.COMMON_NAME, "pacs", _type=_ASN1Type.PrintableString)
    utf8 = x509.NameAttribute(NameOID.COMMON_NAME, "pacs")
    der = _certificate(x509.Name([printable]), x509.Name([utf8]))
    assert read_certificate(der).self_signed is True
    other = _certificate(
        x509.Name([printable]), x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")])
    )
    assert read_certificate(other).self_signed is False


def test_rsa_key_and_the_builders_own_certificate():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pacs.example.org")])
    der = _certificate(name, name, key)
    assert read_certificate(der) == _as_cryptography_reads(der)
    assert read_certificate(der).key_bits == 2048
    plain = well_formed()
    assert read_certificate(plain.der) == _as_cryptography_reads(plain.der)


def test_every_variant_is_expected():
    assert set(variants()) == set(EXPECTED)
    assert set(EXPECTED) >= NOT_SERVED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_odd_certificates_degrade_field_by_field(name):
    """Each odd certificate: what reads, reads; what does not is named; nothing raises
    and nothing warns (cryptography warns about the negative serial; we never ask)."""
    crafted = variants()[name]
    unreadable, facts = EXPECTED[name]
    read = read_certificate(crafted.der)
    assert set(read.unreadable) == unreadable
    for field in unreadable:
        assert getattr(read, field) is None
    for field, value in facts.items():
        assert getattr(read, field) == value, field
    # Every field not named unreadable has its value (validity and key included).
    for field in set(FIELDS) - unreadable - set(facts):
        assert getattr(read, field) is not None, field


def test_whole_certificate_parser_fails_on_the_variants():
    """The reason for the module: cryptography raises or warns on each of these."""
    for crafted in variants().values():
        with pytest.raises((ValueError, UserWarning)):  # noqa: PT012 - load and read
            certificate = x509.load_der_x509_certificate(crafted.der)
            certificate.subject.rfc4514_string()
            certificate.issuer.rfc4514_string()
            _ = certificate.extensions


def test_long_names_are_cut():
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "O" * 60)] * 40)
    read = read_certificate(_certificate(name, name))
    assert read.subject is not None
    assert len(read.subject) == MAX_NAME_CHARS
    assert read.subject.endswith("...")


@PROPERTY
@given(data=st.data())
def test_mutated_certificates_never_raise(data):
    """Flipped, cut and inserted bytes: facts or ``unreadable``, never an exception."""
    der = bytearray(data.draw(st.sampled_from(_SEEDS)))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(der) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            der[at] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del der[at:]
            if not der:
                der = bytearray(b"\x30")
        else:
            der[at:at] = data.draw(st.binary(min_size=1, max_size=4))
    _accounted_for(read_certificate(bytes(der)))


@PROPERTY
@given(st.binary(max_size=256))
def test_random_bytes_never_raise(blob):
    _accounted_for(read_certificate(blob))


def _accounted_for(read: CertificateFacts) -> None:
    """Every field has its value or is named unreadable (a key may have no size)."""
    assert isinstance(read, CertificateFacts)
    assert len(set(read.unreadable)) == len(read.unreadable)
    for field in FIELDS:
        value = getattr(read, field)
        assert (value is None) == (field in read.unreadable) or field == "key_bits", field


class _FakeSsl:
    def __init__(self, der: bytes | None, *, broken: bool = False) -> None:
        self._der = der
        self._broken = broken

    def version(self) -> str:
        if self._broken:
            raise ValueError("closed")
        return "TLSv1.3"

    def cipher(self) -> tuple[str, str, int]:
        return ("TLS_AES_128_GCM_SHA256", "TLSv1.3", 128)

    def getpeercert(self, binary_form: bool = False) -> bytes | None:
        return self._der


def test_facts_of_names_unreadable_fields_and_keeps_the_rest():
    crafted = variants()["ia5-high-octets"]
    facts = facts_of(_FakeSsl(crafted.der))  # type: ignore[arg-type]
    assert facts is not None
    assert facts.version == "TLSv1.3"
    assert facts.unreadable == "subject,issuer"
    assert facts.subject is None
    assert facts.issuer is None
    assert facts.self_signed is True
    assert facts.key_bits == 256
    assert facts.not_after


def test_facts_of_never_raises():
    assert facts_of(_FakeSsl(None, broken=True)) == TlsFacts()  # type: ignore[arg-type]
    assert facts_of(_FakeSsl(b"\x30\x03\x02\x01")).unreadable == ",".join(FIELDS)  # type: ignore[arg-type, union-attr]
    assert facts_of(_FakeSsl(b"")) == TlsFacts(version="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256")  # type: ignore[arg-type]


def test_unreadable_fields_are_a_finding_naming_fields_only():
    facts = TlsFacts(version="TLSv1.3", self_signed=True, unreadable="subject,issuer")
    findings = {f.id: f for f in tls_findings(facts, kind="dicom", detail=None)}
    note = findings["tls-certificate-unreadable"]
    assert note.evidence.endswith("subject, issuer")
    assert findings["tls-certificate-self-signed"].evidence == "subject = issuer"
    assert "tls-certificate-unreadable" not in {
        f.id for f in tls_findings(TlsFacts(subject="CN=x"), kind="web", detail=None)
    }
