"""TLS for DICOM (PS3.15 Annex B.1, "secure transport connection profiles").

A scanner must see what a stranger sees, so the client context verifies
nothing and offers no certificate; the facts it reads back (version, cipher,
certificate subject, issuer, validity, key size) are reported, not trusted.
"""

from __future__ import annotations

import ssl
from dataclasses import replace

from exposcan.net.certificate import read_certificate
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
    """The handshake's and the certificate's facts; never raises.

    A certificate is read field by field (:mod:`exposcan.net.certificate`): a field the
    peer encoded oddly is absent and named in ``unreadable``, and the rest still counts.
    """
    if ssl_object is None:
        return None
    try:
        cipher = ssl_object.cipher()
        base = TlsFacts(version=ssl_object.version(), cipher=cipher[0] if cipher else None)
        der = ssl_object.getpeercert(binary_form=True)
    except Exception:  # the connection went away under us: no facts, and no error
        return TlsFacts()
    if not der:
        return base
    try:
        certificate = read_certificate(der)
    except Exception:  # a bug in the reader must cost the certificate, not the endpoint
        return replace(base, unreadable="certificate")
    return replace(
        base,
        subject=certificate.subject,
        issuer=certificate.issuer,
        not_before=certificate.not_before,
        not_after=certificate.not_after,
        self_signed=certificate.self_signed,
        key_bits=certificate.key_bits,
        unreadable=",".join(certificate.unreadable) or None,
    )
