"""How a request that got no answer is reported: one :class:`~.answer.Failure` per exception.

Errors are translated once, here: every network condition aiohttp, asyncio or OpenSSL
raises becomes a :class:`~exposcan.vocabulary.Status`, with the facts the plan needs to
pick the other scheme (``wrong_scheme``, ``not_tls``) or to name a server that wants a
client certificate. The detail is a fixed phrase or an OpenSSL reason, never peer data.
"""

from __future__ import annotations

import errno
import ssl
from typing import Final

import aiohttp

from exposcan.net.tls import CLIENT_CERTIFICATE_ALERTS
from exposcan.probes.web.answer import Failure
from exposcan.vocabulary import Status

__all__ = ["failure_of"]

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
