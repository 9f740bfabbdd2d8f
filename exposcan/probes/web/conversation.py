"""One web endpoint's conversation: the one request helper, and the facts it has gathered.

Every GET goes through :meth:`Conversation.get`, which admits it first (:meth:`admit`:
the endpoint has not ended, the budget is not spent, the engine's permit), checks the path
(:func:`~exposcan.probes.web.safety.check_path`), reads at most
:data:`~exposcan.probes.web.session.MAX_BODY_BYTES`, records the exchange without header
values or body, and turns every network condition into a
:class:`~exposcan.vocabulary.Status` (:func:`~exposcan.probes.web.failures.failure_of`).
An endpoint that has ended refuses the request with :class:`~.answer.EndpointEnded`,
which ends the plan; a spent budget answers ``None``, as a request that got no answer.

The facts (:mod:`~exposcan.probes.web.facts`) are typed records, each written by its
owner: the origin and baseline by :mod:`~.scheme`, the request log here, products and
checks by the modules that interpret answers, the credential try by :mod:`~.credentials`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time
from typing import Any, Final

import aiohttp
from yarl import URL

from exposcan.options import ScanOptions
from exposcan.probe import Permit
from exposcan.probes.web.answer import (
    LOGIN,
    Answer,
    EndpointEnded,
    is_login_redirect,
    json_of,
    printable,
)
from exposcan.probes.web.facts import Baseline, Origin, ProductFacts, RequestLog, ServiceChecks
from exposcan.probes.web.failures import failure_of
from exposcan.probes.web.markers import realms
from exposcan.probes.web.observation import (
    CredentialTry,
    DefaultCredential,
    LoginRedirect,
    Outcome,
    Product,
    RequestRecord,
)
from exposcan.probes.web.redirects import same_origin
from exposcan.probes.web.safety import check_path
from exposcan.probes.web.session import (
    CONNECTIONS,
    PARTIAL,
    Held,
    drop_connections,
    read_capped,
    tls_of,
)
from exposcan.vocabulary import Status

__all__ = ["Conversation"]

_AUTH_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,15}")


class Conversation:
    """One endpoint's requests over the scan's session, and the facts they have shown."""

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
        self.origin = Origin(host, port, scheme)
        self.options = options
        self._session = session
        self._permit = permit
        self._granted = False  # the first permit is taken before the deadline starts
        self.log = RequestLog()
        self.baseline = Baseline()
        self.identity = ProductFacts()
        self.checks = ServiceChecks()
        self.credential_try: CredentialTry | None = None

    @property
    def host(self) -> str:
        return self.origin.host

    @property
    def port(self) -> int:
        return self.origin.port

    def url(self, path: str) -> URL:
        return self.origin.url(path)

    # ------------------------------------------------------------------ requests

    async def take_first_permit(self) -> None:
        """The endpoint's first permit, taken before its deadline starts."""
        if self._permit is not None:
            await self._permit()
            self._granted = True

    def stop_if_ended(self) -> None:
        """Raise :class:`EndpointEnded` when the endpoint has stopped answering (see
        :meth:`RequestLog.ended`). Every request asks this (:meth:`admit`); so does a step
        that may end with a fact and no request, where a request would have stopped."""
        if self.log.ended():
            raise EndpointEnded

    async def admit(self, path: str | None = None, *, after_failures: bool = False) -> bool:
        """The one gate of every request: may it be made?

        Raises :class:`EndpointEnded` when the endpoint has ended (unless
        ``after_failures``: the request is the follow-up failures ask for, the bare TLS
        handshake after both schemes got a hang-up); checks ``path`` (:func:`check_path`,
        a bug if it fails); False when the request budget is spent; else takes the
        engine's permit."""
        if not after_failures:
            self.stop_if_ended()
        if path is not None:
            check_path(path)
        if not self.log.budget_left():
            return False
        if self._granted:
            self._granted = False
        elif self._permit is not None:
            await self._permit()
        return True

    async def get(
        self,
        path: str,
        purpose: str,
        *,
        accept: str = "*/*",
        credential: DefaultCredential | None = None,
    ) -> Answer | None:
        """GET ``path``; ``None`` when no answer came (the failure is in ``log.failures``)
        or the budget is spent; :class:`EndpointEnded` when the endpoint has ended."""
        if not await self.admit(path):
            return None
        started = time.monotonic()
        record: dict[str, Any] = {
            "method": "GET",
            "path": path,
            "purpose": purpose,
            "with_credentials": credential is not None,
        }
        answer: Answer | None = None
        connections: Held = []
        token = CONNECTIONS.set(connections)
        partial: list[object] = []
        partial_token = PARTIAL.set(partial)
        try:
            answer = await self._exchange(path, accept, credential, record, partial)
        except asyncio.CancelledError:
            record["error"] = Status.IO_TIMEOUT  # the endpoint deadline
            raise
        except (aiohttp.ClientError, OSError, TimeoutError, EOFError, ValueError) as exc:
            # Every network condition becomes a status (ssl.SSLError is an OSError; a
            # malformed answer surfaces as a ClientError or a ValueError); bugs propagate.
            failure = failure_of(exc, self.origin.scheme)
            self.log.failures.append(failure)
            record["error"] = failure.status
        finally:
            CONNECTIONS.reset(token)
            PARTIAL.reset(partial_token)
            await drop_connections(connections)  # whatever ended the request, its socket too
            record["duration_s"] = time.monotonic() - started
            self.log.records.append(RequestRecord(**record))
        if answer is None:
            self.log.no_answer()
        else:
            self.log.answer(answer)
        return answer

    async def _exchange(
        self,
        path: str,
        accept: str,
        credential: DefaultCredential | None,
        record: dict[str, Any],
        partial: list[object],
    ) -> Answer:
        origin = self.origin
        headers = {"Accept": accept}
        if credential is not None:
            # RFC 7617 Basic; built here (aiohttp deprecates BasicAuth), never recorded.
            token = base64.b64encode(f"{credential.user}:{credential.password}".encode())
            headers["Authorization"] = "Basic " + token.decode("ascii")
        try:
            async with self._session.get(
                origin.url(path), allow_redirects=False, headers=headers
            ) as response:
                return await self._read(response, record)
        except aiohttp.ServerDisconnectedError:
            bare = _bare_status(partial[0], record) if partial else None
            if bare is None:
                raise
            return bare

    async def _read(self, response: aiohttp.ClientResponse, record: dict[str, Any]) -> Answer:
        origin = self.origin
        if origin.scheme == "https" and origin.tls is None:
            origin.tls = tls_of(response)
        record["status"] = response.status
        content_type = _media_type(response.headers.get("Content-Type"))
        record["content_type"] = content_type or None
        location = response.headers.get("Location")
        if location is not None:
            # Facts only: a Location's path and query can carry a patient's name.
            record["same_origin"] = same_origin(location, origin.scheme, origin.host, origin.port)
            record["login_redirect"] = LOGIN.search(location) is not None
        body, truncated = await read_capped(response, record)
        if truncated:
            response.close()  # never drain the rest of an unbounded body
        offers = response.headers.getall("WWW-Authenticate", [])
        challenges = tuple(
            dict.fromkeys(m.group(0) for v in offers if (m := _AUTH_SCHEME.match(v.strip())))
        )
        for realm in realms():  # Orthanc's, OsiriX's (exposcan/data/web_products.toml)
            if any(realm.pattern.search(v) for v in offers):
                self.identity.add(realm.product)
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

    # ------------------------------------------------------------------ interpretation

    def json(self, answer: Answer | None) -> Any:
        """The body as JSON, unless it is the random path's own answer (the SPA screen)."""
        if answer is None or self.baseline.same_as(answer):
            return None
        return json_of(answer)

    def same_as_baseline(self, answer: Answer) -> bool:
        """The SPA screen: a 200 with the random path's very body proves nothing."""
        return self.baseline.same_as(answer)

    def refusal(self, answer: Answer) -> Outcome | None:
        """REFUSED/LOGIN for a path-specific refusal, WALLED behind a wall, else None."""
        login = is_login_redirect(answer)
        if answer.status not in (401, 403) and not login:
            return None
        identity = self.identity
        if login and identity.login_redirect is None and answer.location is not None:
            origin = self.origin
            identity.login_redirect = LoginRedirect(
                status=answer.status,
                same_origin=same_origin(answer.location, origin.scheme, origin.host, origin.port),
            )
            self._login_hints(answer.location)
        if self.baseline.auth_wall:
            return Outcome.WALLED
        return Outcome.LOGIN if login else Outcome.REFUSED

    def _login_hints(self, location: str) -> None:
        # Keycloak realms and clients of the products' secured builds; read here, never kept.
        if re.search(r"/realms/dcm4che\b|dcm4chee-arc-ui", location, re.IGNORECASE):
            self.identity.add(Product.DCM4CHEE)
        elif re.search(r"kheops", location, re.IGNORECASE):
            self.identity.add(Product.KHEOPS)


def _media_type(raw: str | None) -> str:
    return raw.split(";", 1)[0].strip().lower()[:64] if raw else ""


def _bare_status(message: object, record: dict[str, Any]) -> Answer | None:
    """A server that sent its status line (and maybe a few headers), then closed before
    the blank line that ends the headers: PixelMed's web server answers every path it does
    not serve so (``HTTP/1.1 404 Not Found - ...`` and a close, RequestHandler). aiohttp
    keeps what it parsed on its error (``message``, noted by the session's response class
    in :data:`~.session.PARTIAL`); the status is an answer, the reason phrase is the
    peer's text and is not kept."""
    status = getattr(message, "code", None)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return None
    headers = getattr(message, "headers", None)
    content_type = _media_type(headers.get("Content-Type") if headers is not None else None)
    record.update(status=status, content_type=content_type or None, bare_status=True)
    record.update(bytes_read=0, truncated=False)
    return Answer(
        status=status,
        content_type=content_type,
        location=None,
        challenges=(),
        server=printable(headers.get("Server")) if headers is not None else None,
        body=b"",
        truncated=False,
        digest=hashlib.sha256(b"").digest(),
    )
