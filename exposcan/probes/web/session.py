"""The HTTP side of the web probe: the scan's one session, and one endpoint's conversation.

:func:`make_web_session` builds the scan's aiohttp session. :class:`Probe` is one
endpoint's conversation: every GET goes through :meth:`Probe.get`, which checks the path
(:func:`~exposcan.probes.web.safety.check_path`), takes a permit from the engine, reads at
most :data:`MAX_BODY_BYTES`, records the exchange without header values or body, and turns
every network condition into a :class:`~exposcan.vocabulary.Status` (errors are
translated once, here). The facts gathered so far (products, viewers, checks) live on the
probe too; the modules beside this one interpret answers and add to them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import hashlib
import json
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from yarl import URL

from exposcan._version import __version__
from exposcan.net.tls import CLIENT_CERTIFICATE_ALERTS, client_context, facts_of
from exposcan.net.transport import ABORT_WAIT_S
from exposcan.options import ScanOptions
from exposcan.probes.web.observation import (
    VIEWER_PRODUCT,
    CredentialTry,
    DefaultCredential,
    LoginRedirect,
    Outcome,
    Product,
    RequestRecord,
    Service,
    ServiceCheck,
    Viewer,
)
from exposcan.probes.web.redirects import same_origin
from exposcan.probes.web.safety import check_path, request_guard
from exposcan.results import TlsFacts
from exposcan.vocabulary import Status

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_REQUESTS",
    "USER_AGENT",
    "Answer",
    "Failure",
    "Permit",
    "Probe",
    "Stop",
    "make_web_session",
]

Permit = Callable[[], Awaitable[None]]

USER_AGENT: Final = f"exposcan/{__version__} (+authorised security scan)"
#: At most this much of one response body is read; the rest is never received.
MAX_BODY_BYTES: Final = 256 * 1024
#: At most this many requests per endpoint (a typical one costs 6 to 13).
MAX_REQUESTS: Final = 16
_CHUNK: Final = 16 * 1024
#: Viewer and error-page markers are looked for in the first bytes only.
MARKER_WINDOW: Final = 64 * 1024
#: A version as products print it.
VERSION: Final = re.compile(r"\d[\w.+-]{0,31}")

LOGIN: Final = re.compile(
    r"log-?in|sign-?in|/sso\b|oauth|openid|saml|/auth(?:/|$|\?)|/realms/|/cas/|keycloak",
    re.IGNORECASE,
)
#: Orthanc's HTTP server challenges with this realm (OrthancFramework HttpServer.cpp).
_ORTHANC_REALM: Final = re.compile(r'realm="Orthanc Secure Area"', re.IGNORECASE)
_AUTH_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,15}")
#: OpenSSL reasons that mean "the peer is not speaking TLS at all".
_NOT_TLS_REASONS: Final = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "RECORD_LAYER_FAILURE",
        "PACKET_LENGTH_TOO_LONG",
        "HTTP_REQUEST",
        "UNKNOWN_PROTOCOL",
        "UNEXPECTED_EOF_WHILE_READING",
    }
)


class _TlsAwareResponse(aiohttp.ClientResponse):
    """A response that notes its connection's TLS object before the connection goes back.

    A short answer that arrives whole releases its connection while the headers are read,
    so the transport is taken here, from the public ``Connection.transport``, at the
    start. ``ClientSession(response_class=...)`` is aiohttp's documented extension point;
    if a release changes ``start``, the facts are simply missing (``None``), never an error.
    """

    exposcan_ssl: ssl.SSLObject | None = None

    async def start(self, connection: aiohttp.connector.Connection) -> aiohttp.ClientResponse:
        try:
            transport = connection.transport
            extra = transport.get_extra_info("ssl_object") if transport is not None else None
            self.exposcan_ssl = extra if isinstance(extra, ssl.SSLObject) else None
            held = _CONNECTIONS.get()
            protocol = connection.protocol
            if held is not None and transport is not None and protocol is not None:
                # Ask for the closed future now: aiohttp makes it only if asked before
                # the connection is lost.
                held.append((transport, protocol.closed))
        except Exception:  # an aiohttp change must cost the facts, not the probe
            self.exposcan_ssl = None
        return await super().start(connection)


#: The connections of the request in flight (transport, and the future aiohttp sets when
#: the socket is gone), noted by :class:`_TlsAwareResponse` for :meth:`Probe.get` to drop
#: when the request is over (aiohttp runs the request in the probe's own task, so this
#: context variable reaches the response).
_CONNECTIONS: ContextVar[list[tuple[asyncio.Transport, asyncio.Future[None] | None]] | None] = (
    ContextVar("exposcan_web_connections", default=None)
)


async def _drop(connections: list[tuple[asyncio.Transport, asyncio.Future[None] | None]]) -> None:
    """Abort what aiohttp closed politely, and wait (briefly) until the sockets are gone.

    ``force_close`` means a connection is never used again, and a TLS close waits for the
    peer's close_notify (asyncio: up to 30 s), so a peer that never sends one would hold
    the socket long after its endpoint ended. An abort closes it a loop iteration or two
    later (when the peer's close_notify came first, asyncio finishes the close itself and
    the abort does nothing).
    """
    pending: list[asyncio.Future[None]] = []
    for transport, closed in connections:
        with contextlib.suppress(Exception):
            transport.abort()
        if closed is not None:
            pending.append(closed)
    if not pending:
        return
    await asyncio.wait(pending, timeout=ABORT_WAIT_S)
    for closed in pending:
        if closed.done() and not closed.cancelled():
            closed.exception()  # retrieved: a reset is how an abort ends


def make_web_session(options: ScanOptions) -> aiohttp.ClientSession:
    """The one HTTP client of a scan (create it inside the event loop; close it at the end).

    Connection limits follow the engine's (global and per host), and every connection is
    closed when its answer has been read (``force_close``): the engine grants a permit per
    request, so an idle keep-alive connection would be one more open connection to a host
    than the per-host limit allows once the probe has moved on. Each request has its
    connect and read timeouts in all (``total``: connect, TLS handshake, headers and the
    capped body), a deadline fixed when the request starts, so a server that trickles its
    headers or body a byte at a time, inside the per-read ``sock_read``, cannot hold a
    request until the endpoint deadline (the probe bounds the whole endpoint itself); no
    cookies are kept, no proxy is taken from the environment, redirects are never followed
    (each request says so), and the TLS context verifies nothing so that every certificate
    can be reported (:func:`exposcan.net.tls.client_context`).
    """
    connector = aiohttp.TCPConnector(
        limit=options.limits.concurrency,
        limit_per_host=options.limits.per_host_concurrency,
        ssl=client_context(),
        force_close=True,
    )
    return aiohttp.ClientSession(
        connector=connector,
        response_class=_TlsAwareResponse,
        timeout=aiohttp.ClientTimeout(
            total=options.timeouts.connect + options.timeouts.read,
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
        trace_configs=[request_guard()],  # the guard again on what is sent; no redirect
    )


@dataclass(slots=True)
class Answer:
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
class Failure:
    status: Status
    detail: str
    wrong_scheme: bool = False
    client_certificate_required: bool = False
    not_tls: bool = False


class Stop(Exception):
    """Internal: the endpoint stopped answering; end the plan."""


class Probe:
    """One endpoint's conversation and the facts it has shown so far."""

    def __init__(
        self,
        host: str,
        port: int,
        options: ScanOptions,
        session: aiohttp.ClientSession,
        permit: Permit | None,
        *,
        scheme: str,
    ) -> None:
        self.host = host
        self.port = port
        self.options = options
        self.session = session
        self.permit = permit
        self.granted = False  # the first permit is taken before the deadline starts
        self.scheme = scheme
        self.records: list[RequestRecord] = []
        self.failures: list[Failure] = []
        self.answered = 0
        self.consecutive_failures = 0
        self.tls: TlsFacts | None = None
        self.server: str | None = None
        self.baseline: Answer | None = None
        self.catch_all = False
        self.auth_wall = False
        self.short_plan = False
        self.checks: list[ServiceCheck] = []
        self.viewers: list[Viewer] = []
        self.viewer_login = False
        self.viewer_api_elsewhere = False
        self.challenges: list[str] = []
        self.login_redirect: LoginRedirect | None = None
        self.products: list[Product] = []
        self.version: str | None = None
        self.credentials: CredentialTry | None = None
        self.scheme_fallback = False
        self.qido_paths: set[str] = set()
        #: where Orthanc's REST API answered or refused ("" or a reverse-proxy prefix)
        self.orthanc_prefix: str | None = None
        self.dicom_port: int | None = None

    # ------------------------------------------------------------------ transport

    def url(self, path: str) -> URL:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return URL(f"{self.scheme}://{host}:{self.port}{path}", encoded=True)

    def budget_left(self) -> bool:
        return len(self.records) < MAX_REQUESTS

    async def take_permit(self) -> None:
        if self.granted:
            self.granted = False
        elif self.permit is not None:
            await self.permit()

    async def get(
        self,
        path: str,
        purpose: str,
        *,
        accept: str = "*/*",
        credential: DefaultCredential | None = None,
    ) -> Answer | None:
        """GET ``path``; ``None`` when no answer came (the failure is in ``failures``)."""
        check_path(path)
        if not self.budget_left():
            return None
        await self.take_permit()
        started = time.monotonic()
        record: dict[str, Any] = {
            "method": "GET",
            "path": path,
            "purpose": purpose,
            "with_credentials": credential is not None,
        }
        answer: Answer | None = None
        connections: list[tuple[asyncio.Transport, asyncio.Future[None] | None]] = []
        token = _CONNECTIONS.set(connections)
        try:
            answer = await self._exchange(path, accept, credential, record)
        except asyncio.CancelledError:
            record["error"] = Status.IO_TIMEOUT  # the endpoint deadline
            raise
        except (aiohttp.ClientError, OSError, TimeoutError, EOFError, ValueError) as exc:
            # Every network condition becomes a status (ssl.SSLError is an OSError; a
            # malformed answer surfaces as a ClientError or a ValueError); bugs propagate.
            failure = failure_of(exc, self.scheme)
            self.failures.append(failure)
            record["error"] = failure.status
        finally:
            _CONNECTIONS.reset(token)
            await _drop(connections)  # whatever ended the request, its socket ends with it
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
    ) -> Answer:
        headers = {"Accept": accept}
        if credential is not None:
            # RFC 7617 Basic; built here (aiohttp deprecates BasicAuth), never recorded.
            token = base64.b64encode(f"{credential.user}:{credential.password}".encode())
            headers["Authorization"] = "Basic " + token.decode("ascii")
        async with self.session.get(
            self.url(path), allow_redirects=False, headers=headers
        ) as response:
            if self.scheme == "https" and self.tls is None:
                self.tls = tls_of(response)
            record["status"] = response.status
            raw_type = response.headers.get("Content-Type")
            content_type = raw_type.split(";", 1)[0].strip().lower()[:64] if raw_type else ""
            record["content_type"] = content_type or None
            location = response.headers.get("Location")
            if location is not None:
                # Facts only: a Location's path and query can carry a patient's name.
                record["same_origin"] = same_origin(location, self.scheme, self.host, self.port)
                record["login_redirect"] = LOGIN.search(location) is not None
            body, truncated = await _read_capped(response, record)
            if truncated:
                response.close()  # never drain the rest of an unbounded body
            offers = response.headers.getall("WWW-Authenticate", [])
            challenges = tuple(
                dict.fromkeys(m.group(0) for v in offers if (m := _AUTH_SCHEME.match(v.strip())))
            )
            if any(_ORTHANC_REALM.search(v) for v in offers):
                self.product(Product.ORTHANC)
            return Answer(
                status=response.status,
                content_type=content_type,
                location=location,
                challenges=challenges,
                server=printable(response.headers.get("Server")),
                body=body,
                truncated=truncated,
                digest=hashlib.sha256(body).digest(),
            )

    # ------------------------------------------------------------------ facts

    def product(self, product: Product, version: str | None = None) -> None:
        if product not in self.products:
            self.products.append(product)
        if version and self.version is None and self.products[0] == product:
            self.version = version

    def lead_product(self, product: Product) -> None:
        """``product`` answered as itself: it is the endpoint's product, before any other."""
        if product in self.products:
            self.products.remove(product)
        self.products.insert(0, product)

    def viewer(self, viewer: Viewer) -> None:
        if viewer not in self.viewers:
            self.viewers.append(viewer)
            self.product(VIEWER_PRODUCT[viewer])

    def check(self, service: Service, path: str, outcome: Outcome, **counts: Any) -> ServiceCheck:
        result = ServiceCheck(service=service, path=path, outcome=outcome, **counts)
        self.checks.append(result)
        return result

    def has(self, service: Service, *outcomes: Outcome) -> bool:
        return any(c.service == service and c.outcome in outcomes for c in self.checks)

    def listed_anywhere(self) -> bool:
        return any(c.outcome == Outcome.LISTED for c in self.checks)

    # ------------------------------------------------------------------ interpretation

    def json(self, answer: Answer | None) -> Any:
        """The body as JSON, unless it is the random path's own answer (the SPA screen)."""
        if answer is None or self.same_as_baseline(answer):
            return None
        return json_of(answer)

    def same_as_baseline(self, answer: Answer) -> bool:
        """The SPA screen: a 200 with the random path's very body proves nothing."""
        base = self.baseline
        return (
            base is not None
            and base.status == answer.status == 200
            and base.digest == answer.digest
        )

    def refusal(self, answer: Answer) -> Outcome | None:
        """REFUSED/LOGIN for a path-specific refusal, WALLED behind a wall, else None."""
        login = is_login_redirect(answer)
        if answer.status not in (401, 403) and not login:
            return None
        if login and self.login_redirect is None and answer.location is not None:
            self.login_redirect = LoginRedirect(
                status=answer.status,
                same_origin=same_origin(answer.location, self.scheme, self.host, self.port),
            )
            self._login_hints(answer.location)
        if self.auth_wall:
            return Outcome.WALLED
        return Outcome.LOGIN if login else Outcome.REFUSED

    def _login_hints(self, location: str) -> None:
        # Keycloak realms and clients of the products' secured builds; read here, never kept.
        if re.search(r"/realms/dcm4che\b|dcm4chee-arc-ui", location, re.IGNORECASE):
            self.product(Product.DCM4CHEE)
        elif re.search(r"kheops", location, re.IGNORECASE):
            self.product(Product.KHEOPS)

    def alive(self) -> None:
        """Stop the plan when the endpoint has stopped answering."""
        last = self.failures[-1] if self.failures and self.consecutive_failures else None
        if last is not None and (
            self.consecutive_failures >= 2
            or last.status
            in (Status.CONNECTION_REFUSED, Status.CONNECTION_TIMEOUT, Status.IO_TIMEOUT)
        ):
            raise Stop


