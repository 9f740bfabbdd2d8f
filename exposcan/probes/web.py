"""The web probe: Orthanc REST, DICOMweb (QIDO-RS, WADO-URI) and viewers over HTTP(S).

One endpoint costs a short, fixed list of GET requests (at most :data:`MAX_REQUESTS`),
each granted by ``permit`` (the engine's rate limits) and each body read through a cap
(:data:`MAX_BODY_BYTES`). In order:

1. a random path: the scheme check (HTTP first, HTTPS first on 443/8443, the other one
   when the answer shows the wrong one: a hang-up, a TLS record, "plain HTTP request sent
   to HTTPS port"), and the baseline that screens out single-page apps answering 200 to
   every path and sites behind an authentication wall (401 or a login redirect there
   shortens the plan to steps 2 and 5). When both schemes only got a hang-up, one bare TLS
   handshake and a short listen tell a server that wants a client certificate;
2. ``/`` (viewer markers, redirects) and Orthanc's ``/system`` (product and version);
3. the data APIs: Orthanc ``/statistics`` (or ``/studies?limit=N``), QIDO-RS
   ``studies?limit=1`` under Orthanc's ``/dicom-web``, dcm4chee-arc's
   ``/dcm4chee-arc/aets/{AET}/rs`` (AET from its ``/dcm4chee-arc/aets`` listing), the
   common ``/dicomweb`` prefix, a viewer's own configured QIDO root (same origin only),
   Kheops' ``/api``;
4. ``/wado`` without parameters (WADO-URI presence, never a retrieval);
5. with ``ScanOptions.try_default_credentials`` only: the identified product's documented
   default credentials, once per credential pair and host for the whole scan.

Never requested: images, frames, rendered or thumbnail views, bulk data, instance files,
archives, media, or any WADO retrieval (:func:`check_path` refuses them before sending).
Bodies are parsed for counts, product names and versions, then dropped; a
:class:`WebObservation` holds status codes, header facts, counts and names only.

Like :mod:`exposcan.probes.dimse`, the probe returns an observation whatever the network
does; it never raises for a network condition.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import json
import re
import secrets
import ssl
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import quote, urlsplit

import aiohttp
from yarl import URL

from exposcan._version import __version__
from exposcan.net import Connection, NetError, open_connection
from exposcan.net.tls import CLIENT_CERTIFICATE_ALERTS, client_context, facts_of
from exposcan.options import ScanOptions
from exposcan.results import TlsFacts
from exposcan.vocabulary import Protocol, Status

__all__ = [
    "DEFAULT_CREDENTIALS",
    "HTTPS_FIRST_PORTS",
    "MAX_BODY_BYTES",
    "MAX_REQUESTS",
    "USER_AGENT",
    "CredentialTry",
    "DefaultCredential",
    "RequestRecord",
    "ServiceCheck",
    "UnsafePathError",
    "WebObservation",
    "check_path",
    "make_web_session",
    "probe_web",
]

Permit = Callable[[], Awaitable[None]]

USER_AGENT: Final = f"exposcan/{__version__} (+authorised security scan)"
#: At most this much of one response body is read; the rest is never received.
MAX_BODY_BYTES: Final = 256 * 1024
#: At most this many requests per endpoint (a typical one costs 4 to 9; see the plan above).
MAX_REQUESTS: Final = 16
#: Ports where HTTPS is tried first.
HTTPS_FIRST_PORTS: Final = frozenset({443, 8443})
_CHUNK: Final = 16 * 1024
#: How long to listen after a bare TLS handshake for a client-certificate alert.
TLS_SETTLE_S: Final = 0.3
#: Viewer and error-page markers are looked for in the first bytes only.
_MARKER_WINDOW: Final = 64 * 1024

# Service names (WebObservation.checks, Verdict.services).
ORTHANC_REST: Final = "orthanc-rest"
DICOMWEB_QIDO: Final = "dicomweb-qido"
WADO_URI: Final = "wado-uri"
DCM4CHEE_ARC: Final = "dcm4chee-arc"
DICOOGLE: Final = "dicoogle"

# Viewer names (WebObservation.viewers).
OHIF: Final = "ohif"
ORTHANC_EXPLORER: Final = "orthanc-explorer"
ORTHANC_EXPLORER_2: Final = "orthanc-explorer-2"
DCM4CHEE_UI: Final = "dcm4chee-ui"
KHEOPS_UI: Final = "kheops-ui"
DICOOGLE_UI: Final = "dicoogle-ui"

# ServiceCheck.outcome values.
LISTED: Final = "listed"  # answered a stranger with a study listing or count > 0
EMPTY: Final = "empty"  # answered a stranger; no studies now
PRESENT: Final = "present"  # answered a stranger; not a listing (identity, WADO-URI)
REFUSED: Final = "refused"  # 401/403 on this path while a random path was not refused
LOGIN: Final = "login-redirect"  # redirected to a login page on this path
WALLED: Final = "walled"  # refused, but so is every path: the service is not proven
ABSENT: Final = "absent"

PRODUCT_ORTHANC: Final = "Orthanc"
PRODUCT_DCM4CHEE: Final = "dcm4chee-arc"
PRODUCT_KHEOPS: Final = "Kheops"
PRODUCT_DICOOGLE: Final = "Dicoogle"
PRODUCT_OHIF: Final = "OHIF Viewer"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestRecord:
    """One request as sent and answered: no header values, no body."""

    method: str
    path: str  # path and query as sent (never credentials)
    purpose: str
    status: int | None = None  # HTTP status; None when no answer arrived
    content_type: str | None = None  # media type only
    bytes_read: int = 0
    truncated: bool = False  # the body was longer than the cap (or cut short)
    error: Status | None = None  # how the request failed, if it did
    location: str | None = None  # redirect target: scheme, host and path; query dropped
    login_redirect: bool = False  # the redirect leads to a login page
    with_credentials: bool = False
    duration_s: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class ServiceCheck:
    """What one data or identity path showed a stranger."""

    service: str  # orthanc-rest | dicomweb-qido | wado-uri | dcm4chee-arc | dicoogle
    path: str
    outcome: str  # listed | empty | present | refused | login-redirect | walled | absent
    #: studies counted; ``exact`` when the archive reported its own total (Orthanc
    #: ``/statistics``), else how many the listing held, which ``cap`` limited.
    studies: int | None = None
    exact: bool = False
    cap: int | None = None
    with_credentials: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class DefaultCredential:
    product: str
    user: str
    password: str
    source: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CredentialTry:
    product: str
    user: str
    #: accepted | refused | error | already-tried (another port of this host, this scan)
    outcome: str


@dataclass(frozen=True, kw_only=True, slots=True)
class WebObservation:
    host: str
    port: int
    protocol: Protocol
    status: Status
    detail: str | None
    requests: tuple[RequestRecord, ...]
    product: str | None = None
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
    viewers: tuple[str, ...] = ()
    #: the viewer has a login of its own (OHIF with OpenID Connect configured)
    viewer_login: bool = False
    #: the viewer's configured QIDO root is on another origin (not probed: out of scope)
    viewer_api_elsewhere: bool = False
    #: WWW-Authenticate schemes seen (Basic, Bearer, ...)
    auth_schemes: tuple[str, ...] = ()
    login_redirect: str | None = None
    credentials: CredentialTry | None = None
    #: the first scheme tried looked wrong and the other one answered
    scheme_fallback: bool = False

    @property
    def bytes_read(self) -> int:
        return sum(r.bytes_read for r in self.requests)


#: Documented default credentials, tried only with ``--try-default-credentials``.
DEFAULT_CREDENTIALS: Final = (
    DefaultCredential(
        product=PRODUCT_ORTHANC,
        user="orthanc",
        password="orthanc",  # noqa: S106 - the documented default is the point
        source=(
            "Orthanc >= 1.5.8, OrthancServer/Sources/main.cpp: with HTTP authentication on "
            'and no RegisteredUsers, Orthanc registers "orthanc"/"orthanc" and logs that the '
            "setup is insecure; the official Docker images document the same pair"
        ),
    ),
)
_CREDENTIALS_TRIED: weakref.WeakKeyDictionary[aiohttp.ClientSession, set[tuple[str, str, str]]] = (
    weakref.WeakKeyDictionary()
)


# --------------------------------------------------------------------------- session


def make_web_session(options: ScanOptions) -> aiohttp.ClientSession:
    """The one HTTP client of a scan (create it inside the event loop; close it at the end).

    Connection limits follow the engine's (global and per host); deadlines are per step
    (connect, each read) because the probe bounds the whole endpoint itself; no cookies are
    kept, no proxy is taken from the environment, redirects are never followed (each
    request says so), and the TLS context verifies nothing so that every certificate can
    be reported (:func:`exposcan.net.tls.client_context`).
    """
    connector = aiohttp.TCPConnector(
        limit=options.limits.concurrency,
        limit_per_host=options.limits.per_host_concurrency,
        ssl=client_context(),
        force_close=False,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(
            total=None,
            sock_connect=options.timeouts.connect,
            sock_read=options.timeouts.read,
        ),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        # Decompression happens in steps of at most read_bufsize (aiohttp >= 3.12), and
        # the probe stops reading at MAX_BODY_BYTES of decoded body; we also ask for none.
        auto_decompress=True,
        read_bufsize=64 * 1024,
        max_line_size=8190,
        max_field_size=8190,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )


# --------------------------------------------------------------------------- safety


class UnsafePathError(ValueError):
    """A request the probe must never send (a retrieval, or not a plain path)."""


# Retrieval and rendering resources of PS3.18 and of the products' own downloads, in
# two rules. Case-sensitive (DICOMweb and Orthanc spell their collections in lower case,
# AE titles in a path are usually upper case): any resource below a collection
# (WADO-RS /studies/{uid}..., Orthanc /instances/{id}/file, /studies/{id}/archive) and
# listings below study level. Any case: a download word as the last segment or the one
# before it (frames/1, rendered, thumbnail, bulkdata, file, archive, media, preview; Dicoogle
# /dic2png, /dump, /export), a WADO-URI retrieval (requestType), anything below /wado.
_FORBIDDEN_RESOURCE = re.compile(
    r"/(?:studies|series|instances|patients)/[^?]|/(?:series|instances|patients)(?:\?|$)"
)
_FORBIDDEN_DOWNLOAD = re.compile(
    r"""
    /(?:frames|rendered|thumbnail|bulkdata|pixeldata|file|archive|media|preview|content
        |attachments|metadata|dic2png|dump|export)(?:/[^/?]*)?(?:\?|$)
    | [?&]requesttype=
    | /wado[?/]
    """,
    re.IGNORECASE | re.VERBOSE,
)
_PATH_CHARS = re.compile(r"/[A-Za-z0-9._~!$'()*+,;=:@%/-]*(?:\?[A-Za-z0-9._~=&%-]*)?")


def check_path(path: str) -> str:
    """Return ``path`` if the probe may request it; raise :class:`UnsafePathError` if not."""
    if not _PATH_CHARS.fullmatch(path) or "//" in path or "/.." in path:
        raise UnsafePathError("not a plain absolute path")
    if _FORBIDDEN_RESOURCE.search(path) or _FORBIDDEN_DOWNLOAD.search(path):
        raise UnsafePathError("a retrieval or download resource")
    return path


# --------------------------------------------------------------------------- probe


@dataclass(slots=True)
class _Answer:
    """One response, held only while the probe interprets it."""

    status: int
    content_type: str
    location: str | None
    challenges: tuple[str, ...]
    server: str | None
    body: bytes
    truncated: bool
    digest: bytes


@dataclass(frozen=True, slots=True)
class _Failure:
    status: Status
    detail: str
    wrong_scheme: bool = False
    client_certificate_required: bool = False
    not_tls: bool = False


class _Stop(Exception):
    """Internal: the endpoint stopped answering; end the plan."""


_LOGIN = re.compile(
    r"log-?in|sign-?in|/sso\b|oauth|openid|saml|/auth(?:/|$|\?)|/realms/|/cas/|keycloak",
    re.IGNORECASE,
)
_HTTPS_PORT_MARKERS = (
    b"plain http request was sent to https port",  # nginx
    b"speaking plain http to an ssl-enabled server",  # Apache httpd
    b"http request to an https server",  # Go net/http
)
#: OpenSSL reasons that mean "the peer is not speaking TLS at all".
_NOT_TLS_REASONS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "RECORD_LAYER_FAILURE",
        "PACKET_LENGTH_TOO_LONG",
        "HTTP_REQUEST",
        "UNKNOWN_PROTOCOL",
        "UNEXPECTED_EOF_WHILE_READING",
    }
)
#: Orthanc's HTTP server challenges with this realm (OrthancFramework HttpServer.cpp).
_ORTHANC_REALM = re.compile(r'realm="Orthanc Secure Area"', re.IGNORECASE)
_AUTH_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,15}")
_ORTHANC_SERVER = re.compile(r"\bOrthanc\b(?:/(\d[\w.-]{0,31}))?", re.IGNORECASE)
_VERSION = re.compile(r"\d[\w.+-]{0,31}")
_AE_TITLE = re.compile(r"[ -\[\]-~]{1,16}")  # PS3.5 AE: default repertoire, no backslash
_QIDO_ROOT = re.compile(rb"""qidoRoot\s*:\s*["'`]([^"'`\s]{1,300})["'`]""")
_STUDY_UID_TAG = b'"0020000D"'
_DICOM_JSON = "application/dicom+json"

#: (viewer, regex over the first bytes of an HTML page)
_VIEWER_MARKERS: Final = (
    (OHIF, re.compile(rb"<title>\s*OHIF|content=\"OHIF Viewer\"|@ohif/app", re.IGNORECASE)),
    (ORTHANC_EXPLORER_2, re.compile(rb"<title>\s*Orthanc Explorer 2", re.IGNORECASE)),
    (ORTHANC_EXPLORER, re.compile(rb"<title>\s*Orthanc Explorer\s*<", re.IGNORECASE)),
    (DCM4CHEE_UI, re.compile(rb"<title>\s*dcm4chee-arc|/dcm4chee-arc/ui2/", re.IGNORECASE)),
    (KHEOPS_UI, re.compile(rb"<title>[^<]{0,40}kheops", re.IGNORECASE)),
    (DICOOGLE_UI, re.compile(rb"<title>[^<]{0,40}dicoogle", re.IGNORECASE)),
)
_VIEWER_PRODUCT: Final = {
    OHIF: PRODUCT_OHIF,
    ORTHANC_EXPLORER: PRODUCT_ORTHANC,
    ORTHANC_EXPLORER_2: PRODUCT_ORTHANC,
    DCM4CHEE_UI: PRODUCT_DCM4CHEE,
    KHEOPS_UI: PRODUCT_KHEOPS,
    DICOOGLE_UI: PRODUCT_DICOOGLE,
}
#: Redirect targets of a root page that name the viewer behind it.
_ROOT_REDIRECTS: Final = (
    (ORTHANC_EXPLORER, re.compile(r"(?:^|/)app/explorer\.html$")),
    (ORTHANC_EXPLORER_2, re.compile(r"(?:^|/)ui/app/?$")),
    (DCM4CHEE_UI, re.compile(r"/dcm4chee-arc/ui2/?")),
)


def schemes_for(port: int) -> tuple[str, str]:
    """The order in which HTTP and HTTPS are tried on ``port``."""
    return ("https", "http") if port in HTTPS_FIRST_PORTS else ("http", "https")


class _Probe:
    def __init__(
        self,
        host: str,
        port: int,
        options: ScanOptions,
        session: aiohttp.ClientSession,
        permit: Permit | None,
    ) -> None:
        self.host = host
        self.port = port
        self.options = options
        self.session = session
        self.permit = permit
        self.granted = False  # the first permit is taken before the deadline starts
        self.scheme = schemes_for(port)[0]
        self.records: list[RequestRecord] = []
        self.failures: list[_Failure] = []
        self.answered = 0
        self.consecutive_failures = 0
        self.tls: TlsFacts | None = None
        self.server: str | None = None
        self.baseline: _Answer | None = None
        self.catch_all = False
        self.auth_wall = False
        self.short_plan = False
        self.checks: list[ServiceCheck] = []
        self.viewers: list[str] = []
        self.viewer_login = False
        self.viewer_api_elsewhere = False
        self.challenges: list[str] = []
        self.login_redirect: str | None = None
        self.products: list[str] = []
        self.version: str | None = None
        self.credentials: CredentialTry | None = None
        self.scheme_fallback = False
        self.qido_paths: set[str] = set()

    # ------------------------------------------------------------------ transport

    def url(self, path: str) -> URL:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return URL(f"{self.scheme}://{host}:{self.port}{path}", encoded=True)

    async def get(
        self,
        path: str,
        purpose: str,
        *,
        accept: str = "*/*",
        credential: DefaultCredential | None = None,
    ) -> _Answer | None:
        """GET ``path``; ``None`` when no answer came (the failure is in ``failures``)."""
        check_path(path)
        if len(self.records) >= MAX_REQUESTS:
            return None
        if self.granted:
            self.granted = False
        elif self.permit is not None:
            await self.permit()
        started = time.monotonic()
        record: dict[str, Any] = {
            "method": "GET",
            "path": path,
            "purpose": purpose,
            "with_credentials": credential is not None,
        }
        answer: _Answer | None = None
        try:
            answer = await self._exchange(path, accept, credential, record)
        except asyncio.CancelledError:
            record["error"] = Status.IO_TIMEOUT  # the endpoint deadline
            raise
        except (aiohttp.ClientError, OSError, TimeoutError, EOFError, ValueError) as exc:
            # Every network condition becomes a status (ssl.SSLError is an OSError; a
            # malformed answer surfaces as a ClientError or a ValueError); bugs propagate.
            failure = _failure_of(exc, self.scheme)
            self.failures.append(failure)
            record["error"] = failure.status
        finally:
            record["duration_s"] = time.monotonic() - started
            self.records.append(RequestRecord(**record))
        if answer is None:
            self.consecutive_failures += 1
        else:
            self.answered += 1
            self.consecutive_failures = 0
            if answer.server and self.server is None:
                self.server = answer.server
            for challenge in answer.challenges:
                if challenge not in self.challenges:
                    self.challenges.append(challenge)
        return answer

    async def _exchange(
        self,
        path: str,
        accept: str,
        credential: DefaultCredential | None,
        record: dict[str, Any],
    ) -> _Answer:
        headers = {"Accept": accept}
        if credential is not None:
            # RFC 7617 Basic; built here (aiohttp deprecates BasicAuth), never recorded.
            token = base64.b64encode(f"{credential.user}:{credential.password}".encode())
            headers["Authorization"] = "Basic " + token.decode("ascii")
        async with self.session.get(
            self.url(path), allow_redirects=False, headers=headers
        ) as response:
            if self.scheme == "https" and self.tls is None:
                self.tls = _tls_of(response)
            record["status"] = response.status
            raw_type = response.headers.get("Content-Type")
            content_type = raw_type.split(";", 1)[0].strip().lower()[:64] if raw_type else ""
            record["content_type"] = content_type or None
            location = response.headers.get("Location")
            if location is not None:
                record["location"] = _safe_location(location)
                record["login_redirect"] = _LOGIN.search(location) is not None
            body, truncated = await _read_capped(response, record)
            if truncated:
                response.close()  # never drain the rest of an unbounded body
            offers = response.headers.getall("WWW-Authenticate", [])
            challenges = tuple(
                dict.fromkeys(m.group(0) for v in offers if (m := _AUTH_SCHEME.match(v.strip())))
            )
            if any(_ORTHANC_REALM.search(v) for v in offers):
                self._product(PRODUCT_ORTHANC)
            return _Answer(
                status=response.status,
                content_type=content_type,
                location=location,
                challenges=challenges,
                server=_printable(response.headers.get("Server")),
                body=body,
                truncated=truncated,
                digest=hashlib.sha256(body).digest(),
            )

    # ------------------------------------------------------------------ helpers

    def _product(self, product: str, version: str | None = None) -> None:
        if product not in self.products:
            self.products.append(product)
        if version and self.version is None and self.products[0] == product:
            self.version = version

    def _viewer(self, viewer: str) -> None:
        if viewer not in self.viewers:
            self.viewers.append(viewer)
            self._product(_VIEWER_PRODUCT[viewer])

    def json(self, answer: _Answer | None) -> Any:
        """The body as JSON, unless it is the random path's own answer (the SPA screen)."""
        if answer is None or self.same_as_baseline(answer):
            return None
        return _json(answer)

    def same_as_baseline(self, answer: _Answer) -> bool:
        """The SPA screen: a 200 with the random path's very body proves nothing."""
        base = self.baseline
        return (
            base is not None
            and base.status == answer.status == 200
            and base.digest == answer.digest
        )

    def refusal(self, answer: _Answer) -> str | None:
        """REFUSED/LOGIN for a path-specific refusal, WALLED behind a wall, else None."""
        login = _is_login_redirect(answer)
        if answer.status not in (401, 403) and not login:
            return None
        if login and self.login_redirect is None and answer.location is not None:
            self.login_redirect = _safe_location(answer.location)
            self._login_hints(answer.location)
        if self.auth_wall:
            return WALLED
        return LOGIN if login else REFUSED

    def _login_hints(self, location: str) -> None:
        # Keycloak realms and clients of the products' secured builds; read here, never kept.
        if re.search(r"/realms/dcm4che\b|dcm4chee-arc-ui", location, re.IGNORECASE):
            self._product(PRODUCT_DCM4CHEE)
        elif re.search(r"kheops", location, re.IGNORECASE):
            self._product(PRODUCT_KHEOPS)

    def check(self, service: str, path: str, outcome: str, **counts: Any) -> ServiceCheck:
        result = ServiceCheck(service=service, path=path, outcome=outcome, **counts)
        self.checks.append(result)
        return result

    def has(self, service: str, *outcomes: str) -> bool:
        return any(c.service == service and c.outcome in outcomes for c in self.checks)

    def listed_anywhere(self) -> bool:
        return any(c.outcome == LISTED for c in self.checks)

    def alive(self) -> None:
        """Stop the plan when the endpoint has stopped answering."""
        last = self.failures[-1] if self.failures and self.consecutive_failures else None
        if last is not None and (
            self.consecutive_failures >= 2
            or last.status
            in (Status.CONNECTION_REFUSED, Status.CONNECTION_TIMEOUT, Status.IO_TIMEOUT)
        ):
            raise _Stop

    # ------------------------------------------------------------------ the plan

    async def run(self) -> None:
        await self.establish()
        await self.root()
        await self.orthanc()
        self.alive()
        if not self.has(ORTHANC_REST, LISTED, EMPTY, PRESENT) and not self.short_plan:
            await self.dcm4chee()
            self.alive()
        if not self.short_plan:
            await self.dicomweb()
            self.alive()
            await self.viewer_apis()
            self.alive()
            await self.wado()
            self.alive()
        await self.default_credentials()

    async def establish(self) -> None:
        """The baseline request (a random path), on the right scheme."""
        path = f"/exposcan-{secrets.token_hex(8)}"
        first, second = schemes_for(self.port)
        answer = await self.get(path, "baseline")
        wrong: _Failure | None = None
        if answer is not None and _plain_to_https(answer):
            wrong = _Failure(
                Status.PROTOCOL_ERROR, "plain HTTP sent to an HTTPS port", wrong_scheme=True
            )
        elif answer is None:
            wrong = self.failures[-1]
            if not wrong.wrong_scheme:
                if wrong.client_certificate_required:
                    await self.tls_handshake()  # for the certificate's facts
                raise _Stop
        if wrong is not None:
            self.scheme = second
            answer = await self.get(path, "baseline")
            if answer is None:
                again = self.failures[-1]
                tls_server = (
                    second == "https" and again.status is Status.TLS_ERROR and not again.not_tls
                )
                if not tls_server:
                    # The other scheme did no better: report what the first one saw.
                    self.scheme = first
                    self.failures.append(wrong)
                if again.client_certificate_required or (
                    Status.CONNECTION_CLOSED is wrong.status is again.status
                ):
                    await self.tls_handshake()
                raise _Stop
            self.scheme_fallback = True
        assert answer is not None
        self.baseline = answer
        self.catch_all = answer.status == 200
        login = _is_login_redirect(answer)
        # 401 or a login everywhere: an authentication wall, so the data paths are not
        # worth asking. A 403 everywhere may be a filter in front of some open paths.
        self.short_plan = answer.status == 401 or login
        self.auth_wall = answer.status in (401, 403) or login
        if login:
            self.refusal(answer)  # keeps the login target and its product hints

    async def tls_handshake(self) -> None:
        """Both schemes got a hang-up: is it a TLS server that wants a client certificate?

        In TLS 1.3 the server rejects the missing certificate only after the client's side
        of the handshake has finished, and an HTTP client that sends its request at once
        sees a bare disconnect. One handshake, then a short listen, catches the alert
        (as :func:`exposcan.probes.dimse._settle` does for DICOM over TLS).
        """
        if len(self.records) >= MAX_REQUESTS:
            return
        if self.permit is not None:
            await self.permit()
        started = time.monotonic()
        error: Status | None = None
        connection: Connection | None = None
        try:
            connection = await open_connection(
                self.host, self.port, timeout=self.options.timeouts.connect, tls=client_context()
            )
            self.tls = connection.tls
            self.scheme = "https"  # a TLS server, whatever comes next
            if await connection.receive(timeout=TLS_SETTLE_S) == b"":
                self.failures.append(
                    _Failure(Status.CONNECTION_CLOSED, "closed right after the TLS handshake")
                )
        except NetError as exc:
            error = exc.status
            if exc.status is Status.TLS_ERROR and exc.detail in CLIENT_CERTIFICATE_ALERTS:
                self.scheme = "https"
                self.failures.append(
                    _Failure(Status.TLS_ERROR, exc.detail, client_certificate_required=True)
                )
        finally:
            if connection is not None:
                await connection.close(timeout=self.options.timeouts.release)
            self.records.append(
                RequestRecord(
                    method="TLS",
                    path="/",
                    purpose="tls-handshake",
                    error=error,
                    duration_s=time.monotonic() - started,
                )
            )

    async def root(self) -> None:
        answer = await self.get("/", "root", accept="text/html,*/*;q=0.5")
        self.alive()
        if answer is None:
            return
        self.refusal(answer)
        if answer.location is not None and answer.status in (301, 302, 303, 307, 308):
            try:
                target = urlsplit(answer.location).path
            except ValueError:
                target = ""
            for viewer, pattern in _ROOT_REDIRECTS:
                if pattern.search(target):
                    self._viewer(viewer)
        if answer.status == 200:
            self._viewers_in(answer.body)
        if self.server and (match := _ORTHANC_SERVER.search(self.server)):
            self._product(PRODUCT_ORTHANC, match.group(1))

    def _viewers_in(self, body: bytes) -> None:
        window = body[:_MARKER_WINDOW]
        for viewer, pattern in _VIEWER_MARKERS:
            if pattern.search(window):
                self._viewer(viewer)
                break

    async def orthanc(self, credential: DefaultCredential | None = None) -> bool:
        """Orthanc's ``/system``, then a study count; True when Orthanc answered.

        Orthanc REST API reference (https://orthanc.uclouvain.be/api/): ``GET /system``
        returns ``Name``, ``Version``, ``ApiVersion``, ``DicomAet``...; ``GET /statistics``
        returns ``CountStudies`` (and patients, series, instances, disk sizes); ``GET
        /studies`` lists study identifiers and accepts ``limit`` and ``since``. See also
        the Orthanc Book, "REST API of the Orthanc server"
        (https://orthanc.uclouvain.be/book/users/rest.html).
        """
        answer = await self.get(
            "/system", "orthanc-system", accept="application/json", credential=credential
        )
        if answer is None:
            return False
        system = self.json(answer)
        if not (
            isinstance(system, dict)
            and isinstance(system.get("Version"), str)
            and ("ApiVersion" in system or "DicomAet" in system)
        ):
            if credential is None:
                outcome = self.refusal(answer)
                if outcome is not None and PRODUCT_ORTHANC in self.products:
                    # Orthanc's realm: this refusal is Orthanc's REST API itself.
                    self.check(ORTHANC_REST, "/system", REFUSED if outcome == WALLED else outcome)
                elif outcome in (REFUSED, LOGIN):
                    self.check(ORTHANC_REST, "/system", outcome)
            return False
        version = system["Version"]
        self._product(PRODUCT_ORTHANC)
        if self.products[0] != PRODUCT_ORTHANC:
            self.products.remove(PRODUCT_ORTHANC)
            self.products.insert(0, PRODUCT_ORTHANC)
        if self.version is None and _VERSION.fullmatch(version):
            self.version = version
        del system, answer
        if not self.short_plan or credential is not None:
            self.alive()
            if not await self._orthanc_count(credential):
                self.check(
                    ORTHANC_REST, "/system", PRESENT, with_credentials=credential is not None
                )
        if credential is None:
            await self._orthanc_dicomweb()
        return True

    async def _orthanc_count(self, credential: DefaultCredential | None) -> bool:
        answer = await self.get(
            "/statistics", "orthanc-statistics", accept="application/json", credential=credential
        )
        statistics = self.json(answer)
        count = statistics.get("CountStudies") if isinstance(statistics, dict) else None
        del statistics
        if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
            self.check(
                ORTHANC_REST,
                "/statistics",
                LISTED if count else EMPTY,
                studies=count,
                exact=True,
                cap=self.options.max_matches,
                with_credentials=credential is not None,
            )
            return True
        self.alive()
        cap = self.options.max_matches
        path = f"/studies?limit={cap}"
        answer = await self.get(
            path, "orthanc-studies", accept="application/json", credential=credential
        )
        studies = self.json(answer)
        if isinstance(studies, list) and all(isinstance(s, str) for s in studies):
            n = len(studies)
            del studies
            self.check(
                ORTHANC_REST,
                path,
                LISTED if n else EMPTY,
                studies=n,
                cap=cap,
                with_credentials=credential is not None,
            )
            return True
        return False

    async def _orthanc_dicomweb(self) -> None:
        # The DICOMweb plugin's default root (its "Root" option): /dicom-web/.
        if not self.short_plan:
            self.alive()
            await self.qido("/dicom-web")

    async def dcm4chee(self) -> None:
        """dcm4chee-arc-light: ``GET /dcm4chee-arc/aets`` lists the archive's AEs (JSON,
        ``dicomAETitle`` in 5.x, ``title`` in older releases; QueryAETs.java), and each
        AE's DICOMweb services live under ``/dcm4chee-arc/aets/{AET}/rs/``."""
        path = "/dcm4chee-arc/aets"
        answer = await self.get(path, "dcm4chee-aets", accept="application/json")
        if answer is None:
            return
        listing = self.json(answer)
        titles: list[str] = []
        if isinstance(listing, list):
            for entry in listing[:64]:
                if isinstance(entry, dict):
                    title = entry.get("dicomAETitle", entry.get("title"))
                    if isinstance(title, str) and _AE_TITLE.fullmatch(title):
                        titles.append(title)
        del listing
        if titles:
            self._product(PRODUCT_DCM4CHEE)
            self.check(DCM4CHEE_ARC, path, PRESENT)
            # The archive's default AE is DCM4CHEE (dcm4chee-arc-light wiki, docker images).
            aet = "DCM4CHEE" if "DCM4CHEE" in titles else titles[0]
            self.alive()
            await self.qido(f"/dcm4chee-arc/aets/{quote(aet, safe='')}/rs")
        else:
            outcome = self.refusal(answer)
            if outcome in (REFUSED, LOGIN):
                self._product(PRODUCT_DCM4CHEE)
                self.check(DCM4CHEE_ARC, path, outcome)
            else:
                return
        self.alive()
        ui = await self.get("/dcm4chee-arc/ui2/", "dcm4chee-ui", accept="text/html")
        if ui is not None and ui.status == 200 and not self.same_as_baseline(ui):
            self._viewers_in(ui.body)

    async def dicomweb(self) -> None:
        """Common DICOMweb roots, until one lists studies."""
        for root in ("/dicom-web", "/dicomweb"):
            if self.listed_anywhere():
                return
            self.alive()
            await self.qido(root)

    async def qido(self, root: str) -> None:
        """QIDO-RS Search for Studies, one result: ``GET {root}/studies?limit=1``.

        DICOM PS3.18 §10.6 (Search Transaction) with the ``limit`` parameter of §8.3.4.4
        and the ``application/dicom+json`` media type (PS3.18 Annex F, DICOM JSON Model);
        a match is an object carrying Study Instance UID (0020000D). Every match's values
        are dropped once counted.
        """
        path = f"{root.rstrip('/')}/studies?limit=1"
        if path in self.qido_paths:
            return
        try:
            check_path(path)  # roots come from peers (an AE listing, a viewer's config)
        except UnsafePathError:
            return
        self.qido_paths.add(path)
        answer = await self.get(path, "qido-studies", accept=f"{_DICOM_JSON}, application/json")
        if answer is None:
            return
        count = None if self.same_as_baseline(answer) else _qido_count(answer)
        if count is not None:
            self.check(DICOMWEB_QIDO, path, LISTED if count else EMPTY, studies=count, cap=1)
            return
        if answer.status == 204 and not (self.baseline is not None and self.baseline.status == 204):
            # PS3.18 §8.3.3.1 lets a search with no match answer 204 No Content.
            self.check(DICOMWEB_QIDO, path, EMPTY, studies=0, cap=1)
            return
        outcome = self.refusal(answer)
        if outcome in (REFUSED, LOGIN):
            self.check(DICOMWEB_QIDO, path, outcome)

    async def viewer_apis(self) -> None:
        if OHIF in self.viewers:
            await self._ohif_config()
        if KHEOPS_UI in self.viewers and not self.listed_anywhere():
            # Kheops serves its DICOMweb API at /api (KheopsDocumentation, docs/tokens).
            self.alive()
            await self.qido("/api")
        if DICOOGLE_UI in self.viewers:
            # Dicoogle's VersionResource: GET /ext/version -> {"version": "..."}.
            self.alive()
            answer = await self.get("/ext/version", "dicoogle-version", accept="application/json")
            version = self.json(answer)
            if isinstance(version, dict) and isinstance(version.get("version"), str):
                self.check(DICOOGLE, "/ext/version", PRESENT)
                if _VERSION.fullmatch(version["version"]) and self.products[0] == PRODUCT_DICOOGLE:
                    self.version = self.version or version["version"]

    async def _ohif_config(self) -> None:
        """OHIF loads ``app-config.js``: its data sources name their ``qidoRoot``.

        Only a root on this very origin is probed; another origin may not be in scope.
        """
        self.alive()
        answer = await self.get(
            "/app-config.js", "ohif-config", accept="application/javascript, */*;q=0.5"
        )
        if answer is None or answer.status != 200 or self.same_as_baseline(answer):
            return
        window = answer.body[:_MARKER_WINDOW]
        self.viewer_login = re.search(rb"\boidc\s*:\s*\[\s*\{", window) is not None
        for match in _QIDO_ROOT.finditer(window):
            root = self._same_origin_path(match.group(1).decode("ascii", "replace"))
            if root is None:
                self.viewer_api_elsewhere = True
                continue
            if not self.listed_anywhere():
                self.alive()
                await self.qido(root)

    def _same_origin_path(self, value: str) -> str | None:
        try:
            parts = urlsplit(value)
        except ValueError:
            return None
        if parts.scheme or parts.netloc:
            default = 443 if parts.scheme == "https" else 80
            try:
                port = parts.port or default
            except ValueError:
                return None
            if (parts.scheme or self.scheme) != self.scheme or parts.hostname != self.host:
                return None
            if port != self.port:
                return None
        path = parts.path if parts.path.startswith("/") else "/" + parts.path
        return path if _PATH_CHARS.fullmatch(path) and len(path) <= 120 else None

    async def wado(self) -> None:
        """WADO-URI presence: ``GET /wado`` with no parameters (PS3.18 Chapter 9, URI
        Service; ``requestType=WADO`` is required, so a service answers 400 or names the
        missing parameter). Never sent with parameters: that would be a retrieval."""
        answer = await self.get("/wado", "wado-uri", accept="*/*")
        if answer is None:
            return
        base = self.baseline
        window = answer.body[:4096].lower()
        # A 400 only here, or an error page that names requestType.
        asks_for_parameters = answer.status == 400 and (base is None or base.status != 400)
        names_parameter = (
            b"requesttype" in window
            and not self.same_as_baseline(answer)
            and not (self.catch_all and answer.status == 200)
        )
        if asks_for_parameters or names_parameter:
            self.check(WADO_URI, "/wado", PRESENT)
        else:
            outcome = self.refusal(answer)
            if outcome in (REFUSED, LOGIN):
                self.check(WADO_URI, "/wado", outcome)

    async def default_credentials(self) -> None:
        if not self.options.try_default_credentials:
            return
        if PRODUCT_ORTHANC not in self.products:
            return
        if not (self.has(ORTHANC_REST, REFUSED) and "Basic" in self.challenges):
            return
        for credential in DEFAULT_CREDENTIALS:
            if credential.product != PRODUCT_ORTHANC:
                continue
            tried = _CREDENTIALS_TRIED.setdefault(self.session, set())
            key = (self.host, credential.product, credential.user)
            if key in tried:
                self.credentials = CredentialTry(
                    product=credential.product, user=credential.user, outcome="already-tried"
                )
                return
            self.alive()
            tried.add(key)  # before sending: one try, whatever happens next
            before = len(self.records)
            accepted = await self.orthanc(credential)
            answered = any(r.status is not None for r in self.records[before : before + 1])
            self.credentials = CredentialTry(
                product=credential.product,
                user=credential.user,
                outcome="accepted" if accepted else ("refused" if answered else "error"),
            )
            return


def _tls_of(response: aiohttp.ClientResponse) -> TlsFacts | None:
    """TLS facts of the connection that carried ``response``.

    ``response.connection`` is the public way while the body is still being received; a
    short answer that arrived whole has already handed its connection back to the pool,
    and then the response's protocol (an aiohttp internal, read defensively) still knows
    the transport.
    """
    connection = response.connection
    protocol: Any = (
        connection.protocol if connection is not None else getattr(response, "_protocol", None)
    )
    transport = getattr(protocol, "transport", None)
    if transport is None:
        return None
    return facts_of(transport.get_extra_info("ssl_object"))


def _failure_of(exc: BaseException, scheme: str) -> _Failure:
    """Translate an aiohttp/OS exception into a status; detail never holds peer data."""
    tls = _ssl_error_in(exc)
    if tls is not None:
        reason = tls.reason or type(tls).__name__
        return _Failure(
            Status.TLS_ERROR,
            reason,
            wrong_scheme=scheme == "https" and reason not in CLIENT_CERTIFICATE_ALERTS,
            client_certificate_required=reason in CLIENT_CERTIFICATE_ALERTS,
            not_tls=reason in _NOT_TLS_REASONS,
        )
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return _Failure(Status.CONNECTION_TIMEOUT, "timed out connecting")
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        return _Failure(Status.IO_TIMEOUT, "timed out waiting for the answer")
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        if isinstance(os_error, ConnectionRefusedError):
            return _Failure(Status.CONNECTION_REFUSED, "connection refused")
        return _Failure(Status.ERROR, os_error.strerror or type(os_error).__name__)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        # A TLS server reading plaintext hangs up without an answer; so does an HTTP
        # server given a TLS ClientHello.
        return _Failure(Status.CONNECTION_CLOSED, "closed without an answer", wrong_scheme=True)
    if isinstance(exc, aiohttp.ClientOSError) and exc.errno in (
        errno.ECONNRESET,
        errno.EPIPE,
    ):
        return _Failure(Status.CONNECTION_CLOSED, "connection reset by peer", wrong_scheme=True)
    if isinstance(exc, aiohttp.ClientResponseError):
        # The answer was not HTTP (a TLS record, say): a protocol error, not a status.
        return _Failure(Status.PROTOCOL_ERROR, "not an HTTP answer", wrong_scheme=scheme == "http")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return _Failure(Status.ERROR, type(exc).__name__)
    return _Failure(Status.ERROR, type(exc).__name__)


def _ssl_error_in(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError) and getattr(current, "reason", None):
            return current
        nested = getattr(current, "os_error", None)
        if isinstance(nested, ssl.SSLError):
            return nested
        current = current.__cause__ or current.__context__
    if isinstance(exc, aiohttp.ClientSSLError):
        return ssl.SSLError(type(exc).__name__)
    return None


async def _read_capped(
    response: aiohttp.ClientResponse, record: dict[str, Any]
) -> tuple[bytes, bool]:
    """Read at most :data:`MAX_BODY_BYTES` of the (decoded) body, streaming."""
    chunks: list[bytes] = []
    size = 0
    truncated = False
    try:
        while size < MAX_BODY_BYTES:
            chunk = await response.content.read(min(_CHUNK, MAX_BODY_BYTES - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        else:
            truncated = not response.content.at_eof()
    except (aiohttp.ClientPayloadError, aiohttp.ServerTimeoutError, TimeoutError):
        truncated = True  # keep what came; the answer is incomplete
        record["error"] = Status.IO_TIMEOUT
    except aiohttp.ClientError:
        truncated = True
        record["error"] = Status.CONNECTION_CLOSED
    record["bytes_read"] = size
    record["truncated"] = truncated
    return b"".join(chunks), truncated


def _json(answer: _Answer | None) -> Any:
    """The body as JSON, or None (HTML shells, truncated bodies, garbage)."""
    if answer is None or answer.truncated or answer.status != 200:
        return None
    if answer.content_type.startswith("text/html"):
        return None
    try:
        return json.loads(answer.body)
    except (ValueError, RecursionError):
        return None


def _qido_count(answer: _Answer) -> int | None:
    """How many studies a QIDO-RS answer holds, or None if it is not one."""
    if answer.status != 200 or answer.content_type not in (_DICOM_JSON, "application/json"):
        return None
    if answer.truncated:
        # Too long to parse: count Study Instance UID keys in what was read.
        count = answer.body.count(_STUDY_UID_TAG)
        return count if count and answer.content_type == _DICOM_JSON else None
    value = _json(answer)
    if not isinstance(value, list):
        return None
    if not value:
        return 0 if answer.content_type == _DICOM_JSON else None
    matches = sum(1 for item in value if isinstance(item, dict) and "0020000D" in item)
    return matches or None


def _is_login_redirect(answer: _Answer) -> bool:
    return (
        answer.status in (301, 302, 303, 307, 308)
        and answer.location is not None
        and _LOGIN.search(answer.location) is not None
    )


def _plain_to_https(answer: _Answer) -> bool:
    """An HTTPS server's answer to plaintext (nginx, Apache, Go): a 400 that says so."""
    if answer.status not in (400, 497):
        return False
    window = answer.body[:4096].lower()
    return answer.status == 497 or any(marker in window for marker in _HTTPS_PORT_MARKERS)


def _safe_location(location: str) -> str:
    """A redirect target without its query and fragment (they carry state, tokens, names)."""
    try:
        parts = urlsplit(location.strip())
        netloc = parts.hostname or ""
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
    except ValueError:
        return "(unparsable)"
    kept = f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else parts.path
    return _printable(kept, 160) or "(empty)"


def _printable(value: str | None, limit: int = 64) -> str | None:
    if not value:
        return None
    kept = "".join(ch for ch in value if " " <= ch <= "~").strip()
    return kept[:limit] or None


async def probe_web(
    host: str,
    port: int,
    options: ScanOptions,
    *,
    session: aiohttp.ClientSession,
    permit: Permit | None = None,
) -> WebObservation:
    """Probe one web endpoint within ``options.timeouts.endpoint`` (from the first permit)."""
    started = time.monotonic()
    probe = _Probe(host, port, options, session, permit)
    if permit is not None:
        await permit()
        probe.granted = True
    deadline = asyncio.get_running_loop().time() + options.timeouts.endpoint
    timed_out = False
    try:
        async with asyncio.timeout_at(deadline):
            await probe.run()
    except _Stop:
        pass
    except TimeoutError:
        timed_out = True
    return _observation(probe, started, timed_out)


def _observation(probe: _Probe, started: float, timed_out: bool) -> WebObservation:
    status, detail = Status.SUCCESS, None
    tls = probe.tls
    if probe.answered == 0:
        failure = probe.failures[-1] if probe.failures else None
        if timed_out or failure is None:
            status, detail = Status.IO_TIMEOUT, "endpoint deadline reached"
        else:
            status, detail = failure.status, failure.detail
            if failure.client_certificate_required:
                tls = replace(tls or TlsFacts(), client_certificate_required=True)
    elif timed_out:
        detail = f"endpoint deadline reached after {len(probe.records)} request(s)"
    elif len(probe.records) >= MAX_REQUESTS:
        detail = f"request budget of {MAX_REQUESTS} spent"
    return WebObservation(
        host=probe.host,
        port=probe.port,
        protocol=Protocol.HTTPS if probe.scheme == "https" else Protocol.HTTP,
        status=status,
        detail=detail,
        requests=tuple(probe.records),
        product=probe.products[0] if probe.products else None,
        version=probe.version if probe.products else None,
        tls=tls,
        duration_s=time.monotonic() - started,
        server=probe.server,
        catch_all=probe.catch_all,
        auth_wall=probe.auth_wall,
        checks=tuple(probe.checks),
        viewers=tuple(probe.viewers),
        viewer_login=probe.viewer_login,
        viewer_api_elsewhere=probe.viewer_api_elsewhere,
        auth_schemes=tuple(probe.challenges),
        login_redirect=probe.login_redirect,
        credentials=probe.credentials,
        scheme_fallback=probe.scheme_fallback,
    )
