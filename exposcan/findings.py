"""The built-in probes' finding catalogue: every finding they report is made from one entry.

An entry (:class:`~exposcan.rules.Rule`) fixes what a finding *is*: its stable ``id``, its
one severity, a title free of peer values, the remediation and references; what the peer
said goes in the evidence only. SARIF rules and ``docs/findings.md`` are read from the
registry's catalogue (:data:`CATALOGUE`: these entries, then a registered probe's), so a
rule never depends on which endpoint came first. A new probe writes its entries the same
way in its own package (:class:`~exposcan.rules.Table`) and hands them to its
registration: nothing here changes for it.

Code rather than TOML: the classifiers name entries as attributes
(``findings.DICOM_QUERY_MATCHES``), so mypy and the import catch a misspelt id.
A fact whose weight depends on what follows is two entries, never one id with two
severities: ``web-dicomweb-qido-open`` (studies listed, critical) and
``web-dicomweb-qido-open-none-listed`` (high), as DIMSE has ``dicom-query-matches`` and
``dicom-query-allowed``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Final

from exposcan import rules
from exposcan.rules import Rule
from exposcan.vocabulary import Severity

__all__ = [
    "BUILT_IN",
    "CATALOGUE",
    "Rule",
    "markdown",
    "rule",
]

_table = rules.Table()
_entry = _table.entry

_ORTHANC_SECURITY = "https://orthanc.uclouvain.be/book/faq/security.html"
_PS38_ASSOCIATION = "DICOM PS3.8 §9.3 (association PDUs: A-ASSOCIATE-RQ/AC/RJ, A-ABORT)"
_PS34_QR = "DICOM PS3.4 Annex C (Query/Retrieve Service Class)"
_PS34_WORKLIST = "DICOM PS3.4 Annex K (Basic Worklist Management Service)"
_PS318 = "DICOM PS3.18 (Web Services: QIDO-RS, WADO-RS, STOW-RS, WADO-URI)"
_CWE_306 = "CWE-306: Missing Authentication for Critical Function"

_REMEDIATE_AE = (
    "Accept associations only from known AE titles and addresses (an AE whitelist "
    "with host checks), and keep the archive off networks strangers reach."
)
_REMEDIATE_QUERY = (
    "Refuse C-FIND from unknown peers (for Orthanc: DicomAlwaysAllowFind false and "
    "DicomCheckModalityHost true); restrict query to registered modalities."
)
_REMEDIATE_WORKLIST = (
    "Refuse worklist C-FIND from unknown peers (for Orthanc: DicomAlwaysAllowFindWorklist "
    "false and DicomCheckModalityHost true); answer worklist queries only for registered "
    "modalities."
)
_REMEDIATE_RETRIEVE = (
    "Refuse C-MOVE and C-GET from unknown peers (for Orthanc: DicomAlwaysAllowMove and "
    "DicomAlwaysAllowGet false, DicomCheckModalityHost true), and send C-MOVE results "
    "only to registered destinations: anyone who can retrieve can copy the archive."
)
_REMEDIATE_STORE = (
    "Refuse storage from unknown peers (for Orthanc: DicomAlwaysAllowStore false); "
    "accept objects only from registered modalities."
)
_REMEDIATE_STOCK = "Change the called AE title from its shipped default, and check callers."
_REMEDIATE_ORTHANC = (
    "Turn HTTP authentication on (AuthenticationEnabled true, RegisteredUsers with strong "
    "passwords), keep RemoteAccessAllowed false unless remote users need it, or put Orthanc "
    "behind an authenticating reverse proxy."
)
_REMEDIATE_QIDO = (
    "Require authentication on the DICOMweb endpoints (dcm4chee-arc: the secured build with "
    "Keycloak; Orthanc: HTTP authentication or the authorization plugin), or keep them off "
    "networks strangers reach."
)
_REMEDIATE_PIXELMED = (
    "PixelMed's web server (DicomAndWebStorageServer, WebServer.ListeningPort) has no "
    "authentication: do not set a web port where strangers reach it, or put it behind an "
    "authenticating reverse proxy."
)
_REMEDIATE_DICOOGLE = (
    "Dicoogle's web server answers its search API to anyone who reaches it: do not let "
    "strangers reach its web port (Dicoogle's own web app included), or put it behind an "
    "authenticating reverse proxy."
)
_DICOOGLE_SEARCH = "bioinformatics-ua/dicoogle SearchServlet (/search, numResults)"
_REMEDIATE_CONQUEST = (
    "Conquest's web interface (the dgate CGI) checks no credential of its own: do not "
    "serve cgi-bin/dgate where strangers reach it, or require authentication for it in "
    "the web server."
)
_CONQUEST_LIST = "marcelvanherk/Conquest-DICOM-Server dgate.cpp (mode=querypatients)"

# DICOM: association and AE titles (PS3.8 §9.3; reasons per Table 9-21).
DICOM_ASSOCIATION_REJECTED: Final = _entry(
    "dicom-association-rejected",
    Severity.INFO,
    "DICOM service refused the association",
    references=(_PS38_ASSOCIATION,),
)
DICOM_ASSOCIATION_ABORTED: Final = _entry(
    "dicom-association-aborted",
    Severity.INFO,
    "DICOM service aborted the association request",
    references=(_PS38_ASSOCIATION,),
)
DICOM_CONTEXT_LIMIT: Final = _entry(
    "dicom-context-limit",
    Severity.INFO,
    "The peer refused the whole service map in one request",
    references=("DICOM PS3.8 §9.3.2.2 (presentation context items)",),
)
DICOM_SUSPECTED_HONEYPOT: Final = _entry(
    "dicom-suspected-honeypot",
    Severity.INFO,
    "The peer answers like a DICOM honeypot, not like a real archive",
    # No remediation: a decoy is nobody's fault, and the exposure reported stands.
    "",
    (
        "DICOM PS3.8 §9.3.3.2 (presentation context result 3, abstract syntax not supported)",
        "DICOM PS3.7 Annex D.3.3.2 (implementation class UID, mandatory)",
        "DICOM PS3.4 §C.4.1.2.3 (C-FIND responses carry the keys requested)",
        "docs/decoys-and-products.md",
    ),
)
DICOM_AE_TITLE_NOT_CHECKED: Final = _entry(
    "dicom-ae-title-not-checked",
    Severity.MEDIUM,
    "Any called AE title is accepted",
    _REMEDIATE_AE,
    (_PS38_ASSOCIATION, _CWE_306),
)
DICOM_CALLED_AE_GUESSABLE: Final = _entry(
    "dicom-called-ae-guessable",
    Severity.LOW,
    "The called AE title tried first is configured; other titles are refused",
    _REMEDIATE_STOCK,
    (_PS38_ASSOCIATION,),
)
DICOM_STOCK_AE_TITLE: Final = _entry(
    "dicom-stock-ae-title",
    Severity.HIGH,
    "The called AE title is a shipped default",
    _REMEDIATE_STOCK,
    (_PS38_ASSOCIATION, "CWE-1392: Use of Default Credentials"),
)
DICOM_CALLED_AE_DISCLOSED: Final = _entry(
    "dicom-called-ae-disclosed",
    Severity.LOW,
    "A stock called AE title is in use (the peer's rejection reasons tell it)",
    _REMEDIATE_STOCK,
    ("DICOM PS3.8 §9.3.4 (A-ASSOCIATE-RJ reasons 3 and 7)",),
)
DICOM_CALLED_AE_CHECKED: Final = _entry(
    "dicom-called-ae-checked",
    Severity.INFO,
    "The called AE title is checked",
    references=("DICOM PS3.8 §9.3.4 (A-ASSOCIATE-RJ reason 7)",),
)
DICOM_CALLING_AE_CHECKED: Final = _entry(
    "dicom-calling-ae-checked",
    Severity.INFO,
    "The calling AE title is checked",
    references=("DICOM PS3.8 §9.3.4 (A-ASSOCIATE-RJ reason 3)",),
)

# DICOM: services behind an accepted association (PS3.4, PS3.7).
DICOM_STORAGE_ACCEPTED: Final = _entry(
    "dicom-storage-accepted",
    Severity.HIGH,
    "Storage accepted from an unknown peer",
    _REMEDIATE_STORE,
    ("DICOM PS3.4 Annex B (Storage Service Class)", _CWE_306),
)
DICOM_RETRIEVE_OFFERED: Final = _entry(
    "dicom-retrieve-offered",
    Severity.MEDIUM,
    "C-MOVE/C-GET offered to an unknown peer",
    _REMEDIATE_RETRIEVE,
    (_PS34_QR, "DICOM PS3.7 §9.1.3 (C-GET), §9.1.4 (C-MOVE)", _CWE_306),
)
DICOM_ECHO_UNAUTHENTICATED: Final = _entry(
    "dicom-echo-unauthenticated",
    Severity.MEDIUM,
    "DICOM C-ECHO answered for an AE title anyone could guess",
    _REMEDIATE_AE,
    ("DICOM PS3.7 §9.1.5 (C-ECHO)", "DICOM PS3.4 Annex A (Verification Service Class)"),
)
DICOM_ASSOCIATION_ACCEPTED: Final = _entry(
    "dicom-association-accepted",
    Severity.INFO,
    "DICOM association accepted, but nothing more succeeded",
    _REMEDIATE_AE,
    (_PS38_ASSOCIATION,),
)
DICOM_QUERY_MATCHES: Final = _entry(
    "dicom-query-matches",
    Severity.CRITICAL,
    "Metadata query returns matches to an unknown peer",
    _REMEDIATE_QUERY,
    (_PS34_QR, "DICOM PS3.7 §9.1.2 (C-FIND)", _CWE_306),
)
DICOM_QUERY_ALLOWED: Final = _entry(
    "dicom-query-allowed",
    Severity.HIGH,
    "Metadata query is answered for an unknown peer (no matches now)",
    _REMEDIATE_QUERY,
    (_PS34_QR, "DICOM PS3.7 §9.1.2 (C-FIND)", _CWE_306),
)
DICOM_QUERY_REFUSED: Final = _entry(
    "dicom-query-refused",
    Severity.INFO,
    "Metadata query refused",
    references=(_PS34_QR,),
)
DICOM_WORKLIST_MATCHES: Final = _entry(
    "dicom-worklist-matches",
    Severity.CRITICAL,
    "Modality worklist returns scheduled procedures to an unknown peer",
    _REMEDIATE_WORKLIST,
    (_PS34_WORKLIST, _CWE_306),
)
DICOM_WORKLIST_ALLOWED: Final = _entry(
    "dicom-worklist-allowed",
    Severity.HIGH,
    "Modality worklist is answered for an unknown peer (no items now)",
    _REMEDIATE_WORKLIST,
    (_PS34_WORKLIST, _CWE_306),
)
DICOM_WORKLIST_OFFERED: Final = _entry(
    "dicom-worklist-offered",
    Severity.LOW,
    "Modality worklist offered to an unknown peer",
    _REMEDIATE_WORKLIST,
    (_PS34_WORKLIST,),
)

# TLS, for DICOM (PS3.15 Annex B.9) and the web alike; the client certificate per protocol.
DICOM_TLS_CLIENT_CERTIFICATE_REQUIRED: Final = _entry(
    "dicom-tls-client-certificate-required",
    Severity.INFO,
    "DICOM over TLS requires a client certificate",
    references=("RFC 8446 §4.3.2 (CertificateRequest)",),
)
WEB_TLS_CLIENT_CERTIFICATE_REQUIRED: Final = _entry(
    "web-tls-client-certificate-required",
    Severity.INFO,
    "HTTPS requires a client certificate",
    references=("RFC 8446 §4.3.2 (CertificateRequest)",),
)
TLS_LEGACY_VERSION: Final = _entry(
    "tls-legacy-version",
    Severity.LOW,
    "TLS version is obsolete",
    "Offer TLS 1.2 or 1.3 only (for DICOM: the BCP 195 profiles, PS3.15 Annex B.9 and later).",
    ("RFC 8996 (TLS 1.0 and 1.1 deprecated)", "DICOM PS3.15 Annex B.9"),
)
TLS_CERTIFICATE_EXPIRED: Final = _entry(
    "tls-certificate-expired",
    Severity.LOW,
    "TLS certificate has expired",
    "Renew the certificate.",
    ("RFC 5280 §4.1.2.5 (validity)",),
)
TLS_CERTIFICATE_SELF_SIGNED: Final = _entry(
    "tls-certificate-self-signed",
    Severity.INFO,
    "TLS certificate is self-signed",
    references=("RFC 5280 §6.1 (path validation)",),
)
TLS_CERTIFICATE_UNREADABLE: Final = _entry(
    "tls-certificate-unreadable",
    Severity.INFO,
    "TLS certificate fields could not be read",
    "Reissue the certificate with standard encodings (UTF8String or PrintableString "
    "names, UTC times, a positive serial number).",
    ("RFC 5280 §4.1 (certificate fields)",),
)

# Web: DICOM web APIs, viewers and logins.
WEB_DEFAULT_CREDENTIALS: Final = _entry(
    "web-default-credentials",
    Severity.CRITICAL,
    "Documented default credentials are accepted",
    "Replace the default account with named users and strong passwords (Orthanc creates "
    "orthanc/orthanc when authentication is on and RegisteredUsers is empty).",
    ("CWE-1392: Use of Default Credentials", _ORTHANC_SECURITY),
)
WEB_ORTHANC_REST_OPEN: Final = _entry(
    "web-orthanc-rest-open",
    Severity.CRITICAL,
    "Orthanc REST API answers without authentication",
    _REMEDIATE_ORTHANC,
    (_ORTHANC_SECURITY, _CWE_306),
)
WEB_ORTHANC_REST_OPEN_NONE_LISTED: Final = _entry(
    "web-orthanc-rest-open-none-listed",
    Severity.HIGH,
    "Orthanc REST API answers without authentication (no study listed now)",
    _REMEDIATE_ORTHANC,
    (_ORTHANC_SECURITY, _CWE_306),
)
WEB_DICOMWEB_QIDO_OPEN: Final = _entry(
    "web-dicomweb-qido-open",
    Severity.CRITICAL,
    "DICOMweb QIDO-RS search answers without authentication",
    _REMEDIATE_QIDO,
    (_PS318, _CWE_306),
)
WEB_DICOMWEB_QIDO_OPEN_NONE_LISTED: Final = _entry(
    "web-dicomweb-qido-open-none-listed",
    Severity.HIGH,
    "DICOMweb QIDO-RS search answers without authentication (no study listed now)",
    _REMEDIATE_QIDO,
    (_PS318, _CWE_306),
)
WEB_PIXELMED_PATIENT_LIST_OPEN: Final = _entry(
    "web-pixelmed-patient-list-open",
    Severity.CRITICAL,
    "PixelMed web server lists patients without authentication",
    _REMEDIATE_PIXELMED,
    ("PixelMed com.pixelmed.web.RequestTypeServer (requestType=PATIENTLIST)", _CWE_306),
)
WEB_PIXELMED_PATIENT_LIST_OPEN_NONE_LISTED: Final = _entry(
    "web-pixelmed-patient-list-open-none-listed",
    Severity.HIGH,
    "PixelMed web server lists patients without authentication (no patient listed now)",
    _REMEDIATE_PIXELMED,
    ("PixelMed com.pixelmed.web.RequestTypeServer (requestType=PATIENTLIST)", _CWE_306),
)
WEB_CONQUEST_PATIENT_LIST_OPEN: Final = _entry(
    "web-conquest-patient-list-open",
    Severity.CRITICAL,
    "Conquest web interface lists patients without authentication",
    _REMEDIATE_CONQUEST,
    (_CONQUEST_LIST, _CWE_306),
)
WEB_CONQUEST_PATIENT_LIST_OPEN_NONE_LISTED: Final = _entry(
    "web-conquest-patient-list-open-none-listed",
    Severity.HIGH,
    "Conquest web interface lists patients without authentication (no patient listed now)",
    _REMEDIATE_CONQUEST,
    (_CONQUEST_LIST, _CWE_306),
)
WEB_DICOOGLE_SEARCH_OPEN: Final = _entry(
    "web-dicoogle-search-open",
    Severity.CRITICAL,
    "Dicoogle search answers without authentication",
    _REMEDIATE_DICOOGLE,
    (_DICOOGLE_SEARCH, _CWE_306),
)
WEB_DICOOGLE_SEARCH_OPEN_NONE_LISTED: Final = _entry(
    "web-dicoogle-search-open-none-listed",
    Severity.HIGH,
    "Dicoogle search answers without authentication (nothing indexed now)",
    _REMEDIATE_DICOOGLE,
    (_DICOOGLE_SEARCH, _CWE_306),
)
WEB_WADO_URI_PRESENT: Final = _entry(
    "web-wado-uri-present",
    Severity.MEDIUM,
    "WADO-URI endpoint answers without authentication (not exercised)",
    "Require authentication for WADO-URI: anyone who learns study, series and instance "
    "UIDs can retrieve images from it.",
    (_PS318, _CWE_306),
)
WEB_ORTHANC_DICOMWEB_PLUGIN: Final = _entry(
    "web-orthanc-dicomweb-plugin",
    Severity.INFO,
    "Orthanc's DICOMweb plugin is loaded",
    references=("https://orthanc.uclouvain.be/book/plugins/dicomweb.html",),
)
WEB_AUTH_REQUIRED: Final = _entry(
    "web-auth-required",
    Severity.INFO,
    "Web access requires authentication",
    references=("RFC 9110 §11 (HTTP authentication)",),
)
WEB_AUTH_REQUIRED_UNIDENTIFIED: Final = _entry(
    "web-auth-required-unidentified",
    Severity.INFO,
    "Web server requires authentication; nothing DICOM identified",
    references=("RFC 9110 §11 (HTTP authentication)",),
)
WEB_VIEWER_NO_LOGIN: Final = _entry(
    "web-viewer-no-login",
    Severity.LOW,
    "Image viewer is served without a login",
    "Serve the viewer behind authentication and check that the DICOMweb server it is "
    "configured with requires it too.",
    (_PS318,),
)
WEB_VIEWER_PRESENT: Final = _entry(
    "web-viewer-present",
    Severity.INFO,
    "PACS web interface is reachable (it logs users in by itself; not tested)",
)

#: The built-in probes' entries, in the order above (docs/findings.md's and SARIF's).
BUILT_IN: Final = _table.rules()


class _Registered(Mapping[str, Rule]):
    """The scan registry's catalogue (:data:`exposcan.probes.registry.PROBES`), read
    when used: the registry imports this module for the built-in entries."""

    @staticmethod
    def _live() -> Mapping[str, Rule]:
        from exposcan.probes.registry import PROBES

        return PROBES.catalogue

    def __getitem__(self, id: str) -> Rule:
        return self._live()[id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._live())

    def __len__(self) -> int:
        return len(self._live())


#: Every entry by id: the built-in ones in the order above, then each registered probe's.
CATALOGUE: Final[Mapping[str, Rule]] = _Registered()


def rule(id: str) -> Rule | None:
    """The entry for ``id``, or ``None`` (a report from another version may carry others)."""
    return CATALOGUE.get(id)


def markdown() -> str:
    """``docs/findings.md``: the catalogue as a page (a test keeps the file equal to it)."""
    return rules.markdown(CATALOGUE)


if __name__ == "__main__":
    import sys

    sys.stdout.write(markdown())
