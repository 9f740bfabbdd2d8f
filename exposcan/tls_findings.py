"""Findings about a TLS peer's certificate and handshake, shared by DICOM and the web.

Pure: :class:`~exposcan.results.TlsFacts` in, findings out. The ids of the certificate
findings (``tls-legacy-version``, ``tls-certificate-expired``,
``tls-certificate-self-signed``, ``tls-certificate-unreadable``) are the same whatever
the protocol; the client certificate finding is named per protocol (``dicom-`` or
``web-``), as reports have always named it.
"""

from __future__ import annotations

from typing import Final, Literal

from exposcan.net.tls import expired
from exposcan.results import Finding, TlsFacts
from exposcan.vocabulary import Severity

__all__ = ["LEGACY_VERSIONS", "tls_findings"]

#: Versions a peer should no longer negotiate.
LEGACY_VERSIONS: Final = frozenset({"SSLv3", "TLSv1", "TLSv1.1"})

Kind = Literal["dicom", "web"]

_CLIENT_CERTIFICATE_TITLE: Final = {
    "dicom": "DICOM over TLS requires a client certificate",
    "web": "HTTPS requires a client certificate",
}
_LEGACY_REMEDIATION: Final = {
    "dicom": "Offer TLS 1.2 or 1.3 only (PS3.15 Annex B.9 and later profiles).",
    "web": "Offer TLS 1.2 or 1.3 only.",
}


def tls_findings(tls: TlsFacts | None, *, kind: Kind, detail: str | None) -> list[Finding]:
    """Client certificate required, obsolete version, expired or self-signed certificate.

    ``detail`` is the handshake's failure reason, quoted when a client certificate was
    required.
    """
    if tls is None:
        return []
    findings: list[Finding] = []
    if tls.client_certificate_required:
        findings.append(
            Finding(
                id=f"{kind}-tls-client-certificate-required",
                severity=Severity.INFO,
                title=_CLIENT_CERTIFICATE_TITLE[kind],
                evidence=f"TLS handshake refused without a client certificate ({detail})",
            )
        )
    if tls.version in LEGACY_VERSIONS:
        findings.append(
            Finding(
                id="tls-legacy-version",
                severity=Severity.LOW,
                title="TLS version is obsolete",
                evidence=f"negotiated {tls.version} with {tls.cipher}",
                remediation=_LEGACY_REMEDIATION[kind],
            )
        )
    if tls.not_after is not None and expired(tls):
        findings.append(
            Finding(
                id="tls-certificate-expired",
                severity=Severity.LOW,
                title="TLS certificate has expired",
                evidence=f"certificate valid until {tls.not_after}",
                remediation="Renew the certificate.",
            )
        )
    if tls.self_signed:
        findings.append(
            Finding(
                id="tls-certificate-self-signed",
                severity=Severity.INFO,
                title="TLS certificate is self-signed",
                evidence=f"subject = issuer = {tls.subject}"
                if tls.subject is not None
                else "subject = issuer",
            )
        )
    if tls.unreadable:
        # The field names only: the bytes that could not be read are the peer's.
        findings.append(
            Finding(
                id="tls-certificate-unreadable",
                severity=Severity.INFO,
                title="TLS certificate fields could not be read",
                evidence=f"not readable as X.509 (RFC 5280): {tls.unreadable.replace(',', ', ')}",
                remediation="Reissue the certificate with standard encodings (UTF8String "
                "or PrintableString names, UTC times, a positive serial number).",
            )
        )
    return findings
