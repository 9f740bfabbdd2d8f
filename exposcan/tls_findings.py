"""Findings about a TLS peer's certificate and handshake, shared by DICOM and the web.

Pure: :class:`~exposcan.results.TlsFacts` in, findings out. The ids of the certificate
findings (``tls-legacy-version``, ``tls-certificate-expired``,
``tls-certificate-self-signed``, ``tls-certificate-unreadable``) are the same whatever
the protocol; the client certificate finding is named per protocol (``dicom-`` or
``web-``), as reports have always named it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal

from exposcan import findings as catalogue
from exposcan.results import Finding, TlsFacts

__all__ = ["LEGACY_VERSIONS", "tls_findings"]

#: Versions a peer should no longer negotiate.
LEGACY_VERSIONS: Final = frozenset({"SSLv3", "TLSv1", "TLSv1.1"})

#: Which probe met the TLS peer: it names the client certificate finding.
TlsPeerKind = Literal["dicom", "web"]


def expired(facts: TlsFacts, now: datetime | None = None) -> bool:
    """Whether the certificate's validity ended before ``now`` (its own clock, not ours)."""
    if facts.not_after is None:
        return False
    return datetime.fromisoformat(facts.not_after) < (now or datetime.now(UTC))


_CLIENT_CERTIFICATE: Final = {
    "dicom": catalogue.DICOM_TLS_CLIENT_CERTIFICATE_REQUIRED,
    "web": catalogue.WEB_TLS_CLIENT_CERTIFICATE_REQUIRED,
}


def tls_findings(tls: TlsFacts | None, *, kind: TlsPeerKind, detail: str | None) -> list[Finding]:
    """Client certificate required, obsolete version, expired or self-signed certificate.

    ``detail`` is the handshake's failure reason, quoted when a client certificate was
    required.
    """
    if tls is None:
        return []
    findings: list[Finding] = []
    if tls.client_certificate_required:
        findings.append(
            _CLIENT_CERTIFICATE[kind].found(
                f"TLS handshake refused without a client certificate ({detail})"
            )
        )
    if tls.version in LEGACY_VERSIONS:
        findings.append(
            catalogue.TLS_LEGACY_VERSION.found(f"negotiated {tls.version} with {tls.cipher}")
        )
    if tls.not_after is not None and expired(tls):
        findings.append(
            catalogue.TLS_CERTIFICATE_EXPIRED.found(f"certificate valid until {tls.not_after}")
        )
    if tls.self_signed:
        findings.append(
            catalogue.TLS_CERTIFICATE_SELF_SIGNED.found(
                f"subject = issuer = {tls.subject}"
                if tls.subject is not None
                else "subject = issuer"
            )
        )
    if tls.unreadable:
        # The field names only: the bytes that could not be read are the peer's.
        findings.append(
            catalogue.TLS_CERTIFICATE_UNREADABLE.found(
                f"not readable as X.509 (RFC 5280): {tls.unreadable.replace(',', ', ')}"
            )
        )
    return findings
