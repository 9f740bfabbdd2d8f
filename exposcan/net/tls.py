"""TLS for DICOM (PS3.15 Annex B.1, "secure transport connection profiles").

A scanner must see what a stranger sees, so the client context verifies
nothing and offers no certificate; the facts it reads back (version, cipher,
certificate subject, issuer, validity, key size) are reported, not trusted.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from exposcan.results import TlsFacts

#: OpenSSL's names for the alerts a server sends when it wants a client certificate.
CLIENT_CERTIFICATE_ALERTS = frozenset(
    {
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_ACCESS_DENIED",
    }
)


def client_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # nosec: we report the certificate, we do not trust it
    # Old devices still speak TLS 1.0/1.1 with small keys; seeing them is the point.
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def facts_of(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> TlsFacts | None:
    if ssl_object is None:
        return None
    cipher = ssl_object.cipher()
    der = ssl_object.getpeercert(binary_form=True)
    base = TlsFacts(version=ssl_object.version(), cipher=cipher[0] if cipher else None)
    if not der:
        return base
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError:
        return base
    key = certificate.public_key()
    key_bits = (
        key.key_size
        if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey | ec.EllipticCurvePublicKey)
        else None
    )
    return TlsFacts(
        version=base.version,
        cipher=base.cipher,
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        not_before=certificate.not_valid_before_utc.isoformat(),
        not_after=certificate.not_valid_after_utc.isoformat(),
        self_signed=certificate.subject == certificate.issuer,
        key_bits=key_bits,
    )


def expired(facts: TlsFacts, now: datetime | None = None) -> bool:
    if facts.not_after is None:
        return False
    return datetime.fromisoformat(facts.not_after) < (now or datetime.now(UTC))
