"""What the web probe keeps: closed vocabularies and frozen records, nothing identifying.

A :class:`WebObservation` holds status codes, header facts, counts, product names and
versions only; bodies are read, interpreted and dropped by the probe. A redirect's target
is kept as facts (:class:`LoginRedirect`, ``RequestRecord.same_origin``), never as text;
versions pass :func:`exposcan.peertext.version` and the little text kept (the ``Server``
header, content types, the paths asked) :func:`exposcan.peertext.clean`, on construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from exposcan import peertext
from exposcan.results import TlsFacts
from exposcan.vocabulary import Protocol, Status

__all__ = [
    "VIEWER_PRODUCT",
    "CredentialOutcome",
    "CredentialTry",
    "DefaultCredential",
    "LoginRedirect",
    "Outcome",
    "Product",
    "RequestRecord",
    "ServiceCheck",
    "Viewer",
    "WebObservation",
    "WebService",
]


class WebService(StrEnum):
    """A data or identity API a web path showed (``ServiceCheck.service``,
    ``Verdict.services``); not a DICOM service (:class:`exposcan.dicom.services.Service`)."""

    ORTHANC_REST = "orthanc-rest"
    #: Orthanc's DICOMweb plugin, named by ``GET /plugins/dicom-web``
    ORTHANC_DICOMWEB_PLUGIN = "orthanc-dicomweb-plugin"
    DICOMWEB_QIDO = "dicomweb-qido"
    WADO_URI = "wado-uri"
    DCM4CHEE_ARC = "dcm4chee-arc"
    DICOOGLE = "dicoogle"
    #: Dicoogle's ``/search``: its index's own count of the instances a search matches
    DICOOGLE_SEARCH = "dicoogle-search"
    #: PixelMed's web server: ``?requestType=PATIENTLIST``, its list of every patient
    PIXELMED_PATIENT_LIST = "pixelmed-patient-list"
    #: Conquest's dgate CGI: ``?mode=querypatients``, its list of every patient
    CONQUEST_PATIENT_LIST = "conquest-patient-list"


class Outcome(StrEnum):
    """What one path showed a stranger (``ServiceCheck.outcome``)."""

    LISTED = "listed"  # answered with a study listing or a count > 0
    EMPTY = "empty"  # answered; no studies now
    PRESENT = "present"  # answered; not a listing (identity, WADO-URI, a plugin)
    REFUSED = "refused"  # 401/403 on this path while a random path was not refused
    LOGIN = "login-redirect"  # redirected to a login page on this path
    WALLED = "walled"  # refused, but so is every path: the service is not proven
    ABSENT = "absent"


class Viewer(StrEnum):
    """A web viewer or PACS UI recognised by its own markers (``WebObservation.viewers``)."""

    OHIF = "ohif"
    ORTHANC_EXPLORER = "orthanc-explorer"
    ORTHANC_EXPLORER_2 = "orthanc-explorer-2"
    DCM4CHEE_UI = "dcm4chee-ui"
    KHEOPS_UI = "kheops-ui"
    DICOOGLE_UI = "dicoogle-ui"
    PIXELMED_WEB = "pixelmed-web"
    CONQUEST_WEB = "conquest-web"
    HOROS_WEB_PORTAL = "horos-web-portal"
    OSIRIX_WEB_PORTAL = "osirix-web-portal"


class Product(StrEnum):
    """Products the probe can name (``WebObservation.product``, ``Fingerprint.product``)."""

    ORTHANC = "Orthanc"
    DCM4CHEE = "dcm4chee-arc"
    KHEOPS = "Kheops"
    DICOOGLE = "Dicoogle"
    OHIF = "OHIF Viewer"
    PIXELMED = "PixelMed"
    CONQUEST = "Conquest"
    HOROS = "Horos"
    OSIRIX = "OsiriX"


class CredentialOutcome(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    ERROR = "error"
    #: another port of this host was already tried in this scan
    ALREADY_TRIED = "already-tried"


VIEWER_PRODUCT: Final = {
    Viewer.OHIF: Product.OHIF,
    Viewer.ORTHANC_EXPLORER: Product.ORTHANC,
    Viewer.ORTHANC_EXPLORER_2: Product.ORTHANC,
    Viewer.DCM4CHEE_UI: Product.DCM4CHEE,
    Viewer.KHEOPS_UI: Product.KHEOPS,
    Viewer.DICOOGLE_UI: Product.DICOOGLE,
    Viewer.PIXELMED_WEB: Product.PIXELMED,
    Viewer.CONQUEST_WEB: Product.CONQUEST,
    Viewer.HOROS_WEB_PORTAL: Product.HOROS,
    Viewer.OSIRIX_WEB_PORTAL: Product.OSIRIX,
}


#: HTTP authentication schemes by their registered names (IANA "HTTP Authentication
#: Scheme Registry", RFC 9110 §16.4), and NTLM; any other token is reported as "other".
AUTH_SCHEMES: Final = {
    name.lower(): name
    for name in (
        "Basic",
        "Bearer",
        "Concealed",
        "Digest",
        "DPoP",
        "GNAP",
        "HOBA",
        "Mutual",
        "Negotiate",
        "NTLM",
        "OAuth",
        "PrivateToken",
        "SCRAM-SHA-1",
        "SCRAM-SHA-256",
        "vapid",
    )
}


def auth_scheme_name(token: str) -> str:
    """A ``WWW-Authenticate`` scheme as reported: its registered name, or ``"other"``."""
    return AUTH_SCHEMES.get(token.lower(), "other")


@dataclass(frozen=True, kw_only=True, slots=True)
class LoginRedirect:
    """A redirect to a login page, as facts: its target (path, query, host) is not kept."""

    status: int | None
    #: the login page is on the probed origin (scheme, host and port)
    same_origin: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestRecord:
    """One request as sent and answered: no header values, no body, no redirect target."""

    method: str
    #: path and query as sent (never credentials); a part may come from the peer (an AE
    #: title it listed, a viewer's QIDO root): never reported (see ``ServiceCheck.path``)
    path: str
    purpose: str
    status: int | None = None  # HTTP status; None when no answer arrived
    content_type: str | None = None  # media type only
    bytes_read: int = 0
    truncated: bool = False  # the body was longer than the cap (or cut short)
    error: Status | None = None  # how the request failed, if it did
    #: a redirect's target is on the probed origin (None: no redirect)
    same_origin: bool | None = None
    login_redirect: bool = False  # the redirect leads to a login page
    with_credentials: bool = False
    duration_s: float = 0.0
    #: the server sent its status line, then closed before its headers ended (no body)
    bare_status: bool = False

    def __post_init__(self) -> None:
        if self.content_type is not None:
            object.__setattr__(self, "content_type", peertext.clean_optional(self.content_type, 64))


@dataclass(frozen=True, kw_only=True, slots=True)
class ServiceCheck:
    """What one data or identity path showed a stranger."""

    service: WebService
    #: the path asked, as reported: a part the peer named is a placeholder
    #: (``{AET}``, ``{viewer qidoRoot}``), never the peer's text
    path: str
    outcome: Outcome
    #: patients counted (a patient list: PixelMed's ``requestType=PATIENTLIST``)
    patients: int | None = None
    #: studies counted; ``exact`` when the archive reported its own total (Orthanc
    #: ``/statistics``), else how many the listing held, which ``cap`` limited.
    studies: int | None = None
    exact: bool = False
    cap: int | None = None
    #: instances counted by the archive itself (Dicoogle's ``/search`` ``numResults``)
    instances: int | None = None
    with_credentials: bool = False
    #: the version the service reported about itself (a plugin's, for example)
    version: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", peertext.clean(self.path, 160))
        object.__setattr__(self, "version", peertext.version(self.version, product=True))


@dataclass(frozen=True, kw_only=True, slots=True)
class DefaultCredential:
    product: Product
    user: str
    password: str
    source: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CredentialTry:
    product: Product
    user: str
    outcome: CredentialOutcome


@dataclass(frozen=True, kw_only=True, slots=True)
class WebObservation:
    host: str
    port: int
    protocol: Protocol
    status: Status
    detail: str | None
    requests: tuple[RequestRecord, ...]
    product: Product | None = None
    version: str | None = None
    tls: TlsFacts | None = None
    duration_s: float = 0.0
    #: ``Server`` header (printable ASCII, at most 64 characters)
    server: str | None = None
    #: a random path answered 200: a 200 alone proves nothing on this origin
    catch_all: bool = False
    #: a random path answered 401 or redirected to a login: an authentication wall
    auth_wall: bool = False
    checks: tuple[ServiceCheck, ...] = ()
    viewers: tuple[Viewer, ...] = ()
    #: the viewer has a login of its own (OHIF with OpenID Connect configured)
    viewer_login: bool = False
    #: the viewer's configured QIDO root is on another origin (not probed: out of scope)
    viewer_api_elsewhere: bool = False
    #: WWW-Authenticate schemes seen, by registered name (:data:`AUTH_SCHEMES`) or "other"
    auth_schemes: tuple[str, ...] = ()
    login_redirect: LoginRedirect | None = None
    credentials: CredentialTry | None = None
    #: the first scheme tried looked wrong and the other one answered
    scheme_fallback: bool = False
    #: the DICOM ports the product says it listens on (Orthanc's ``/system`` DicomPort,
    #: Dicoogle's ``/management/dicom/storage`` and ``/query``), the first named first
    dicom_ports: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "version", peertext.version(self.version, product=True))
        object.__setattr__(self, "server", peertext.clean_optional(self.server, 64))
        object.__setattr__(self, "detail", peertext.clean_optional(self.detail, 512))

    @property
    def dicom_port(self) -> int | None:
        """The first DICOM port the product named, if any."""
        return self.dicom_ports[0] if self.dicom_ports else None

    @property
    def bytes_read(self) -> int:
        return sum(r.bytes_read for r in self.requests)
