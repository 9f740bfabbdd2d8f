"""The scan's one aiohttp session, and what each request does with its connection.

:func:`make_web_session` builds the scan's HTTP client (limits, timeouts, no cookies, no
proxy, no redirects, the request guard of :mod:`~exposcan.probes.web.safety`). Each
request notes its connections (:data:`CONNECTIONS`, through :class:`_TlsAwareResponse`)
and drops them when it is over (:func:`drop_connections`); :func:`read_capped` reads at
most :data:`MAX_BODY_BYTES` of a body; :func:`tls_of` takes the TLS facts of the
connection that carried an answer. One endpoint's conversation over this session is
:class:`exposcan.probes.web.conversation.Conversation`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from contextvars import ContextVar
from typing import Any, Final

import aiohttp

from exposcan._version import __version__
from exposcan.net.tls import client_context, facts_of
from exposcan.net.transport import ABORT_WAIT_S
from exposcan.options import ScanOptions
from exposcan.probes.web.connector import PolicyConnector
from exposcan.probes.web.facts import MAX_REQUESTS
from exposcan.probes.web.safety import request_guard
from exposcan.results import TlsFacts
from exposcan.vocabulary import Status

__all__ = [
    "CONNECTIONS",
    "MAX_BODY_BYTES",
    "MAX_REQUESTS",
    "PARTIAL",
    "USER_AGENT",
    "Held",
    "drop_connections",
    "make_web_session",
    "read_capped",
    "tls_of",
]

USER_AGENT: Final = f"exposcan/{__version__} (+authorised security scan)"
#: At most this much of one response body is read; the rest is never received.
MAX_BODY_BYTES: Final = 256 * 1024
_CHUNK: Final = 16 * 1024


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
            held = CONNECTIONS.get()
            protocol = connection.protocol
            if held is not None and transport is not None and protocol is not None:
                # Ask for the closed future now: aiohttp makes it only if asked before
                # the connection is lost.
                held.append((transport, protocol.closed))
        except Exception:  # an aiohttp change must cost the facts, not the probe
            self.exposcan_ssl = None
        try:
            return await super().start(connection)
        except aiohttp.ServerDisconnectedError as exc:
            # The connection closed before the headers ended; what aiohttp parsed of the
            # status line rides on the error. aiohttp then retries the request, which the
            # request guard refuses with an error of its own: kept here for the probe.
            partial = PARTIAL.get()
            if partial is not None and exc.message is not None:
                partial.append(exc.message)
            raise


#: One request's connections: the transport, and the future aiohttp sets when the socket
#: is gone.
Held = list[tuple[asyncio.Transport, asyncio.Future[None] | None]]
#: The connections of the request in flight, noted by :class:`_TlsAwareResponse` for the
#: conversation to drop when the request is over (aiohttp runs the request in the
#: conversation's own task, so this context variable reaches the response).
CONNECTIONS: ContextVar[Held | None] = ContextVar("exposcan_web_connections", default=None)
#: What aiohttp had parsed of an answer whose connection closed before its headers ended
#: (``ServerDisconnectedError.message``), for the request in flight.
PARTIAL: ContextVar[list[object] | None] = ContextVar("exposcan_web_partial", default=None)


async def drop_connections(connections: Held) -> None:
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
    can be reported (:func:`exposcan.net.tls.client_context`). Under the engine, each TCP
    connect waits what the endpoint's connect policy says (the adaptive timeout, never
    above ``sock_connect``) and reports its answer to it (:mod:`~.connector`).
    """
    connector = PolicyConnector(
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


async def read_capped(
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