# --------------------------------------------------------------------------- helpers


def tls_of(response: aiohttp.ClientResponse) -> TlsFacts | None:
    """TLS facts of the connection that carried ``response`` (see :class:`_TlsAwareResponse`)."""
    ssl_object = getattr(response, "exposcan_ssl", None)
    if ssl_object is None:
        connection = response.connection  # still attached while the body streams
        transport = connection.transport if connection is not None else None
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if not isinstance(ssl_object, ssl.SSLObject):
        return None
    return facts_of(ssl_object)


def failure_of(exc: BaseException, scheme: str) -> Failure:
    """Translate an aiohttp/OS exception into a status; detail never holds peer data."""
    tls = _ssl_error_in(exc)
    if tls is not None:
        reason = tls.reason or type(tls).__name__
        return Failure(
            Status.TLS_ERROR,
            reason,
            wrong_scheme=scheme == "https" and reason not in CLIENT_CERTIFICATE_ALERTS,
            client_certificate_required=reason in CLIENT_CERTIFICATE_ALERTS,
            not_tls=reason in _NOT_TLS_REASONS,
        )
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return Failure(Status.CONNECTION_TIMEOUT, "timed out connecting")
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        return Failure(Status.IO_TIMEOUT, "timed out waiting for the answer")
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        if isinstance(os_error, ConnectionRefusedError):
            return Failure(Status.CONNECTION_REFUSED, "connection refused")
        if isinstance(os_error, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
            # The peer hung up while we connected: during the TLS handshake (part of
            # aiohttp's connect) a server that is not TLS, or that will not talk to us,
            # resets; that is the peer's doing (connection-closed, as DICOM reports it),
            # never the scanner's ``error``. Maybe the other scheme answers.
            return Failure(Status.CONNECTION_CLOSED, "connection reset by peer", wrong_scheme=True)
        return Failure(Status.ERROR, os_error.strerror or type(os_error).__name__)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        # A TLS server reading plaintext hangs up without an answer; so does an HTTP
        # server given a TLS ClientHello.
        return Failure(Status.CONNECTION_CLOSED, "closed without an answer", wrong_scheme=True)
    if isinstance(exc, aiohttp.ClientOSError) and exc.errno in (
        errno.ECONNRESET,
        errno.EPIPE,
    ):
        return Failure(Status.CONNECTION_CLOSED, "connection reset by peer", wrong_scheme=True)
    if isinstance(exc, aiohttp.ClientResponseError):
        # The answer was not HTTP (a TLS record, say): a protocol error, not a status.
        return Failure(Status.PROTOCOL_ERROR, "not an HTTP answer", wrong_scheme=scheme == "http")
    return Failure(Status.ERROR, type(exc).__name__)


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


def json_of(answer: Answer | None) -> Any:
    """The body as JSON, or None (HTML shells, truncated bodies, garbage)."""
    if answer is None or answer.truncated or answer.status != 200:
        return None
    if answer.content_type.startswith("text/html"):
        return None
    try:
        return json.loads(answer.body)
    except (ValueError, RecursionError):
        return None


def is_login_redirect(answer: Answer) -> bool:
    return (
        answer.status in (301, 302, 303, 307, 308)
        and answer.location is not None
        and LOGIN.search(answer.location) is not None
    )


def printable(value: str | None, limit: int = 64) -> str | None:
    if not value:
        return None
    kept = "".join(ch for ch in value if " " <= ch <= "~").strip()
    return kept[:limit] or None
